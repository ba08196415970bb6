"""Weight averaging as Keras callbacks: lookahead with a ramped decay (hlb-CIFAR10, airbench), and the
bookkeeping that scores Keras' own exponential moving average (`use_ema`) while training goes on.

Every `every` steps the callback moves a slow copy of the weights towards the trained ones,
`slow = alpha * slow + (1 - alpha) * weights`, and puts the slow copy back into the net (`weights = slow`).
`alpha = decay ** every * progress ** 3`: nothing is averaged at the start, where averaging would hold the
fast-moving weights back, and most near the end, where it smooths the last noisy steps. The batch-norm
moving statistics are averaged with the weights, so they stay consistent with them.

Why not Keras' `use_ema`: its momentum is a constant fixed when the step is traced, and with
`ema_overwrite_frequency` it pulls the weights back from the first step: on airbench94 (cifar10-jpeg,
2 epochs) that ended at 64% test top-1. Why a callback: the update is a few element-wise assignments
every few steps, eager, outside the compiled step.

>>> import keras, numpy as np
>>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
>>> kernel = model.layers[0].kernel
>>> _ = kernel.assign(np.zeros((2, 1), "float32"))
>>> callback = Lookahead(every=1, decay=0.5, progress=lambda: 1.0)
>>> callback.set_model(model)
>>> callback.on_train_begin()                      # the slow copy: zeros
>>> _ = kernel.assign(np.ones((2, 1), "float32"))  # a training step moves the weights to 1
>>> callback.on_train_batch_end(0)                 # alpha = 0.5 ** 1 * 1.0 ** 3: halfway back
>>> keras.ops.convert_to_numpy(kernel).ravel().tolist()
[0.5, 0.5]
"""

from __future__ import annotations

from typing import Callable

import keras


def averaged_variables(model: keras.Model) -> list:
    """What lookahead averages: the trainable weights and the batch norms' moving statistics (not the frozen
    whitening kernel, nor the augmentation layers' random-seed states)."""
    moving = [w for w in model.non_trainable_weights if w.path.rsplit("/", 1)[-1] in ("moving_mean", "moving_variance")]
    return [*model.trainable_weights, *moving]


class Lookahead(keras.callbacks.Callback):
    """Average the weights every `every` steps with `alpha = decay ** every * progress() ** 3` (see module).

    `progress` returns the fraction of the run done (0..1). The slow copy lives across `fit` calls (the
    zoo calls `fit` once per epoch)."""

    def __init__(self, *, every: int, decay: float = 0.95, progress: Callable[[], float]):
        super().__init__()
        self.every, self.decay, self.progress = every, decay, progress
        self.steps, self.slow, self._variables = 0, None, None

    def resume(self, slow: list, steps: int) -> None:
        """Continue from a checkpoint (`zoo.training.checkpoint`): its average and step count."""
        self.slow, self.steps = [a.copy() for a in slow], steps

    def on_train_begin(self, logs=None):
        self._variables = averaged_variables(self.model)
        if self.slow is None:
            self.slow = [keras.ops.convert_to_numpy(v).copy() for v in self._variables]

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.steps % self.every:
            return
        alpha = self.decay ** self.every * min(max(self.progress(), 0.0), 1.0) ** 3
        # Reading `self.model` on JAX writes the training state back into the variables (they are empty
        # while fit runs) and makes the next step read them again, the averaged values included.
        _ = self.model
        for i, variable in enumerate(self._variables):
            current = keras.ops.convert_to_numpy(variable)
            self.slow[i] = alpha * self.slow[i] + (1.0 - alpha) * current
            variable.assign(self.slow[i].astype(current.dtype))


class EmaWeights(keras.callbacks.Callback):
    """Score with the optimizer's exponential moving average of the weights (Keras' `use_ema`, the recipe's
    `ema` momentum) and train on the trained weights.

    Keras keeps the average in the optimizer and writes it into the model when `fit` ends
    (`finalize_variable_values`). The zoo calls `fit` once per epoch, so without this callback every epoch
    would go on training from the average. It puts the average in as each epoch's validation begins (at
    the epoch's end when there is none), keeps the trained weights aside (`trained`), and puts them back
    as the next epoch's `fit` begins: validation, the per-epoch test scores, the final scores and the saved
    model see the average; the steps see the trained weights. The batch norms' moving statistics are not
    averaged (Keras averages the trainable weights); `precise_bn` re-estimates them for the average.

    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
    >>> model.compile(keras.optimizers.SGD(0.5, use_ema=True, ema_momentum=0.5), "mse")
    >>> callback = EmaWeights()
    >>> history = model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=2, batch_size=2, verbose=0, callbacks=[callback])
    >>> trained = callback.trained[0].ravel()     # kept aside; the model holds the average
    >>> bool(np.abs(keras.ops.convert_to_numpy(model.layers[0].kernel).ravel() - trained).max() > 0)
    True
    """

    def __init__(self):
        super().__init__()
        self.trained = None  # the trained weights while the average is in the model

    def on_train_begin(self, logs=None):
        if self.trained is not None:
            for variable, value in zip(self.model.trainable_weights, self.trained):
                variable.assign(value)
            self.trained = None

    def on_test_begin(self, logs=None):  # the validation inside `fit` (the callback is given to `fit` only)
        self._average_in()

    def on_epoch_end(self, epoch, logs=None):
        self._average_in()

    def _average_in(self):
        if self.trained is not None:
            return
        variables = self.model.trainable_weights  # on JAX reading `self.model` writes the training state back
        self.trained = [keras.ops.convert_to_numpy(v).copy() for v in variables]
        self.model.optimizer.finalize_variable_values(variables)
