"""One declared schema per table: every writer's rows (bench, tuning, throughput; Ray writes through the
bench's loop, checked in tests/test_ray.py) hold declared columns only, and benchmarks/README.md documents
each table from the declarations."""

from pathlib import Path

import pandas as pd
import pytest
from test_bench import DIGITS, quiet, sweep_text

from zoo.experiments.bench import run_sweep
from zoo.experiments.results import read_table
from zoo.experiments.schema import COLUMNS, THROUGHPUT_COLUMNS, TRIAL_COLUMNS, columns_markdown, undeclared
from zoo.experiments.sweeps import parse_sweep

ROOT = Path(__file__).resolve().parents[1]


def test_bench_rows_hold_declared_columns_only(offline, tmp_path):
    sweep = parse_sweep(sweep_text(DIGITS), name="schema")
    table = run_sweep(sweep, out=tmp_path / "t", verbose=0, log=quiet, plots=False)
    assert table["status"].eq("ok").all() and undeclared(table.columns, COLUMNS) == []


def test_trial_rows_hold_declared_columns_and_their_knobs_only(offline, tmp_path, monkeypatch):
    from zoo.experiments.tuning import ZooHyperModel, make_tuner, run_search, trials_folder

    for key in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        monkeypatch.delenv(key, raising=False)
    hm = ZooHyperModel("resnet_tiny", ["head", "width"], recipe="mnist_functional", dataset="digits", limit=160,
                       overrides={"epochs": 1, "batch_size": 32})
    run_search(make_tuner("random", hm, max_trials=1, directory=tmp_path, project="p"))
    table = read_table(trials_folder(tmp_path, "p"))
    assert len(table) == 1
    assert undeclared(table.columns, COLUMNS + TRIAL_COLUMNS, extra=["head", "head_hidden", "width"]) == []


def test_throughput_rows_hold_declared_columns_only(tmp_path):
    from zoo.experiments.throughput import conform_throughput, throughput_table

    table = throughput_table(["resnet_tiny"], input_size=16, batch_size=2, steps=1, warmup=1, precision="float32",
                             frameworks=("zoo",), latency=("keras",), log=quiet)
    assert undeclared(table.columns, THROUGHPUT_COLUMNS) == [] and set(table["mode"]) >= {"train", "latency"}
    assert list(table.columns) == [c.name for c in THROUGHPUT_COLUMNS if c.name in table]  # schema order
    with pytest.raises(ValueError, match=r"undeclared columns \['speed'\]"):
        conform_throughput(pd.DataFrame([{"framework": "zoo", "speed": 1.0}]))


@pytest.mark.parametrize("columns", [COLUMNS, TRIAL_COLUMNS, THROUGHPUT_COLUMNS], ids=["results", "trials", "throughput"])
def test_benchmarks_readme_documents_each_table_from_its_schema(columns):
    assert columns_markdown(columns) in (ROOT / "benchmarks" / "README.md").read_text()
