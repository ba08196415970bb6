"""Re-estimating batch-norm statistics after training (PreciseBN: Wu & Johnson, "Rethinking 'Batch' in
BatchNorm", 2021).

BN layers evaluate with moving averages that start at mean 0 / variance 1 and, with Keras' default momentum
of 0.99, still carry 28% of that start after 128 steps: a short (budgeted) run evaluates with statistics that
match no layer's real inputs. Averaging each layer's batch statistics over a few hundred training images,
with the trained weights, fixes that at the cost of a few forward passes.

>>> import numpy as np, keras
>>> model = keras.Sequential([keras.Input((4,)), keras.layers.BatchNormalization(name="bn")])
>>> x = np.random.default_rng(0).normal(5.0, 2.0, (256, 4)).astype("float32")
>>> reestimate_batchnorm(model, x, batch_size=64)
256
>>> bool(np.allclose(keras.ops.convert_to_numpy(model.get_layer("bn").moving_mean), x.mean(0), atol=1e-4))
True
"""

from __future__ import annotations

import keras


def batchnorm_layers(model) -> list:
    """Every BatchNormalization layer of `model`, nested models included."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found += batchnorm_layers(layer)
    return found


def reestimate_batchnorm(model, images, *, batch_size: int) -> int:
    """Set every BN layer's moving mean and variance to the average of its batch statistics over the
    whole batches of `images` (forward passes in training mode, weights unchanged); return the images used.
    Fewer images than `batch_size` make one batch of them all."""
    layers = batchnorm_layers(model)
    batch_size = min(batch_size, len(images))  # fewer images than a batch: one batch of them all
    batches = len(images) // batch_size if batch_size else 0
    if not layers or not batches:
        return 0
    momenta = [layer.momentum for layer in layers]
    try:
        for k in range(batches):
            for layer in layers:
                layer.momentum = k / (k + 1)  # a running mean: batch k gets weight 1 / (k + 1)
            model(images[k * batch_size:(k + 1) * batch_size], training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    return batches * batch_size
