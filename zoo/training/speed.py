"""Throughput measured honestly: a fixed batch, a warm-up call first, timing synchronized on the host.

>>> import numpy as np, zoo
>>> model = zoo.build("resnet_tiny")
>>> images = np.zeros((8, 32, 32, 3), "float32")
>>> inference_images_per_second(model, images, batch_size=4, min_seconds=0.01) > 0
True
"""

from __future__ import annotations

import time

import keras
import numpy as np


def fixed_batch(images: np.ndarray, batch_size: int) -> np.ndarray:
    """Exactly `batch_size` images: the first ones, repeated cyclically when there are fewer."""
    if len(images) == 0:
        raise ValueError("no images to time inference on")
    return images[np.arange(batch_size) % len(images)]


def inference_images_per_second(model: keras.Model, images: np.ndarray, *, batch_size: int = 256,
                                min_seconds: float = 1.0, min_batches: int = 2, max_batches: int = 50) -> float:
    """Images per second of `model` in inference mode on one fixed batch kept on the device.

    The first call (tracing, compilation, allocation) is not timed. Each timed call returns the
    predictions as a host array, so the clock only stops after the device has finished.
    """
    batch = keras.ops.convert_to_tensor(fixed_batch(images, batch_size))
    model.predict_on_batch(batch)  # warm-up: compile and allocate
    calls, start = 0, time.perf_counter()
    while calls < min_batches or (time.perf_counter() - start < min_seconds and calls < max_batches):
        np.asarray(model.predict_on_batch(batch))
        calls += 1
    return calls * batch_size / (time.perf_counter() - start)
