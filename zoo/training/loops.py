"""The training loops behind `zoo.train`: Keras' `fit` one epoch at a time on whole batches, or the device
loop (JAX), with the run's clock, progress events, NaN stop, alternating flips and resume point.

>>> import numpy as np
>>> orders = list(_epoch_orders(10, 4, 2, np.random.default_rng(0)))
>>> [len(order) for order in orders]   # two epochs of whole batches: 8 of the 10 images each
[8, 8]
"""

from __future__ import annotations

import itertools
import time
from typing import Callable

import keras
import numpy as np

from zoo.environment import backend_module


class _StopOnNaN(keras.callbacks.Callback):
    """Stop training at a NaN or infinite loss, from Keras' callback thread (`async_safe`), so that checking
    the loss does not wait for every step; it may stop a few steps later.

    Not `keras.callbacks.TerminateOnNaN`: it sets `self.model.stop_training`, and on JAX reading
    `Callback.model` writes the training state back into the model's variables. From the callback
    thread that write races the training loop, which may by then have donated that state to the next
    step: the variables are left holding deleted buffers ("Buffer has been deleted or donated" at the
    next evaluate). `self._model` is the same model without that write.
    """

    async_safe = True

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss) and not self._model.stop_training:
            print(f"Batch {batch}: loss became {float(loss)}, stopping training")
            self._model.stop_training = True


class _StepEvents(keras.callbacks.Callback):
    """Reports training progress to `report` as plain dicts (`zoo.training.progress`): a "step" event at most every
    `interval` seconds (epoch, step, loss, `fraction` of the run done: of its budget when it has one, else of
    its epochs). The loss is read after the budget clock has waited for the step anyway."""

    def __init__(self, report: Callable[[dict], None], clock, epochs: int | None, interval: float = 0.5):
        super().__init__()
        self.report, self.clock, self.epochs, self.interval = report, clock, epochs, interval
        self._epoch, self._last = 0, 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        steps = self.params.get("steps") or batch + 1
        loss = (logs or {}).get("loss")
        self.report({"event": "step", "epoch": self._epoch + 1, "epochs": self.epochs, "step": batch + 1,
                     "steps": steps, "fraction": _fraction(self.clock, self.epochs, self._epoch + (batch + 1) / steps),
                     "loss": None if loss is None else float(keras.ops.convert_to_numpy(loss))})


def _fraction(clock, epochs: int | None, epochs_done: float) -> float:
    """How much of the run is done: of its budget when it has one, else of its epochs."""
    if clock.budgeted:
        return min(clock.progress(), 1.0)
    return min(epochs_done / epochs, 1.0) if epochs else 0.0


def _epoch_event(epoch: int, epochs: int | None, history: dict, clock) -> dict:
    """The "epoch" progress event after `epoch` (0-based): the history's last values and the epoch's seconds."""
    return {"event": "epoch", "epoch": epoch + 1, "epochs": epochs, "fraction": _fraction(clock, epochs, epoch + 1),
            "seconds": clock.epoch_seconds[-1] if clock.epoch_seconds else None,
            "logs": {key: values[-1] for key, values in history.items() if values}}


def _epoch_orders(n: int, batch_size: int, epochs: int | None, rng):
    """Each epoch's shuffle, cut to whole batches (the `n % batch_size` images left out change every epoch);
    endless when `epochs` is None (a budgeted run stops itself)."""
    used = n // batch_size * batch_size
    for _ in itertools.count() if epochs is None else range(epochs):
        yield rng.permutation(n)[:used]


def record_logs(history: dict, logs: dict) -> None:
    for key, value in logs.items():
        history.setdefault(key, []).append(float(value))


def _finite(history: dict) -> bool:
    return bool(np.all(np.isfinite(history.get("loss", [0.0]))))


