"""A `ResNetSpec` -> its functional `keras.Model`: stem, stages of residual blocks, head (`blocks`).

>>> from zoo.models.registry import get_spec
>>> assemble(get_spec("resnet_tiny")).get_layer("stage2_block1_shortcut_bn").name
'stage2_block1_shortcut_bn'
"""

from __future__ import annotations

import keras

from zoo.models.resnet import blocks
from zoo.models.resnet.spec import ResNetSpec


def assemble(spec: ResNetSpec) -> keras.Model:
    """The network `spec` describes, named after it, every layer with a stable hierarchical name."""
    inputs = keras.Input(shape=spec.input_shape, name="input")
    x = blocks.stem(inputs, spec)
    x = blocks.stages(x, spec)
    outputs = blocks.head(x, spec)
    return keras.Model(inputs, outputs, name=spec.name)
