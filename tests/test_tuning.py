"""keras-tuner searches: the hypermodel's knob mapping, trials tables, best spec, resume, exhaustion,
failed trials as rows, and a distributed chief with two workers on 127.0.0.1."""

import json
import os
import socket
import subprocess
import sys
import time

import keras_tuner
import pytest

import zoo
from zoo.cli import main
from zoo.errors import ZooError
from zoo.experiments.results import read_table
from zoo.experiments.tuning import TRAINING_KNOBS, ZooHyperModel, make_tuner, run_search, trials_folder
from zoo.models.resnet.search import ARCHITECTURE_KNOBS, DEFAULT_OFF as BLOCK_OPTION_KNOBS
from zoo.models.resnet.spec import ResNetSpec

pytestmark = pytest.mark.portable  # also runs under every other installed backend (test_backends)

DIGITS = dict(recipe="mnist_functional", dataset="digits", limit=160, overrides={"epochs": 1, "batch_size": 32})


@pytest.fixture
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    for key in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        monkeypatch.delenv(key, raising=False)


def hp_with(**values):
    hp = keras_tuner.HyperParameters()
    hp.values.update(values)
    return hp


def test_default_space_covers_the_article_knobs():
    hm = ZooHyperModel("resnet18_cifar10_d2l", dataset_shape=((32, 32, 3), 10))
    assert set(hm.search_space) == set(ARCHITECTURE_KNOBS) | set(TRAINING_KNOBS)  # block options: only when named
    assert hm.search_space["stem"]["values"] == ["3x3/1 same", "3x3/1 valid", "7x7/2"]
    assert hm.search_space["stem_pool"]["values"] == ["none", "2/1", "2/2", "3/2"]
    assert hm.search_space["depth"]["values"] == ["18", "34"]
    assert hm.search_space["lr"] == {"kind": "float", "min": 1e-3, "max": 0.5, "log": True}  # fast recipe: SGD
    grid = ZooHyperModel("resnet18_cifar10_d2l", dataset_shape=((32, 32, 3), 10), grid=True)
    assert grid.search_space["lr"]["kind"] == "choice"


def test_choices_map_to_spec_fields_and_round_trip():
    hm = ZooHyperModel("resnet18_mnist_functional", recipe="mnist_functional", dataset_shape=((32, 32, 1), 10))
    spec = hm.spec_for(hp_with(stem="3x3/1 valid", stem_bn=True, stem_pool="2/1", shortcut="conv",
                               head="flatten_dense", head_hidden=256, depth="34", width=0.5))
    assert (spec.stem_kernel, spec.stem_stride, spec.stem_padding, spec.stem_bn) == (3, 1, "valid", True)
    assert (spec.stem_pool, spec.stem_pool_size, spec.stem_pool_stride) == ("max", 2, 1)
    assert (spec.shortcut, spec.head, spec.head_hidden) == ("conv", "flatten", 256)
    assert spec.depths == (3, 4, 6, 3) and spec.widths == (32, 64, 128, 256) and spec.stem_filters == 32
    assert ResNetSpec.from_json(spec.to_json()) == spec
    gap = hm.spec_for(hp_with(head="gap", stem_pool="none"))
    assert (gap.head, gap.head_hidden, gap.stem_pool) == ("gap", 0, "none")
    tiny = ZooHyperModel("resnet_tiny", dataset_shape=((32, 32, 3), 10))
    assert tiny.search_space["depth"]["values"] == ["base", "x2"]
    assert tiny.spec_for(hp_with(depth="x2")).depths == (2, 2, 2)


def test_block_options_map_to_spec_fields():
    hm = ZooHyperModel("resnet50_cifar", list(BLOCK_OPTION_KNOBS), dataset_shape=((32, 32, 3), 10))
    spec = hm.spec_for(hp_with(preact=True, attention="se", cardinality="32x4d", drop_path=0.1))
    assert (spec.preact, spec.attention, spec.groups, spec.base_width, spec.drop_path) == (True, "se", 32, 4, 0.1)
    assert ResNetSpec.from_json(spec.to_json()) == spec
    assert zoo.build(spec).get_layer("stage1_block1_conv2").groups == 32
    with pytest.raises(ZooError, match="cardinality needs a bottleneck base; resnet_tiny has block='basic'"):
        ZooHyperModel("resnet_tiny", ["cardinality"], dataset_shape=((32, 32, 3), 10))


