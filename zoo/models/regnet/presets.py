"""The RegNet family's named variants: torchvision's RegNetX / RegNetY at 400 and 800 MFLOPs (their depths,
widths and group widths from the paper's rule with torchvision's parameters: `design`), and a CIFAR layout.

>>> PRESETS["regnety_400mf"].depths, PRESETS["regnety_400mf"].widths
((1, 3, 6, 6), (48, 104, 208, 440))
"""

from __future__ import annotations

from dataclasses import replace

from zoo.models.regnet.spec import RegNetSpec, design


def _torchvision(name: str, *, depth: int, w_0: int, w_a: float, w_m: float, group_width: int,
                 se_ratio: float = 0.0) -> RegNetSpec:
    depths, widths, group = design(depth=depth, w_0=w_0, w_a=w_a, w_m=w_m, group_width=group_width)
    kind, size = name[len("regnet")], name.split("_")[1]  # regnetx_400mf -> x, 400mf (torchvision: regnet_x_400mf)
    return RegNetSpec(name=name, depths=depths, widths=widths, group_width=group, se_ratio=se_ratio,
                      source=f"Radosavovic et al. 2020, torchvision regnet_{kind}_{size} (depth {depth}, w_0 {w_0}, "
                             f"w_a {w_a}, w_m {w_m}, group width {group_width}"
                             + (f", SE {se_ratio:g})" if se_ratio else ")"))


PRESETS: dict[str, RegNetSpec] = {
    spec.name: spec for spec in (
        _torchvision("regnetx_400mf", depth=22, w_0=24, w_a=24.48, w_m=2.54, group_width=16),
        _torchvision("regnetx_800mf", depth=16, w_0=56, w_a=35.73, w_m=2.28, group_width=16),
        _torchvision("regnety_400mf", depth=16, w_0=48, w_a=27.89, w_m=2.09, group_width=8, se_ratio=0.25),
        _torchvision("regnety_800mf", depth=14, w_0=56, w_a=38.84, w_m=2.4, group_width=16, se_ratio=0.25),
    )
}
# CIFAR (32x32): RegNetY-400MF's stages with a stride-1 stem and a stride-1 first stage, so the last stage
# works on 4x4 maps as a CIFAR ResNet's does (ImageNet's layout would reach 1x1 at 32 pixels).
PRESETS["regnety_400mf_cifar"] = replace(
    PRESETS["regnety_400mf"], name="regnety_400mf_cifar", input_shape=(32, 32, 3), num_classes=10, stem_stride=1,
    strides=(1, 2, 2, 2), source="zoo: RegNetY-400MF's stages for 32x32 CIFAR (stride-1 stem and first stage)")
