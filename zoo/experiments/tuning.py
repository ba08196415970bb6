"""keras-tuner searches over the zoo's knobs; every trial is an ordinary spec and a row of a trials table.

>>> hypermodel = ZooHyperModel("resnet18_cifar10_tf2", recipe="tf2_cifar10", dataset_shape=((32, 32, 3), 10))
>>> sorted(hypermodel.search_space)
['batch_size', 'depth', 'head', 'lr', 'shortcut', 'stem', 'stem_bn', 'stem_pool', 'weight_decay', 'width']
>>> import keras_tuner
>>> hp = keras_tuner.HyperParameters()
>>> hp.values.update(stem="7x7/2", stem_pool="3/2", depth="34", width=0.5)
>>> spec = hypermodel.spec_for(hp)
>>> (spec.stem_kernel, spec.stem_stride, spec.stem_pool_size, spec.depths, spec.widths)
(7, 2, 3, (3, 4, 6, 3), (32, 64, 128, 256))

The block options (`preact`, `attention`, `drop_path`; `cardinality` on bottleneck bases) are searched
when named: `ZooHyperModel("resnet50_cifar", ["cardinality", "attention"], ...)`.

`ZooHyperModel.build(hp)` is `zoo.build(dataclasses.replace(base, **choices))`; its `fit` trains with the
recipe through `zoo.train` (validation split held out of the training images, so the score never
looks at the test split), so tuned and benchmarked numbers are comparable.

Honest searches: `seeds=N` trains every trial N times (seeds recipe.seed, +1, ...; each its own
initialization) and scores it by the mean validation top-1, its 95% interval in the trials table; a
recipe budget (`budget_seconds`, the CLI's `--trial-budget`) makes the objective the accuracy reached in
that time; `make_tuner(..., budget_seconds=)` bounds the whole search: no trial starts once the trials
of this tuner have taken that many wall-clock seconds (the one running finishes), across resumes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import keras
import keras_tuner
import pandas as pd

from zoo.data import load_dataset
from zoo.environment import environment
from zoo.errors import ZooError
from zoo.experiments.results import append_rows, read_table
from zoo.experiments.stats import interval
from zoo.experiments.trials import knob_cell, trial_outcome, trials_folder, trials_markdown
from zoo.files import write_text_atomic
from zoo.models.builder import build
from zoo.models.registry import family_of, resolve_spec
from zoo.training.recipes import get_recipe
from zoo.training.result import table_row
from zoo.training.policy import resolve_precision
from zoo.training.trainer import train

OBJECTIVE = "val_top1"
LR_RANGES = {"adam": (1e-4, 1e-2), "adamw": (1e-4, 1e-2), "sgd": (1e-3, 0.5)}
TRAINING_KNOBS = ("lr", "weight_decay", "batch_size")


def training_space(optimizer: str, *, grid: bool = False) -> dict[str, dict]:
    """The recipe knobs searched beside the family's architecture knobs: learning rate (in the optimizer's
    range), weight decay and batch size."""
    low, high = LR_RANGES[optimizer]
    lr = ({"kind": "choice", "values": [low, (low * high) ** 0.5, high]} if grid
          else {"kind": "float", "min": low, "max": high, "log": True})
    return {"lr": lr, "weight_decay": {"kind": "choice", "values": [0.0, 5e-5, 5e-4]},
            "batch_size": {"kind": "choice", "values": [32, 64, 128]}}


def default_space(base, optimizer: str, *, grid: bool = False) -> dict[str, dict]:
    """The whole space around `base`: its family's architecture knobs (`zoo.models.family`) and the
    training knobs, as {name: {"kind": ..., ...}} (data, not code)."""
    return {**family_of(base).search_space().default_space(base, grid=grid), **training_space(optimizer, grid=grid)}


def _declare(hp: keras_tuner.HyperParameters, name: str, entry: dict):
    kind = entry["kind"]
    if kind == "choice":
        return hp.Choice(name, entry["values"])
    if kind == "boolean":
        return hp.Boolean(name)
    if kind == "float":
        return hp.Float(name, entry["min"], entry["max"], sampling="log" if entry.get("log") else "linear")
    raise ZooError(f"search space knob {name}: kind must be choice, boolean or float, got {kind!r}")


class ZooHyperModel(keras_tuner.HyperModel):
    """A keras-tuner HyperModel over a base variant's knobs, trained with a zoo recipe.

    `search_space`: knob names to search (the base family's `KNOBS` and `TRAINING_KNOBS`), or
    {name: entry or None} where an entry replaces the default one (`{"width": {"kind": "choice", "values": [0.25, 0.5]}, "stem": None}`);
    None searches the whole default space.
    `dataset_shape=((H, W, C), classes)` skips reading the dataset to learn its shape.
    """

    def __init__(self, base, search_space=None, recipe: str = "fast", *, dataset: str | None = None,
                 data_dir=None, limit: int | None = None, overrides: dict | None = None, validation_split: float = 0.2,
                 grid: bool = False, dataset_shape=None, verbose: int = 0, name: str | None = None,
                 seeds: int = 1):
        if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
            raise ZooError(f"seeds must be a whole number >= 1 (training runs per trial), got {seeds!r}")
        base_spec = resolve_spec(base)
        super().__init__(name=name or base_spec.name, tunable=True)
        self.recipe = get_recipe(recipe, **(overrides or {}), **({"dataset": dataset} if dataset else {}))
        if not self.recipe.validation_split:
            self.recipe = self.recipe.with_overrides(validation_split=validation_split)
        if dataset_shape is None:
            data = load_dataset(self.recipe.dataset, data_dir=data_dir, split="test", pad_to=self.recipe.pad_to)
            dataset_shape = (data.image_shape, data.num_classes)
        self.base = resolve_spec(base_spec, input_shape=tuple(dataset_shape[0]), num_classes=dataset_shape[1])
        self.data_dir, self.limit, self.verbose, self.seeds = data_dir, limit, verbose, seeds
        space = default_space(self.base, self.recipe.optimizer, grid=grid)
        family = family_of(self.base).search_space()
        if search_space is None:
            search_space = {k: None for k in space if k not in family.DEFAULT_OFF and not space[k].get("when")}
        elif not isinstance(search_space, dict):
            search_space = {k: None for k in search_space}
        unknown = [k for k in search_space if k not in space]
        if unknown:
            raise ZooError(f"unknown search knob(s) {', '.join(unknown)}; knobs are {', '.join(space)}")
        family.check_space(self.base, list(search_space))
        chosen = {k: dict(entry or space[k]) for k, entry in search_space.items()}
        for name, entry in space.items():  # a knob that counts only under a chosen one comes with it
            if entry.get("when") and entry["when"][0] in chosen and name not in chosen:
                chosen[name] = dict(entry)
        for entry in chosen.values():
            if entry.get("when") and entry["when"][0] not in chosen:
                entry.pop("when")
        self.search_space = {k: v for k, v in chosen.items() if not v.get("when")}
        self._conditional = {k: v for k, v in chosen.items() if v.get("when")}
        self.last_result: dict | None = None  # the trial's first seed's result
        self.last_runs: list = []               # every seed's result
        self.progress = None  # a zoo.training.progress.Display while run_search shows the search

    # -- hyperparameters -> spec and recipe ------------------------------------------------------------

    def declare(self, hp: keras_tuner.HyperParameters) -> dict:
        """Declare every searched knob on `hp` (a conditional one, such as ResNet's head_hidden, under the knob
        it depends on: it counts only while that knob has one of its values)."""
        values = {name: _declare(hp, name, entry) for name, entry in self.search_space.items()}
        for name, entry in self._conditional.items():
            parent, allowed = entry["when"]
            with hp.conditional_scope(parent, list(allowed)):
                values[name] = _declare(hp, name, entry)
        return values

    def declare_hyperparameters(self, hp):  # keras-tuner's hook: the whole space before the first trial
        self.declare(hp)

    def spec_for(self, hp: keras_tuner.HyperParameters):
        """The spec a trial's hyperparameter values stand for (knobs not searched keep the base's)."""
        v = hp.values
        changes = family_of(self.base).search_space().spec_changes(self.base, v)
        suffix = "-".join(f"{k}={v[k]}" for k in sorted(v) if not k.startswith("tuner/"))
        return dataclasses.replace(self.base, name=f"{self.base.name}-tuned", source=f"zoo tune: {suffix}",
                                   **changes)

    def recipe_overrides(self, hp: keras_tuner.HyperParameters) -> dict:
        return {k: hp.values[k] for k in TRAINING_KNOBS if k in hp.values}

    # -- keras-tuner's interface -----------------------------------------------------------------------

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        self.declare(hp)
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(resolve_precision(self.recipe.precision))
        keras.utils.set_random_seed(self.recipe.seed)  # the first seed's initialization, as zoo.train seeds it
        try:
            return build(self.spec_for(hp))
        finally:
            keras.config.set_dtype_policy(previous)

    def fit(self, hp, model, *args, epochs: int | None = None, initial_epoch: int = 0, **kwargs) -> dict:
        knobs = self.recipe_overrides(hp)
        if epochs is not None:  # Hyperband's budget for this round
            knobs["epochs"] = max(1, epochs - initial_epoch)
        options = dict(data_dir=self.data_dir, limit=self.limit, out_dir=None, verbose=self.verbose,
                       progress=self.progress if self.verbose else None)
        spec, self.last_runs = self.spec_for(hp), []
        for i in range(self.seeds):  # the later seeds from the spec: each built under its own seed
            result = train(model if i == 0 else spec, self.recipe, **options, **knobs,
                           **({"seed": self.recipe.seed + i} if i else {}))
            self.last_runs.append(dataclasses.replace(result, spec=spec.to_dict()))
            self.last_result = self.last_runs[0]
            if result["status"] != "ok" or result["best_val_top1"] != result["best_val_top1"]:
                raise keras_tuner.errors.FailedTrialError(result.get("error") or "no validation score")
        return {OBJECTIVE: interval(r["best_val_top1"] for r in self.last_runs).mean,
                "top1": interval(r["top1"] for r in self.last_runs).mean}

    def seed_columns(self) -> dict:
        """The last trial's seed statistics for its row: mean validation and test top-1 over its seeds,
        the validation score's 95% interval half-width and the seeds' own scores (NaN for one seed)."""
        runs = self.last_runs
        score = interval(r["best_val_top1"] for r in runs)
        return {"seeds": len(runs), "score": score.mean, "score_ci95": score.half,
                "score_seeds": json.dumps([r["best_val_top1"] for r in runs]),
                "top1": interval(r["top1"] for r in runs).mean}


# -- tuners that write a trials table ------------------------------------------------------------------


class TrialTable(keras_tuner.Tuner):
    """Mixed into a keras-tuner tuner: trains through ZooHyperModel and appends one row per trial."""

    def _results(self) -> dict:
        return self.__dict__.setdefault("_trial_results", {})

    def run_trial(self, trial, *args, **kwargs):
        hp = trial.hyperparameters
        if self.hypermodel.progress is not None:
            values = ", ".join(f"{k}={knob_cell(v)}" for k, v in hp.values.items() if not k.startswith("tuner/"))
            self.hypermodel.progress.log(f"trial {trial.trial_id}  ({values})")
            self.hypermodel.progress.run(f"trial {trial.trial_id}")
        started = time.perf_counter()
        model = self._build_hypermodel(hp)  # Hyperband loads the weights of the trial it continues
        self.hypermodel.last_result, self.hypermodel.last_runs = None, []
        try:
            metrics = self.hypermodel.fit(hp, model, **{k: v for k, v in kwargs.items() if k != "callbacks"})
        finally:
            self._results()[trial.trial_id] = (self.hypermodel.last_result, time.perf_counter() - started)
        from keras_tuner.src import utils as kt_utils

        model.save_weights(self._get_checkpoint_fname(trial.trial_id))
        kt_utils.save_json(self._get_build_config_fname(trial.trial_id), model.get_build_config())
        return metrics

    def on_trial_end(self, trial):
        result, seconds = self._results().pop(trial.trial_id, (None, None))
        knobs = {k: v for k, v in trial.hyperparameters.values.items() if not k.startswith("tuner/")}
        status = str(getattr(trial.status, "value", trial.status)).upper()
        row = {"run_id": f"{self.project_name}-{trial.trial_id}", "sweep": f"tune:{self.project_name}",
               "variant": self.hypermodel.base.name, "dataset": self.hypermodel.recipe.dataset,
               "recipe": self.hypermodel.recipe.name, "seed": self.hypermodel.recipe.seed,
               "overrides": json.dumps(self.hypermodel.recipe_overrides(trial.hyperparameters), sort_keys=True),
               **environment(), "trial_id": trial.trial_id, "tuner_id": self.tuner_id, "wall_seconds": seconds,
               **{k: (json.dumps(v) if isinstance(v, (list, tuple)) else v) for k, v in knobs.items()}}
        if result:
            row.update(table_row(result))
            row["score"] = result.get("best_val_top1")
            row["spec"] = json.dumps(result["spec"])
            if status == "COMPLETED":
                row.update(self.hypermodel.seed_columns())
        if status != "COMPLETED":
            message = (getattr(trial, "message", None) or "").strip().splitlines()
            row["status"] = "failed"
            row["error"] = message[-1] if message else f"trial ended {status}"
        folder = trials_folder(self.directory, self.project_name)
        knob_names = list(self.hypermodel.search_space) + list(self.hypermodel._conditional)
        append_rows(folder, [row], markdown=lambda table: trials_markdown(table, knob_names))
        if self.hypermodel.progress is not None:
            self.hypermodel.progress.log(trial_outcome(row))
            self.hypermodel.progress.finished("ok" if row.get("status") == "ok" else "failed")
        super().on_trial_end(trial)


    # -- the search's wall-clock budget -----------------------------------------------------------------

    budget_seconds: float | None = None  # set by make_tuner

    def spent_seconds(self) -> float:
        """The wall-clock seconds this tuner's trials have taken, in this process and the ones before it
        (the trials table keeps them: a resumed search counts what it already spent)."""
        table = read_table(trials_folder(self.directory, self.project_name))
        if not len(table) or "wall_seconds" not in table:
            return 0.0
        mine = table[table["tuner_id"] == self.tuner_id] if "tuner_id" in table else table
        return float(pd.to_numeric(mine["wall_seconds"], errors="coerce").fillna(0.0).sum())

    def budget_spent(self) -> bool:
        return self.budget_seconds is not None and self.spent_seconds() >= self.budget_seconds

    def pre_create_trial(self):
        """keras-tuner's hook before each new trial: once the budget is spent the oracle is told that the
        trials so far are all there will be, so it ends the search as at its trial limit."""
        super().pre_create_trial()
        if self.budget_seconds is not None and self.budget_spent() and self.trials_started():
            self.oracle.max_trials = self.trials_started()  # (never reached in a distributed search: refused)

    def trials_started(self) -> int:
        return len(self.oracle.trials)


TUNERS = {"random": keras_tuner.RandomSearch, "bayesian": keras_tuner.BayesianOptimization,
          "hyperband": keras_tuner.Hyperband, "grid": keras_tuner.GridSearch}


def make_tuner(kind: str, hypermodel: ZooHyperModel, *, max_trials: int, directory, project: str,
               overwrite: bool = False, seed: int = 0, budget_seconds: float | None = None):
    """A keras-tuner tuner of `kind` whose trials train through `hypermodel` and land in one table; with
    `budget_seconds`, no trial starts once this tuner's trials have taken that long (wall clock)."""
    if kind not in TUNERS:
        raise ZooError(f"tuner must be one of {', '.join(TUNERS)}, got {kind!r}")
    if isinstance(max_trials, bool) or not isinstance(max_trials, int) or max_trials < 1:
        raise ZooError(f"max_trials must be a whole number >= 1 (a search without it never ends), got {max_trials!r}")
    if budget_seconds is not None and (isinstance(budget_seconds, bool) or not isinstance(budget_seconds, (int, float))
                                       or not 0 < budget_seconds < float("inf")):
        raise ZooError(f"budget_seconds must be a number of seconds > 0, got {budget_seconds!r}")
    if kind == "hyperband" and hypermodel.seeds > 1:
        raise ZooError(f"seeds={hypermodel.seeds} with the hyperband tuner: Hyperband continues one trained model "
                       "per trial from round to round; train one seed per trial there (seeds=1)")
    if kind == "hyperband" and hypermodel.recipe.budgeted:
        raise ZooError("a recipe time or images budget with the hyperband tuner: Hyperband gives each round's "
                       "trials a number of epochs; use another tuner for accuracy at a time budget")
    cls = type(f"Zoo{TUNERS[kind].__name__}", (TUNERS[kind], TrialTable), {})
    objective = keras_tuner.Objective(OBJECTIVE, direction="max")
    options = dict(hypermodel=hypermodel, objective=objective, directory=str(directory), project_name=project,
                   overwrite=overwrite, seed=seed)
    if kind == "hyperband":
        options["max_epochs"] = max(2, hypermodel.recipe.epochs)
        options["max_retries_per_trial"] = 0
    else:
        options["max_trials"] = max_trials
    tuner = cls(**options)
    tuner.budget_seconds = budget_seconds
    return tuner


