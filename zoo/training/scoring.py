"""Scoring a run: the test split after epochs and at the end (with test-time augmentation), time to accuracy
by DAWNBench's rule, epoch timing, divergence.

>>> epoch_timing([10.0, 4.0, 6.0], images=300)["seconds_per_epoch"]
5.0
"""

from __future__ import annotations

import math
import time

import numpy as np

from zoo.training import tta
from zoo.training.budget import Phases
from zoo.training.loops import record_logs


def epoch_timing(epoch_seconds: list[float], images: int) -> dict:
    """Training speed: the first epoch alone (it carries leftover warm-up effects) and, over all `images`
    trained after the first (compiling) step, images per second."""
    total = float(sum(epoch_seconds))
    steady = epoch_seconds[1:] if len(epoch_seconds) > 1 else epoch_seconds
    return {
        "first_epoch_seconds": float(epoch_seconds[0]) if epoch_seconds else None,
        "seconds_per_epoch": float(np.median(steady)) if steady else None,
        "train_images_per_second": images / total if total else None,
    }


def time_to_target(test_top1: list[float], epoch_seconds: list[float], target: float | None, *,
                    test_seconds: list[float] = (), setup_seconds: float = 0.0) -> dict:
    """DAWNBench's time to accuracy: the epoch whose test top-1 (NaN where the epoch was not scored) first
    reached `target`, and the seconds from the start of training to the end of that evaluation: the
    per-run setup (`setup_seconds`: the compiling first step, the whitening fit), every epoch and every
    evaluation up to it (None: not reached).

    >>> time_to_target([0.5, float("nan"), 0.93], [10.0, 10.0, 10.0], 0.9, test_seconds=[2.0, 0.0, 2.0],
    ...                 setup_seconds=5.0)["seconds_to_target"]
    39.0
    """
    reached = next((i for i, top1 in enumerate(test_top1) if top1 >= target), None) if target is not None else None
    spent = None if reached is None else float(
        setup_seconds + sum(epoch_seconds[:reached + 1]) + sum(test_seconds[:reached + 1]))
    return {"target_top1": target, "epochs_to_target": None if reached is None else reached + 1,
            "seconds_to_target": spent}


def divergence(history: dict) -> str | None:
    """Why a run counts as diverged (a non-finite loss stopped it), or None.

    TerminateOnNaN ends the epoch early but Keras still records it, so the history holds the bad loss.
    """
    for epoch, value in enumerate(history.get("loss", []), 1):
        if not np.isfinite(value):
            return f"loss became {value} in epoch {epoch}; training stopped"
    return None


class Scorer:
    """The test split's scores, evaluated at most once per number of epochs trained (and timed as the
    `test` phase), with the recipe's test-time augmentation (`tta`, `zoo.training.tta`): after every epoch
    from `first_epoch` on with `every_epoch` (into the history, NaN for the epochs before; outside the
    training clock, each evaluation's seconds in `seconds` for the time to target), and at the end."""

    def __init__(self, model, x, y, *, batch_size: int, phases: Phases, every_epoch: bool, tta: int = 0,
                 first_epoch: int = 1):
        self.model, self.x, self.y, self.batch_size = model, x, y, batch_size
        self.phases, self.every_epoch, self.tta, self.first_epoch = phases, every_epoch, tta, first_epoch
        self._epochs, self._scores = None, None
        # per epoch: that epoch's evaluation (0 where it was not scored), plus its checkpoint write if any
        self.seconds: list[float] = []

    def after(self, epochs: int) -> dict:
        if self._epochs != epochs:
            began = time.perf_counter()
            with self.phases("test"):
                if self.tta:
                    self._scores = tta.scores(self.model, self.x, self.y, self.tta, batch_size=self.batch_size,
                                              loss=self.model.loss)
                else:
                    self._scores = self.model.evaluate(self.x, self.y, batch_size=self.batch_size, verbose=0,
                                                       return_dict=True)
            self._epochs, self._last_seconds = epochs, time.perf_counter() - began
        return self._scores

    def after_epoch(self, epoch: int, history: dict) -> None:
        if not self.every_epoch or epoch + 1 < self.first_epoch:
            self.seconds.append(0.0)
            if self.every_epoch:  # not scored yet: NaN keeps the history's lists one entry per epoch
                keys = ("loss", "top1", "top5") if self.y.shape[1] > 5 else ("loss", "top1")
                record_logs(history, {f"test_{key}": math.nan for key in keys})
            return
        scores = self.after(epoch + 1)
        self.seconds.append(self._last_seconds)
        record_logs(history, {f"test_{key}": value for key, value in scores.items()})
