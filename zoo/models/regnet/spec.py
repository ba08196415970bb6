"""`RegNetSpec`: a RegNet (Radosavovic et al. 2020, "Designing Network Design Spaces") as one frozen,
validated dataclass.

A RegNet is a stem (one 3x3 conv, BN, ReLU), four stages of residual bottleneck blocks (1x1 conv, grouped
3x3 conv, optional squeeze-excite, 1x1 conv; a 1x1 conv + BN shortcut where the shape changes), global
average pooling and a linear head. What differs between RegNets is the stage depths and widths, which the
paper draws from a quantized linear rule (`design`), the group width, and SE (RegNetY) or not (RegNetX).

>>> design(depth=22, w_0=24, w_a=24.48, w_m=2.54, group_width=16)   # torchvision's regnet_x_400mf
((1, 2, 7, 12), (32, 64, 160, 400), 16)
>>> RegNetSpec.from_json(RegNetSpec().to_json()) == RegNetSpec()
True
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from zoo.errors import SpecError
from zoo.models.checks import SpecJson, check_common, choice, fail, fraction, int_tuple, integer

FAMILY = "regnet"  # the `family` tag of its JSON
ACTIVATIONS = ("relu", "silu", "gelu")
HEAD_ACTIVATIONS = ("linear", "softmax")
QUANTUM = 8  # the rule's widths are multiples of 8


def _make_divisible(value: float, divisor: int) -> int:
    """The multiple of `divisor` nearest `value` (at least `divisor`), never more than 10% below it."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def design(*, depth: int, w_0: int, w_a: float, w_m: float, group_width: int,
           bottleneck_ratio: float = 1.0) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """(stage depths, stage widths, group width) of the paper's quantized linear rule: block j's width
    `w_0 + w_a * j`, snapped to `w_0 * w_m ** round(log(width / w_0) / log(w_m))` and to a multiple of 8;
    blocks of one width form a stage; widths then made divisible by the group width (at most the
    bottleneck's width). Computed in float32, as torchvision computes it, so the rounding agrees."""
    import numpy as np

    if depth < 1 or w_a < 0 or w_0 <= 0 or w_m <= 1 or w_0 % QUANTUM:
        raise SpecError(f"RegNet design needs depth >= 1, w_a >= 0, w_m > 1 and w_0 a positive multiple of "
                        f"{QUANTUM}, got depth={depth}, w_0={w_0}, w_a={w_a}, w_m={w_m}")
    continuous = np.arange(depth, dtype=np.float32) * np.float32(w_a) + np.float32(w_0)
    steps = np.round(np.log(continuous / np.float32(w_0)) / np.float32(math.log(w_m)))
    block_widths = (np.round(np.float32(w_0) * np.power(np.float32(w_m), steps) / QUANTUM) * QUANTUM).astype(int)
    widths: list[int] = []
    depths: list[int] = []
    for width in block_widths.tolist():
        if widths and widths[-1] == width:
            depths[-1] += 1
        else:
            widths.append(width)
            depths.append(1)
    inner = [int(w * bottleneck_ratio) for w in widths]
    group = min([group_width, *inner])
    widths = [int(_make_divisible(w, group) / bottleneck_ratio) for w in inner]
    return tuple(depths), tuple(widths), group


