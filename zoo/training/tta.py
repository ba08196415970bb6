"""Test-time augmentation: score images on mirrored and shifted copies and average the network's outputs.

Levels follow airbench (Jordan 2024): 1 averages the image and its mirror; 2 averages that with the same
pair shifted one pixel up-left and one pixel down-right (edges reflected), half the weight each, six passes
in all. On airbench's net it is worth about one epoch of training (`airbench_ablations`: 12 -> 10.8 epochs
to 94%), and it costs two or six forward passes over the test split, which a time to target includes.

>>> import numpy as np
>>> [weight for weight, _ in views(np.zeros((1, 4, 4, 3), "uint8"), 2)]
[0.25, 0.25, 0.125, 0.125, 0.125, 0.125]
"""

from __future__ import annotations

import keras
import numpy as np

LEVELS = {0: "none", 1: "mirror", 2: "mirror + 1-pixel translates"}


def _mirrored(x: np.ndarray, weight: float) -> list[tuple[float, np.ndarray]]:
    return [(weight / 2, x), (weight / 2, x[:, :, ::-1])]


def _shifted(x: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """`x` moved by (rows, cols) pixels, the uncovered edge filled by reflection (as airbench's translate)."""
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    h, w = x.shape[1:3]
    return padded[:, 1 - rows:1 - rows + h, 1 - cols:1 - cols + w]


def views(x: np.ndarray, level: int) -> list[tuple[float, np.ndarray]]:
    """(weight, images) pairs whose weighted outputs make the level's prediction; weights sum to 1."""
    if level == 0:
        return [(1.0, x)]
    if level == 1:
        return _mirrored(x, 1.0)
    return [*_mirrored(x, 0.5), *_mirrored(_shifted(x, 1, 1), 0.25), *_mirrored(_shifted(x, -1, -1), 0.25)]


def predict(model: keras.Model, x: np.ndarray, level: int, *, batch_size: int) -> np.ndarray:
    """The model's outputs on `x` (logits or probabilities, as it gives them) averaged over the level's views."""
    total = None
    for weight, images in views(x, level):
        out = weight * np.asarray(model.predict(images, batch_size=batch_size, verbose=0), dtype="float64")
        total = out if total is None else total + out
    return total


def scores(model: keras.Model, x: np.ndarray, y: np.ndarray, level: int, *, batch_size: int,
           loss: keras.losses.Loss) -> dict:
    """`evaluate`'s scores (loss, top1, and top5 with more than 5 classes) of the level's averaged outputs;
    `y` one-hot, `loss` the compiled loss (label smoothing included, as `evaluate` reports it)."""
    outputs = predict(model, x, level, batch_size=batch_size)
    labels = y.argmax(axis=1)
    ranked = np.argsort(-outputs, axis=1)
    result = {"loss": float(keras.ops.convert_to_numpy(loss(y, outputs.astype("float32")))),
              "top1": float(np.mean(ranked[:, 0] == labels))}
    if y.shape[1] > 5:
        result["top5"] = float(np.mean((ranked[:, :5] == labels[:, None]).any(axis=1)))
    return result