def run_search(tuner, display=None) -> dict | None:
    """Run (or continue) the search, then write best_spec.json; return the best trial's values.

    With a `display` (`zoo.training.progress.Display`) the search shows as a sweep of trials (done / failed, ETA)
    over the running trial's training, instead of keras-tuner's own printout. A search whose budget is
    already spent starts no trial."""
    if getattr(tuner, "budget_spent", lambda: False)():
        if display is not None:
            display.log(f"the search's budget of {tuner.budget_seconds:g} s is spent "
                        f"({tuner.spent_seconds():.0f} s in its trials): no trial started")
    elif display is None:
        tuner.search()
    else:
        display.sweep(tuner.project_name, getattr(tuner.oracle, "max_trials", None))
        tuner.hypermodel.progress = display
        try:
            tuner.search(verbose=0)
        finally:
            tuner.hypermodel.progress = None
    if os.environ.get("KERASTUNER_TUNER_ID", "").startswith("tuner"):  # a worker: the chief writes the best spec
        return None
    return write_best_spec(tuner)


def write_best_spec(tuner) -> dict | None:
    best = [t for t in tuner.oracle.get_best_trials(1) if t.score is not None]
    if not best:  # every trial failed
        return None
    hp = best[0].hyperparameters
    spec = tuner.hypermodel.spec_for(hp)
    path = Path(tuner.directory) / tuner.project_name / "best_spec.json"
    write_text_atomic(path, spec.to_json())
    recipe = {**tuner.hypermodel.recipe_overrides(hp)}
    write_text_atomic(path.with_name("best_recipe_overrides.json"), json.dumps(recipe, indent=2))
    return {"trial_id": best[0].trial_id, "score": float(best[0].score), "spec_file": str(path), "values": hp.values}
