"""`zoo bench`: sweep files, the runner on real digits data, failures as rows, resume after SIGKILL, locking."""

import json
import re
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from zoo.cli import main
from zoo.errors import UnknownVariantError, ZooError
from zoo.experiments.bench import is_out_of_memory, pending_runs, run_sweep
from zoo.experiments.results import COLUMN_NAMES, read_history, read_table
from zoo.experiments.sweeps import builtin_sweeps, load_sweep, parse_sweep

ROOT = Path(__file__).resolve().parents[1]


def sweep_text(*groups: str, defaults: str = "limit = 96\ninference_batch = 16\noverrides = { epochs = 1, batch_size = 32 }") -> str:
    return "[defaults]\n" + defaults + "\n" + "".join(f"\n[[group]]\n{textwrap.dedent(g).strip()}\n" for g in groups)


DIGITS = 'variants = ["resnet_tiny"]\nrecipes = ["mnist_functional"]\ndatasets = ["digits"]'


def quiet(line):
    pass


# -- sweep files ----------------------------------------------------------------------------------


def test_builtin_sweeps_parse_and_plan():
    sweeps = builtin_sweeps()
    assert {"quick", "articles", "all-variants"} <= set(sweeps)
    quick = load_sweep("quick")
    assert [r.variant for r in quick.runs] == ["resnet18_cifar10_tf2", "resnet34_cifar10_tf2", "resnet18_cifar10_d2l",
                                               "resnet18_cifar100_tf2", "resnet34_cifar100_tf2",
                                               "resnet18_mnist_functional"]
    assert all(r.overrides["budget_seconds"] == 40 and r.limit is None for r in quick.runs)
    assert [r.test_limit for r in quick.runs] == [500] * 5 + [2000]  # MNIST: near 97%, a finer score
    assert all(r.overrides["precise_bn"] == 128 and r.inference_batch == 0 for r in quick.runs)
    assert {r.dataset for r in quick.runs} == {"cifar10", "mnist"}
    for name in ("seed002-full", "mnist-99", "articles-budget", "cifar-depth"):  # the CPU result tables' sweeps
        assert load_sweep(name).runs, name
    articles = load_sweep("articles")
    assert {(r.variant, r.recipe) for r in articles.runs} >= {("resnet18_cifar10_d2l", "d2l_cifar10"),
                                                               ("resnet18_mnist_functional", "mnist_functional"),
                                                               ("resnet18_cifar10_d2l", "fast")}
    assert all(r.limit is None for r in articles.runs)
    assert {json.dumps(r.overrides) for r in articles.runs} == {"{}", '{"flip": false, "pad_to": 32}'}
    tta = load_sweep("time-to-accuracy")
    assert {(r.variant, r.target_top1) for r in tta.runs} == {
        ("resnet18_cifar10_d2l", 0.8123), ("resnet18_mnist_functional", 0.99), ("resnet18_cifar", 0.94)}
    assert all(r.recipe == "fast" for r in tta.runs) and len(tta.runs) == 19
    import zoo

    assert sorted(r.variant for r in load_sweep("all-variants").runs) == sorted(zoo.list_variants())


def test_run_ids_are_stable_and_depend_on_every_knob():
    a = parse_sweep(sweep_text(DIGITS), name="a").runs[0]
    b = parse_sweep(sweep_text(DIGITS), name="b").runs[0]
    assert a.run_id == b.run_id  # the sweep's name is not part of a run's identity
    c = parse_sweep(sweep_text(DIGITS), name="c", extra_overrides={"lr": 0.01}).runs[0]
    assert c.run_id != a.run_id and c.overrides["lr"] == 0.01
    twice = parse_sweep(sweep_text(DIGITS, DIGITS), name="twice")
    assert len(twice.runs) == 1


