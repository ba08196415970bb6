"""Several `zoo bench` processes on one table divide the runs: claims, stale claims, exactly-once execution."""

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from zoo.experiments.claims import claim, holder, locked, release
from zoo.experiments.results import read_table

HERE = Path(__file__).parent


def test_a_live_claim_blocks_and_a_released_one_does_not(tmp_path):
    with locked(tmp_path):
        mine = claim(tmp_path, "r1")
        assert claim(tmp_path, "r1") is None
    assert holder(tmp_path, "r1")["host"] and holder(tmp_path, "r1")["heartbeat_age"] < 5
    release(mine)
    assert holder(tmp_path, "r1") is None and claim(tmp_path, "r1") is not None


def test_a_writer_kept_waiting_for_the_lock_says_so_once(tmp_path, monkeypatch, capsys):
    """A table lock held for long (a stopped zoo: Ctrl-Z) gets one line on stderr, then the lock when it is
    freed: never a silent wait."""
    import fcntl
    import threading

    from zoo.experiments import results

    monkeypatch.setattr(results, "LOCK_NOTICE_AFTER", 0.2)
    tmp_path.mkdir(exist_ok=True)
    with open(tmp_path / results.LOCK, "a+") as other:  # another open file: flock sees another holder
        fcntl.flock(other, fcntl.LOCK_EX)
        done = threading.Event()

        def write():
            with locked(tmp_path):
                done.set()

        writer = threading.Thread(target=write)
        writer.start()
        time.sleep(0.8)
        assert not done.is_set()  # still waiting while the other holds it
        fcntl.flock(other, fcntl.LOCK_UN)
        writer.join(timeout=10)
    assert done.is_set()
    err = capsys.readouterr().err
    assert err.count("zoo: waiting for") == 1 and "a stopped one must be resumed or ended" in err


def test_stale_claims_are_taken_over(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    path = claim(tmp_path, "dead")
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "pid": int(gone.stdout)}))  # same host, its process has exited
    assert holder(tmp_path, "dead") is None and claim(tmp_path, "dead") is not None

    path = claim(tmp_path, "far")
    path.write_text(json.dumps({"host": "another-host", "pid": 1, "started": "2026-01-01T00:00:00"}))
    assert holder(tmp_path, "far")["host"] == "another-host"  # heartbeat fresh: live
    old = time.time() - 3600
    os.utime(path, (old, old))
    assert holder(tmp_path, "far") is None  # an hour without a heartbeat: stale
    assert holder(tmp_path, "far", stale_after=7200) is not None
    torn = tmp_path / "claims" / "torn.json"
    torn.write_text('{"host": ')  # damaged (claims are written whole): whose it was cannot be told
    assert holder(tmp_path, "torn")["host"] == "unknown"  # so it is held until its file has been quiet a while
    os.utime(torn, (old, old))
    assert holder(tmp_path, "torn") is None


def counted_train(variant, recipe, **kwargs):
    """Stands in for zoo.train: records each execution, takes a moment, returns a minimal record."""
    with open(os.environ["ZOO_TEST_EXECUTIONS"], "a") as handle:
        handle.write(f"{kwargs['seed']} {os.getpid()}\n")
    time.sleep(1.0)  # long enough for both processes to be running
    return {"status": "ok", "top1": 0.5, "train_seconds": 1.0, "history": {}}


SPLIT = """
import sys
from zoo.experiments.bench import run_sweep
from zoo.experiments.sweeps import parse_sweep
from test_claims import counted_train
sweep = parse_sweep('[[group]]\\nvariants = ["resnet_tiny"]\\nrecipes = ["fast"]\\ndatasets = ["digits"]\\n'
                    'seeds = [0, 1, 2, 3, 4, 5, 6, 7]', name="split")
run_sweep(sweep, out=sys.argv[1], verbose=0, plots=False, train_fn=counted_train)
"""


@pytest.mark.slow
def test_two_processes_split_a_sweep_and_run_each_run_once(tmp_path):
    executions = tmp_path / "executions.txt"
    env = {**os.environ, "ZOO_TEST_EXECUTIONS": str(executions), "PYTHONPATH": str(HERE)}
    command = [sys.executable, "-c", SPLIT, str(tmp_path / "table")]
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    second = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    logs = [p.communicate(timeout=120)[0] for p in (first, second)]
    assert first.returncode == second.returncode == 0, logs
    lines = executions.read_text().split()
    seeds, pids = Counter(lines[0::2]), set(lines[1::2])
    assert seeds == Counter({str(s): 1 for s in range(8)}), seeds  # every run executed exactly once
    assert len(pids) == 2, logs  # both processes trained some
    assert "skipped, running in" in "".join(logs) or "written meanwhile" in "".join(logs)
    table = read_table(tmp_path / "table")
    assert sorted(table["seed"]) == list(range(8)) and (table["status"] == "ok").all()
    assert not list((tmp_path / "table" / "claims").glob("*.json"))  # every claim released
