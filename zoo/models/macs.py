"""Multiply-accumulates per image, read off a built model's graph (convolutions and dense layers).

Pooling, normalization, activations and additions are not counted: by convention (torchvision,
fvcore) they are a rounding error next to the convolutions.

>>> import zoo
>>> count_macs(zoo.build("resnet_tiny")) > 0
True
"""

from __future__ import annotations

import math

import keras


def _conv_macs(layer) -> int:
    out_positions = math.prod(layer.output.shape[1:-1])
    out_channels = layer.output.shape[-1]
    in_channels = layer.input.shape[-1]
    kernel = math.prod(layer.kernel_size)
    return out_positions * out_channels * kernel * in_channels // layer.groups


def _dense_macs(layer) -> int:
    positions = math.prod(layer.input.shape[1:-1])  # Dense applies per position on >2-D input
    return positions * layer.input.shape[-1] * layer.units


def layer_macs(layer) -> int:
    """MACs of one layer for one input image (0 for layers that do no multiply-accumulates)."""
    if isinstance(layer, keras.layers.Conv2D):
        return _conv_macs(layer)
    if isinstance(layer, keras.layers.Dense):
        return _dense_macs(layer)
    return 0


def count_macs(model: keras.Model) -> int:
    """Total MACs of `model` for one input image."""
    return sum(layer_macs(layer) for layer in model.layers)


def format_count(n: float) -> str:
    """Human-readable count: 1814073344 -> '1.81 G'."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:g}"
