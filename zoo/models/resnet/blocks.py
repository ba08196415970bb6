"""Small functional builders: stem, residual blocks, shortcuts, head. Each is `(x, spec, *, ...) -> tensor`.

Every layer gets a stable hierarchical name (`stem_conv`, `stage2_block1_conv1`,
`stage2_block1_shortcut_bn`, `head_fc`), so weights, summaries and tables can refer to it.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import keras

from zoo.models.layers import BatchNormalization, ChannelPad, Conv2D, PartialDirac
from zoo.models.resnet.spec import BLOCK_KERNEL, ResNetSpec


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
            kernel_initializer=PartialDirac() if spec.kernel_initializer == "dirac" else spec.kernel_initializer,
        ),
        norm=functools.partial(
            BatchNormalization, momentum=spec.bn_momentum, epsilon=spec.bn_epsilon, scale=spec.bn_scale
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


def _branch_convs(spec: ResNetSpec, *, filters: int, stride: int):
    """`(channels, kernel, stride, groups)` of the residual branch's convolutions, in order.

    Basic: two 3x3. Bottleneck: 1x1 down to `spec.branch_width`, a (grouped) 3x3, 1x1 up to `filters`; the
    stride sits on the 3x3 (torchvision's "v1.5") unless `spec.stride_in_1x1`.
    """
    if not spec.is_bottleneck:
        return [(filters, BLOCK_KERNEL, stride, 1), (filters, BLOCK_KERNEL, 1, 1)]
    width = spec.branch_width(filters)
    s1, s2 = (stride, 1) if spec.stride_in_1x1 else (1, stride)
    return [(width, 1, s1, 1), (width, BLOCK_KERNEL, s2, spec.groups), (filters, 1, 1, 1)]


def residual_branch(x, spec: ResNetSpec, *, filters: int, stride: int, name: str):
    """The branch added to the shortcut: convolutions, each followed by BN-act (post-activation) or
    preceded by them (`spec.preact`, where the input arrives pre-activated); dropout before the last conv;
    the closing BN of post-activation blocks (`zero_init_last_bn`); then attention and stochastic depth
    are applied by `residual_block`."""
    f = factories(spec)
    convs = _branch_convs(spec, filters=filters, stride=stride)
    y = x
    for i, (channels, kernel, conv_stride, groups) in enumerate(convs, start=1):
        last = i == len(convs)
        if last:
            y = _dropout(y, spec, name=name)
        y = f.conv(channels, kernel, strides=conv_stride, groups=groups, name=f"{name}_conv{i}")(y)
        if not last:
            y = f.act(name=f"{name}_act{i}")(f.norm(name=f"{name}_bn{i}")(y))
        elif not spec.preact:
            y = _last_norm(spec, f"{name}_bn{i}")(y)
            if spec.act_before_add:
                y = f.act(name=f"{name}_act{i}")(y)
    return y


def squeeze_excite(x, spec: ResNetSpec, *, name: str):
    """Squeeze-and-excitation (Hu et al. 2018): channel weights from the globally pooled features, through
    `spec.se_channels` hidden units (ReLU, biases) and a sigmoid, scale `x`."""
    channels = x.shape[-1]
    w = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_se_pool")(x)
    w = keras.layers.Dense(spec.se_channels(channels), activation="relu", name=f"{name}_se_reduce")(w)
    w = keras.layers.Dense(channels, activation="sigmoid", name=f"{name}_se_expand")(w)
    return keras.layers.Multiply(name=f"{name}_se_scale")([x, w])


ATTENTION_BUILDERS = {"se": squeeze_excite}


def drop_path(x, rate: float, *, name: str):
    """Stochastic depth: in training, drop the whole branch of a sample with probability `rate` (and scale
    the kept ones by 1 / (1 - rate)); the identity at inference. One Bernoulli draw per sample."""
    if not rate:
        return x
    return keras.layers.Dropout(rate, noise_shape=(None, 1, 1, 1), name=f"{name}_drop_path")(x)


def residual_block(x, spec: ResNetSpec, *, filters: int, stride: int, project: bool, name: str,
                   drop_rate: float = 0.0):
    """One residual block of `spec`: shortcut + branch (`residual_branch`, then attention, then stochastic
    depth at `drop_rate`), activated after the add unless pre-activation (He et al. 2015 / 2016).

    A pre-activation block's projecting shortcut reads the pre-activated input, an identity shortcut the
    raw input.
    """
    branch_in = _preactivate(x, spec, name=name) if spec.preact else x
    skip = shortcut(branch_in if project else x, spec, filters=filters, stride=stride, project=project, name=name)
    y = residual_branch(branch_in, spec, filters=filters, stride=stride, name=name)
    if spec.attention in ATTENTION_BUILDERS:
        y = ATTENTION_BUILDERS[spec.attention](y, spec, name=name)
    y = drop_path(y, drop_rate, name=name)
    return _merge(y, skip, spec, name=name, activate=not (spec.preact or spec.act_before_add))


def plain_block(x, spec: ResNetSpec, *, filters: int, stride: int, name: str):
    """`block="plain"`: one 3x3 conv-BN-act, no shortcut (dropout before the conv)."""
    f = factories(spec)
    x = f.conv(filters, BLOCK_KERNEL, strides=stride, name=f"{name}_conv1")(_dropout(x, spec, name=name))
    return f.act(name=f"{name}_act1")(f.norm(name=f"{name}_bn1")(x))


def stage_entry(x, spec: ResNetSpec, *, filters: int, stride: int, name: str):
    """A stage's way in when `spec.stage_entry` is not `"block"`: a 3x3 conv to `filters`, then a max-pool by
    `stride` (no padding: 31 -> 15, as torch's) placed before (`conv_pool_bn`) or after (`conv_bn_pool`) the BN-act."""
    f = factories(spec)
    x = f.conv(filters, BLOCK_KERNEL, name=f"{name}_conv")(x)
    pool = keras.layers.MaxPooling2D(stride, name=f"{name}_pool") if stride > 1 else None
    if pool and spec.stage_entry == "conv_pool_bn":
        x = pool(x)
    x = f.act(name=f"{name}_act")(f.norm(name=f"{name}_bn")(x))
    return pool(x) if pool and spec.stage_entry == "conv_bn_pool" else x


def _preactivate(x, spec, *, name):
    f = factories(spec)
    return f.act(name=f"{name}_preact_act")(f.norm(name=f"{name}_preact_bn")(x))


def drop_path_rates(spec: ResNetSpec) -> list[float]:
    """Each block's stochastic-depth rate: linear from 0 (first block) to `spec.drop_path` (last), as timm."""
    n = sum(spec.depths)
    return [spec.drop_path * i / max(n - 1, 1) for i in range(n)]


def stages(x, spec: ResNetSpec):
    """All stages (`stage1_entry_...` where the spec has entries, `stage1_block1_...`), then the final BN-act
    of pre-activation nets."""
    plan = list(zip(spec.block_plan(), drop_path_rates(spec)))
    for stage, (filters, stride) in enumerate(zip(spec.stage_channels, spec.strides), start=1):
        if spec.stage_entry != "block":
            x = stage_entry(x, spec, filters=filters, stride=stride, name=f"stage{stage}_entry")
        for (_, block, _, out_channels, stride, project), rate in (p for p in plan if p[0][0] == stage):
            name = f"stage{stage}_block{block}"
            if spec.block == "plain":
                x = plain_block(x, spec, filters=out_channels, stride=stride, name=name)
            else:
                x = residual_block(x, spec, filters=out_channels, stride=stride, project=project, name=name,
                                   drop_rate=rate)
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
    x = keras.layers.Dense(spec.num_classes, use_bias=spec.head_bias, name=f"{name}_fc", dtype=logits_dtype)(x)
    if spec.head_scale != 1:
        x = keras.layers.Rescaling(spec.head_scale, name=f"{name}_scale", dtype=logits_dtype)(x)
    if spec.head_activation == "softmax":
        x = keras.layers.Activation("softmax", dtype="float32", name=f"{name}_softmax")(x)
    return x
