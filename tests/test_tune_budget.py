"""Honest, bounded searches: seeds per trial scored by their mean and interval, a wall-clock budget for the
whole search that holds across resumes, accuracy at a per-trial budget, and memory that stays bounded over
many trials in one process."""

import json

import pytest
from test_tuning import DIGITS, offline  # noqa: F401  (the offline-data fixture)

from zoo.cli import main
from zoo.errors import ZooError
from zoo.experiments.results import read_table
from zoo.experiments.tuning import ZooHyperModel, make_tuner, run_search, trials_folder

pytestmark = pytest.mark.portable  # also runs under every other installed backend (test_backends)


def test_seeds_score_a_trial_by_their_mean_with_its_interval(offline, tmp_path):  # noqa: F811
    hm = ZooHyperModel("resnet_tiny", ["width"], seeds=3, **DIGITS)
    best = run_search(make_tuner("random", hm, max_trials=1, directory=tmp_path, project="s"))
    row = read_table(trials_folder(tmp_path, "s")).iloc[0]
    scores = json.loads(row["score_seeds"])
    assert row["seeds"] == 3 and len(scores) == 3 and all(0 <= s <= 1 for s in scores)
    assert row["score"] == pytest.approx(sum(scores) / 3) and best["score"] == pytest.approx(row["score"])
    assert row["score_ci95"] >= 0
    markdown = (trials_folder(tmp_path, "s") / "results.md").read_text()
    assert "val top-1 % (95%)" in markdown and " ± " in markdown


def test_a_search_budget_starts_no_trial_once_spent_even_after_a_resume(offline, tmp_path):  # noqa: F811
    hm = ZooHyperModel("resnet_tiny", ["width", "shortcut"], **DIGITS)
    tuner = make_tuner("random", hm, max_trials=4, directory=tmp_path, project="b", budget_seconds=0.001)
    run_search(tuner)  # the first trial starts (nothing spent yet), and it spends the budget
    assert len(read_table(trials_folder(tmp_path, "b"))) == 1 and tuner.budget_spent()
    again = make_tuner("random", ZooHyperModel("resnet_tiny", ["width", "shortcut"], **DIGITS), max_trials=4,
                       directory=tmp_path, project="b", budget_seconds=0.001)
    assert again.spent_seconds() > 0 and again.budget_spent()
    run_search(again)
    assert len(read_table(trials_folder(tmp_path, "b"))) == 1  # no trial started on the resume
    larger = make_tuner("random", ZooHyperModel("resnet_tiny", ["width", "shortcut"], **DIGITS), max_trials=4,
                        directory=tmp_path, project="b", budget_seconds=1e6)
    run_search(larger)
    assert len(read_table(trials_folder(tmp_path, "b"))) == 4  # a larger budget continues to the trial limit


@pytest.mark.parametrize("kwargs, message", [
    (dict(seeds=2, kind="hyperband"), "seeds=2 with the hyperband tuner"),
    (dict(overrides={"budget_seconds": 5}, kind="hyperband"), "a recipe time or images budget with the hyperband"),
    (dict(budget_seconds=0), "budget_seconds must be a number of seconds > 0, got 0"),
    (dict(budget_seconds=float("nan")), "budget_seconds must be a number of seconds > 0, got nan"),
    (dict(seeds=0), "seeds must be a whole number >= 1"),
], ids=["hyperband-seeds", "hyperband-budget", "budget-0", "budget-nan", "seeds-0"])
def test_searches_that_cannot_be_honest_are_refused(offline, tmp_path, kwargs, message):  # noqa: F811
    kind, budget = kwargs.pop("kind", "random"), kwargs.pop("budget_seconds", None)
    options = {**DIGITS, "overrides": {**DIGITS["overrides"], **kwargs.pop("overrides", {})}}
    with pytest.raises(ZooError, match=message.replace("(", r"\(")):
        make_tuner(kind, ZooHyperModel("resnet_tiny", ["width"], **options, **kwargs), max_trials=2,
                   directory=tmp_path, project="x", budget_seconds=budget)


def test_cli_trial_and_search_budgets_and_seeds(offline, tmp_path, capsys):  # noqa: F811
    args = ["tune", "--base", "resnet_tiny", "--dataset", "digits", "--recipe", "mnist_functional", "--knob",
            "batch_size=32", "--limit", "160", "--directory", str(tmp_path), "--project", "cli", "--knobs", "width",
            "--quiet", "--max-trials", "3"]
    assert main(args + ["--trial-budget", "2s", "--seeds", "2", "--search-budget", "1s"]) == 0
    out = capsys.readouterr().out
    assert "search budget spent" in out and "--resume with a larger --search-budget" in out
    row = read_table(trials_folder(tmp_path, "cli")).iloc[0]
    assert row["seeds"] == 2 and json.loads(row["overrides"]) == {} and row["budget_seconds"] == 2
    for bad, message in ((["--search-budget", "0s"], "a time budget must be above zero"),
                         (["--search-budget", "500img"], "expected a duration such as 90s, 30m or 2h"),
                         (["--seeds", "0"], "--seeds"),
                         (["--search-budget", "1h", "--chief", "--oracle", "127.0.0.1:1"],
                          "--search-budget bounds a search in one process")):
        try:
            code = main(args + ["--overwrite", *bad])
        except SystemExit as stop:  # argparse's own exit, after its usage line
            code = stop.code
        err = capsys.readouterr().err
        assert code == 2 and message in err and "Traceback" not in err, (bad, err)


@pytest.mark.slow
def test_memory_stays_bounded_over_twenty_trials_in_one_process(offline, tmp_path):  # noqa: F811
    """keras-tuner's users report memory growing trial after trial (keras-tuner issues 873, 1031, 395):
    keras-tuner clears the Keras session before each build, and the zoo keeps no model across trials."""
    rss = []

    class Measured(ZooHyperModel):
        def fit(self, *args, **kwargs):
            metrics = super().fit(*args, **kwargs)
            with open("/proc/self/statm") as statm:
                rss.append(int(statm.read().split()[1]) * 4096 / 2**20)
            return metrics

    hm = Measured("resnet_tiny", {"width": {"kind": "choice", "values": [0.5, 1.0]},
                                  "lr": {"kind": "float", "min": 1e-4, "max": 1e-2}}, **DIGITS)
    run_search(make_tuner("random", hm, max_trials=20, directory=tmp_path, project="m"))
    assert len(rss) == 20
    growth = max(rss[5:]) - rss[4]  # after the first trials' one-off allocations (the dataset, the kernels)
    assert growth < 150, f"resident memory grew {growth:.0f} MiB over trials 6-20: {[round(r) for r in rss]}"