def test_grid_and_max_epochs():
    grid = parse_sweep(sweep_text(DIGITS + "\ngrid = { epochs = [2, 3], lr = [0.1, 0.01] }"), name="g")
    assert sorted((r.overrides["epochs"], r.overrides["lr"]) for r in grid.runs) == [
        (2, 0.01), (2, 0.1), (3, 0.01), (3, 0.1)]
    assert all(r.overrides["batch_size"] == 32 for r in grid.runs)  # the defaults' overrides stay under the grid
    same = parse_sweep(sweep_text(DIGITS + "\noverrides = { epochs = 2, lr = 0.1 }"), name="s").runs[0]
    assert same.run_id in {r.run_id for r in grid.runs}  # a grid point is the run its overrides define
    capped = parse_sweep(sweep_text(DIGITS + "\ngrid = { epochs = [2, 30] }"), name="c", max_epochs=5)
    assert sorted(r.overrides["epochs"] for r in capped.runs) == [2, 5]
    articles = load_sweep("articles", max_epochs=8)
    epochs = {(r.recipe, r.overrides.get("epochs")) for r in articles.runs}
    assert ("mnist_functional", None) in epochs and ("d2l_cifar10", 8) in epochs  # 5 epochs stay, 100 -> 8


@pytest.mark.parametrize("text, message", [
    ("[[group]]\nvariants = ['resnet18_cifra']\nrecipes = ['fast']", "did you mean resnet18_cifar"),
    ("[[group]]\nvariants = ['resnet20']\nrecipes = ['fastest']", "unknown recipe 'fastest'"),
    ("[[group]]\nvariants = ['resnet20']\nrecipes = ['fast']\noverrides = { epoch = 2 }", "did you mean epochs"),
    ("[[group]]\nvariants = ['resnet20']\nrecipes = ['fast']\noverrides = { epochs = 0 }", "epochs must be"),
    ("[[group]]\nvariants = ['resnet20']\nrecipes = ['fast']\nseeds = [-1]", r"seeds must be integers in \[0, 4294967295\], got -1"),
    ("[[group]]\nvariants = ['resnet20']\nrecipes = ['fast']\noverrides = { seed = 1 }", "not the seed knob"),
    ("[[group]]\nvariants = ['resnet20']\nrecipes = ['fast']\nlimit = 0", "limit must be an integer >= 2, got 0"),
    ("[[group]]\nvariants = ['resnet20']\nrecipes = ['fast']\ninference_batch = -1",
     "inference_batch must be an integer >= 0, got -1"),
    ("[[group]]\nvariants = ['resnet20']\nrecipe = ['fast']", "unknown key 'recipe'"),
    ("[[group]]\nvariants = ['resnet20']", "needs variants and recipes"),
    ("[[group]]\nvariants = []\nrecipes = ['fast']", "variants must be a value or a non-empty list"),
    ("description = 'x'", "no \\[\\[group\\]\\] tables"),
    ("[[groups]]\nvariants = ['resnet20']", "unknown top-level key\\(s\\) groups"),
    ("[[group]\n", "not valid TOML"),
    ("[[group]]\nvariants = ['resnet20']\nrecipes = ['fast']\ngrid = { epochs = 3 }", "grid epochs must be a "
     "non-empty list of values, got 3"),
    ("[[group]]\nvariants = ['resnet20']\nrecipes = ['fast']\ngrid = [1]", "grid must be a table"),
    ("[[group]]\nvariants = ['resnet20']\nrecipes = ['fast']\ngrid = { epoch = [3] }", "did you mean epochs"),
    ("[[group]]\nvariants = ['resnet20']\nrecipes = ['fast']\ngrid = { seed = [1, 2] }", "not the seed knob"),
    ("[[group]]\nvariants = ['resnet20']\nrecipes = ['fast']\ntarget_top1 = 94", "target_top1 must be a test top-1 "
     "fraction in \\[0, 1\\], got 94"),
    ("[[group]]\nvariants = ['resnet20']\nrecipes = ['fast']\ndatasets = [3]", "datasets must be names \\(strings\\), got 3"),
    ("[[group]]\nvariants = ['resnet20']\nrecipes = [1]", "recipes must be names \\(strings\\), got 1"),
])
def test_bad_sweep_files(text, message):
    with pytest.raises(ZooError, match=message):
        parse_sweep(text, name="bad")


def test_unknown_variant_in_sweep_is_the_registry_error():
    with pytest.raises(UnknownVariantError):
        parse_sweep("[[group]]\nvariants = ['vgg16']\nrecipes = ['fast']", name="bad")


def test_unknown_sweep_name_suggests():
    with pytest.raises(ZooError, match="unknown sweep 'quik'; did you mean quick"):
        load_sweep("quik")


# -- running a sweep --------------------------------------------------------------------------------


