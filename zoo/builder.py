"""Spec -> functional `keras.Model`.

>>> import zoo
>>> model = zoo.build("resnet_tiny", num_classes=5)
>>> model.output_shape
(None, 5)
>>> model.get_layer("stage2_block1_shortcut_bn").name
'stage2_block1_shortcut_bn'
"""

from __future__ import annotations

import keras

from zoo import blocks
from zoo.registry import resolve_spec
from zoo.spec import ResNetSpec


def build(name_or_spec: str | ResNetSpec, *, input_shape=None, num_classes=None, **overrides) -> keras.Model:
    """Build a functional Keras model from a registry name or a `ResNetSpec`.

    `input_shape`, `num_classes` and any other `ResNetSpec` field given as a keyword override the
    spec (via `dataclasses.replace`, so the result is validated like any spec). The model is named
    after the spec and every layer has a stable hierarchical name.
    """
    spec = resolve_spec(name_or_spec, input_shape=input_shape, num_classes=num_classes, **overrides)
    inputs = keras.Input(shape=spec.input_shape, name="input")
    x = blocks.stem(inputs, spec)
    x = blocks.stages(x, spec)
    outputs = blocks.head(x, spec)
    return keras.Model(inputs, outputs, name=spec.name)
