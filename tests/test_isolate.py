"""A process per run: answers and exceptions come back, a dying process is a clear error or a `failed` row."""

import os
import signal

import pytest

from zoo.experiments.bench import run_sweep
from zoo.experiments.isolate import ProcessDied, ProcessTimedOut, call_isolated, describe_exit
from zoo.experiments.sweeps import parse_sweep


def pid_and_backend():
    import keras

    return os.getpid(), keras.backend.backend()


def fail(message):
    raise ValueError(message)


def exit_without_answer(code):
    os._exit(code)


def kill_self(variant, recipe, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_call_runs_in_another_process_on_the_same_backend():
    import keras

    pid, backend = call_isolated(pid_and_backend)
    assert pid != os.getpid() and backend == keras.backend.backend()


def test_the_call_s_exception_is_raised_here():
    with pytest.raises(ValueError, match="^bad knob$"):
        call_isolated(fail, "bad knob")


def test_a_call_past_its_timeout_is_stopped_and_a_clear_error():
    import time

    started = time.monotonic()
    with pytest.raises(ProcessTimedOut, match="gave no result within 0.5 s and was stopped"):
        call_isolated(time.sleep, 30, timeout=0.5)
    assert time.monotonic() - started < 20  # the fork server may start first; the sleep is cut short
    assert call_isolated(time.sleep, 0, timeout=30) is None


def test_a_process_that_dies_is_a_clear_error():
    with pytest.raises(ProcessDied, match="the run's process exited with status 3 without a result"):
        call_isolated(exit_without_answer, 3)
    assert describe_exit(-signal.SIGKILL) == "was killed by SIGKILL (often the kernel's out-of-memory killer)"
    assert describe_exit(-signal.SIGSEGV) == "was killed by SIGSEGV"


def test_isolated_sweep_rows_match_and_a_killed_run_is_a_failed_row(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    text = ('[defaults]\nlimit = 64\ninference_batch = 16\noverrides = { epochs = 1, batch_size = 32 }\n'
            '[[group]]\nvariants = ["resnet_tiny"]\nrecipes = ["mnist_functional"]\ndatasets = ["digits"]\n')
    sweep = parse_sweep(text, name="isolated")
    table = run_sweep(sweep, out=tmp_path / "a", verbose=0, log=lambda line: None, plots=False, isolate=True)
    row = table.iloc[0]
    assert row["status"] == "ok" and 0 <= row["top1"] <= 1 and row["images_seen"] == 32  # 51 after the 20% validation split: one full batch
    assert row["peak_host_memory_mb"] > 0 and row["train_seconds"] > 0 and row["history_file"]

    table = run_sweep(sweep, out=tmp_path / "b", verbose=0, log=lambda line: None, plots=False, isolate=True,
                      train_fn=kill_self)
    row = table.iloc[0]
    assert row["status"] == "failed" and "killed by SIGKILL" in row["error"]
    assert row["variant"] == "resnet_tiny" and row["backend"] and row["wall_seconds"] > 0


@pytest.mark.slow
def test_backends_are_a_sweep_axis_each_run_in_a_process_on_its_backend(tmp_path, monkeypatch):
    import importlib.util

    from zoo.errors import ZooError

    monkeypatch.setenv("ZOO_OFFLINE", "1")
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    text = ('[defaults]\nlimit = 64\ninference_batch = 0\noverrides = { epochs = 1, batch_size = 32 }\n'
            '[[group]]\nvariants = ["resnet_tiny"]\nrecipes = ["mnist_functional"]\ndatasets = ["digits"]\n'
            'backends = ["tensorflow", "jax", "torch"]\n')
    sweep = parse_sweep(text, name="backends")
    assert [r.backend for r in sweep.runs] == ["tensorflow", "jax", "torch"]
    assert len({r.run_id for r in sweep.runs}) == 3 and sweep.runs[1].label.endswith(" · jax")
    with pytest.raises(ZooError, match="lists backends .*need a process per run"):
        run_sweep(sweep, out=tmp_path / "t", log=lambda line: None, plots=False, isolate=False)
    table = run_sweep(sweep, out=tmp_path / "t", verbose=0, log=lambda line: None, plots=False, isolate=True)
    assert table["backend"].tolist() == ["tensorflow", "jax", "torch"]
    assert table["status"].tolist()[:2] == ["ok", "ok"] and table["top1"].notna().tolist()[:2] == [True, True]
    if importlib.util.find_spec("torch") is None:
        assert table["status"][2] == "failed" and "torch backend is not installed (pip install torch)" in table["error"][2]
    with pytest.raises(ZooError, match="backends must be among tensorflow, jax, torch, got 'mxnet'"):
        parse_sweep(text.replace('"torch"', '"mxnet"'), name="bad")


def test_a_call_s_process_ends_when_its_caller_is_killed_outright(tmp_path):
    """SIGKILL of the caller (a `zoo bench` stopped by kill -9) leaves no run training on."""
    import subprocess
    import sys
    import time

    pids = tmp_path / "pids"
    script = (
        "import multiprocessing, threading, time\n"
        "from zoo.experiments.isolate import call_isolated\n"
        "def report():\n"
        "    while not multiprocessing.active_children():\n"
        "        time.sleep(0.1)\n"
        f"    open({str(pids)!r}, 'w').write(str(multiprocessing.active_children()[0].pid))\n"
        "threading.Thread(target=report, daemon=True).start()\n"
        "call_isolated(time.sleep, 120)\n")
    caller = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60
        while not (pids.exists() and pids.read_text()) and time.monotonic() < deadline:
            time.sleep(0.2)
        child = int(pids.read_text())
        caller.kill()
        caller.wait()

        def running(pid):
            try:
                state = open(f"/proc/{pid}/status").read().split("State:")[1].split()[0]
            except (OSError, IndexError):
                return False
            return state != "Z"

        deadline = time.monotonic() + 15
        while running(child) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not running(child)
    finally:
        caller.kill()
