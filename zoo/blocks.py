"""Small functional builders: stem, residual blocks, shortcuts, head. Each is `(x, spec, *, ...) -> tensor`.

Every layer gets a stable hierarchical name (`stem_conv`, `stage2_block1_conv1`,
`stage2_block1_shortcut_bn`, `head_fc`), so weights, summaries and tables can refer to it.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import keras

from zoo.layers import ChannelPad, Conv2D
from zoo.spec import BLOCK_KERNEL, ResNetSpec


class Factories(NamedTuple):
    """Layer constructors configured once per spec."""

    conv: Callable[..., keras.layers.Layer]
    norm: Callable[..., keras.layers.Layer]
    act: Callable[..., keras.layers.Layer]


@functools.lru_cache(maxsize=64)
def factories(spec: ResNetSpec) -> Factories:
    """Conv / BN / activation constructors carrying the spec's bias, initializer and BN settings."""
    return Factories(
        conv=functools.partial(
            Conv2D,
            padding="same",
            use_bias=spec.conv_bias,
            kernel_initializer=spec.kernel_initializer,
        ),
        norm=functools.partial(
            keras.layers.BatchNormalization, momentum=spec.bn_momentum, epsilon=spec.bn_epsilon
        ),
        act=functools.partial(keras.layers.Activation, spec.activation),
    )


def _last_norm(spec: ResNetSpec, name: str) -> keras.layers.Layer:
    """The BN closing a residual branch; zero-initialized gamma when the spec asks for it."""
    gamma = "zeros" if spec.zero_init_last_bn else "ones"
    return factories(spec).norm(gamma_initializer=gamma, name=name)


# -- stem -------------------------------------------------------------------------------------

def stem(x, spec: ResNetSpec, *, name: str = "stem"):
    """Conv (or three convs with `stem_deep`), optional BN and activation, optional pool."""
    f = factories(spec)
    if spec.stem_deep:
        half = spec.stem_filters // 2
        plan = [(half, spec.stem_stride, "1"), (half, 1, "2"), (spec.stem_filters, 1, "3")]
    else:
        plan = [(spec.stem_filters, spec.stem_stride, "")]
    for filters, stride, suffix in plan:
        x = f.conv(filters, spec.stem_kernel, strides=stride, padding=spec.stem_padding,
                   name=f"{name}_conv{suffix}")(x)
        if spec.stem_bn:
            x = f.norm(name=f"{name}_bn{suffix}")(x)
        if spec.stem_activation != "linear":
            x = keras.layers.Activation(spec.stem_activation, name=f"{name}_act{suffix}")(x)
    pools = {"max": keras.layers.MaxPooling2D, "avg": keras.layers.AveragePooling2D}
    if spec.stem_pool in pools:
        x = pools[spec.stem_pool](spec.stem_pool_size, strides=spec.stem_pool_stride,
                                  padding=spec.stem_pool_padding, name=f"{name}_pool")(x)
    return x


# -- shortcuts --------------------------------------------------------------------------------

def _conv_shortcut(x, spec, *, filters, stride, name, norm):
    x = factories(spec).conv(filters, 1, strides=stride, padding=spec.shortcut_padding, name=f"{name}_conv")(x)
    return factories(spec).norm(name=f"{name}_bn")(x) if norm else x


def _identity_pad_shortcut(x, spec, *, filters, stride, name):
    if stride > 1:
        x = keras.layers.MaxPooling2D(1, strides=stride, padding="same", name=f"{name}_pool")(x)
    extra = filters - x.shape[-1]
    return ChannelPad(extra, name=f"{name}_pad")(x) if extra else x


def _avg_down_shortcut(x, spec, *, filters, stride, name):
    if stride > 1:
        x = keras.layers.AveragePooling2D(stride, strides=stride, padding="same", name=f"{name}_pool")(x)
    return _conv_shortcut(x, spec, filters=filters, stride=1, name=name, norm=True)


SHORTCUT_BUILDERS = {
    "conv": functools.partial(_conv_shortcut, norm=False),
    "conv_bn": functools.partial(_conv_shortcut, norm=True),
    "identity_pad": _identity_pad_shortcut,
    "avg_down": _avg_down_shortcut,
}


def shortcut(x, spec: ResNetSpec, *, filters: int, stride: int, project: bool, name: str):
    """The block's skip path: `x` itself, or the spec's projection to `filters` channels at `stride`."""
    if not project:
        return x
    return SHORTCUT_BUILDERS[spec.shortcut](x, spec, filters=filters, stride=stride, name=f"{name}_shortcut")


# -- residual blocks --------------------------------------------------------------------------

def _dropout(x, spec, *, name):
    return keras.layers.Dropout(spec.block_dropout, name=f"{name}_dropout")(x) if spec.block_dropout else x


def _merge(y, skip, spec, *, name, activate: bool):
    y = keras.layers.Add(name=f"{name}_add")([y, skip])
    return factories(spec).act(name=f"{name}_out")(y) if activate else y


def basic_block(x, spec: ResNetSpec, *, filters: int, stride: int, project: bool, name: str):
    """conv3x3-BN-act-conv3x3-BN, plus shortcut, then act (He et al. 2015)."""
    f = factories(spec)
    skip = shortcut(x, spec, filters=filters, stride=stride, project=project, name=name)
    y = f.conv(filters, BLOCK_KERNEL, strides=stride, name=f"{name}_conv1")(x)
    y = f.act(name=f"{name}_act1")(f.norm(name=f"{name}_bn1")(y))
    y = _dropout(y, spec, name=name)
    y = f.conv(filters, BLOCK_KERNEL, name=f"{name}_conv2")(y)
    y = _last_norm(spec, f"{name}_bn2")(y)
    return _merge(y, skip, spec, name=name, activate=True)