def test_head_hidden_is_conditional_on_the_flatten_head():
    hm = ZooHyperModel("resnet_tiny", ["head"], dataset_shape=((32, 32, 3), 10))
    hp = keras_tuner.HyperParameters()
    hm.declare(hp)
    assert hp.values["head"] == "gap" and not hp.is_active("head_hidden")
    hp.values["head"] = "flatten_dense"
    assert hp.is_active("head_hidden")


def test_unknown_knob_is_an_error():
    with pytest.raises(ZooError, match="unknown search knob\\(s\\) stemm"):
        ZooHyperModel("resnet_tiny", ["stemm"], dataset_shape=((32, 32, 3), 10))
    custom = ZooHyperModel("resnet_tiny", {"width": {"kind": "choice", "values": [0.25]}, "stem": None},
                           dataset_shape=((32, 32, 3), 10))
    assert custom.search_space == {"width": {"kind": "choice", "values": [0.25]},
                                   "stem": {"kind": "choice", "values": ["3x3/1 same", "3x3/1 valid", "7x7/2"]}}


def test_random_search_writes_trials_table_and_a_best_spec_that_rebuilds(offline, tmp_path, capsys):
    hm = ZooHyperModel("resnet_tiny", ["stem", "shortcut", "head", "width", "lr"], **DIGITS)
    tuner = make_tuner("random", hm, max_trials=3, directory=tmp_path, project="p")
    best = run_search(tuner)
    table = read_table(trials_folder(tmp_path, "p"))
    assert len(table) == 3 and table["status"].eq("ok").all() and table["trial_id"].is_unique
    for knob in ("stem", "shortcut", "head", "width", "lr"):
        assert table[knob].notna().all()
    assert table["score"].between(0, 1).all() and (table["params"] > 0).all() and (table["macs_per_image"] > 0).all()
    assert table["dataset_source"].eq("digits").all() and table["backend"].notna().all()
    best_row = table.loc[table["score"].astype(float).idxmax()]
    assert best["trial_id"] == best_row["trial_id"]
    spec = ResNetSpec.from_json((tmp_path / "p" / "best_spec.json").read_text())
    assert spec == ResNetSpec.from_dict(json.loads(best_row["spec"]))
    rebuilt = zoo.build(spec)
    assert rebuilt.count_params() == best_row["params_total"]
    assert main(["show", "--spec", str(tmp_path / "p" / "best_spec.json")]) == 0
    assert f"total params:         {best_row['params_total']:,}" in capsys.readouterr().out
    markdown = (trials_folder(tmp_path, "p") / "results.md").read_text()
    assert "| trial | stem" in markdown and "val top-1 %" in markdown


@pytest.mark.slow
def test_a_space_that_runs_out_ends_cleanly(offline, tmp_path):
    hm = ZooHyperModel("resnet_tiny", ["shortcut"], **DIGITS)
    for kind in ("grid", "random"):
        tuner = make_tuner(kind, hm, max_trials=6, directory=tmp_path, project=kind)
        run_search(tuner)
        table = read_table(trials_folder(tmp_path, kind))
        assert sorted(table["shortcut"]) == ["conv", "conv_bn"], kind


def test_failed_trials_are_rows_with_their_error(offline, tmp_path):
    hm = ZooHyperModel("resnet_tiny", {"lr": {"kind": "choice", "values": [1e38]}}, recipe="mnist_functional",
                       dataset="digits", limit=160, overrides={"epochs": 2, "batch_size": 32, "optimizer": "sgd"})
    tuner = make_tuner("random", hm, max_trials=2, directory=tmp_path, project="nan")
    assert run_search(tuner) is None  # no trial succeeded: no best spec
    table = read_table(trials_folder(tmp_path, "nan"))
    assert len(table) == 1 and table["status"].tolist() == ["failed"]
    assert "loss became nan" in table["error"][0] or "loss became inf" in table["error"][0]