class _MixedBatches(keras.utils.PyDataset):
    """One epoch of whole batches, each passed through `mix` (`zoo.data.preprocess.label_mixing`) as it is
    gathered: MixUp / CutMix on the backends that train without tf.data."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, mix):
        super().__init__()
        self.x, self.y, self.batch_size, self.mix = x, y, batch_size, mix

    def __len__(self) -> int:
        return len(self.y) // self.batch_size

    def __getitem__(self, index: int):
        cut = slice(index * self.batch_size, (index + 1) * self.batch_size)
        images, labels = self.mix(self.x[cut], self.y[cut])
        return keras.ops.convert_to_numpy(images), keras.ops.convert_to_numpy(labels)


def _epoch_input(x: np.ndarray, y: np.ndarray, batch_size: int, mix=None) -> dict:
    """`fit`'s data for one epoch of whole batches: the arrays, or on TensorFlow a `tf.data` pipeline of them
    without tf.data's autotuning.

    Why: a budget stops `fit` mid-epoch, and TensorFlow then destroys the abandoned iterator of the dataset
    Keras made from the arrays whenever Python's garbage collector reaches it, usually in the next traced
    call (the test evaluation). With autotuning on, that destructor waited for the autotuner's thread to
    end its current sleep, which grows with the iterator's age: in about one run in four the test
    evaluation stalled for as long as the run had trained (9-12 s after a 10-s budget, 40-45 s after 40 s;
    benchmarks/results/cpu-2core/README.md). The same pipeline without autotuning (a batch gathered ahead,
    as Keras' prefetch does) trains at the same speed and is destroyed at once. TensorFlow is already
    loaded on this backend; the zoo takes the module Keras loaded instead of importing it.
    """
    if keras.backend.backend() != "tensorflow":
        return {"x": _MixedBatches(x, y, batch_size, mix)} if mix else {"x": x, "y": y, "batch_size": batch_size}
    tf = backend_module()
    options = tf.data.Options()
    options.autotune.enabled = False
    options.experimental_optimization.apply_default_optimizations = False
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size, drop_remainder=True)
    if mix is not None:  # Keras' MixUp / CutMix run inside tf.data on any backend; here the backend is TF
        dataset = dataset.map(mix)
    return {"x": dataset.prefetch(2).with_options(options)}


def alternating_flips(n: int, seed: int) -> np.ndarray:
    """`flip="alternate"` (airbench): a fixed random half of the images is mirrored in even epochs and the
    other half in odd ones, so every image is seen both ways in every two epochs (random flips leave a
    quarter of them one way in both). Returns each image's parity; epoch e mirrors the images whose
    `(parity + e) % 2 == 1`.

    >>> p = alternating_flips(6, seed=0)
    >>> sorted(set(((p + 0) % 2 + (p + 1) % 2).tolist()))   # each image: mirrored in exactly one of two epochs
    [1]
    """
    return np.random.default_rng([seed, 1]).integers(0, 2, n)


def fit_full_batches(model, x, y, *, batch_size, epochs, validation, rng, progress, after_epoch, clock,
                      callbacks=(), flips=None, mix=None, start_epoch: int = 0, history: dict | None = None):
    """Keras' fit, epoch by epoch on a fresh shuffle cut to whole batches, until `epochs` or the clock's
    budget is done; return the history (`clock` holds the times).

    Every step sees a full batch: one compiled shape (no second compilation for a last partial batch
    under XLA) and no odd batch sizes, which crash TensorFlow 2.21's oneDNN CPU kernels for some graphs.
    The epoch's arrays are gathered once per `fit` (on TensorFlow into a `tf.data` pipeline without
    autotuning: `_epoch_input`); a `keras.utils.PyDataset` gathering each batch by index instead was
    slower on TF, its generator thread keeping the process in the kernel (benchmarks/results/cpu-2core/README.md,
    "Measurements behind the library's choices"). `flips` (`alternating_flips`) mirrors each epoch's images
    on the host as they are gathered, inside the timed span; `mix` (MixUp / CutMix) transforms each batch.
    `after_epoch(epoch, history)` runs between epochs, outside the timed span; `progress` (or None) gets the
    progress events. A resumed run (`zoo.training.checkpoint`) starts at `start_epoch` with the `history` so far.
    """
    history = {} if history is None else history
    events = [_StepEvents(progress, clock, epochs)] if progress else []
    remaining = None if epochs is None else epochs - start_epoch
    for epoch, order in enumerate(_epoch_orders(len(y), batch_size, remaining, rng), start=start_epoch):
        if clock.done:  # a resumed budgeted run whose budget was already spent
            break
        clock.start()
        images = x[order]
        if flips is not None:
            mirror = (flips[order] + epoch) % 2 == 1
            images[mirror] = images[mirror, :, ::-1]
        fit = model.fit(**_epoch_input(images, y[order], batch_size, mix), epochs=epoch + 1, initial_epoch=epoch,
                        validation_data=validation, shuffle=False, verbose=0,
                        callbacks=[clock, *events, _StopOnNaN(), *callbacks])
        clock.stop()
        for key, values in fit.history.items():
            history.setdefault(key, []).extend(float(v) for v in values)
        if not _finite(history):
            break
        after_epoch(epoch, history)
        if progress:
            progress(_epoch_event(epoch, epochs, history, clock))
        if clock.done:
            break
    return history


def fit_on_device(trainer, *, epochs, validation, rng, progress, after_epoch, batch_size, clock):
    """The device loop (`zoo.training.device_loop`): one compiled call per epoch on the same shuffles as
    `fit_full_batches`; validation after each epoch, outside the timed span. Returns the history and fills
    `clock`'s epoch seconds and validation seconds (no budgets: `resolve_loop` refuses them)."""
    history: dict[str, list[float]] = {}
    seconds = clock.epoch_seconds
    for epoch, order in enumerate(_epoch_orders(trainer.examples, batch_size, epochs, rng)):
        start = time.perf_counter()
        logs = trainer.run(order.reshape(trainer.steps, batch_size))  # returns floats: the device is done
        seconds.append(time.perf_counter() - start)
        if validation is not None and np.isfinite(logs["loss"]):
            began = time.perf_counter()
            scores = trainer.model.evaluate(*validation, batch_size=batch_size, verbose=0, return_dict=True)
            clock.validation_seconds += time.perf_counter() - began
            logs.update({f"val_{key}": value for key, value in scores.items()})
        record_logs(history, logs)
        if not _finite(history):
            break
        after_epoch(epoch, history)
        if progress:
            progress(_epoch_event(epoch, epochs, history, clock))
    clock.images = trainer.examples // batch_size * batch_size * len(seconds)
    return history
