"""Claims on a sweep's runs, so that several `zoo bench` processes on one table divide the runs.

Before a run starts, its process claims it under the table's lock: `claims/<run_id>.json` names the host,
the process and when it started, and the file's modification time is the claim's heartbeat, renewed while
the run trains. Another process skips a run that has a row or a live claim. A claim is stale, and is taken
over, when its process is gone (same host) or its heartbeat is older than `stale_after` seconds (any host,
e.g. a machine that died on a shared filesystem). The claim is removed when the run's row is written.

>>> import tempfile
>>> folder = tempfile.mkdtemp()
>>> with locked(folder):
...     first = claim(folder, "run1")
...     second = claim(folder, "run1")
>>> first is not None, second is None
(True, True)
>>> holder(folder, "run1")["pid"] == os.getpid()
True
>>> release(first); holder(folder, "run1") is None
True
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

from zoo.experiments.results import locked
from zoo.files import write_text_atomic

__all__ = ["CLAIMS", "STALE_AFTER", "Heartbeat", "claim", "holder", "locked", "release"]

CLAIMS = "claims"
STALE_AFTER = 300.0  # seconds without a heartbeat before another host may take a run over
HEARTBEAT_EVERY = 30.0


def _path(folder, run_id: str) -> Path:
    return Path(folder) / CLAIMS / f"{run_id}.json"


def _alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill would end the process there: rely on the heartbeat alone
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def holder(folder, run_id: str, *, stale_after: float = STALE_AFTER) -> dict | None:
    """The live claim on `run_id` (host, pid, started, heartbeat age in seconds), None when none or stale."""
    path = _path(folder, run_id)
    try:
        record = json.loads(path.read_text())
        age = time.time() - path.stat().st_mtime
    except (FileNotFoundError, ValueError):  # none, or a claim cut short by a crash: not live
        return None
    if record.get("host") == socket.gethostname() and not _alive(int(record.get("pid", -1))):
        return None
    return {**record, "heartbeat_age": age} if age <= stale_after else None


def claim(folder, run_id: str, *, stale_after: float = STALE_AFTER) -> Path | None:
    """Claim `run_id` for this process (call it holding `locked(folder)`); None when a live claim exists."""
    if holder(folder, run_id, stale_after=stale_after) is not None:
        return None
    path = _path(folder, run_id)
    write_text_atomic(path, json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                                        "started": time.strftime("%Y-%m-%dT%H:%M:%S")}))
    return path


def release(path: Path | None) -> None:
    """Give a claim up (its run has a row now, or never started)."""
    if path is not None:
        path.unlink(missing_ok=True)


class Heartbeat:
    """Renew claims' heartbeats every `every` seconds from a thread while their runs train (a claim released
    meanwhile is left alone; the thread ends when none is left).

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "c.json"; path.write_text("{}")
    2
    >>> with Heartbeat(path, None, every=0.01):
    ...     time.sleep(0.05)
    """

    def __init__(self, *paths: Path | None, every: float = HEARTBEAT_EVERY):
        self.paths, self.every = [p for p in paths if p is not None], every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="zoo-claim-heartbeat", daemon=True)

    def _beat(self) -> None:
        while self.paths and not self._stop.wait(self.every):
            for path in list(self.paths):
                try:
                    os.utime(path)
                except FileNotFoundError:  # released meanwhile
                    self.paths.remove(path)

    def __enter__(self):
        if self.paths:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
