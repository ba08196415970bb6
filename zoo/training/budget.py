"""Training budgets and the run's clock: stop at N training seconds or N images, with the learning rate
fitted to the budget, and every second of a run put in one phase.

A budgeted run is not a truncated long run: its schedule decays to zero exactly where the budget ends
(Li, Yumer & Ramanan, "Budgeted Training: Rethinking Deep Neural Network Training Under Resource
Constraints", ICLR 2020, whose budget-aware linear schedule is `schedule="linear"`).

>>> lr_factor(0.0, "linear"), lr_factor(0.5, "linear"), lr_factor(1.0, "linear")
(1.0, 0.5, 0.0)
>>> round(lr_factor(0.5, "cosine"), 3), lr_factor(0.7, "constant")
(0.5, 1.0)
>>> phases = Phases()
>>> with phases("data"):
...     pass
>>> sorted(phases.seconds)
['data']
"""

from __future__ import annotations

import contextlib
import math
import time

import keras


#: The phases a run's wall time is split into, as result columns; `other_seconds` is the rest.
TIME_COLUMNS = ("data_seconds", "build_seconds", "train_seconds", "validation_seconds", "precise_bn_seconds",
                "test_seconds", "inference_seconds")


def other_seconds(columns: dict, wall: float) -> float:
    """What of `wall` no phase column in `columns` covers (never below zero)."""
    return max(wall - sum(columns.get(key) or 0.0 for key in TIME_COLUMNS), 0.0)


def lr_factor(progress: float, schedule: str) -> float:
    """The learning rate's fraction of its peak after `progress` (0..1) of the run: `constant` stays at 1,
    `linear` and `cosine` reach 0 at the end."""
    progress = min(max(progress, 0.0), 1.0)
    if schedule == "linear":
        return 1.0 - progress
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0


class Phases:
    """Wall seconds per named phase of a run (data, build, validation, test, inference...)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds


def _sync(model) -> None:
    """Wait for the device: the step counter is written by the last dispatched train step."""
    keras.ops.convert_to_numpy(model.optimizer.iterations)


class TrainClock(keras.callbacks.Callback):
    """Keras callback: the run's training clock, its budget and its budget-fitted learning rate.

    - The first train step (tracing, compiling and running it once; its update is kept and its images
      counted) is timed apart as `compile_seconds`; `train_seconds` is every later step, validation inside
      `fit` excluded (`validation_seconds`). Device-synchronized at every boundary.
    - With `budget_seconds` and/or `budget_images`, training stops once either is spent (mid-epoch if
      need be: `done` tells the caller not to start another epoch), and the learning rate follows
      `peak_lr * lr_factor(progress, schedule)`, progress being the used fraction of the budget, after a
      linear warm-up over the first `warmup_images`.

    Call `start()` right before and `stop()` right after each `fit` (one epoch each): the epoch's time is
    the whole call, fit's own set-up and wind-down included, less the first step and validation.
    """

    def __init__(self, *, batch_size: int, budget_seconds: float | None = None, budget_images: int | None = None,
                 peak_lr: float | None = None, schedule: str = "constant", warmup_images: int = 0):
        super().__init__()
        self.batch_size = batch_size
        self.budget_seconds, self.budget_images = budget_seconds, budget_images
        self.peak_lr, self.schedule, self.warmup_images = peak_lr, schedule, warmup_images
        self.compile_seconds: float | None = None
        self.validation_seconds = 0.0
        self.epoch_seconds: list[float] = []
        self.images = 0
        self.done = False
        self._spent = 0.0         # train seconds of finished epochs
        self._epoch = 0.0         # train seconds of the current epoch so far
        self._since: float | None = None  # start of the running timed span, None while paused
        self._fit_called = 0.0
        self._test_start = 0.0

    @property
    def budgeted(self) -> bool:
        return self.budget_seconds is not None or self.budget_images is not None

    @property
    def train_seconds(self) -> float:
        running = time.perf_counter() - self._since if self._since is not None else 0.0
        return self._spent + self._epoch + running

    def progress(self) -> float:
        """Fraction of the budget used (0 without a budget)."""
        parts = [0.0]
        if self.budget_seconds is not None:
            parts.append(self.train_seconds / self.budget_seconds)
        if self.budget_images is not None:
            parts.append(self.images / self.budget_images)
        return max(parts)

    def start(self) -> None:
        """Call right before each `fit`: its set-up is the first step's (compile) time or training time."""
        self._fit_called = time.perf_counter()
        self._epoch = 0.0
        self._since = self._fit_called if self.compile_seconds is not None else None

    def stop(self) -> None:
        """Call right after each `fit` (one epoch): the epoch's training seconds are everything in the call
        but the first step and validation, fit's set-up and wind-down included. The budget is checked after
        every step, so time spent after an epoch's last step is seen at the next epoch's first step: a
        stall there overruns a time budget
        (one seen: benchmarks/results/cpu-2core/README.md, "Measurements behind the library's choices")."""
        self._pause()
        self._spent += self._epoch
        self.epoch_seconds.append(self._epoch)
        self._epoch = 0.0

    def _wait(self, logs) -> None:
        """Block until the step that produced `logs` is done (its loss is computed last), without touching
        the model's variables (on JAX `Callback.model` would write the whole training state back)."""
        loss = (logs or {}).get("loss")
        if loss is not None:
            keras.ops.convert_to_numpy(loss)
        else:
            _sync(self.model)

    def _pause(self) -> None:
        if self._since is not None:
            _sync(self.model)
            self._epoch += time.perf_counter() - self._since
            self._since = None

    def on_train_batch_begin(self, batch, logs=None):
        if not self.budgeted or self.peak_lr is None:
            return
        warm = min(1.0, (self.images + self.batch_size) / self.warmup_images) if self.warmup_images else 1.0
        self.model.optimizer.learning_rate = self.peak_lr * warm * lr_factor(self.progress(), self.schedule)

    def on_train_batch_end(self, batch, logs=None):
        self.images += self.batch_size
        self._wait(logs)  # the clock must not run ahead of asynchronously dispatched steps
        if self.compile_seconds is None:
            self._since = time.perf_counter()
            self.compile_seconds = self._since - self._fit_called
        if self.budgeted and self.progress() >= 1.0:
            self.done = True
            self.model.stop_training = True

    def on_test_begin(self, logs=None):
        self._pause()
        self._test_start = time.perf_counter()

    def on_test_end(self, logs=None):
        now = time.perf_counter()
        self.validation_seconds += now - self._test_start
        self._since = now


@keras.saving.register_keras_serializable(package="zoo")
class LinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 over `warmup_steps`, then linear decay to exactly 0 at `decay_steps` after it:
    the budget-aware linear schedule for runs whose length is known in steps (epochs).

    >>> schedule = LinearDecay(0.1, decay_steps=10)
    >>> [round(float(schedule(step)), 3) for step in (0, 5, 10, 20)]
    [0.1, 0.05, 0.0, 0.0]
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int, warmup_steps: int = 0):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.warmup_steps = warmup_steps

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warm = keras.ops.minimum(1.0, (step + 1.0) / self.warmup_steps) if self.warmup_steps else 1.0
        left = 1.0 - keras.ops.clip((step - self.warmup_steps) / max(self.decay_steps, 1), 0.0, 1.0)
        return self.initial_learning_rate * warm * left

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "warmup_steps": self.warmup_steps}
