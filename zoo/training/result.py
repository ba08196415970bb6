"""`RunResult`: what one training run measured, as one frozen dataclass. Its fields' metadata (pandas dtype,
unit, table group, description) is the single source of the results table's schema
(`zoo.experiments.results.COLUMNS`) and of the column reference in `benchmarks/README.md`; `zoo bench` and
`zoo tune` copy the fields marked as columns into their rows.

A `RunResult` reads like the dict `zoo.train` always returned (`result["top1"]`, `result.get("top5")`,
`dict(result)`), and `to_dict()` gives the JSON-ready record written to a run's `result.json`.

>>> r = RunResult(model="resnet_tiny", top1=0.5)
>>> r["top1"], r.get("top5"), "top1" in table_fields()
(0.5, None, True)
>>> column_metadata("train_seconds")["unit"]
's'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields

GROUPS = ("run", "model", "accuracy", "time", "outcome")  # the table's sections, in order


def column(dtype: str, group: str, description: str, *, unit: str = ""):
    """A field that is also a results-table column (pandas `dtype`: string, Int64, Float64, boolean)."""
    return field(default=None, metadata={"dtype": dtype, "group": group, "unit": unit, "description": description})


def record(description: str):
    """A field kept in the run's record (`result.json`, `zoo train --json`) but not in the table."""
    return field(default=None, metadata={"description": description})


