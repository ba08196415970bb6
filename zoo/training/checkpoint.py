"""Resumable runs: the whole training state at every epoch's end, so that a run killed mid-way (a session that
ends, SIGTERM, a lost machine) continues from its last finished epoch instead of from zero.

What is saved (`state-<epoch>.npz` + `state.json` in the run's checkpoint folder, each written atomically,
the JSON last: it names the arrays' file, so a kill between the two leaves the previous epoch's whole
state): every model variable (weights, batch-norm statistics, the augmentation layers' random-seed states),
every optimizer variable (step count, momentum), the lookahead average, the shuffling generator's state,
the history, the clock's epochs, images and seconds, and each evaluation's seconds. Restored, the next
epoch draws the same shuffle, the same augmentations and the same learning rate as an uninterrupted run:
the result is the same within float noise (`tests/test_checkpoint.py` kills a run and compares).

A checkpoint belongs to one run definition (`key`: the variant's spec, every recipe knob, the data limits,
the target); a folder holding another's, or one written by another format version, is ignored and
overwritten (the run starts from zero: never a wrong resume). The first step after a resume compiles again;
its seconds are added to the run's `compile_seconds`.

>>> import tempfile, numpy as np
>>> folder = tempfile.mkdtemp()
>>> Checkpoint(folder, key="a").save({"epochs_done": 2}, {"w0": np.ones(3)})
>>> meta, arrays = Checkpoint(folder, key="a").load()
>>> meta["epochs_done"], arrays["w0"].tolist()
(2, [1.0, 1.0, 1.0])
>>> Checkpoint(folder, key="b").load() is None   # another run's state: not resumed
True
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np

from zoo.files import write_text_atomic

VERSION = 1


def run_key(definition: dict) -> str:
    """A short hash of a run's definition (JSON-able dict), naming whose state a checkpoint holds."""
    return hashlib.sha256(json.dumps(definition, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Checkpoint:
    """One run's checkpoint folder: `save` after an epoch, `load` before training, `remove` once finished."""

    def __init__(self, folder: str | os.PathLike, key: str):
        self.folder, self.key = Path(folder), key

    @property
    def _meta(self) -> Path:
        return self.folder / "state.json"

    def _arrays(self, tag: str) -> Path:
        return self.folder / f"state-{tag}.npz"

    def save(self, meta: dict, arrays: dict[str, np.ndarray]) -> None:
        """Write the arrays under a new name, then the JSON naming them (the commit), then drop older arrays."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tag = f"{meta.get('epochs_done', 0)}"
        partial = self.folder / f"state-{tag}.partial.npz"
        np.savez(partial, **arrays)
        os.replace(partial, self._arrays(tag))
        write_text_atomic(self._meta, json.dumps({**meta, "key": self.key, "version": VERSION, "tag": tag}))
        for old in self.folder.glob("state-*.npz"):
            if old.name != self._arrays(tag).name:
                old.unlink(missing_ok=True)

    def load(self) -> tuple[dict, dict[str, np.ndarray]] | None:
        """(meta, arrays) of this run's last saved epoch; None when there is none (or another run's)."""
        try:
            meta = json.loads(self._meta.read_text())
            if meta.get("key") != self.key or meta.get("version") != VERSION:
                return None
            with np.load(self._arrays(str(meta.get("tag")))) as stored:
                return meta, {name: stored[name] for name in stored.files}
        except (OSError, ValueError, KeyError, AttributeError, EOFError, zipfile.BadZipFile):
            return None  # damaged: the run starts again rather than from a half-read state

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def capture(*, model, rng: np.random.Generator, clock, scorer, phases, history: dict, epochs_done: int,
            lookahead=None, ema=None) -> tuple[dict, dict[str, np.ndarray]]:
    """A run's state after `epochs_done` epochs, as `Checkpoint.save` takes it: (meta, arrays)."""
    import keras

    arrays = {f"variable{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(model.variables)}
    arrays.update({f"optimizer{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(model.optimizer.variables)})
    if lookahead is not None and lookahead.slow is not None:
        arrays.update({f"lookahead{i}": a for i, a in enumerate(lookahead.slow)})
    if ema is not None and ema.trained is not None:  # the model holds the average; training goes on from these
        arrays.update({f"trained{i}": a for i, a in enumerate(ema.trained)})
    meta = {"epochs_done": epochs_done, "history": history, "rng": rng.bit_generator.state,
            "clock": {"epoch_seconds": clock.epoch_seconds, "images": clock.images, "spent": clock._spent,
                      "compile_seconds": clock.compile_seconds, "validation_seconds": clock.validation_seconds},
            "test_seconds": scorer.seconds, "phases": {k: phases.seconds.get(k, 0.0) for k in ("test", "whiten")},
            "lookahead_steps": lookahead.steps if lookahead is not None else 0}
    return meta, arrays


def restore(meta: dict, arrays: dict[str, np.ndarray], *, model, rng: np.random.Generator, clock, scorer, phases,
            lookahead=None, ema=None) -> dict:
    """Put a saved state back into a freshly prepared run (same definition: `Checkpoint` checked the key).
    Returns {"epochs_done", "history", "compile_seconds"}: the epoch to continue from, the history so far and
    the compile seconds of the run's first process (the clock times this process's compiling step anew)."""
    for i, variable in enumerate(model.variables):
        variable.assign(arrays[f"variable{i}"])
    for i, variable in enumerate(model.optimizer.variables):
        variable.assign(arrays[f"optimizer{i}"])
    if lookahead is not None and meta.get("lookahead_steps"):
        lookahead.resume([arrays[f"lookahead{i}"] for i in range(sum(k.startswith("lookahead") for k in arrays))],
                         meta["lookahead_steps"])
    if ema is not None and "trained0" in arrays:
        ema.trained = [arrays[f"trained{i}"] for i in range(sum(k.startswith("trained") for k in arrays))]
    rng.bit_generator.state = meta["rng"]
    saved = meta["clock"]
    clock.epoch_seconds[:] = saved["epoch_seconds"]
    clock.images, clock._spent = saved["images"], saved["spent"]
    clock.validation_seconds = saved["validation_seconds"]
    clock.done = clock.budgeted and clock.progress() >= 1.0
    scorer.seconds[:] = meta["test_seconds"]
    for name, seconds in meta["phases"].items():
        phases.add(name, seconds)
    return {"epochs_done": meta["epochs_done"], "history": meta["history"],
            "compile_seconds": saved["compile_seconds"] or 0.0}
