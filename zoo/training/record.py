"""A finished run's record and files: the result columns (`describe`, `time_columns`), the run folder with
the model, history and result JSON (`run_folder`, `save`), and Keras' own per-epoch logs (`log_callbacks`).
`zoo.training.trainer` calls these once its run has trained; `run` is the trainer's prepared run (its
recipe, clock, phases, data, networks, loop and scorer).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import keras
import numpy as np

from zoo.environment import mib, peak_device_memory
from zoo.files import write_text_atomic
from zoo.models.macs import count_macs
from zoo.models.summary import param_counts
from zoo.training.budget import Phases, TrainClock, other_seconds
from zoo.training.result import RunResult
from zoo.training.scoring import epoch_timing, time_to_target


def time_columns(phases: Phases, clock: TrainClock, wall: float) -> dict:
    """Where the run's wall time went, in columns that add up to `wall_seconds` (`other_seconds` is the rest)."""
    columns = {
        "data_seconds": phases.seconds.get("data", 0.0),
        "build_seconds": phases.seconds.get("build", 0.0) + (clock.compile_seconds or 0.0),
        "train_seconds": float(sum(clock.epoch_seconds)),
        "validation_seconds": clock.validation_seconds,
        "precise_bn_seconds": phases.seconds.get("precise_bn", 0.0),
        "test_seconds": phases.seconds.get("test", 0.0),
        "inference_seconds": phases.seconds.get("inference", 0.0),
    }
    return {**columns, "other_seconds": other_seconds(columns, wall), "wall_seconds": wall}


def run_folder(out_dir, model: str, recipe: str) -> Path | None:
    """The run's folder, `out_dir/<model>-<recipe>-<timestamp>/`, created (None without `out_dir`)."""
    if out_dir is None:
        return None
    run_dir = Path(out_dir) / f"{model}-{recipe}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def log_callbacks(run_dir: Path | None, tensorboard) -> list:
    """Keras' own logs for the fit loop: a CSV row per epoch in the run folder, TensorBoard summaries in
    `tensorboard` (the device loop takes no callbacks: its runs keep history.json alone)."""
    found = []
    if run_dir is not None:
        found.append(keras.callbacks.CSVLogger(str(run_dir / "log.csv"), append=True))
    if tensorboard is not None:
        found.append(keras.callbacks.TensorBoard(log_dir=str(tensorboard), write_graph=False))
    return found


def describe(run, history: dict, scores: dict, inference, divergence, *, target_top1, started) -> dict:
    """The run's record, but for its time columns (`time_columns`)."""
    recipe, clock, train_set = run.recipe, run.clock, run.data["train_set"]
    epoch_seconds, train_images = clock.epoch_seconds, len(run.data["y_train"])
    counts = param_counts(run.net)
    return {
        "model": run.net.name,
        "recipe": recipe.name,
        "dataset": train_set.name,
        "dataset_source": train_set.source,
        "seed": recipe.seed,
        "epochs": len(epoch_seconds),
        "epochs_planned": None if recipe.budgeted else recipe.epochs,
        "epochs_done": clock.images / max(train_images, 1),
        "images_seen": clock.images,
        "budget_seconds": recipe.budget_seconds,
        "budget_images": recipe.budget_images,
        "schedule": recipe.schedule,
        "batch_size": run.batch_size,
        "precision": run.precision,
        "jit_compile": run.jit_compile,
        "loop": run.loop,
        "devices": run.devices,
        "backend": keras.backend.backend(),
        "keras_version": keras.__version__,
        "class_names": [str(n) for n in train_set.class_names],
        "train_images": train_images,
        "test_images": len(run.data["y_test"]),
        "params": counts["trainable"],
        "params_total": counts["total"],
        "macs_per_image": count_macs(run.net),
        "top1": float(scores["top1"]),
        "top5": float(scores["top5"]) if "top5" in scores else None,
        "test_loss": float(scores["loss"]),
        "best_val_top1": max(history["val_top1"]) if "val_top1" in history else None,
        "best_val_epoch": int(np.argmax(history["val_top1"])) + 1 if "val_top1" in history else None,
        "compile_seconds": clock.compile_seconds,
        "resumed_from_epoch": run.resumed_from,
        **epoch_timing(epoch_seconds, clock.images - (run.batch_size if run.loop == "keras" else 0)),
        **time_to_target(history.get("test_top1", []), epoch_seconds, target_top1, test_seconds=run.test.seconds,
                          setup_seconds=(clock.compile_seconds or 0.0) + run.phases.seconds.get("whiten", 0.0)),
        "inference_images_per_second": inference,
        "peak_device_memory_mb": mib(peak_device_memory()),
        "status": "diverged" if divergence else "ok",
        "error": divergence,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "recipe_knobs": {k: getattr(recipe, k) for k in recipe.__dataclass_fields__ if k != "source"},
        "spec": run.spec.to_dict() if run.spec else None,
        "history": history,
        "epoch_seconds": epoch_seconds,
    }


def save(run, record: dict, run_dir: Path | None, *, wall: float) -> RunResult:
    """The result, with its time columns; in `run_dir` (when given) the model, history and result files."""
    if run_dir is not None:
        run.model.save(run_dir / "model.keras")
        write_text_atomic(run_dir / "history.json", json.dumps(record["history"], indent=2))
        record["run_dir"] = str(run_dir)
    result = RunResult(**record, **time_columns(run.phases, run.clock, wall))
    if run_dir is not None:
        write_text_atomic(run_dir / "result.json", json.dumps(result.to_dict(), indent=2))
    return result
