"""Keras' Adam and AdamW with the step's scalars computed once per step instead of once per variable.

Why: Keras' `Adam.update_step` recomputes the bias corrections (two powers, a square root, a division and
their casts) and reads the learning rate for every variable it updates, about 39 graph ops a variable.
On TensorFlow every op is traced in Python and then optimized before the first step runs, so a ResNet-18
(76 variables) carried 2,967 optimizer ops in a 5,940-op training graph; here the scalars are computed
once in `apply` and each variable's update is its three moment and weight assignments (4,665 ops in all),
which shortens the first, tracing step of every run (measured in benchmarks/results/cpu-2core/README.md).
The arithmetic is Keras' own, so the updates match `keras.optimizers.Adam` to float32 rounding (tested on
every backend); `amsgrad` and gradient accumulation use Keras' update unchanged. On the torch backend
Keras swaps its own `Adam` and `AdamW` (not subclasses) for versions that update every variable in one
`torch._foreach_*` call, which the per-variable path here would lose: `for_backend` gives those there.

>>> import keras, numpy as np
>>> from zoo.training.optimizers import Adam
>>> w = keras.Variable(np.ones(3, "float32"))
>>> opt = Adam(0.1)
>>> opt.apply([keras.ops.convert_to_tensor(np.array([1.0, -1.0, 0.0], "float32"))], [w])
>>> [round(float(x), 3) for x in keras.ops.convert_to_numpy(w)]   # the first step moves each weight by lr
[0.9, 1.1, 1.0]
"""

from __future__ import annotations

import keras
from keras import ops


class _StepScalarsOnce:
    """Mixed into an Adam: `apply` computes `lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)` once for the step,
    and `update_step` uses it for every variable (Keras computes it per variable)."""

    _step_size = None   # the step's alpha while `apply` runs; None outside it

    def apply(self, grads, trainable_variables=None):
        if self.gradient_accumulation_steps or self.amsgrad:
            return super().apply(grads, trainable_variables)
        step = ops.cast(self.iterations + 1, "float32")
        correction = ops.sqrt(1.0 - ops.power(self.beta_2, step)) / (1.0 - ops.power(self.beta_1, step))
        self._step_size = ops.cast(self.learning_rate, "float32") * correction
        try:
            return super().apply(grads, trainable_variables)
        finally:
            self._step_size = None

    def update_step(self, gradient, variable, learning_rate):
        if self._step_size is None:   # called on its own, not through `apply`
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        gradient = ops.cast(gradient, dtype)
        alpha = ops.cast(self._step_size, dtype)
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
        self.assign_sub(variable, ops.divide(ops.multiply(m, alpha), ops.add(ops.sqrt(v), self.epsilon)))


@keras.saving.register_keras_serializable(package="zoo")
class Adam(_StepScalarsOnce, keras.optimizers.Adam):
    """`keras.optimizers.Adam`, same arguments and updates, fewer graph ops per step."""


@keras.saving.register_keras_serializable(package="zoo")
class AdamW(_StepScalarsOnce, keras.optimizers.AdamW):
    """`keras.optimizers.AdamW`, same arguments and updates, fewer graph ops per step."""


def for_backend(cls: type) -> type:
    """`cls` (`Adam` or `AdamW` here), or on the torch backend Keras' own class of that name, which Keras
    replaces there with its all-variables-at-once update (it does so only for its own classes).

    >>> for_backend(Adam) is (keras.optimizers.Adam if keras.backend.backend() == "torch" else Adam)
    True
    """
    return {Adam: keras.optimizers.Adam, AdamW: keras.optimizers.AdamW}[cls] if keras.backend.backend() == "torch" else cls


CUSTOM_OBJECTS = {keras.saving.get_registered_name(cls): cls for cls in (Adam, AdamW)}
"""What `keras.saving.load_model` needs to rebuild a model file saved with these optimizers."""