@pytest.mark.slow
def test_sweep_writes_one_typed_row_per_run_and_resumes(offline, tmp_path):
    sweep = parse_sweep(sweep_text(DIGITS + "\nseeds = [0, 1]"), name="digits")
    out = tmp_path / "table"
    lines = []
    table = run_sweep(sweep, out=out, verbose=0, log=lines.append)
    assert list(table.columns) == list(COLUMN_NAMES)
    assert table["status"].tolist() == ["ok", "ok"] and table["seed"].tolist() == [0, 1]
    row = table.iloc[0]
    assert row["dataset_source"] == "digits" and row["backend"] and row["keras_version"] and row["device"]
    import zoo
    from zoo.models.summary import param_counts

    assert row["params"] == param_counts(zoo.build("resnet_tiny", input_shape=(32, 32, 1)))["trainable"]
    assert row["macs_per_image"] > 0 and row["params_total"] > row["params"]
    assert 0 <= row["top1"] <= 1 and row["train_images"] == 77 and row["test_images"] == 96  # 20% validation
    assert row["train_seconds"] > 0 and row["compile_seconds"] > 0 and row["inference_images_per_second"] > 0
    assert row["train_images_per_second"] > 0 and row["wall_seconds"] > row["train_seconds"]
    assert row["overrides"] == '{"batch_size": 32, "epochs": 1}' and row["inference_batch"] == 16
    assert pd.isna(row["error"]) and row["started"] <= row["finished"]
    assert set(read_history(out, row)) >= {"loss", "top1", "val_top1", "epoch_seconds"}
    for name in ("results.parquet", "results.csv", "results.md", "plots/top1_vs_train_seconds.png",
                 f"plots/curves/resnet_tiny-digits-mnist_functional-seed{row['seed']}-{row['run_id']}.png"):
        assert (out / name).stat().st_size > 0, name
    csv = read_table(out / "results.csv")
    pd.testing.assert_frame_equal(csv.drop(columns=["overrides"]), table.drop(columns=["overrides"]),
                                  check_exact=False)
    assert any("[2/2]" in line and "ETA" in line for line in lines)

    def must_not_train(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    again = run_sweep(sweep, out=out, verbose=0, log=lines.append, train_fn=must_not_train, plots=False)
    assert again["run_id"].tolist() == table["run_id"].tolist()
    assert "2 already in" in lines[-3] or any("2 already in" in line for line in lines)


def test_failures_are_rows_and_the_sweep_goes_on(offline, tmp_path):
    missing = 'variants = ["resnet_tiny"]\nrecipes = ["tf2_cifar100"]'  # CIFAR-100 is nowhere, offline
    too_small = 'variants = ["resnet18"]\nrecipes = ["mnist_functional"]\ndatasets = ["digits"]\n' \
                'overrides = { pad_to = 8 }'  # padding 32x32 images down to 8x8 is impossible
    sweep = parse_sweep(sweep_text(missing, too_small, DIGITS), name="failing")
    out = tmp_path / "table"
    table = run_sweep(sweep, out=out, verbose=0, log=quiet, plots=False)
    assert table["status"].tolist() == ["failed", "failed", "ok"]
    assert "DatasetError: dataset 'cifar100' not found" in table["error"][0]
    assert "ZOO_OFFLINE" in table["error"][0]
    assert "cannot pad 32x32 images to 8x8" in table["error"][1]
    assert "Traceback" in (out / "errors" / f"{table['run_id'][0]}.txt").read_text()
    summary = (out / "results.md").read_text()
    assert "Runs that did not finish ok" in summary and "dataset 'cifar100' not found" in summary

    calls = []

    def record(variant, recipe, **kwargs):
        calls.append(variant)
        raise RuntimeError("still broken")

    run_sweep(sweep, out=out, verbose=0, log=quiet, plots=False, retry_failed=True, train_fn=record)
    assert calls == ["resnet_tiny", "resnet18"]  # only the failed runs, and their rows are replaced
    assert read_table(out)["error"].tolist()[:2] == ["RuntimeError: still broken"] * 2
    assert len(read_table(out)) == 3


def test_nan_loss_stops_the_run_as_diverged(offline, tmp_path):
    sweep = parse_sweep(sweep_text(DIGITS + "\noverrides = { epochs = 3, optimizer = 'sgd', lr = 1e38 }"),
                        name="nan")
    table = run_sweep(sweep, out=tmp_path / "t", verbose=0, log=quiet, plots=False)
    row = table.iloc[0]
    found = re.search(r"loss became (nan|inf) in epoch (\d)", row["error"])
    assert row["status"] == "diverged" and found  # TensorFlow: nan in epoch 1; JAX: inf in epoch 2
    assert row["epochs"] == int(found.group(2)) < 3 and row["epochs_planned"] == 3
    assert pd.isna(row["inference_images_per_second"])


def test_time_to_accuracy_columns_and_summary(offline, tmp_path):
    plain = parse_sweep(sweep_text(DIGITS), name="t").runs[0]
    sweep = parse_sweep(sweep_text(DIGITS + "\nseeds = [0, 1]\ntarget_top1 = 0.0\ninference_batch = 0"), name="tta")
    assert sweep.runs[0].target_top1 == 0.0 and sweep.runs[0].run_id != plain.run_id
    assert "target top-1 0.00%" in sweep.runs[0].label
    table = run_sweep(sweep, out=tmp_path / "t", verbose=0, log=quiet, plots=False)
    assert table["target_top1"].tolist() == [0.0, 0.0] and table["epochs_to_target"].tolist() == [1, 1]
    # one epoch: reached after it, its compiling step and its evaluation (DAWNBench) included
    assert (table["seconds_to_target"] > table["train_seconds"] + table["compile_seconds"]).all()
    assert (table["seconds_to_target"] < table["wall_seconds"]).all()
    assert set(read_history(tmp_path / "t", table.iloc[0])) >= {"test_top1", "test_loss"}
    assert table["loop"].tolist() == ["keras", "keras"] and table["jit_compile"].notna().all()
    assert table["inference_images_per_second"].isna().all() and (table["inference_seconds"] == 0).all()  # batch 0
    summary = (tmp_path / "t" / "results.md").read_text()
    assert "Time to accuracy" in summary and "| resnet_tiny | digits | mnist_functional |" in summary


def test_out_of_memory_retries_once_at_half_the_batch(offline, tmp_path):
    from zoo.training.trainer import train

    seen = []

    def small_memory(variant, recipe, **kwargs):
        seen.append(kwargs["batch_size"])
        if kwargs["batch_size"] > 16:
            raise RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 123456 bytes.")
        return train(variant, recipe, **kwargs)

    sweep = parse_sweep(sweep_text(DIGITS), name="oom")
    row = run_sweep(sweep, out=tmp_path / "a", verbose=0, log=quiet, plots=False, train_fn=small_memory).iloc[0]
    assert seen == [32, 16]
    assert (row["status"], row["batch_size"], row["oom_retry_from_batch"]) == ("ok", 16, 32)
    assert row["error"] == "out of memory at batch 32; retried at 16"

    def no_memory(variant, recipe, **kwargs):
        raise MemoryError("Unable to allocate 9.3 GiB")

    row = run_sweep(sweep, out=tmp_path / "b", verbose=0, log=quiet, plots=False, train_fn=no_memory).iloc[0]
    assert (row["status"], row["batch_size"], row["oom_retry_from_batch"]) == ("oom", 16, 32)
    assert row["error"].startswith("out of memory at batch 32 and at half: MemoryError")


@pytest.mark.parametrize("error, expected", [
    (RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate"), True),
    (MemoryError(), True),
    (type("OutOfMemoryError", (RuntimeError,), {})("CUDA out of memory. Tried to allocate 2 GiB"), True),
    (ValueError("shapes do not match"), False),
])
def test_out_of_memory_detection(error, expected):
    assert is_out_of_memory(error) is expected


# -- processes: SIGKILL and concurrent writers -------------------------------------------------------


def _bench_command(sweep_file, out):
    return [sys.executable, "-m", "zoo", "bench", str(sweep_file), "--out", str(out), "--quiet", "--no-plots"]


@pytest.mark.slow
def test_sigkill_mid_sweep_loses_no_row_and_duplicates_none(offline, tmp_path):
    sweep_file = tmp_path / "three.toml"
    sweep_file.write_text(sweep_text(DIGITS + "\nseeds = [0, 1, 2, 3]",
                                     defaults="limit = 256\ninference_batch = 16\noverrides = { epochs = 3 }"))
    out = tmp_path / "table"
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    process = subprocess.Popen(_bench_command(sweep_file, out), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if (out / "results.parquet").exists() and len(read_table(out)) >= 1:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the sweep ended before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    before = read_table(out)
    assert 1 <= len(before) < 4 and before["status"].eq("ok").all()

    finished = subprocess.run(_bench_command(sweep_file, out), env=env, capture_output=True, text=True,
                              timeout=600)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert f"{len(before)} already in" in finished.stderr
    after = read_table(out)
    assert len(after) == 4 and after["run_id"].is_unique and sorted(after["seed"]) == [0, 1, 2, 3]
    kept = after.set_index("run_id").loc[before["run_id"], ["started", "top1"]]
    pd.testing.assert_frame_equal(kept.reset_index(drop=True), before[["started", "top1"]])
    assert not list(out.glob(".*.tmp"))  # a writer killed mid-write leaves a temp file; the next writer removes it


WRITER = """
import sys
from zoo.experiments.results import append_rows
folder, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(n):
    append_rows(folder, [{"run_id": f"{tag}{i}", "variant": tag, "seed": i, "status": "ok", "top1": i / n}])
"""


def test_two_writers_on_one_table_lose_nothing(tmp_path):
    out = tmp_path / "shared"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(out), tag, "25"]) for tag in ("a", "b")]
    assert [w.wait(timeout=300) for w in writers] == [0, 0]
    table = read_table(out)
    assert len(table) == 50 and table["run_id"].is_unique
    assert sorted(table[table["variant"] == "a"]["seed"]) == list(range(25))
    assert len(read_table(out / "results.csv")) == 50
    assert not list(out.glob(".*.tmp"))


