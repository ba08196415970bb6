"""What a person sees: the progress display, answers that need no backend, `zoo train`'s summary and logs,
and a redirected `zoo bench` log without control characters."""

import io
import json
import os
import subprocess
import sys

import pytest
from datafiles import tiny_sweep
from rich.console import Console

from zoo.cli import main, version_text
from zoo.experiments.isolate import call_isolated
from zoo.training.progress import Display

EVENTS = [{"event": "step", "epoch": 1, "epochs": 2, "step": 3, "steps": 6, "fraction": 0.25, "loss": 2.0},
          {"event": "epoch", "epoch": 1, "epochs": 2, "fraction": 0.5, "seconds": 1.25,
           "logs": {"loss": 1.5, "top1": 0.5}},
          {"event": "epoch", "epoch": 2, "epochs": None, "fraction": 0.75, "seconds": 1.0, "logs": {"loss": 1.0}}]


def drive(display: Display) -> None:
    with display:
        display.sweep("s", 3)
        display.run("resnet_tiny · digits")
        for event in EVENTS:
            display(event)
        display.finished("ok")
        display.run("resnet20 · digits")
        display.finished("failed")
        display.finished("skipped")
        display.log("done")


def test_display_without_a_terminal_writes_plain_lines():
    console = Console(file=io.StringIO(), width=200)
    drive(Display(console, indent="    "))
    text = console.file.getvalue()
    assert text.splitlines() == ["    epoch 1/2  loss 1.5000  top1 50.00%  1.2 s",
                                 "    epoch 2 (75% of the budget)  loss 1.0000  1.0 s", "done"]


def test_display_on_a_terminal_is_live_and_counts_runs():
    console = Console(file=io.StringIO(), force_terminal=True, width=160)
    display = Display(console)
    assert display.live
    drive(display)
    text = console.file.getvalue()
    assert "sweep s: 1 done, 1 failed, 1 skipped" in text and "epoch 1/2  loss 1.5000" in text


def test_display_with_a_log_function_is_never_live():
    lines = []
    display = Display(Console(file=io.StringIO(), force_terminal=True), log=lines.append)
    drive(display)
    assert not display.live and lines[-1] == "done" and lines[0].startswith("epoch 1/2")


def reporting(n, *, progress):
    for i in range(n):
        progress({"event": "step", "i": i})
    return n * 10


def test_isolated_calls_send_events_while_they_run():
    events = []
    assert call_isolated(reporting, 3, on_event=events.append) == 30
    assert events == [{"event": "step", "i": i} for i in range(3)]


NO_BACKEND = """
import sys
from zoo.cli import main
for argv in {argvs!r}:
    code = main(argv)
    assert code in (0, 2), (argv, code)
loaded = sorted(m for m in ("keras", "tensorflow", "jax", "torch") if m in sys.modules)
assert not loaded, loaded
"""


def test_answers_that_need_no_backend_do_not_import_one(tmp_path):
    argvs = [["list"], ["list", "--names-only", "resnet2*"], ["show", "resnet20", "--json"], ["recipes"],
             ["bench", "--list"], ["bench", "quick", "--dry-run", "--out", str(tmp_path / "q")], ["bench", "quik"],
             ["show", "resnet18_cifra"], ["train", "resnet18_cifra"], ["train", "resnet20", "--recipe", "fsat"],
             ["train", "resnet20", "--knob", "nosuch=1"], ["tune", "--base", "resnet18_cifra"],
             ["throughput", "resnet18_cifra"], ["predict", str(tmp_path / "none.keras"), "x.png"]]
    done = subprocess.run([sys.executable, "-c", NO_BACKEND.format(argvs=argvs)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("zoo: error:")]
    assert len(errors) == 8, done.stderr


def test_version_names_zoo_keras_and_the_backend(capsys):
    text = version_text()
    assert text.startswith("zoo ") and "Keras 3." in text and " backend tensorflow 2." in text
    try:
        main(["--version"])
    except SystemExit as stop:
        assert stop.code == 0
    assert capsys.readouterr().out.strip() == text
    env = {**os.environ, "KERAS_BACKEND": "jax"}  # a fresh process: the backend Keras would load, not imported
    done = subprocess.run([sys.executable, "-m", "zoo", "--version"], capture_output=True, text=True, env=env)
    assert " backend jax 0." in done.stdout and done.returncode == 0


def test_zoo_train_prints_a_summary_and_writes_its_logs(offline, tmp_path, capsys):
    argv = ["train", "resnet_tiny", "--dataset", "digits", "--recipe", "mnist_functional", "--epochs", "2",
            "--limit", "96", "--batch-size", "32", "--knob", "validation_split=0", "--out-dir", str(tmp_path / "runs"),
            "--tensorboard", str(tmp_path / "tb")]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0] == "resnet_tiny on digits, recipe mnist_functional: 2 epochs on 96 images"
    assert lines[1].startswith("test top-1 ") and lines[2].startswith("training ")
    assert "epoch 1/2  loss " in err and "epoch 2/2  loss " in err and "\x1b" not in err and "\r" not in err
    run_dir = next((tmp_path / "runs").iterdir())
    assert {"model.keras", "result.json", "history.json", "log.csv", "curves.png"} <= {p.name for p in run_dir.iterdir()}
    assert len((run_dir / "log.csv").read_text().splitlines()) == 3  # header + one row per epoch
    assert list((tmp_path / "tb").rglob("events.out.tfevents.*"))
    assert main([*argv, "--json", "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["epochs"] == 2 and "epoch 1/2" not in err


@pytest.mark.slow
def test_a_redirected_bench_log_is_plain_text(offline, tmp_path):
    sweep = tmp_path / "one.toml"
    sweep.write_text(tiny_sweep())
    log = tmp_path / "log"
    with open(log, "wb") as handle:
        done = subprocess.run([sys.executable, "-m", "zoo", "bench", str(sweep), "--out", str(tmp_path / "t"),
                               "--no-plots"], stdout=handle, stderr=subprocess.STDOUT, env=os.environ, timeout=300)
    text = log.read_bytes().decode()
    assert done.returncode == 0, text[-3000:]
    assert "\x1b" not in text and "\r" not in text
    assert "[1/1] resnet_tiny · digits · mnist_functional" in text and "    epoch 2/2  loss " in text
    assert "| resnet_tiny" in text
