"""The ResNet family's search space for `zoo tune` (the family contract's `search`, `zoo.models.family`): the
knobs the source articles differ in, as data, and the spec fields a trial's values stand for.

>>> from zoo.models.registry import get_spec
>>> base = get_spec("resnet18_cifar10_tf2")
>>> changes = spec_changes(base, {"stem": "7x7/2", "stem_pool": "3/2", "depth": "34", "width": 0.5})
>>> (changes["stem_kernel"], changes["stem_stride"], changes["stem_pool_size"], changes["depths"], changes["widths"])
(7, 2, 3, (3, 4, 6, 3), (32, 64, 128, 256))
"""

from __future__ import annotations

from zoo.errors import ZooError
from zoo.models.resnet.spec import ResNetSpec

STEMS = {"3x3/1 same": (3, 1, "same"), "3x3/1 valid": (3, 1, "valid"), "7x7/2": (7, 2, "same")}
POOLS = {"none": None, "2/1": (2, 1), "2/2": (2, 2), "3/2": (3, 2)}
HEADS = ("gap", "flatten_dense")
DEPTHS_4_STAGES = {"18": (2, 2, 2, 2), "34": (3, 4, 6, 3)}
# Xie et al. 2017, table 2: ResNeXt-50 settings of about the same cost (groups x channels per group)
CARDINALITIES = {"1x64d": (1, 64), "2x40d": (2, 40), "4x24d": (4, 24), "8x14d": (8, 14), "32x4d": (32, 4)}
ARCHITECTURE_KNOBS = ("stem", "stem_bn", "stem_pool", "shortcut", "head", "depth", "width")
DEFAULT_OFF = ("preact", "attention", "cardinality", "drop_path")  # the block options: searched only when named
KNOBS = ARCHITECTURE_KNOBS + DEFAULT_OFF + ("head_hidden",)


def default_space(base: ResNetSpec, *, grid: bool = False) -> dict[str, dict]:
    """{knob: {"kind": "choice" | "boolean" | "float", ...}}; `"when": (knob, values)` makes a knob count only
    while another has one of those values (the dense width only for the flatten head)."""
    depths = (DEPTHS_4_STAGES if len(base.depths) == 4
              else {"base": base.depths, "x2": tuple(2 * d for d in base.depths)})
    return {
        "stem": {"kind": "choice", "values": list(STEMS)},
        "stem_bn": {"kind": "boolean"},
        "stem_pool": {"kind": "choice", "values": list(POOLS)},
        "shortcut": {"kind": "choice", "values": ["conv", "conv_bn"]},
        "head": {"kind": "choice", "values": list(HEADS)},
        "head_hidden": {"kind": "choice", "values": [256, 1000], "when": ("head", ["flatten_dense"])},
        "depth": {"kind": "choice", "values": list(depths)},
        "width": {"kind": "choice", "values": [0.5, 1.0]},
        "preact": {"kind": "boolean"},
        "attention": {"kind": "choice", "values": ["none", "se"]},
        "cardinality": {"kind": "choice", "values": list(CARDINALITIES)},
        "drop_path": {"kind": "choice", "values": [0.0, 0.1, 0.2]},
    }


def check_space(base: ResNetSpec, names) -> None:
    """Refuse knobs this base cannot take, by name."""
    if "cardinality" in names and not base.is_bottleneck:
        raise ZooError(f"search knob cardinality needs a bottleneck base; {base.name} has block={base.block!r}")


def spec_changes(base: ResNetSpec, values: dict) -> dict:
    """The spec fields (for `dataclasses.replace(base, ...)`) a trial's knob values stand for; knobs not
    searched keep the base's."""
    v, changes = values, {}
    if "stem" in v:
        changes["stem_kernel"], changes["stem_stride"], changes["stem_padding"] = STEMS[v["stem"]]
    if "stem_bn" in v:
        changes["stem_bn"] = bool(v["stem_bn"])
    if "stem_pool" in v:
        pool = POOLS[v["stem_pool"]]
        changes["stem_pool"] = "none" if pool is None else "max"
        if pool:
            changes["stem_pool_size"], changes["stem_pool_stride"] = pool
    if "shortcut" in v:
        changes["shortcut"] = v["shortcut"]
    if "preact" in v:
        changes["preact"] = bool(v["preact"])
        changes["zero_init_last_bn"] = base.zero_init_last_bn and not v["preact"]
    if "attention" in v:
        changes["attention"] = v["attention"]
    if "cardinality" in v:
        changes["groups"], changes["base_width"] = CARDINALITIES[v["cardinality"]]
    if "drop_path" in v:
        changes["drop_path"] = float(v["drop_path"])
    if "head" in v:
        flatten = v["head"] == "flatten_dense"
        changes["head"] = "flatten" if flatten else "gap"
        changes["head_hidden"] = int(v.get("head_hidden") or 1000) if flatten else 0
    if "depth" in v:
        depths = DEPTHS_4_STAGES.get(v["depth"]) if len(base.depths) == 4 else None
        changes["depths"] = depths or (base.depths if v["depth"] == "base" else tuple(2 * d for d in base.depths))
    if "width" in v:
        scale = float(v["width"])
        changes["widths"] = tuple(max(1, int(round(w * scale))) for w in base.widths)
        changes["stem_filters"] = max(1, int(round(base.stem_filters * scale)))
    return changes
