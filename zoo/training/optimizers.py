"""Keras' Adam and AdamW with the step's scalars computed once per step instead of once per variable.

Why: Keras' `Adam.update_step` recomputes the bias corrections (two powers, a square root, a division and
their casts) and reads the learning rate for every variable it updates, about 39 graph ops a variable.
On TensorFlow every op is traced in Python and then optimized before the first step runs, so a ResNet-18
(76 variables) carried 2,967 optimizer ops in a 5,940-op training graph; here the scalars are computed
once in `apply` and each variable's update is its three moment and weight assignments (4,665 ops in all),
which shortens the first, tracing step of every run (measured in benchmarks/results/cpu-2core/README.md).
On TensorFlow each variable's update is then one call of TensorFlow's fused Adam kernel (`_fused_adam`):
one pass over the weights instead of about ten, and fewer ops again to trace.
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

from zoo.environment import backend_module


class _StepScalarsOnce:
    """Mixed into an Adam: `apply` computes `lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)` once for the step,
    and `update_step` uses it for every variable (Keras computes it per variable)."""

    _step_size = None   # the step's alpha while `apply` runs; None outside it
    _fused = None       # (update, learning rate, beta_1^t, beta_2^t) while `apply` runs with `_fused_adam`

    def apply(self, grads, trainable_variables=None):
        if self.gradient_accumulation_steps or self.amsgrad:
            return super().apply(grads, trainable_variables)
        step = ops.cast(self.iterations + 1, "float32")
        powers = ops.power(self.beta_1, step), ops.power(self.beta_2, step)
        learning_rate = ops.cast(self.learning_rate, "float32")
        self._step_size = learning_rate * ops.sqrt(1.0 - powers[1]) / (1.0 - powers[0])
        fused = _fused_adam()
        self._fused = fused and (fused, learning_rate, *powers)
        try:
            return super().apply(grads, trainable_variables)
        finally:
            self._step_size = self._fused = None

    def update_step(self, gradient, variable, learning_rate):
        if self._step_size is None:   # called on its own, not through `apply`
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        gradient = ops.cast(gradient, dtype)
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        if self._fused:
            update, *scalars = self._fused
            return update(variable, m, v, gradient, *scalars, self.beta_1, self.beta_2, self.epsilon)
        alpha = ops.cast(self._step_size, dtype)
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
        self.assign_sub(variable, ops.divide(ops.multiply(m, alpha), ops.add(ops.sqrt(v), self.epsilon)))


def _fused_adam():
    """On TensorFlow (no tf.distribute strategy), a function applying one variable's Adam update with
    TensorFlow's fused kernel (`ResourceApplyAdam`: the moments and the weight in one pass, Keras' formula);
    None elsewhere. Keras composes the update from about ten elementwise ops, each a pass over the
    variable: on seed 002's MNIST network (11.7 M parameters, small maps) that was a third of a training
    step on a 2-core CPU (benchmarks/results/cpu-2core/README.md). TensorFlow is already loaded on this
    backend; the zoo takes the module Keras loaded instead of importing it."""
    if keras.backend.backend() != "tensorflow":
        return None
    tf = backend_module()
    if tf.distribute.has_strategy():
        return None

    def update(variable, m, v, gradient, learning_rate, beta_1_power, beta_2_power, beta_1, beta_2, epsilon):
        dtype = variable.dtype
        scalar = lambda value: ops.cast(value, dtype)  # noqa: E731
        tf.raw_ops.ResourceApplyAdam(var=variable.handle, m=m.handle, v=v.handle, beta1_power=scalar(beta_1_power),
                                     beta2_power=scalar(beta_2_power), lr=scalar(learning_rate), beta1=scalar(beta_1),
                                     beta2=scalar(beta_2), epsilon=scalar(epsilon), grad=gradient)

    return update


@keras.saving.register_keras_serializable(package="zoo")
class Adam(_StepScalarsOnce, keras.optimizers.Adam):
    """`keras.optimizers.Adam`, same arguments and updates, fewer graph ops per step."""


@keras.saving.register_keras_serializable(package="zoo")
class AdamW(_StepScalarsOnce, keras.optimizers.AdamW):
    """`keras.optimizers.AdamW`, same arguments and updates, fewer graph ops per step."""


@keras.saving.register_keras_serializable(package="zoo")
class SGD(keras.optimizers.SGD):
    """`keras.optimizers.SGD` whose batch-norm offsets (`beta`) learn at `bias_lr` times the learning rate.

    Why: airbench (Jordan 2024) trains BN biases at 64x the rate of the other weights; in its ablations that
    alone cut the epochs to 94% from 18 to 13.5. SGD's step (momentum and Nesterov included) is linear in
    the gradient, so scaling these variables' gradients by `bias_lr` is their learning rate times
    `bias_lr`, while the decoupled weight decay (`lr * weight_decay * w`) is left as it is. Keras'
    `MultiOptimizer` would hold two optimizers with two learning rates; the zoo's budget clock sets one
    rate per step (`zoo.training.budget`), which one optimizer keeps simple.

    >>> import numpy as np
    >>> beta, kernel = keras.Variable(np.zeros(1, "float32"), name="beta"), keras.Variable(np.zeros(1, "float32"))
    >>> SGD(0.1, bias_lr=64.0).apply([np.ones(1, "float32")] * 2, [beta, kernel])
    >>> [round(float(keras.ops.convert_to_numpy(v)[0]), 4) for v in (beta, kernel)]
    [-6.4, -0.1]
    """

    def __init__(self, *args, bias_lr: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.bias_lr = bias_lr

    def apply(self, grads, trainable_variables=None):
        variables = self._trainable_variables if trainable_variables is None else trainable_variables
        grads = [g * self.bias_lr if g is not None and is_norm_offset(v) else g for g, v in zip(grads, variables)]
        return super().apply(grads, trainable_variables)

    def get_config(self):
        return {**super().get_config(), "bias_lr": self.bias_lr}


def is_norm_offset(variable) -> bool:
    """True for a batch norm's offset (`.../beta`), the variable `SGD`'s `bias_lr` scales."""
    return variable.path.rsplit("/", 1)[-1] == "beta"


def for_backend(cls: type) -> type:
    """`cls` (`Adam` or `AdamW` here), or on the torch backend Keras' own class of that name, which Keras
    replaces there with its all-variables-at-once update (it does so only for its own classes).

    >>> for_backend(Adam) is (keras.optimizers.Adam if keras.backend.backend() == "torch" else Adam)
    True
    """
    return {Adam: keras.optimizers.Adam, AdamW: keras.optimizers.AdamW}[cls] if keras.backend.backend() == "torch" else cls


CUSTOM_OBJECTS = {keras.saving.get_registered_name(cls): cls for cls in (Adam, AdamW, SGD)}
"""What `keras.saving.load_model` needs to rebuild a model file saved with these optimizers."""