def test_cli_tune_resume_continues_the_search(offline, tmp_path, capsys):
    args = ["tune", "--base", "resnet_tiny", "--dataset", "digits", "--recipe", "mnist_functional", "--knob",
            "epochs=1", "--limit", "160", "--directory", str(tmp_path), "--project", "cli", "--knobs",
            "stem,shortcut,width", "--quiet"]
    assert main(args + ["--max-trials", "2"]) == 0
    first = read_table(trials_folder(tmp_path, "cli"))
    assert len(first) == 2 and "best trial" in capsys.readouterr().out
    assert main(args + ["--max-trials", "3"]) == 2
    assert "already holds a search; pass --resume" in capsys.readouterr().err
    assert main(args + ["--max-trials", "3", "--resume"]) == 0
    table = read_table(trials_folder(tmp_path, "cli"))
    assert len(table) == 3 and table["trial_id"].is_unique
    assert table["started"].tolist()[:2] == first["started"].tolist()
    assert main(["tune", "--base", "resnet_tiny", "--chief"]) == 2
    assert "--chief/--worker need --oracle HOST:PORT" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_distributed_chief_and_two_workers_share_one_trials_table(offline, tmp_path):
    port = _free_port()
    common = [sys.executable, "-m", "zoo", "tune", "--base", "resnet_tiny", "--dataset", "digits", "--recipe",
              "mnist_functional", "--knob", "epochs=1", "--limit", "160", "--max-trials", "4", "--directory",
              str(tmp_path), "--project", "dist", "--knobs", "stem,shortcut,head,width", "--quiet",
              "--oracle", f"127.0.0.1:{port}"]
    env = {**os.environ, "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "tensorflow")}
    logs = {name: open(tmp_path / f"{name}.log", "w") for name in ("chief", "tuner0", "tuner1")}
    chief = subprocess.Popen(common + ["--chief"], env=env, stdout=logs["chief"], stderr=subprocess.STDOUT)
    time.sleep(3)
    workers = [subprocess.Popen(common + ["--worker", name], env=env, stdout=logs[name], stderr=subprocess.STDOUT)
               for name in ("tuner0", "tuner1")]
    try:
        codes = [p.wait(timeout=400) for p in [*workers, chief]]
    finally:
        for p in [*workers, chief]:
            p.kill()
    output = {name: (tmp_path / f"{name}.log").read_text()[-3000:] for name in logs}
    assert codes == [0, 0, 0], output
    table = read_table(trials_folder(tmp_path, "dist"))
    assert len(table) == 4 and sorted(table["trial_id"]) == ["0", "1", "2", "3"], output
    assert table["status"].eq("ok").all() and set(table["tuner_id"]) <= {"tuner0", "tuner1"}
    assert (tmp_path / "dist" / "best_spec.json").exists()


@pytest.mark.parametrize("kind", ["bayesian", "hyperband"])
def test_bayesian_and_hyperband_tuners_run(offline, tmp_path, kind):
    hm = ZooHyperModel("resnet_tiny", ["shortcut", "width"], **DIGITS)
    tuner = make_tuner(kind, hm, max_trials=2, directory=tmp_path, project=kind)
    best = run_search(tuner)
    table = read_table(trials_folder(tmp_path, kind))
    assert len(table) >= 2 and table["status"].eq("ok").all() and table["trial_id"].is_unique
    assert best is not None and (tmp_path / kind / "best_spec.json").exists()


@pytest.mark.parametrize("value", ["0", "-3", "two"])
def test_max_trials_below_one_is_refused(capsys, value):
    """A search without a positive trial limit never ends: refused before anything is built."""
    try:
        code = main(["tune", "resnet_tiny", "--max-trials", value])
    except SystemExit as exit:  # argparse's own exit
        code = exit.code
    err = capsys.readouterr().err
    assert code == 2 and f"expected a whole number >= 1, got '{value}'" in err and "Traceback" not in err
    with pytest.raises(ZooError, match="max_trials must be a whole number >= 1"):
        make_tuner("random", None, max_trials=0, directory=".", project="p")