# -- the command line ---------------------------------------------------------------------------------


def test_cli_list_dry_run_and_errors(offline, tmp_path, capsys):
    assert main(["bench", "--list"]) == 0
    out = capsys.readouterr().out
    assert "quick" in out and "articles" in out and "all-variants" in out
    sweep_file = tmp_path / "s.toml"
    sweep_file.write_text(sweep_text(DIGITS + "\nseeds = [0, 1]"))
    assert main(["bench", str(sweep_file), "--out", str(tmp_path / "t"), "--dry-run", "--knob", "epochs=2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all("to run" in line and "epochs=2" in line for line in lines)
    assert main(["bench", "quik"]) == 2
    assert "unknown sweep 'quik'" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_bench_runs_and_prints_the_markdown_table(offline, tmp_path, capsys):
    sweep_file = tmp_path / "one.toml"
    sweep_file.write_text(sweep_text(DIGITS))
    code = main(["bench", str(sweep_file), "--out", str(tmp_path / "t"), "--quiet"])
    captured = capsys.readouterr()
    assert code == 0
    assert "| variant" in captured.out and "| resnet_tiny" in captured.out and "top-1 %" in captured.out
    assert "[1/1] resnet_tiny · digits · mnist_functional · seed 0" in captured.err
    assert "plot:" in captured.err


def test_pending_runs_respects_retry_failed():
    sweep = parse_sweep(sweep_text(DIGITS + "\nseeds = [0, 1]"), name="p")
    table = pd.DataFrame({"run_id": [sweep.runs[0].run_id, sweep.runs[1].run_id], "status": ["ok", "failed"]})
    assert pending_runs(sweep, table) == []
    assert pending_runs(sweep, table, retry_failed=True) == [sweep.runs[1]]


def test_benchmarks_readme_explains_every_column():
    from zoo.experiments.results import columns_markdown

    assert columns_markdown() in (ROOT / "benchmarks" / "README.md").read_text()


def test_unreadable_sweep_files_and_empty_filters_are_one_line_errors(tmp_path, capsys):
    bad = tmp_path / "latin.toml"
    bad.write_bytes("description = 'caf\xe9'\n".encode("latin-1"))
    with pytest.raises(ZooError, match=r"sweep file .*latin.toml is not UTF-8 text \(byte 18: invalid"):
        load_sweep(str(bad))
    assert main(["bench", "quick", "--variants", "vgg*", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "--variants 'vgg*' matches none of sweep quick's variants (resnet18_cifar100_tf2," in err
