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
from zoo.experiments.results import append_rows
from zoo.experiments.summary import summary_cell
from zoo.files import write_text_atomic
from zoo.markdown import format_table
from zoo.models.builder import build
from zoo.models.registry import resolve_spec
from zoo.models.resnet.spec import ResNetSpec
from zoo.training.recipes import get_recipe
from zoo.training.result import table_row
from zoo.training.policy import resolve_precision
from zoo.training.trainer import train

OBJECTIVE = "val_top1"
STEMS = {"3x3/1 same": (3, 1, "same"), "3x3/1 valid": (3, 1, "valid"), "7x7/2": (7, 2, "same")}
POOLS = {"none": None, "2/1": (2, 1), "2/2": (2, 2), "3/2": (3, 2)}
HEADS = ("gap", "flatten_dense")
DEPTHS_4_STAGES = {"18": (2, 2, 2, 2), "34": (3, 4, 6, 3)}
LR_RANGES = {"adam": (1e-4, 1e-2), "adamw": (1e-4, 1e-2), "sgd": (1e-3, 0.5)}
# Xie et al. 2017, table 2: ResNeXt-50 settings of about the same cost (groups x channels per group)
CARDINALITIES = {"1x64d": (1, 64), "2x40d": (2, 40), "4x24d": (4, 24), "8x14d": (8, 14), "32x4d": (32, 4)}
ARCHITECTURE_KNOBS = ("stem", "stem_bn", "stem_pool", "shortcut", "head", "depth", "width")
BLOCK_OPTION_KNOBS = ("preact", "attention", "cardinality", "drop_path")  # searched only when named
TRAINING_KNOBS = ("lr", "weight_decay", "batch_size")
KNOBS = ARCHITECTURE_KNOBS + BLOCK_OPTION_KNOBS + TRAINING_KNOBS


