"""Budgeted training: stopping at a seconds or images budget, the schedule reaching zero there, the time
columns adding up to the wall time, and budgets in sweeps and on the command line.

Backend-portable: test_backends.py reruns this file under the other installed backend.
"""

import math

import keras
import numpy as np
import pytest

import zoo
from zoo.cli import main
from zoo.cli.args import budget as _budget
from zoo.errors import ZooError
from zoo.experiments.bench import run_isolated
from zoo.experiments.sweeps import parse_sweep
from zoo.training.budget import TIME_COLUMNS, LinearDecay, TrainClock, lr_factor
from zoo.training.recipes import get_recipe

pytestmark = pytest.mark.portable  # also runs under every other installed backend (test_backends)

TINY = dict(dataset="digits", limit=400, test_limit=64, verbose=0, out_dir=None, validation_split=0.0,
            batch_size=32)


class _LearningRates(keras.callbacks.Callback):
    """The learning rate each step trained with (read after TrainClock set it)."""

    def __init__(self):
        super().__init__()
        self.rates = []

    def on_train_batch_begin(self, batch, logs=None):
        self.rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))


def test_schedules_reach_zero_at_the_end():
    for schedule in ("linear", "cosine"):
        assert lr_factor(0.0, schedule) == 1.0 and lr_factor(1.0, schedule) == pytest.approx(0.0, abs=1e-12)
        assert lr_factor(1.5, schedule) == pytest.approx(0.0, abs=1e-12)  # past the budget: still zero
    assert lr_factor(1.0, "constant") == 1.0
    step_schedule = LinearDecay(0.2, decay_steps=8, warmup_steps=2)
    rates = [float(keras.ops.convert_to_numpy(step_schedule(step))) for step in range(12)]
    assert rates[0] == pytest.approx(0.1) and rates[1] == pytest.approx(0.2)
    assert rates[10] == pytest.approx(0.0, abs=1e-7) and rates[11] == pytest.approx(0.0, abs=1e-7)
    assert all(a >= b for a, b in zip(rates[1:], rates[2:]))


def test_an_images_budget_stops_mid_epoch_with_the_rate_decayed_to_zero(offline):
    clock_rates = _LearningRates()
    result = zoo.train("resnet_tiny", "mnist_functional", budget_images=500, schedule="linear", lr=0.01,
                       callbacks=[clock_rates], **TINY)
    steps = math.ceil(500 / 32)
    assert result["images_seen"] == steps * 32 and result["budget_images"] == 500
    assert result["train_images"] == 400 and result["epochs"] == 2  # 12 whole batches an epoch: 16 steps
    assert result["epochs_done"] == pytest.approx(steps * 32 / 400) and result["epochs_planned"] is None
    rates = clock_rates.rates
    assert len(rates) == steps
    expected = [0.01 * (1 - k * 32 / 500) for k in range(steps)]
    np.testing.assert_allclose(rates, expected, rtol=1e-5)
    assert rates[-1] < 0.01 * 32 / 500 + 1e-9  # the last step runs just before the schedule hits zero


@pytest.mark.slow  # a timing bound: run with the CPU to itself (the serial tier), not beside another test
def test_a_seconds_budget_stops_at_the_budget(offline):
    result = zoo.train("resnet_tiny", "mnist_functional", budget_seconds=3.0, schedule="linear", **TINY)
    per_step = 32 / result["train_images_per_second"]
    assert 3.0 <= result["train_seconds"] <= 3.0 + 3 * per_step + 0.5
    assert result["budget_seconds"] == 3.0 and result["epochs_planned"] is None
    assert result["images_seen"] >= 64 and result["status"] == "ok"


def test_the_first_step_is_kept_and_timed_apart(offline):
    result = zoo.train("resnet_tiny", "mnist_functional", epochs=1, **TINY)
    assert result["images_seen"] == 12 * 32  # every step trained, the compiling one included
    assert result["compile_seconds"] > 0 and result["build_seconds"] >= result["compile_seconds"]