@dataclass(frozen=True)
class RegNetSpec(SpecJson):
    """Every knob of a RegNet. Defaults describe torchvision's RegNetX-400MF (ImageNet, 224x224).

    Stem: a 3x3 conv (`stem_width` channels, stride `stem_stride`), BN, activation. Body: stage i has
    `depths[i]` bottleneck blocks of `widths[i]` output channels, its first block strided by `strides[i]`;
    a block's inner width is `round(widths[i] * bottleneck_ratio)`, its 3x3 conv grouped in groups of
    `group_width` channels (at most the inner width); `se_ratio > 0` adds squeeze-excitation after the 3x3
    conv with `round(se_ratio * block input channels)` hidden units (RegNetY). The shortcut is the identity,
    or a 1x1 conv + BN where the block changes resolution or channels; the sum is activated. Head: global
    average pooling, optional dropout, `num_classes` logits (or probabilities with `head_activation`).
    """

    FAMILY_TAG = FAMILY

    name: str = "regnet"
    input_shape: tuple[int, int, int] = (224, 224, 3)
    num_classes: int = 1000
    stem_width: int = 32
    stem_stride: int = 2
    depths: tuple[int, ...] = (1, 2, 7, 12)
    widths: tuple[int, ...] = (32, 64, 160, 400)
    strides: tuple[int, ...] = (2, 2, 2, 2)
    group_width: int = 16
    bottleneck_ratio: float = 1.0
    se_ratio: float = 0.0
    activation: str = "relu"
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5
    zero_init_last_bn: bool = False
    head_dropout: float = 0.0
    head_activation: str = "linear"
    source: str = dataclasses.field(default="", compare=False)

    def __post_init__(self) -> None:
        self.lists_to_tuples("input_shape", "depths", "widths", "strides")
        _validate(self)

    # -- derived facts (the family contract: zoo.models.family) ---------------------------------
    @property
    def stage_channels(self) -> tuple[int, ...]:
        return self.widths

    def inner_width(self, stage: int) -> int:
        """Channels inside stage `stage`'s (0-based) bottlenecks."""
        return int(round(self.widths[stage] * self.bottleneck_ratio))

    def groups(self, stage: int) -> int:
        """Groups of stage `stage`'s 3x3 convolutions (the group width capped at the inner width)."""
        inner = self.inner_width(stage)
        return inner // min(self.group_width, inner)

    def se_channels(self, in_channels: int) -> int:
        return int(round(self.se_ratio * in_channels))

    def block_plan(self):
        """Yield `(stage, block, in_channels, out_channels, stride, project)` for every block, 1-based."""
        channels = self.stem_width
        for stage, (depth, width, stride) in enumerate(zip(self.depths, self.widths, self.strides), start=1):
            for block in range(1, depth + 1):
                s = stride if block == 1 else 1
                yield stage, block, channels, width, s, s != 1 or channels != width
                channels = width

    def approx_params(self) -> int:
        """Convolution and dense weights, counted from the spec (BN and biases left out)."""
        total = 9 * self.input_shape[2] * self.stem_width
        for stage, _, cin, cout, _, project in self.block_plan():
            inner = self.inner_width(stage - 1)
            total += cin * inner + 9 * inner * inner // self.groups(stage - 1) + inner * cout
            total += 2 * inner * self.se_channels(cin) if self.se_ratio else 0
            total += cin * cout if project else 0
        return total + self.widths[-1] * self.num_classes

    def spatial_plan(self) -> list[tuple[str, int, int]]:
        """`(part, height, width)` after the stem and after every stage ("same" padding: ceil of n / stride)."""
        size = self.input_shape[:2]
        plan = []
        for part, stride in (("stem", self.stem_stride), *((f"stage{i}", s) for i, s in enumerate(self.strides, 1))):
            size = tuple(math.ceil(n / stride) for n in size)
            plan.append((part, *size))
        return plan



def _validate(spec: RegNetSpec) -> None:
    check_common(spec)
    for field in ("stem_width", "stem_stride", "group_width"):
        integer(spec, field)
    int_tuple(spec, "depths", 1)
    int_tuple(spec, "widths", 1)
    int_tuple(spec, "strides", 1)
    if len({len(spec.depths), len(spec.widths), len(spec.strides)}) != 1:
        raise SpecError(f"depths, widths and strides must have the same length (one entry per stage), got "
                        f"depths={spec.depths!r}, widths={spec.widths!r}, strides={spec.strides!r}")
    fraction(spec, "bottleneck_ratio", 0.0, 16.0, closed_low=False)
    fraction(spec, "se_ratio", 0.0, 1.0, closed_low=True)
    fraction(spec, "bn_momentum", 0.0, 1.0, closed_low=False)
    fraction(spec, "bn_epsilon", 0.0, 1.0, closed_low=False)
    fraction(spec, "head_dropout", 0.0, 1.0, closed_low=True)
    choice(spec, "activation", ACTIVATIONS)
    choice(spec, "head_activation", HEAD_ACTIVATIONS)
    if not isinstance(spec.zero_init_last_bn, bool):
        fail("zero_init_last_bn", spec.zero_init_last_bn, "must be true or false")
    for stage in range(len(spec.widths)):
        inner = spec.inner_width(stage)
        if inner < 1:
            fail("bottleneck_ratio", spec.bottleneck_ratio, f"leaves stage{stage + 1} ({spec.widths[stage]} "
                                                            "channels) no inner channel")
        if inner % min(spec.group_width, inner):
            raise SpecError(f"group_width {spec.group_width} does not divide stage{stage + 1}'s inner width "
                            f"{inner} (widths[{stage}]={spec.widths[stage]} x bottleneck_ratio "
                            f"{spec.bottleneck_ratio:g}); `design` makes widths that fit")
    if spec.se_ratio and any(spec.se_channels(cin) < 1 for _, _, cin, _, _, _ in spec.block_plan()):
        fail("se_ratio", spec.se_ratio, "leaves a block's squeeze-excite no hidden unit")
    for part, height, width in spec.spatial_plan():
        if min(height, width) < 1:
            fail("input_shape", spec.input_shape, f"is too small: {part} would have no pixels")