def bottleneck_block(x, spec: ResNetSpec, *, filters: int, stride: int, project: bool, name: str):
    """conv1x1-BN-act-conv3x3-BN-act-conv1x1(x expansion)-BN, plus shortcut, then act.

    The stride sits on the 3x3 conv (torchvision's "v1.5") unless `spec.stride_in_1x1`.
    """
    f = factories(spec)
    width = filters // spec.bottleneck_expansion
    s1, s2 = (stride, 1) if spec.stride_in_1x1 else (1, stride)
    skip = shortcut(x, spec, filters=filters, stride=stride, project=project, name=name)
    y = f.conv(width, 1, strides=s1, name=f"{name}_conv1")(x)
    y = f.act(name=f"{name}_act1")(f.norm(name=f"{name}_bn1")(y))
    y = f.conv(width, BLOCK_KERNEL, strides=s2, name=f"{name}_conv2")(y)
    y = f.act(name=f"{name}_act2")(f.norm(name=f"{name}_bn2")(y))
    y = _dropout(y, spec, name=name)
    y = f.conv(filters, 1, name=f"{name}_conv3")(y)
    y = _last_norm(spec, f"{name}_bn3")(y)
    return _merge(y, skip, spec, name=name, activate=True)


def _preactivate(x, spec, *, name):
    f = factories(spec)
    return f.act(name=f"{name}_preact_act")(f.norm(name=f"{name}_preact_bn")(x))


def preact_basic_block(x, spec: ResNetSpec, *, filters: int, stride: int, project: bool, name: str):
    """BN-act-conv3x3-BN-act-conv3x3, plus shortcut; no activation after the add (He et al. 2016).

    A projecting shortcut reads the pre-activated input, an identity shortcut the raw input.
    """
    f = factories(spec)
    pre = _preactivate(x, spec, name=name)
    skip = shortcut(pre, spec, filters=filters, stride=stride, project=project, name=name)
    y = f.conv(filters, BLOCK_KERNEL, strides=stride, name=f"{name}_conv1")(pre)
    y = f.act(name=f"{name}_act1")(f.norm(name=f"{name}_bn1")(y))
    y = _dropout(y, spec, name=name)
    y = f.conv(filters, BLOCK_KERNEL, name=f"{name}_conv2")(y)
    return _merge(y, skip if project else x, spec, name=name, activate=False)


def preact_bottleneck_block(x, spec: ResNetSpec, *, filters: int, stride: int, project: bool, name: str):
    """BN-act-conv1x1-BN-act-conv3x3-BN-act-conv1x1, plus shortcut; no activation after the add."""
    f = factories(spec)
    width = filters // spec.bottleneck_expansion
    s1, s2 = (stride, 1) if spec.stride_in_1x1 else (1, stride)
    pre = _preactivate(x, spec, name=name)
    skip = shortcut(pre, spec, filters=filters, stride=stride, project=project, name=name)
    y = f.conv(width, 1, strides=s1, name=f"{name}_conv1")(pre)
    y = f.act(name=f"{name}_act1")(f.norm(name=f"{name}_bn1")(y))
    y = f.conv(width, BLOCK_KERNEL, strides=s2, name=f"{name}_conv2")(y)
    y = f.act(name=f"{name}_act2")(f.norm(name=f"{name}_bn2")(y))
    y = _dropout(y, spec, name=name)
    y = f.conv(filters, 1, name=f"{name}_conv3")(y)
    return _merge(y, skip if project else x, spec, name=name, activate=False)


BLOCK_BUILDERS = {
    "basic": basic_block,
    "bottleneck": bottleneck_block,
    "preact_basic": preact_basic_block,
    "preact_bottleneck": preact_bottleneck_block,
}


def stages(x, spec: ResNetSpec):
    """All residual stages (`stage1_block1_...`), then the final BN-act of pre-activation nets."""
    build_block = BLOCK_BUILDERS[spec.block]
    for stage, block, _, out_channels, stride, project in spec.block_plan():
        x = build_block(x, spec, filters=out_channels, stride=stride, project=project,
                        name=f"stage{stage}_block{block}")
    if spec.is_preact:
        f = factories(spec)
        x = f.act(name="post_act")(f.norm(name="post_bn")(x))
    return x


# -- head -------------------------------------------------------------------------------------

HEAD_POOLS = {  # head kind -> (layer class, layer name suffix)
    "gap": (keras.layers.GlobalAveragePooling2D, "pool"),
    "gmp": (keras.layers.GlobalMaxPooling2D, "pool"),
    "flatten": (keras.layers.Flatten, "flatten"),
}


def head(x, spec: ResNetSpec, *, name: str = "head"):
    """Pool or flatten, optional hidden dense + dropout, then `num_classes` logits or probabilities.

    The output layer computes in float32 so mixed-precision training gets float32 logits.
    """
    pool, suffix = HEAD_POOLS[spec.head]
    x = pool(name=f"{name}_{suffix}")(x)
    if spec.head_hidden:
        x = keras.layers.Dense(spec.head_hidden, activation=spec.activation, name=f"{name}_hidden")(x)
    if spec.head_dropout:
        x = keras.layers.Dropout(spec.head_dropout, name=f"{name}_dropout")(x)
    logits_dtype = "float32" if spec.head_activation == "linear" else None
    x = keras.layers.Dense(spec.num_classes, name=f"{name}_fc", dtype=logits_dtype)(x)
    if spec.head_activation == "softmax":
        x = keras.layers.Activation("softmax", dtype="float32", name=f"{name}_softmax")(x)
    return x