@dataclass(frozen=True)
class RunResult(Mapping):
    """One training run: what ran, the model, its accuracy, where the time went and how it ended."""

    # -- the record only --------------------------------------------------------------------------
    model: str = record("the model's name")
    recipe: str = record("the recipe's name")
    dataset: str = record("the dataset asked for")
    seed: int = record("the random seed")
    backend: str = record("Keras backend the run used")
    keras_version: str = record("Keras version")
    class_names: list = record("class names, in label order")
    recipe_knobs: dict = record("every knob of the recipe as run")
    spec: dict = record("the architecture (`ResNetSpec.to_dict()`); None for a model built elsewhere")
    history: dict = record("per-epoch metrics (Keras' history, plus test_top1/test_loss when tracked)")
    epoch_seconds: list = record("training seconds of each epoch")
    run_dir: str = record("the run's folder (model.keras, history.json, log.csv, result.json), with out_dir")
    # -- what ran -------------------------------------------------------------------------------------
    dataset_source: str = column("string", "run", "where the images came from: `cifar10` (pickles), `cifar10-jpeg` "
                                                  "(JPEG q75 image folder), `mnist`, `digits`, a folder name...")
    epochs: int = column("Int64", "run", "epochs trained, the last one possibly cut short by a budget (fewer than "
                                         "epochs_planned when a run diverged)")
    epochs_planned: int = column("Int64", "run", "epochs the recipe asked for (empty for a budgeted run)")
    budget_seconds: float = column("Float64", "run", "training-time budget: training stopped once train_seconds "
                                                     "reached it (mid-epoch if need be), the learning rate reaching "
                                                     "zero there", unit="s")
    budget_images: int = column("Int64", "run", "training-images budget: training stopped once images_seen reached "
                                                "it", unit="images")
    images_seen: int = column("Int64", "run", "training images the run trained on, the first (compiling) step "
                                              "included", unit="images")
    resumed_from_epoch: int = column("Int64", "run", "the epoch a checkpoint resumed the run from after an "
                                                     "interruption (`zoo bench` reruns continue killed runs); empty "
                                                     "when it ran in one go")
    epochs_done: float = column("Float64", "run", "images_seen / train_images: fractional epochs")
    schedule: str = column("string", "run", "learning-rate schedule: constant, linear or cosine (fitted to the "
                                            "budget, or to the epochs when there is none)")
    batch_size: int = column("Int64", "run", "batch size actually used (halved after an out-of-memory retry)")
    precision: str = column("string", "run", "Keras dtype policy: float32, mixed_bfloat16 or mixed_float16")
    loop: str = column("string", "run", "training loop: `device` (JAX: the training set on the device, one "
                                        "compiled call per epoch) or `keras` (Keras' fit, batches copied from "
                                        "host memory)")
    jit_compile: bool = column("boolean", "run", "whether the train step was compiled with XLA")
    devices: int = column("Int64", "run", "devices the run trained on: 1, or N for data parallelism over N local "
                                          "devices (`devices` knob, keras.distribution.DataParallel)")
    train_images: int = column("Int64", "run", "training images per epoch (after any limit and validation split)",
                               unit="images")
    test_images: int = column("Int64", "run", "test images evaluated", unit="images")
    # -- the model ----------------------------------------------------------------------------------------
    params: int = column("Int64", "model", "trainable parameters")
    params_total: int = column("Int64", "model", "all parameters, BN moving statistics included")
    macs_per_image: int = column("Int64", "model", "multiply-accumulates of one forward pass of one image")
    # -- accuracy -------------------------------------------------------------------------------------------
    top1: float = column("Float64", "accuracy", "test-split top-1 accuracy (0..1)")
    top5: float = column("Float64", "accuracy", "test-split top-5 accuracy (0..1); empty for 5 classes or fewer")
    test_loss: float = column("Float64", "accuracy", "test-split loss (with the recipe's label smoothing)")
    best_val_top1: float = column("Float64", "accuracy", "best validation top-1 over the epochs (recipes with a "
                                                         "validation split)")
    best_val_epoch: int = column("Int64", "accuracy", "epoch (1-based) of best_val_top1")
    target_top1: float = column("Float64", "accuracy", "time-to-accuracy target (test top-1, 0..1) when the sweep "
                                                       "sets one; the test split is then evaluated after every "
                                                       "epoch from the recipe's test_from on (outside "
                                                       "train_seconds, inside seconds_to_target) and never steers "
                                                       "training")
    epochs_to_target: int = column("Int64", "accuracy", "first epoch whose test top-1 reached target_top1 (empty: "
                                                        "never)")
    # -- time ---------------------------------------------------------------------------------------------------
    data_seconds: float = column("Float64", "time", "loading and preparing the data (decoded-array cache, subsets, "
                                                    "splits)", unit="s")
    build_seconds: float = column("Float64", "time", "building and compiling the model, and its first train step "
                                                     "(compile_seconds)", unit="s")
    compile_seconds: float = column("Float64", "time", "the first train step: tracing, compiling and running it once "
                                                       "(its update is kept, its images counted; no step is thrown "
                                                       "away); part of build_seconds, not of train_seconds. Device "
                                                       "loop: compiled ahead of time, no step run. On JAX a program "
                                                       "found in the compilation cache (ZOO_CACHE_DIR/jax) loads in "
                                                       "a fraction of it", unit="s")
    first_epoch_seconds: float = column("Float64", "time", "the first epoch alone, its compiling step excluded",
                                        unit="s")
    train_seconds: float = column("Float64", "time", "wall time of all train steps after the first, validation "
                                                     "excluded", unit="s")
    validation_seconds: float = column("Float64", "time", "evaluating the validation split after each epoch",
                                       unit="s")
    precise_bn_seconds: float = column("Float64", "time", "re-estimating BN statistics after training (recipe knob "
                                                          "precise_bn)", unit="s")
    test_seconds: float = column("Float64", "time", "evaluating the test split (after each epoch when tracked, and "
                                                    "at the end)", unit="s")
    inference_seconds: float = column("Float64", "time", "the inference-speed timing", unit="s")
    other_seconds: float = column("Float64", "time", "the rest of wall_seconds (environment, bookkeeping, freeing "
                                                     "memory); data + build + train + validation + precise_bn + test "
                                                     "+ inference + other = wall", unit="s")
    seconds_to_target: float = column("Float64", "time", "time to accuracy by DAWNBench's rule: from the start of "
                                                         "training (the compiling first step and a whitening fit "
                                                         "included) to the end of the evaluation that first reached "
                                                         "target_top1, every epoch and evaluation before it (test-time "
                                                         "augmentation included) counted (empty: not reached)",
                                      unit="s")
    seconds_per_epoch: float = column("Float64", "time", "median epoch time, first epoch excluded when there are two "
                                                         "or more", unit="s")
    train_images_per_second: float = column("Float64", "time", "training images per second over train_seconds",
                                            unit="images/s")
    inference_images_per_second: float = column("Float64", "time", "inference images per second on one fixed batch "
                                                                   "after a warm-up call, host-synchronized",
                                                unit="images/s")
    peak_device_memory_mb: float = column("Float64", "time", "peak accelerator memory in MiB where the backend "
                                                             "exposes it (JAX: process-wide peak); empty on CPU",
                                          unit="MiB")
    # -- how it ended -------------------------------------------------------------------------------------------
    status: str = column("string", "outcome", "ok, failed (an exception), diverged (non-finite loss stopped "
                                              "training) or oom (out of memory even at half the batch)")
    error: str = column("string", "outcome", "what went wrong (exception type and message), or why the run "
                                             "diverged")
    started: str = column("string", "outcome", "local start time of the run (ISO 8601)")
    finished: str = column("string", "outcome", "local end time of the run (ISO 8601)")
    wall_seconds: float = column("Float64", "outcome", "whole run, data loading and compilation included (the sum "
                                                       "of the *_seconds phase columns)", unit="s")

    # -- reads like a dict ------------------------------------------------------------------------------
    def __getitem__(self, key: str):
        if key not in _NAMES:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self):
        return iter(_NAMES)

    def __len__(self) -> int:
        return len(_NAMES)

    def to_dict(self) -> dict:
        """Every field, JSON-ready (what `result.json` holds)."""
        return {name: getattr(self, name) for name in _NAMES}


_NAMES = tuple(f.name for f in fields(RunResult))


def table_fields() -> tuple[str, ...]:
    """The fields that are results-table columns, in field order."""
    return tuple(f.name for f in fields(RunResult) if "dtype" in f.metadata)


def column_metadata(name: str) -> dict:
    """dtype, group, unit and description of one column field."""
    return dict(next(f.metadata for f in fields(RunResult) if f.name == name))


def table_row(result: Mapping) -> dict:
    """The table columns a run's result fills (`zoo bench` rows and `zoo tune` trial rows alike); a plain
    dict with the same keys (a test's stand-in trainer) works too."""
    return {name: result.get(name) for name in table_fields()}
