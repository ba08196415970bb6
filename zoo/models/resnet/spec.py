"""`ResNetSpec`: every architectural knob of a residual network, as one frozen, validated dataclass.

A spec is plain data. It is built into a Keras model by `zoo.build`, stored as JSON, searched over by
the tuner, and named in every row of every results table.

>>> from zoo.models.resnet.spec import ResNetSpec
>>> spec = ResNetSpec(input_shape=(32, 32, 3), num_classes=10, stem_kernel=3, stem_stride=1, stem_pool="none")
>>> ResNetSpec.from_json(spec.to_json()) == spec
True
>>> ResNetSpec(depths=(2, 2), widths=(64,), strides=(1, 2))
Traceback (most recent call last):
...
zoo.errors.SpecError: depths, widths and strides must have the same length (one entry per stage), got depths=(2, 2) (length 2), widths=(64,) (length 1), strides=(1, 2) (length 2)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields

from zoo.errors import SpecError
from zoo.models.checks import SpecJson, boolean as _bool, check_common, choice as _choice, fail as _fail
from zoo.models.checks import check_field_names as _check_field_names
from zoo.models.checks import fraction as _fraction, int_tuple as _int_tuple, integer as _int

FAMILY = "resnet"  # the `family` tag of its JSON
BLOCKS = ("basic", "bottleneck", "plain")
#: How a stage begins: its first block (strided), or a 3x3 conv then a max-pool by the stage's stride, with
#: BN-act after the conv (Page's ResNet-9) or after the pool (airbench: a quarter of the BN work).
STAGE_ENTRIES = ("block", "conv_bn_pool", "conv_pool_bn")
#: Block names of specs saved before `preact` became a flag; they still load (`preact_basic` ->
#: `block="basic", preact=True`).
LEGACY_BLOCKS = {"preact_basic": "basic", "preact_bottleneck": "bottleneck"}
ATTENTIONS = ("none", "se")
SHORTCUTS = ("conv", "conv_bn", "identity_pad", "avg_down")
SHORTCUT_WHEN = ("stride", "stride_or_channels")
HEADS = ("gap", "gmp", "flatten")
HEAD_ACTIVATIONS = ("linear", "softmax")
PADDINGS = ("same", "valid")
POOLS = ("none", "max", "avg")
ACTIVATIONS = (
    "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu", "swish", "mish",
    "hard_silu", "tanh", "sigmoid", "linear",
)
INITIALIZERS = (
    "he_normal", "he_uniform", "glorot_normal", "glorot_uniform", "lecun_normal", "lecun_uniform", "dirac",
)
BLOCK_KERNEL = 3  # every residual-branch spatial conv is 3x3, as in all published ResNets


@dataclass(frozen=True)
class ResNetSpec(SpecJson):
    """Every knob of a residual network. Defaults describe torchvision's ImageNet ResNet-18.

    Stem: one conv (`stem_kernel`/`stem_stride`/`stem_padding`, `stem_filters` channels), or with
    `stem_deep` three 3x3-style convs (filters/2, filters/2, filters; stride on the first), optional
    BN, activation (`"linear"` for none), then an optional pool.
    Body: `len(depths)` stages; stage i has `depths[i]` blocks of kind `block` with `widths[i]` channels
    (times `bottleneck_expansion` at the output of bottleneck blocks); its first block has stride
    `strides[i]`. Options that compose with either block (timm's way, not a block kind per combination):
    `preact` (BN-act before each conv, He et al. 2016); grouped 3x3 convolutions in bottlenecks (`groups`
    of `base_width` channels per 64 of `widths[i]`: ResNeXt 32x4d is `groups=32, base_width=4`, Wide
    ResNet-50-2 is `base_width=128`); `attention="se"` (squeeze-and-excitation on the branch's output,
    `channels // se_reduction` hidden units, Hu et al. 2018); `drop_path` (stochastic depth: the branch of
    each sample is dropped with a rate growing linearly from 0 at the first block to `drop_path` at the
    last, Huang et al. 2016).
    `block="plain"` is one conv-BN-act without a shortcut (VGG's unit; airbench's second conv of a stage).
    `act_before_add` moves a basic block's last activation into the branch, so the sum is not activated
    (Page's ResNet-9: `x + act(bn(conv(act(bn(conv(x))))))`).
    `stage_entry` other than `"block"`: each stage enters through a 3x3 conv to its width and a max-pool by
    its stride (`conv_bn_pool`: conv-BN-act-pool, Page; `conv_pool_bn`: conv-pool-BN-act, airbench), then
    runs its `depths[i]` blocks at stride 1 (0 is allowed: the entry alone).
    Shortcut: identity unless the block changes resolution (or, with `shortcut_when="stride_or_channels"`,
    channels); then `shortcut` decides: `conv` (1x1), `conv_bn` (1x1 + BN), `identity_pad`
    (subsample + zero channels, He et al. option A) or `avg_down` (avg-pool, 1x1 conv, BN; ResNet-D).
    Head: `gap`/`gmp` global pooling or `flatten`, optional `head_hidden` dense layer, optional dropout,
    then `num_classes` outputs (a bias unless `head_bias=False`, times `head_scale`: Page's 0.125, airbench's 1/9)
    as logits (`head_activation="linear"`) or probabilities (`"softmax"`).
    """

    FAMILY_TAG = FAMILY
    UNTAGGED_OK = True  # specs written before the tag

    name: str = "resnet"
    input_shape: tuple[int, int, int] = (224, 224, 3)
    num_classes: int = 1000
    # stem
    stem_filters: int = 64
    stem_kernel: int = 7
    stem_stride: int = 2
    stem_padding: str = "same"
    stem_deep: bool = False
    stem_bn: bool = True
    stem_activation: str = "relu"
    stem_pool: str = "max"
    stem_pool_size: int = 3
    stem_pool_stride: int = 2
    stem_pool_padding: str = "same"
    # body
    block: str = "basic"
    depths: tuple[int, ...] = (2, 2, 2, 2)
    widths: tuple[int, ...] = (64, 128, 256, 512)
    strides: tuple[int, ...] = (1, 2, 2, 2)
    bottleneck_expansion: int = 4
    stride_in_1x1: bool = False
    preact: bool = False
    groups: int = 1
    base_width: int = 64
    attention: str = "none"
    se_reduction: int = 16
    drop_path: float = 0.0
    activation: str = "relu"
    block_dropout: float = 0.0
    act_before_add: bool = False
    stage_entry: str = "block"
    # shortcut
    shortcut: str = "conv_bn"
    shortcut_when: str = "stride_or_channels"
    shortcut_padding: str = "same"
    # convolutions and normalization
    conv_bias: bool = False
    kernel_initializer: str = "he_normal"
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5
    bn_scale: bool = True          # False: BN without a learned scale (gamma frozen at 1, airbench)
    zero_init_last_bn: bool = False
    # head
    head: str = "gap"
    head_hidden: int = 0
    head_dropout: float = 0.0
    head_activation: str = "linear"
    head_bias: bool = True
    head_scale: float = 1.0
    source: str = dataclasses.field(default="", compare=False)

    def __post_init__(self) -> None:
        self.lists_to_tuples("input_shape", "depths", "widths", "strides")
        if self.block in LEGACY_BLOCKS:  # a spec saved before `preact` was a flag
            object.__setattr__(self, "preact", True)
            object.__setattr__(self, "block", LEGACY_BLOCKS[self.block])
        _validate(self)

    # -- derived facts ------------------------------------------------------------------------
    @property
    def is_preact(self) -> bool:
        """True for pre-activation blocks (BN-act before each conv; a final BN-act before the head)."""
        return self.preact

    @property
    def is_bottleneck(self) -> bool:
        return self.block == "bottleneck"

    def branch_width(self, out_channels: int) -> int:
        """Channels inside a bottleneck branch whose output has `out_channels`: torchvision's
        `int(planes * base_width / 64) * groups` (planes = out_channels / bottleneck_expansion)."""
        return out_channels // self.bottleneck_expansion * self.base_width // 64 * self.groups

    def se_channels(self, channels: int) -> int:
        """Hidden units of a squeeze-and-excitation module on `channels` channels."""
        return max(1, channels // self.se_reduction)

    @property
    def stage_channels(self) -> tuple[int, ...]:
        """Output channels of each stage."""
        factor = self.bottleneck_expansion if self.is_bottleneck else 1
        return tuple(w * factor for w in self.widths)

    def block_plan(self):
        """Yield `(stage, block, in_channels, out_channels, stride, project)` for every block, 1-based.

        `project` is True when the shortcut is not a plain identity.
        """
        channels = self.stem_filters
        for stage, (depth, out_channels, stride) in enumerate(
            zip(self.depths, self.stage_channels, self.strides), start=1
        ):
            if self.stage_entry != "block":  # the entry conv and pool did the stride and the channels
                channels, stride = out_channels, 1
            for block in range(1, depth + 1):
                s = stride if block == 1 else 1
                project = self.block != "plain" and (
                    s != 1 or (self.shortcut_when == "stride_or_channels" and channels != out_channels))
                yield stage, block, channels, out_channels, s, project
                channels = out_channels

    def approx_params(self) -> int:
        """The weights of the convolutions and dense layers, counted from the spec without building it
        (batch norm and biases left out: within a few percent of the real count). Lets `build` refuse a
        network too big for memory before Keras allocates it."""
        c_in, k = self.input_shape[2], self.stem_kernel
        total = (k * k * c_in * self.stem_filters // 2 + 9 * self.stem_filters // 2 * self.stem_filters // 2
                 + 9 * self.stem_filters // 2 * self.stem_filters) if self.stem_deep else k * k * c_in * self.stem_filters
        channels = self.stem_filters
        for cout in self.stage_channels if self.stage_entry != "block" else ():
            total += 9 * channels * cout
            channels = cout
        for _, _, cin, cout, _, project in self.block_plan():
            if self.block == "plain":
                total += 9 * cin * cout
            elif self.is_bottleneck:
                width = self.branch_width(cout)
                total += cin * width + 9 * width * width // self.groups + width * cout
            else:
                total += 9 * cin * cout + 9 * cout * cout
            total += 2 * cout * self.se_channels(cout) if self.attention == "se" else 0
            total += cin * cout if project and self.shortcut != "identity_pad" else 0
        features = self.stage_channels[-1] if self.stage_channels else self.stem_filters
        if self.head == "flatten":
            _, height, width = self.spatial_plan()[-1]
            features *= height * width
        if self.head_hidden:
            total += features * self.head_hidden
            features = self.head_hidden
        return total + features * self.num_classes

    def spatial_plan(self) -> list[tuple[str, int, int]]:
        """`(part, height, width)` after the stem and after every stage.

        Raises `SpecError` naming the first layer that would shrink the feature map to zero size.
        """
        try:
            return _walk_sizes(self, self.input_shape[:2])
        except _Vanishes as exc:
            need = min_input_size(self)
            h, w = exc.size
            if exc.padding == "valid" and exc.kernel > min(h, w):
                why = f"smaller than its {exc.kernel}x{exc.kernel} kernel with valid padding"
            else:
                why = f"smaller than its stride {exc.stride}, so it would downsample below one pixel"
            raise SpecError(
                f"input_shape {self.input_shape!r} is too small for this network: {exc.where} receives a "
                f"{h}x{w} feature map, {why}"
                + (f"; the smallest square input this layout accepts is {need}x{need}" if need else "")
            ) from None



FIELD_NAMES = tuple(f.name for f in fields(ResNetSpec))


def check_field_names(names) -> None:
    """Raise `SpecError` for any name that is not a `ResNetSpec` field, suggesting the closest."""
    _check_field_names(ResNetSpec, names)


# -- validation (the checks every family's spec shares: zoo.models.checks) ----------------------

def _validate(spec: ResNetSpec) -> None:
    check_common(spec)
    for field in ("stem_filters", "stem_stride", "stem_pool_size", "stem_pool_stride", "bottleneck_expansion",
                  "groups", "base_width", "se_reduction"):
        _int(spec, field)
    _int(spec, "stem_kernel")
    if spec.stem_kernel % 2 == 0 and spec.stem_padding != "valid":
        _fail("stem_kernel", spec.stem_kernel,
              "must be odd with stem_padding='same' (even kernels shift 'same'-padded features; 'valid' takes any)")
    _int(spec, "head_hidden", 0)
    for field in ("stem_padding", "stem_pool_padding", "shortcut_padding"):
        _choice(spec, field, PADDINGS)
    _choice(spec, "stem_pool", POOLS)
    _choice(spec, "block", BLOCKS)
    _choice(spec, "stage_entry", STAGE_ENTRIES)
    _choice(spec, "attention", ATTENTIONS)
    _choice(spec, "shortcut", SHORTCUTS)
    _choice(spec, "shortcut_when", SHORTCUT_WHEN)
    _choice(spec, "head", HEADS)
    _choice(spec, "head_activation", HEAD_ACTIVATIONS)
    _choice(spec, "stem_activation", ACTIVATIONS)
    _choice(spec, "activation", ACTIVATIONS)
    _choice(spec, "kernel_initializer", INITIALIZERS)
    for field in ("stem_deep", "stem_bn", "stride_in_1x1", "preact", "conv_bias", "zero_init_last_bn",
                  "act_before_add", "bn_scale", "head_bias"):
        _bool(spec, field)
    _fraction(spec, "bn_momentum", 0.0, 1.0, closed_low=False)
    _fraction(spec, "bn_epsilon", 0.0, 1.0, closed_low=False)
    _fraction(spec, "block_dropout", 0.0, 1.0, closed_low=True)
    _fraction(spec, "drop_path", 0.0, 1.0, closed_low=True)
    _fraction(spec, "head_dropout", 0.0, 1.0, closed_low=True)
    _fraction(spec, "head_scale", 0.0, math.inf, closed_low=False)

    _int_tuple(spec, "depths", 0 if spec.stage_entry != "block" else 1)
    for field in ("widths", "strides"):
        _int_tuple(spec, field, 1)
    lengths = {len(spec.depths), len(spec.widths), len(spec.strides)}
    if len(lengths) != 1:
        raise SpecError(
            "depths, widths and strides must have the same length (one entry per stage), got "
            f"depths={spec.depths!r} (length {len(spec.depths)}), widths={spec.widths!r} "
            f"(length {len(spec.widths)}), strides={spec.strides!r} (length {len(spec.strides)})"
        )
    if spec.stem_deep and spec.stem_filters < 2:
        _fail("stem_filters", spec.stem_filters, "must be >= 2 with stem_deep (its first convs use half)")
    if spec.zero_init_last_bn and spec.is_preact:
        _fail("zero_init_last_bn", True, "needs a block with a final BN; pre-activation blocks (preact) have none")
    if spec.block == "plain":
        for field, plain in (("preact", False), ("attention", "none"), ("drop_path", 0.0), ("zero_init_last_bn", False)):
            if getattr(spec, field) != plain:
                _fail(field, getattr(spec, field), f"needs a residual block (with block='plain' it must be {plain!r})")
    if spec.act_before_add and (spec.block != "basic" or spec.preact):
        _fail("act_before_add", True, "applies to post-activation basic blocks (block='basic', preact=False)")
    for field, plain in (("stride_in_1x1", False), ("groups", 1), ("base_width", 64)):
        if getattr(spec, field) != plain and not spec.is_bottleneck:
            _fail(field, getattr(spec, field),
                  f"only applies to bottleneck blocks (with block={spec.block!r} it must be {plain!r})")

    for stage, block, c_in, c_out, stride, project in spec.block_plan():
        where = f"stage{stage} block{block}"
        if c_in != c_out and not project and spec.block != "plain":
            raise SpecError(
                f"shortcut_when='stride' but {where} changes channels {c_in}->{c_out} at stride 1, "
                "so its identity shortcut cannot be added; use shortcut_when='stride_or_channels'"
            )
        if spec.shortcut == "identity_pad" and project and c_out < c_in:
            raise SpecError(
                f"shortcut='identity_pad' can only add zero channels, but {where} reduces channels "
                f"{c_in}->{c_out}; use shortcut='conv_bn'"
            )
    spec.spatial_plan()


class _Vanishes(Exception):
    def __init__(self, where, size, kernel, stride, padding):
        super().__init__(where)
        self.where, self.size, self.kernel, self.stride, self.padding = where, size, kernel, stride, padding


def _downsampling_steps(spec: ResNetSpec):
    """`(part, where, kernel, stride, padding)` of every layer that can shrink the feature map."""
    convs = 3 if spec.stem_deep else 1
    for i in range(convs):
        where = f"stem conv{i + 1}" if spec.stem_deep else "the stem conv"
        yield "stem", where, spec.stem_kernel, spec.stem_stride if i == 0 else 1, spec.stem_padding
    if spec.stem_pool != "none":
        yield "stem", "the stem pool", spec.stem_pool_size, spec.stem_pool_stride, spec.stem_pool_padding
    pooled = spec.stage_entry != "block"  # an entry's max-pool floors (torch's and airbench's sizes: 31 -> 15)
    for stage, stride in enumerate(spec.strides, start=1):
        yield f"stage{stage}", f"stage{stage}", stride if pooled else 1, stride, "valid" if pooled else "same"


def _walk_sizes(spec: ResNetSpec, size) -> list[tuple[str, int, int]]:
    plan: list[tuple[str, int, int]] = []
    for part, where, kernel, stride, padding in _downsampling_steps(spec):
        if any(stride > n or (padding == "valid" and kernel > n) for n in size):
            raise _Vanishes(where, size, kernel, stride, padding)
        size = tuple(math.ceil(n / stride) if padding == "same" else (n - kernel) // stride + 1 for n in size)
        if plan and plan[-1][0] == part:
            plan[-1] = (part, *size)
        else:
            plan.append((part, *size))
    return plan


def min_input_size(spec: ResNetSpec, limit: int = 4096) -> int | None:
    """Smallest square input side (pixels) that `spec`'s layout accepts; None if none up to `limit`."""
    for side in range(1, limit + 1):
        try:
            _walk_sizes(spec, (side, side))
        except _Vanishes:
            continue
        return side
    return None
