"""The RegNet family's search space for `zoo tune` (the family contract's `search`, `zoo.models.family`):
width and depth multipliers, the group width, and squeeze-excitation (RegNetX or RegNetY).

>>> from zoo.models.registry import get_spec
>>> spec_changes(get_spec("regnetx_400mf"), {"width": 0.5, "se": 0.25})["widths"]
(16, 32, 80, 208)
"""

from __future__ import annotations

from zoo.models.regnet.spec import RegNetSpec

DEFAULT_OFF: tuple[str, ...] = ()
KNOBS = ("width", "depth", "group_width", "se")


def default_space(base: RegNetSpec, *, grid: bool = False) -> dict[str, dict]:
    return {
        "width": {"kind": "choice", "values": [0.5, 1.0]},
        "depth": {"kind": "choice", "values": ["base", "x2"]},
        "group_width": {"kind": "choice", "values": [8, 16, 24]},
        "se": {"kind": "choice", "values": [0.0, 0.25]},
    }


def check_space(base: RegNetSpec, names) -> None:
    """Every RegNet takes every knob."""


def spec_changes(base: RegNetSpec, values: dict) -> dict:
    """The spec fields a trial's values stand for. Widths are scaled and rounded up to a multiple of the
    group width, so the grouped convolutions still divide them."""
    changes: dict = {}
    group = int(values.get("group_width", base.group_width))
    if "group_width" in values:
        changes["group_width"] = group
    if "width" in values or "group_width" in values:
        scale = float(values.get("width", 1.0))
        changes["widths"] = tuple(-(-max(1, round(w * scale)) // group) * group for w in base.widths)
    if "depth" in values:
        changes["depths"] = base.depths if values["depth"] == "base" else tuple(2 * d for d in base.depths)
    if "se" in values:
        changes["se_ratio"] = float(values["se"])
    return changes
