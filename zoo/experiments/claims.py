"""Claims on a sweep's runs, so that several `zoo bench` processes on one table divide the runs.

Before a run starts, its process claims it under the table's lock: `claims/<run_id>.json` names the host,
the process (its pid and, on Linux, the pid's start time, so that a reused pid is not mistaken for it), a
token, and `beat`: the claimer's clock at its last heartbeat, rewritten every `HEARTBEAT_EVERY` seconds while
the run trains. Another process skips a run that has a row or a live claim. A claim is stale, and is taken
over with a line saying why, when:
- its process is gone or its pid now belongs to another process (same host);
- its heartbeat is older than `stale_after` seconds, or further than that in the future (a foreign clock
  that is wrong, or a claim written by hand): judged by the claim's own `beat`, not by file times, which
  another host's clock or a copy may have set;
- it cannot be read as a claim (a damaged file, a folder, a pid that is not a process id) and its file has
  not changed for `stale_after` seconds.
The claim is removed when the run's row is written.

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
import shutil
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Callable

from zoo.experiments.results import locked
from zoo.files import write_text_atomic

__all__ = ["CLAIMS", "STALE_AFTER", "Heartbeat", "claim", "holder", "locked", "release", "stale_reason"]

CLAIMS = "claims"
STALE_AFTER = 300.0  # seconds without a heartbeat before another host may take a run over
HEARTBEAT_EVERY = 30.0
MAX_PID = 2**22  # Linux's pid_max ceiling: a larger "pid" was never a process id
_WRITING = threading.Lock()  # a heartbeat and a release of one claim never interleave in this process


def _path(folder, run_id: str) -> Path:
    return Path(folder) / CLAIMS / f"{run_id}.json"


def _process_start(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot, from /proc), None where that cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int, started: str | None) -> bool:
    if os.name == "nt":  # os.kill would end the process there: rely on the heartbeat alone
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        pass
    return started is None or _process_start(pid) in (None, started)


def _read(path: Path) -> tuple[dict | None, str | None]:
    """(the claim record, None) or (None, why it is not a readable claim)."""
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError, RecursionError) as exc:
        return None, f"unreadable ({type(exc).__name__})"
    if not isinstance(record, dict) or not isinstance(record.get("host"), str):
        return None, "not a claim record"
    pid = record.get("pid")
    if type(pid) is not int or not 0 < pid < MAX_PID:
        return None, f"pid {str(pid)[:40]!r} is not a process id"
    beat = record.get("beat")
    if beat is not None and (type(beat) not in (int, float) or beat != beat):
        return None, f"heartbeat {str(beat)[:40]!r} is not a time"
    return record, None


def stale_reason(folder, run_id: str, *, stale_after: float = STALE_AFTER) -> str | None:
    """Why the claim on `run_id` may be taken over ("" when there is none), None while it is live."""
    return _looked_at(_path(folder, run_id), stale_after)[0]


def _looked_at(path: Path, stale_after: float) -> tuple[str | None, dict | None]:
    """(`stale_reason`'s answer, the claim record as read): the file is read once."""
    if not path.exists() and not path.is_symlink():
        return "", None
    record, problem = _read(path)
    if record is None and problem is None:  # released meanwhile
        return "", None
    if record is None:
        try:
            quiet = time.time() - path.lstat().st_mtime
        except OSError:
            return problem, None
        return (f"{problem}, unchanged for {quiet:.0f} s" if abs(quiet) > stale_after else None), None
    if record["host"] == socket.gethostname() and not _alive(record["pid"], record.get("pid_start")):
        return f"its process ({record['host']} pid {record['pid']}) is gone", record
    age = time.time() - _beat(path, record)
    if age > stale_after:
        return f"no heartbeat from {record['host']} pid {record['pid']} for {age:.0f} s", record
    if age < -stale_after:
        return f"heartbeat from {record['host']} pid {record['pid']} {-age:.0f} s in the future (wrong clock)", record
    return None, record


def _beat(path: Path, record: dict) -> float:
    """The claim's last heartbeat; for a claim from before heartbeats were written into it, its file time."""
    beat = record.get("beat")
    if beat is None:
        try:
            return path.stat().st_mtime
        except OSError:
            return time.time()
    return beat


def holder(folder, run_id: str, *, stale_after: float = STALE_AFTER) -> dict | None:
    """The live claim on `run_id` (host, pid, started, heartbeat age in seconds), None when none or stale."""
    path = _path(folder, run_id)
    reason, record = _looked_at(path, stale_after)
    if reason is not None:
        return None
    if record is None:  # unreadable but recent: held by someone who cannot be named
        return {"host": "unknown", "pid": "unknown", "heartbeat_age": 0.0}
    return {**record, "heartbeat_age": time.time() - _beat(path, record)}


def _record(token: str) -> str:
    return json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "pid_start": _process_start(os.getpid()),
                       "token": token, "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "beat": time.time()})


def claim(folder, run_id: str, *, stale_after: float = STALE_AFTER,
          log: Callable[[str], None] | None = None) -> Path | None:
    """Claim `run_id` for this process (call it holding `locked(folder)`); None when a live claim exists.
    A stale claim is taken over, and `log` gets a line saying whose and why."""
    reason = stale_reason(folder, run_id, stale_after=stale_after)
    if reason is None:
        return None
    path = _path(folder, run_id)
    if reason and log is not None:
        log(f"{run_id}: taking over a stale claim: {reason}")
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    write_text_atomic(path, _record(uuid.uuid4().hex))
    return path


def release(path: Path | None) -> None:
    """Give a claim up (its run has a row now, or never started). A claim that cannot be removed (the folder
    turned read-only) is left to go stale when this process ends, rather than hide the error that ends it."""
    if path is not None:
        with _WRITING:
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass


def _renew(path: Path) -> bool:
    """Rewrite this process's claim with a fresh heartbeat; False when it is gone or no longer ours."""
    with _WRITING:
        record, _ = _read(path)
        if record is None or record.get("pid") != os.getpid() or record.get("host") != socket.gethostname():
            return False
        write_text_atomic(path, json.dumps({**record, "beat": time.time()}))
        return True


class Heartbeat:
    """Renew claims' heartbeats every `every` seconds from a thread while their runs train: the claims given,
    and those `add`ed later (a claim released or taken over meanwhile is dropped). The thread ends with the
    block.

    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with locked(folder):
    ...     path = claim(folder, "r")
    >>> with Heartbeat(every=0.01) as beating:
    ...     beating.add(path)
    ...     time.sleep(0.05)
    >>> holder(folder, "r")["heartbeat_age"] < 1
    True
    """

    def __init__(self, *paths: Path | None, every: float = HEARTBEAT_EVERY):
        self.paths, self.every = [p for p in paths if p is not None], every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="zoo-claim-heartbeat", daemon=True)

    def add(self, path: Path | None) -> None:
        if path is not None:
            self.paths.append(path)

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            for path in list(self.paths):
                try:
                    kept = _renew(path)
                except OSError:  # a full or read-only disk: the claim ages; the run goes on
                    kept = True
                if not kept:
                    self.paths.remove(path)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
