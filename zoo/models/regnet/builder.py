"""A `RegNetSpec` -> its functional `keras.Model`, every layer named by part (`stem_conv`,
`stage2_block1_conv2`, `stage2_block1_shortcut_bn`, `head_fc`) as in every family.

>>> from zoo.models.registry import get_spec
>>> model = assemble(get_spec("regnety_400mf_cifar"))
>>> model.get_layer("stage1_block1_conv2").groups, model.output_shape
(6, (None, 10))
"""

from __future__ import annotations

import functools

import keras

from zoo.models.layers import BatchNormalization, Conv2D
from zoo.models.regnet.spec import RegNetSpec


def _factories(spec: RegNetSpec):
    conv = functools.partial(Conv2D, padding="same", use_bias=False, kernel_initializer="he_normal")
    norm = functools.partial(BatchNormalization, momentum=spec.bn_momentum, epsilon=spec.bn_epsilon)
    return conv, norm


def _squeeze_excite(x, spec: RegNetSpec, *, hidden: int, name: str):
    """Squeeze-excitation after the grouped conv (RegNetY): pooled features through `hidden` units (its
    count set by the block's input width), a sigmoid gate per channel."""
    channels = x.shape[-1]
    w = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_se_pool")(x)
    w = keras.layers.Dense(hidden, activation=spec.activation, name=f"{name}_se_reduce")(w)
    w = keras.layers.Dense(channels, activation="sigmoid", name=f"{name}_se_expand")(w)
    return keras.layers.Multiply(name=f"{name}_se_scale")([x, w])


def _block(x, spec: RegNetSpec, *, stage: int, cin: int, cout: int, stride: int, project: bool, name: str):
    """Residual bottleneck: 1x1 conv-BN-act, grouped 3x3 conv-BN-act (strided), [SE], 1x1 conv-BN; the
    identity or a 1x1 conv + BN shortcut; the sum activated."""
    conv, norm = _factories(spec)
    inner, groups = spec.inner_width(stage - 1), spec.groups(stage - 1)
    y = conv(inner, 1, name=f"{name}_conv1")(x)
    y = norm(name=f"{name}_bn1")(y)
    y = keras.layers.Activation(spec.activation, name=f"{name}_act1")(y)
    y = conv(inner, 3, strides=stride, groups=groups, name=f"{name}_conv2")(y)
    y = norm(name=f"{name}_bn2")(y)
    y = keras.layers.Activation(spec.activation, name=f"{name}_act2")(y)
    if spec.se_ratio:
        y = _squeeze_excite(y, spec, hidden=spec.se_channels(cin), name=name)
    y = conv(cout, 1, name=f"{name}_conv3")(y)
    y = norm(gamma_initializer="zeros" if spec.zero_init_last_bn else "ones", name=f"{name}_bn3")(y)
    if project:
        x = conv(cout, 1, strides=stride, name=f"{name}_shortcut_conv")(x)
        x = norm(name=f"{name}_shortcut_bn")(x)
    y = keras.layers.Add(name=f"{name}_add")([x, y])
    return keras.layers.Activation(spec.activation, name=f"{name}_out")(y)


def assemble(spec: RegNetSpec) -> keras.Model:
    """The network `spec` describes, named after it."""
    conv, norm = _factories(spec)
    inputs = keras.Input(shape=spec.input_shape, name="input")
    x = conv(spec.stem_width, 3, strides=spec.stem_stride, name="stem_conv")(inputs)
    x = norm(name="stem_bn")(x)
    x = keras.layers.Activation(spec.activation, name="stem_act")(x)
    for stage, block, cin, cout, stride, project in spec.block_plan():
        x = _block(x, spec, stage=stage, cin=cin, cout=cout, stride=stride, project=project,
                   name=f"stage{stage}_block{block}")
    x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
    if spec.head_dropout:
        x = keras.layers.Dropout(spec.head_dropout, name="head_dropout")(x)
    logits_dtype = "float32" if spec.head_activation == "linear" else None
    x = keras.layers.Dense(spec.num_classes, name="head_fc", dtype=logits_dtype)(x)
    if spec.head_activation == "softmax":
        x = keras.layers.Activation("softmax", dtype="float32", name="head_softmax")(x)
    return keras.Model(inputs, x, name=spec.name)