def default_space(base: ResNetSpec, optimizer: str, *, grid: bool = False) -> dict[str, dict]:
    """The knobs the source articles differ in, as {name: {"kind": ..., ...}} (data, not code)."""
    depths = (DEPTHS_4_STAGES if len(base.depths) == 4
              else {"base": base.depths, "x2": tuple(2 * d for d in base.depths)})
    low, high = LR_RANGES[optimizer]
    lr = ({"kind": "choice", "values": [low, (low * high) ** 0.5, high]} if grid
          else {"kind": "float", "min": low, "max": high, "log": True})
    return {
        "stem": {"kind": "choice", "values": list(STEMS)},
        "stem_bn": {"kind": "boolean"},
        "stem_pool": {"kind": "choice", "values": list(POOLS)},
        "shortcut": {"kind": "choice", "values": ["conv", "conv_bn"]},
        "head": {"kind": "choice", "values": list(HEADS)},
        "head_hidden": {"kind": "choice", "values": [256, 1000], "when": ("head", ["flatten_dense"])},
        "depth": {"kind": "choice", "values": list(depths)},
        "width": {"kind": "choice", "values": [0.5, 1.0]},
        "preact": {"kind": "boolean"},
        "attention": {"kind": "choice", "values": ["none", "se"]},
        "cardinality": {"kind": "choice", "values": list(CARDINALITIES)},
        "drop_path": {"kind": "choice", "values": [0.0, 0.1, 0.2]},
        "lr": lr,
        "weight_decay": {"kind": "choice", "values": [0.0, 5e-5, 5e-4]},
        "batch_size": {"kind": "choice", "values": [32, 64, 128]},
    }


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

    `search_space`: knob names to search (a subset of `KNOBS`), or {name: entry or None} where an entry
    replaces the default one (`{"width": {"kind": "choice", "values": [0.25, 0.5]}, "stem": None}`);
    None searches the whole default space.
    `dataset_shape=((H, W, C), classes)` skips reading the dataset to learn its shape.
    """

    def __init__(self, base: str | ResNetSpec, search_space=None, recipe: str = "fast", *, dataset: str | None = None,
                 data_dir=None, limit: int | None = None, overrides: dict | None = None, validation_split: float = 0.2,
                 grid: bool = False, dataset_shape=None, verbose: int = 0, name: str | None = None):
        base_spec = resolve_spec(base)
        super().__init__(name=name or base_spec.name, tunable=True)
        self.recipe = get_recipe(recipe, **(overrides or {}), **({"dataset": dataset} if dataset else {}))
        if not self.recipe.validation_split:
            self.recipe = self.recipe.with_overrides(validation_split=validation_split)
        if dataset_shape is None:
            data = load_dataset(self.recipe.dataset, data_dir=data_dir, split="test", pad_to=self.recipe.pad_to)
            dataset_shape = (data.image_shape, data.num_classes)
        self.base = resolve_spec(base_spec, input_shape=tuple(dataset_shape[0]), num_classes=dataset_shape[1])
        self.data_dir, self.limit, self.verbose = data_dir, limit, verbose
        space = default_space(self.base, self.recipe.optimizer, grid=grid)
        if search_space is None:
            search_space = {k: None for k in space if k not in BLOCK_OPTION_KNOBS}
        elif not isinstance(search_space, dict):
            search_space = {k: None for k in search_space}
        unknown = [k for k in search_space if k not in space]
        if unknown:
            raise ZooError(f"unknown search knob(s) {', '.join(unknown)}; knobs are {', '.join(KNOBS)}, head_hidden")
        if "cardinality" in search_space and not self.base.is_bottleneck:
            raise ZooError(f"search knob cardinality needs a bottleneck base; {self.base.name} has "
                           f"block={self.base.block!r}")
        chosen = {k: dict(entry or space[k]) for k, entry in search_space.items()}
        if "head" in chosen and "head_hidden" not in chosen:
            chosen["head_hidden"] = space["head_hidden"]
        for entry in chosen.values():
            if entry.get("when") and entry["when"][0] not in chosen:
                entry.pop("when")
        self.search_space = {k: v for k, v in chosen.items() if k != "head_hidden"}
        self._hidden = chosen.get("head_hidden")
        self.last_result: dict | None = None
        self.progress = None  # a zoo.training.progress.Display while run_search shows the search

    # -- hyperparameters -> spec and recipe ------------------------------------------------------------

    def declare(self, hp: keras_tuner.HyperParameters) -> dict:
        """Declare every searched knob on `hp` (head_hidden only counts when the head is flatten_dense)."""
        values = {name: _declare(hp, name, entry) for name, entry in self.search_space.items()}
        if self._hidden:
            with hp.conditional_scope("head", ["flatten_dense"]):
                values["head_hidden"] = _declare(hp, "head_hidden", self._hidden)
        return values

    def declare_hyperparameters(self, hp):  # keras-tuner's hook: the whole space before the first trial
        self.declare(hp)

    def spec_for(self, hp: keras_tuner.HyperParameters) -> ResNetSpec:
        """The spec a trial's hyperparameter values stand for (knobs not searched keep the base's)."""
        v = hp.values
        changes: dict = {}
        if "stem" in v:
            changes["stem_kernel"], changes["stem_stride"], changes["stem_padding"] = STEMS[v["stem"]]
        if "stem_bn" in v:
            changes["stem_bn"] = bool(v["stem_bn"])
        if "stem_pool" in v:
            pool = POOLS[v["stem_pool"]]
            changes["stem_pool"] = "none" if pool is None else "max"
            if pool:
                changes["stem_pool_size"], changes["stem_pool_stride"] = pool
        if "shortcut" in v:
            changes["shortcut"] = v["shortcut"]
        if "preact" in v:
            changes["preact"] = bool(v["preact"])
            changes["zero_init_last_bn"] = self.base.zero_init_last_bn and not v["preact"]
        if "attention" in v:
            changes["attention"] = v["attention"]
        if "cardinality" in v:
            changes["groups"], changes["base_width"] = CARDINALITIES[v["cardinality"]]
        if "drop_path" in v:
            changes["drop_path"] = float(v["drop_path"])
        if "head" in v:
            flatten = v["head"] == "flatten_dense"
            changes["head"] = "flatten" if flatten else "gap"
            changes["head_hidden"] = int(v.get("head_hidden") or 1000) if flatten else 0
        if "depth" in v:
            depths = DEPTHS_4_STAGES.get(v["depth"]) if len(self.base.depths) == 4 else None
            changes["depths"] = depths or (self.base.depths if v["depth"] == "base"
                                           else tuple(2 * d for d in self.base.depths))
        if "width" in v:
            scale = float(v["width"])
            changes["widths"] = tuple(max(1, int(round(w * scale))) for w in self.base.widths)
            changes["stem_filters"] = max(1, int(round(self.base.stem_filters * scale)))
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
        try:
            return build(self.spec_for(hp))
        finally:
            keras.config.set_dtype_policy(previous)

    def fit(self, hp, model, *args, epochs: int | None = None, initial_epoch: int = 0, **kwargs) -> dict:
        knobs = self.recipe_overrides(hp)
        if epochs is not None:  # Hyperband's budget for this round
            knobs["epochs"] = max(1, epochs - initial_epoch)
        result = train(model, self.recipe, data_dir=self.data_dir, limit=self.limit, out_dir=None,
                       verbose=self.verbose, progress=self.progress if self.verbose else None, **knobs)
        result = dataclasses.replace(result, spec=self.spec_for(hp).to_dict())
        self.last_result = result
        score = result["best_val_top1"] if result["status"] == "ok" else float("nan")
        if score != score:
            raise keras_tuner.errors.FailedTrialError(result.get("error") or "no validation score")
        return {OBJECTIVE: score, "top1": result["top1"]}


# -- tuners that write a trials table ------------------------------------------------------------------


def trials_folder(directory, project) -> Path:
    return Path(directory) / project / "trials"


def _knob_cell(value):
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, float):
        return f"{value:.4g}" if not value.is_integer() else str(int(value))
    return str(value)


def trials_markdown(table, knobs: list[str]) -> str:
    columns = [("trial_id", "trial")] + [(k, k) for k in knobs if k in table] + [
        ("score", "val top-1 %"), ("top1", "test top-1 %"), ("params", "params"), ("macs_per_image", "MACs"),
        ("train_seconds", "train s"), ("wall_seconds", "trial s"), ("status", "status")]
    rows = []
    for _, row in table.iterrows():
        cells = {}
        for key, _ in columns:
            value = row.get(key)
            if key in knobs:
                cells[key] = _knob_cell(value)
            elif key == "wall_seconds":
                cells[key] = None if value is None or value != value else f"{float(value):.1f}"
            else:
                cells[key] = value if key == "trial_id" else summary_cell("top1" if key == "score" else key, value)
        rows.append(cells)
    lines = ["# trials", "", format_table(rows, columns)]
    failed = table[table["status"] != "ok"]
    if len(failed):
        lines += ["", "Trials that failed:", ""] + [f"- trial {r.trial_id}: {r.error}" for r in failed.itertuples()]
    return "\n".join(lines) + "\n"


class TrialTable(keras_tuner.Tuner):
    """Mixed into a keras-tuner tuner: trains through ZooHyperModel and appends one row per trial."""

    def _results(self) -> dict:
        return self.__dict__.setdefault("_trial_results", {})

    def run_trial(self, trial, *args, **kwargs):
        hp = trial.hyperparameters
        if self.hypermodel.progress is not None:
            values = ", ".join(f"{k}={_knob_cell(v)}" for k, v in hp.values.items() if not k.startswith("tuner/"))
            self.hypermodel.progress.log(f"trial {trial.trial_id}  ({values})")
            self.hypermodel.progress.run(f"trial {trial.trial_id}")
        started = time.perf_counter()
        model = self._build_hypermodel(hp)  # Hyperband loads the weights of the trial it continues
        self.hypermodel.last_result = None
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
        if status != "COMPLETED":
            message = (getattr(trial, "message", None) or "").strip().splitlines()
            row["status"] = "failed"
            row["error"] = message[-1] if message else f"trial ended {status}"
        folder = trials_folder(self.directory, self.project_name)
        knob_names = list(self.hypermodel.search_space) + ["head_hidden"]
        append_rows(folder, [row], markdown=lambda table: trials_markdown(table, knob_names))
        if self.hypermodel.progress is not None:
            self.hypermodel.progress.log(_trial_outcome(row))
            self.hypermodel.progress.finished("ok" if row.get("status") == "ok" else "failed")
        super().on_trial_end(trial)


def _trial_outcome(row: dict) -> str:
    """`    ok, val top-1 45.20%, 3.1 s training` or the trial's error, under the trial's line."""
    if row.get("status") != "ok":
        return f"    failed: {row.get('error')}"
    return f"    ok, val top-1 {100 * row['score']:.2f}%, {row['train_seconds']:.1f} s training"


TUNERS = {"random": keras_tuner.RandomSearch, "bayesian": keras_tuner.BayesianOptimization,
          "hyperband": keras_tuner.Hyperband, "grid": keras_tuner.GridSearch}


def make_tuner(kind: str, hypermodel: ZooHyperModel, *, max_trials: int, directory, project: str,
               overwrite: bool = False, seed: int = 0):
    """A keras-tuner tuner of `kind` whose trials train through `hypermodel` and land in one table."""
    if kind not in TUNERS:
        raise ZooError(f"tuner must be one of {', '.join(TUNERS)}, got {kind!r}")
    if isinstance(max_trials, bool) or not isinstance(max_trials, int) or max_trials < 1:
        raise ZooError(f"max_trials must be a whole number >= 1 (a search without it never ends), got {max_trials!r}")
    cls = type(f"Zoo{TUNERS[kind].__name__}", (TUNERS[kind], TrialTable), {})
    objective = keras_tuner.Objective(OBJECTIVE, direction="max")
    options = dict(hypermodel=hypermodel, objective=objective, directory=str(directory), project_name=project,
                   overwrite=overwrite, seed=seed)
    if kind == "hyperband":
        options["max_epochs"] = max(2, hypermodel.recipe.epochs)
        options["max_retries_per_trial"] = 0
    else:
        options["max_trials"] = max_trials
    return cls(**options)


def run_search(tuner, display=None) -> dict | None:
    """Run (or continue) the search, then write best_spec.json; return the best trial's values.

    With a `display` (`zoo.training.progress.Display`) the search shows as a sweep of trials (done / failed, ETA)
    over the running trial's training, instead of keras-tuner's own printout."""
    if display is None:
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
