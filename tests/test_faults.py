"""Faults and odd inputs from the adversarial probe (issue 35): each gives the right behaviour or one
`zoo: error:` line with exit status 2; a genuine defect still shows its traceback and asks for a report."""

import json
import os
import socket
import time

import numpy as np
import pandas as pd
import pytest

from zoo.cli import fault_text, main
from zoo.errors import ZooError
from zoo.experiments import claims
from zoo.experiments.claims import claim, holder, locked, stale_reason
from zoo.experiments.results import CSV, append_rows, read_table, repair_csv
from zoo.experiments.sweeps import MAX_RUNS, parse_sweep


def one_line_error(capsys, argv, *, code=2) -> str:
    assert main(argv) == code
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("zoo"), err
    return err


# -- one error path ----------------------------------------------------------------------------------


def test_os_errors_are_one_line_naming_the_path():
    assert fault_text(FileNotFoundError(2, "No such file or directory", "runs/x")) == "runs/x: No such file or directory"
    assert "disk full" in fault_text(OSError(28, "No space left on device", "t/results.csv"))
    assert fault_text(RecursionError("maximum recursion depth exceeded")).startswith("input nested too deeply")


def test_a_defect_shows_its_traceback_and_asks_for_a_report(capsys, monkeypatch):
    import zoo.cli.recipes as recipes_command

    def broken(args):
        raise TypeError("a bug")

    monkeypatch.setattr(recipes_command, "run", broken)
    assert main(["recipes"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "TypeError: a bug" in err and "please report it" in err


def test_an_os_error_from_a_command_is_one_line(capsys, monkeypatch):
    import zoo.cli.recipes as recipes_command

    def full(args):
        raise OSError(28, "No space left on device", "bench/quick/results.parquet")

    monkeypatch.setattr(recipes_command, "run", full)
    err = one_line_error(capsys, ["recipes"])
    assert "bench/quick/results.parquet: No space left on device (disk full?)" in err


@pytest.mark.parametrize("argv, message", [
    (["train", "resnet_tiny", "--target-top1", "95"], "a percentage?"),
    (["train", "resnet_tiny", "--target-top1", "nan"], "top-1 fraction"),
    (["train", "resnet_tiny", "--limit", "1"], ">= 2"),
    (["tune", "--limit", "0"], ">= 2"),
    (["predict", "m.keras", "a.png", "--top-k", "0"], ">= 1"),
    (["throughput", "resnet_tiny", "--batch-size", "0"], ">= 1"),
    (["throughput", "resnet_tiny", "--batch-size", "-4"], ">= 1"),
    (["bench", "quick", "--max-epochs", "0"], ">= 1"),
])
def test_numbers_out_of_range_are_refused(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


def test_json_output_never_holds_nan():
    from zoo.cli.train import json_safe

    text = json.dumps(json_safe({"loss": float("nan"), "top1": np.float32(0.5), "x": [float("inf")]}),
                      allow_nan=False)
    assert json.loads(text) == {"loss": None, "top1": 0.5, "x": [None]}


# -- specs and spec files ---------------------------------------------------------------------------


@pytest.mark.parametrize("argv, message", [
    (["show", "resnet20", "--set", "name=a/b"], "name must be"),
    (["show", "resnet20", "--set", "name=../x"], "name must be"),
    (["show", "--spec", "/dev/zero"], "not a regular file"),
])
def test_bad_names_and_spec_files(capsys, argv, message):
    assert message in one_line_error(capsys, argv)


def test_deep_and_huge_spec_json(capsys, tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    assert "nested too deeply" in one_line_error(capsys, ["show", "--spec", str(deep)])
    digits = tmp_path / "digits.json"
    digits.write_text('{"num_classes": ' + "9" * 5000 + "}")
    assert "not valid JSON" in one_line_error(capsys, ["show", "--spec", str(digits)])
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    assert "not a regular file" in one_line_error(capsys, ["show", "--spec", str(fifo)])


@pytest.mark.slow
def test_he_et_al_resnet_1202_builds(capsys):
    """The paper's deepest CIFAR net: 200 blocks a stage, 19.4M parameters (He et al. 2015, table 6)."""
    import zoo

    from zoo.models.summary import param_counts

    model = zoo.build("resnet20", depths=(200, 200, 200))
    assert 19.35e6 < param_counts(model)["trainable"] < 19.45e6


# -- claims ---------------------------------------------------------------------------------------


def _write_claim(folder, run_id, record, age=0.0):
    path = folder / "claims" / f"{run_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(record if isinstance(record, str) else json.dumps(record))
    when = time.time() - age
    os.utime(path, (when, when))
    return path


@pytest.mark.parametrize("pid", ["abc", [1, 2], 10**30, -5, None, True])
def test_claims_with_impossible_pids_go_stale_after_the_window(tmp_path, pid):
    record = {"host": "elsewhere", "pid": pid, "beat": time.time()}
    _write_claim(tmp_path, "young", record)
    assert holder(tmp_path, "young") is not None  # unreadable but fresh: held by someone unnamed
    _write_claim(tmp_path, "old", record, age=3600)
    assert "is not a process id" in stale_reason(tmp_path, "old") and holder(tmp_path, "old") is None


def test_a_claim_from_the_future_or_from_a_reused_pid_is_stale(tmp_path):
    _write_claim(tmp_path, "future", {"host": "elsewhere", "pid": 4242, "beat": time.time() + 86400})
    assert "in the future" in stale_reason(tmp_path, "future")
    # file times in the future do not keep a claim alive: its own heartbeat field is what counts
    _write_claim(tmp_path, "stuck", {"host": "elsewhere", "pid": 4242, "beat": time.time() - 3600}, age=-86400)
    assert "no heartbeat" in stale_reason(tmp_path, "stuck")
    mine = {"host": socket.gethostname(), "pid": 1, "pid_start": "-1", "beat": time.time()}
    _write_claim(tmp_path, "reused", mine)  # pid 1 lives, but it is not the process that claimed
    assert "is gone" in stale_reason(tmp_path, "reused")


def test_a_stale_claim_is_taken_over_with_a_line(tmp_path):
    _write_claim(tmp_path, "r", {"host": "elsewhere", "pid": 7, "beat": time.time() - 3600})
    lines = []
    with locked(tmp_path):
        path = claim(tmp_path, "r", log=lines.append)
    assert path is not None and "taking over a stale claim: no heartbeat" in lines[0]
    assert holder(tmp_path, "r")["pid"] == os.getpid()
    (tmp_path / "claims" / "d.json").mkdir()  # a folder where a claim should be
    old = time.time() - 3600
    os.utime(tmp_path / "claims" / "d.json", (old, old))
    with locked(tmp_path):
        assert claim(tmp_path, "d", log=lines.append) is not None


def test_heartbeats_rewrite_the_claim_and_stop_when_it_is_taken_over(tmp_path):
    with locked(tmp_path):
        path = claim(tmp_path, "r")
    first = json.loads(path.read_text())["beat"]
    with claims.Heartbeat(path, every=0.01) as beating:
        time.sleep(0.1)
        assert json.loads(path.read_text())["beat"] > first
        with claims._WRITING:  # as another process would, between two heartbeats
            path.write_text(json.dumps({"host": "elsewhere", "pid": 9, "beat": time.time()}))  # taken over
        time.sleep(0.1)
        assert json.loads(path.read_text())["host"] == "elsewhere" and not beating.paths


def test_bench_exits_1_when_a_run_is_still_claimed_elsewhere(tmp_path, capsys):
    sweep = tmp_path / "s.toml"
    sweep.write_text('[[group]]\nvariants = ["resnet_tiny"]\nrecipes = ["mnist_functional"]\ndatasets = ["digits"]\n')
    out = tmp_path / "table"
    run_id = parse_sweep(sweep.read_text(), name="s").runs[0].run_id
    _write_claim(out, run_id, {"host": "elsewhere", "pid": 77, "beat": time.time()})
    assert main(["bench", str(sweep), "--out", str(out), "--in-process", "--no-plots", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "skipped, running in elsewhere pid 77" in err or "still running in elsewhere pid 77" in err
    assert f"{run_id}" in err and "rerun to finish it" in err


# -- planning ------------------------------------------------------------------------------------------

GROUP = '[[group]]\nvariants = ["resnet_tiny"]\nrecipes = ["fast"]\n'


@pytest.mark.parametrize("text, message", [
    ("group = 5", "group must be [[group]] tables"),
    ("defaults = 5\n" + GROUP, "defaults must be a table"),
    (GROUP + "overrides = [1, 2]", "overrides must be a table"),
    (GROUP + "overrides = { lr = 1979-05-27 }", "is a TOML date"),
    ("x = " + "[" * 5000 + "]" * 5000, "nested too deeply"),
    (GROUP + 'overrides = { dataset = "digits" }', "set datasets with datasets"),
    (GROUP + "seeds = [4294967296]", "seeds must be integers in [0, 4294967295]"),
    (GROUP + "overrides = { warmup_epochs = 1e300 }", "warmup_epochs must be a number"),
    (GROUP + 'datasets = ["cifar1O"]', "unknown dataset 'cifar1O'; did you mean cifar10"),
])
def test_bad_sweep_files_are_refused_at_planning(text, message):
    with pytest.raises(ZooError, match=None) as error:
        parse_sweep(text, name="bad")
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_huge_grid_is_refused_before_it_is_built():
    values = list(range(100))
    began = time.perf_counter()
    with pytest.raises(ZooError, match=r"plans 1,000,000 runs, over the limit of 10,000"):
        parse_sweep(GROUP + f"grid = {{ lr = {[v + 1 for v in values]}, epochs = {[v + 1 for v in values]}, "
                            f"crop_pad = {values} }}", name="big")
    assert time.perf_counter() - began < 2 and MAX_RUNS == 10_000


def test_one_configuration_whatever_its_spelling_and_inference_batch_in_the_id():
    sweep = parse_sweep(GROUP + "grid = { lr = [1, 1.0] }", name="s")
    assert len(sweep.runs) == 1
    text = GROUP + "inference_batch = 1\n" + GROUP + "inference_batch = 256\n"
    assert len({r.run_id for r in parse_sweep(text, name="s").runs}) == 2
    default = parse_sweep(GROUP, name="s").runs[0]
    assert default.run_id == parse_sweep(GROUP + "inference_batch = 256", name="s").runs[0].run_id


# -- tables ------------------------------------------------------------------------------------------


def _rows(n, finished="2026-12-01T00:00:00"):
    return [{"run_id": f"r{i}", "variant": "resnet_tiny", "status": "ok", "top1": 0.5 + i / 100, "seed": i,
             "finished": finished} for i in range(n)]


def test_a_short_csv_never_replaces_the_parquet_table(tmp_path):
    append_rows(tmp_path, _rows(6))
    full = pd.read_csv(tmp_path / CSV)
    full.head(3).to_csv(tmp_path / CSV, index=False)  # an edit, a partial copy, a sync
    assert len(read_table(tmp_path)) == 6
    assert repair_csv(tmp_path) and len(pd.read_csv(tmp_path / CSV)) == 6 and not repair_csv(tmp_path)
    table = append_rows(tmp_path, [{**_rows(7)[6]}])
    assert list(table["run_id"]) == [f"r{i}" for i in range(7)]


def test_integer_columns_written_as_floats_by_a_spreadsheet_read_back(tmp_path):
    append_rows(tmp_path, _rows(2))
    frame = pd.read_csv(tmp_path / CSV)
    frame["seed"] = frame["seed"].astype(float)  # 0.0, 1.0
    frame.to_csv(tmp_path / "copy.csv", index=False)
    assert read_table(tmp_path / "copy.csv")["seed"].tolist() == [0, 1]


def test_compare_counts_a_repeated_run_once_and_refuses_percentages(tmp_path):
    from zoo.experiments.compare import compare, load

    pd.DataFrame(_rows(6) + _rows(6)).to_csv(tmp_path / "twice.csv", index=False)
    notes = []
    assert len(load(tmp_path / "twice.csv", log=notes.append)) == 6 and "6 row(s) repeat" in notes[0]
    percent = pd.DataFrame(_rows(3)).assign(top1=[91.0, 92.0, 93.0], dataset="cifar10", recipe="fast")
    with pytest.raises(ZooError, match="percent"):
        compare({"a": percent, "b": percent})


# -- data ---------------------------------------------------------------------------------------------


def test_16_bit_and_float_images_are_scaled_not_clipped(tmp_path):
    from PIL import Image

    from zoo.data.formats import read_image_folder

    gradient = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)  # 0..65520
    for split in ("train", "test"):
        for label in ("a", "b"):
            folder = tmp_path / "set" / split / label
            folder.mkdir(parents=True)
            Image.fromarray(gradient).save(folder / "wide.png")
            Image.fromarray((gradient / 65535.0).astype(np.float32)).save(folder / "float.tif")
    arrays = read_image_folder(tmp_path / "set")
    for image in arrays["x_train"]:
        assert image.min() == 0 and image.max() == 255 and len(np.unique(image)) > 200


def test_a_tampered_cache_is_decoded_again(tmp_path, monkeypatch):
    from zoo.data import datasets

    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    calls = []

    def read():
        calls.append(1)
        return {"x_train": np.zeros((4, 8, 8, 1), np.uint8), "y_train": np.array([0, 1, 0, 1]),
                "x_test": np.zeros((2, 8, 8, 1), np.uint8), "y_test": np.array([0, 1]), "class_names": ["a", "b"]}

    source = tmp_path / "source.bin"
    source.write_bytes(b"x")
    datasets._cached("folder", "source", source, read, True)
    datasets._cached("folder", "source", source, read, True)
    assert len(calls) == 1  # the cache answered
    target = datasets._cache_file("folder", "source", source)
    np.savez(target, x_train=np.zeros((2, 3)), y_train=np.array([1.5]))  # altered: wrong keys and dtypes
    arrays = datasets._cached("folder", "source", source, read, True)
    assert len(calls) == 2 and arrays["x_train"].shape == (4, 8, 8, 1)
