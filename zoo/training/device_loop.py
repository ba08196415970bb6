"""Training on the JAX backend with the training set on the device and a whole epoch in one compiled call.

Keras' `fit` slices every batch out of host numpy arrays, copies it to the device and comes back to Python
after every step; per-step callbacks (the progress bar, `TerminateOnNaN`) then wait for that step to finish
before the next one is dispatched, so the accelerator idles for the host's share of every step. Here the
uint8 images and the labels are copied to the device once; an epoch is a `jax.lax.scan` of Keras' own
stateless `train_step` (its loss, metrics, optimizer, loss scaling and augmentation layers) over the
batches of a shuffled index array, compiled ahead of time, with the train state donated so that XLA
updates weights in place.

Used by `zoo.train` when the recipe's `loop` resolves to "device"::

    epochs = DeviceEpochs(model, x_train, y_onehot, batch_size=512)   # compiles; `epochs.compile_seconds`
    logs = epochs.run(np.random.permutation(len(x_train))[: epochs.steps * 512].reshape(epochs.steps, 512))

>>> available() == (keras.backend.backend() == "jax")
True
"""

from __future__ import annotations

import time

import keras
import numpy as np


def available() -> bool:
    """The device loop runs on the JAX backend only."""
    return keras.backend.backend() == "jax"


def fits(nbytes: int, *, share: float = 0.25) -> bool:
    """Whether `nbytes` of training data may live on the device: at most `share` of its memory (the rest is
    for weights, activations and XLA's workspace), or 4 GiB where the device does not report its memory."""
    import jax

    try:
        limit = (jax.devices()[0].memory_stats() or {}).get("bytes_limit")
    except Exception:  # some platforms do not implement memory_stats
        limit = None
    return nbytes <= (share * limit if limit else 4 * 2**30)


class DeviceEpochs:
    """One compiled call trains `order.shape[0]` steps; `order[i]` holds the row indices of batch i.

    The model must be compiled (optimizer, loss, metrics). Construction builds the model's metrics and
    optimizer state, copies `x` and `y` to the device and compiles the epoch function for index arrays of
    shape `(steps, batch_size)` (`steps` defaults to `len(y) // batch_size`); `compile_seconds` is that
    setup (tracing, compilation, the copy to the device), no step is run. `run(order)` trains, writes the new state back into the model's
    variables (so `evaluate`, `predict` and `save` see it) and returns the epoch's logs as floats, which
    waits for the device: the call's wall time is the epoch's training time.
    """

    def __init__(self, model: keras.Model, x, y, *, batch_size: int, steps: int | None = None):
        import jax
        import jax.numpy as jnp

        if not available():
            raise RuntimeError(f"the device loop needs the JAX backend, not {keras.backend.backend()}")
        self.model = model
        self.batch_size = batch_size
        self.examples = len(y)
        self.steps = steps if steps is not None else len(y) // batch_size
        if self.steps < 1:
            raise ValueError(f"{len(y)} examples make no full batch of {batch_size}")
        start = time.perf_counter()
        _build_state(model, x[:batch_size], y[:batch_size])
        self._x = jax.device_put(np.asarray(x))
        self._y = jax.device_put(np.asarray(y))

        def epoch(state, images, labels, order):
            def step(state, rows):
                batch = (jnp.take(images, rows, axis=0), jnp.take(labels, rows, axis=0))
                logs, state = model.train_step(state, batch)
                return state, logs

            state, logs = jax.lax.scan(step, state, order)
            return state, jax.tree_util.tree_map(lambda values: values[-1], logs)

        order_shape = jax.ShapeDtypeStruct((self.steps, batch_size), jnp.int32)
        self._epoch = jax.jit(epoch, donate_argnums=0).lower(self._state(), self._x, self._y, order_shape).compile()
        self.compile_seconds = time.perf_counter() - start

    def _variables(self) -> list[list]:
        model = self.model
        return [model.trainable_variables, model.non_trainable_variables, model.optimizer.variables,
                model.metrics_variables]

    def _state(self) -> tuple:
        return tuple([v.value for v in group] for group in self._variables())

    def run(self, order) -> dict[str, float]:
        """Train on the batches `order` (int array, shape `(steps, batch_size)`); return the metrics as floats."""
        order = np.asarray(order, dtype="int32")
        if order.shape != (self.steps, self.batch_size):
            raise ValueError(f"order must have shape {(self.steps, self.batch_size)}, got {order.shape}")
        self.model.reset_metrics()
        state, logs = self._epoch(self._state(), self._x, self._y, order)
        for group, values in zip(self._variables(), state):
            for variable, value in zip(group, values):
                variable.assign(value)
        return {name: float(value) for name, value in logs.items()}


def _build_state(model: keras.Model, x, y) -> None:
    """Create the metrics', loss tracker's and optimizer's variables before tracing, as `fit` does first
    (Keras' `_symbolic_build`, in every Keras 3 trainer, traces the model symbolically without running it)."""
    model._symbolic_build(data_batch=(x, y))
    model.optimizer.build(model.trainable_variables)