@pytest.mark.slow
def test_time_columns_add_up_to_the_wall_time(offline, tmp_path):
    sweep = parse_sweep("""
[[group]]
variants = ["resnet_tiny"]
recipes = ["mnist_functional"]
datasets = ["digits"]
test_limit = 200
overrides = { budget_seconds = 10.0, batch_size = 32 }
""", name="t")
    row = run_isolated(sweep.runs[0], sweep="t", out=tmp_path, verbose=0)  # a process of its own, as zoo bench
    assert row["status"] == "ok", row.get("error")
    measured = sum(row[key] for key in TIME_COLUMNS)
    assert row["validation_seconds"] > 0 and row["test_seconds"] > 0 and row["inference_seconds"] > 0
    assert measured + row["other_seconds"] == pytest.approx(row["wall_seconds"])
    # what no phase covers (the environment record, counting parameters and MACs, freeing the run's memory)
    # stays a small share (in a long-lived process such as this test session it grew to 3 s of 18 s)
    assert row["other_seconds"] <= 0.10 * row["wall_seconds"], {k: row[k] for k in (*TIME_COLUMNS,
                                                                                        "other_seconds")}


def test_budgets_are_validated_and_refuse_the_device_loop():
    with pytest.raises(ZooError, match="recipe budget_seconds must be None or a number of seconds > 0, got -1"):
        get_recipe("budget", budget_seconds=-1)
    with pytest.raises(ZooError, match="recipe budget_images must be None or an integer >= 1, got 2.5"):
        get_recipe("budget", budget_images=2.5)
    from zoo.training.policy import resolve_loop

    with pytest.raises(ZooError, match="cannot stop at a budget"):
        resolve_loop("device", budgeted=True)
    assert resolve_loop("auto", budgeted=True) == "keras"


def test_clock_without_budget_never_stops():
    clock = TrainClock(batch_size=8)
    assert not clock.budgeted and clock.progress() == 0.0


@pytest.mark.parametrize("text, expected", [
    ("10m", {"budget_seconds": 600.0}), ("90s", {"budget_seconds": 90.0}), ("1.5h", {"budget_seconds": 5400.0}),
    ("45", {"budget_seconds": 45.0}), ("50000img", {"budget_images": 50000}),
])
def test_budget_argument(text, expected):
    assert _budget(text) == expected


@pytest.mark.parametrize("text", ["10 parsecs", "0s", "-5m", "2.5img", "m"])
def test_bad_budget_argument_is_one_line_and_exit_2(text, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "quick", f"--budget={text}", "--dry-run"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--budget" in err and repr(text) in err


def test_a_budget_for_every_run_replaces_the_sweeps_budgets():
    text = """
[defaults]
overrides = { budget_images = 1000 }
[[group]]
variants = ["resnet20"]
recipes = ["budget"]
grid = { budget_seconds = [30, 60] }
"""
    planned = parse_sweep(text, name="b")
    assert [r.overrides for r in planned.runs] == [{"budget_images": 1000, "budget_seconds": 30},
                                                  {"budget_images": 1000, "budget_seconds": 60}]
    replaced = parse_sweep(text, name="b", extra_overrides={"budget_seconds": 600.0})
    assert [r.overrides for r in replaced.runs] == [{"budget_seconds": 600.0}]  # the two grid points are one run


def test_quick_sweep_is_every_article_variant_at_one_budget():
    from zoo.experiments.sweeps import load_sweep

    sweep = load_sweep("quick")
    assert {r.variant for r in sweep.runs} == {"resnet18_cifar10_tf2", "resnet34_cifar10_tf2", "resnet18_cifar10_d2l",
                                               "resnet18_cifar100_tf2", "resnet34_cifar100_tf2",
                                               "resnet18_mnist_functional"}
    recipes = {r.variant: get_recipe(r.recipe, **r.overrides) for r in sweep.runs}
    assert len({r.budget_seconds for r in recipes.values()}) == 1 and all(r.budgeted for r in recipes.values())
    assert recipes["resnet18_mnist_functional"].dataset == "mnist"
