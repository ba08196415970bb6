"""`RunResult`: one dataclass whose field metadata is the results table's schema and its documentation."""

import json
from dataclasses import fields

import pytest

import zoo
from zoo.experiments.results import COLUMNS, columns_markdown
from zoo.training.result import GROUPS, RunResult, column_metadata, table_fields, table_row

pytestmark = pytest.mark.portable  # also runs under every other installed backend (test_backends)

DTYPES = {"string", "Int64", "Float64", "boolean"}


@pytest.mark.parametrize("name", table_fields())
def test_every_measured_column_is_typed_grouped_and_described(name):
    meta = column_metadata(name)
    assert meta["dtype"] in DTYPES and meta["group"] in GROUPS and len(meta["description"]) > 10
    assert not name.endswith("_seconds") or meta["unit"] == "s", name


def test_the_schema_defines_each_column_once_and_takes_the_measured_ones_from_run_result():
    names = [c.name for c in COLUMNS]
    assert len(names) == len(set(names))
    measured = {c.name: c for c in COLUMNS if c.name in table_fields()}
    assert set(measured) == set(table_fields())
    for name, column in measured.items():
        assert (column.dtype, column.description, column.unit) == tuple(
            column_metadata(name)[k] for k in ("dtype", "description", "unit"))
    assert all(f"| `{name}` |" in columns_markdown() for name in names)


def test_a_result_reads_like_the_dict_it_replaces():
    result = RunResult(model="m", top1=0.5, history={"loss": [1.0]}, status="ok")
    assert result["top1"] == 0.5 and result.get("top5") is None and "history" in result
    assert dict(result)["model"] == "m" and len(result) == len(fields(RunResult))
    with pytest.raises(KeyError):
        result["nope"]
    assert RunResult(**json.loads(json.dumps(result.to_dict()))) == result
    assert table_row(result)["top1"] == 0.5 and "history" not in table_row(result)


def test_train_returns_a_run_result_that_fills_its_columns(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path))
    result = zoo.train("resnet_tiny", "mnist_functional", dataset="digits", budget_images=64, batch_size=32,
                       limit=200, out_dir=tmp_path, verbose=0, validation_split=0.0)
    assert isinstance(result, RunResult) and result.status == "ok"
    unset = {name for name in table_fields() if result[name] is None}
    # what this run has no value for: no epochs plan, budget in images, no validation split, no target,
    # no inference timing, no accelerator, no error
    assert unset <= {"epochs_planned", "budget_seconds", "best_val_top1", "best_val_epoch", "target_top1",
                     "epochs_to_target", "seconds_to_target", "inference_images_per_second",
                     "peak_device_memory_mb", "error", "top5", "seconds_per_epoch", "resumed_from_epoch"}, unset
    saved = json.loads((tmp_path / result.run_dir.split("/")[-1] / "result.json").read_text())
    assert saved["top1"] == result.top1 and set(saved) == {f.name for f in fields(RunResult)}
