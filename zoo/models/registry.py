"""The variant table: one name -> one spec, gathered from every family's presets
(`zoo/models/<family>/presets.py`); lookup by name or glob, with suggestions.

>>> from zoo.models.registry import get_spec, list_variants
>>> get_spec("resnet20").depths
(3, 3, 3)
>>> list_variants("resnet1*")
['resnet18', 'resnet18_cifar', 'resnet18_cifar10_d2l', 'resnet18_cifar10_tf2', 'resnet18_cifar100_tf2', 'resnet18_mnist_functional', 'resnet18d', 'resnet101', 'resnet110', 'resnet152']
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import replace

from zoo.errors import SpecError, UnknownVariantError, close_matches, did_you_mean
from zoo.models.checks import check_field_names, read_json
from zoo.models import regnet, resnet
from zoo.models.family import Family

#: Every family (`zoo.models.family`), by its JSON tag: a new family is its folder and one entry here.
FAMILIES: dict[str, Family] = {family.name: family for family in (resnet.FAMILY, regnet.FAMILY)}
SPEC_TYPES = tuple(family.spec_type for family in FAMILIES.values())


def _gather() -> dict:
    variants: dict = {}
    for family in FAMILIES.values():
        clash = sorted(set(variants) & set(family.presets))
        if clash:
            raise SpecError(f"family {family.name} registers names already taken: {', '.join(clash)}")
        variants.update(family.presets)
    return variants


VARIANTS: dict = _gather()


def family_of(spec) -> Family:
    """The family a spec (or a registered name) belongs to."""
    if isinstance(spec, str):
        spec = get_spec(spec)
    for family in FAMILIES.values():
        if isinstance(spec, family.spec_type):
            return family
    raise SpecError(f"expected a variant name or a spec of a registered family "
                    f"({', '.join(FAMILIES)}), got {type(spec).__name__}")


def spec_from_dict(data):
    """A spec from its JSON object, by its `family` tag (specs written before the tag: `resnet`)."""
    if not isinstance(data, dict):
        raise SpecError(f"a spec must be a JSON object, got {type(data).__name__}")
    tag = data.get("family", "resnet")
    if tag not in FAMILIES:
        hint = did_you_mean(str(tag), FAMILIES)
        raise SpecError(f"spec family {tag!r} is not one of {', '.join(FAMILIES)}" + (f" ({hint})" if hint else ""))
    return FAMILIES[tag].spec_type.from_dict(data)


def spec_from_json(text: str):
    """A spec from JSON text (any family; see `spec_from_dict`)."""
    return spec_from_dict(read_json(text))


def natural_key(name: str):
    """Sort key that orders embedded numbers numerically: resnet20 < resnet32 < resnet110."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def list_variants(pattern: str | None = None) -> list[str]:
    """Registered names in natural order, optionally filtered by a glob (`"resnet*_cifar"`)."""
    names = sorted(VARIANTS, key=natural_key)
    if pattern:
        names = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
    return names


def suggest(name: str, limit: int = 5) -> list[str]:
    """Registered names closest to `name` (spelling first, then names containing it)."""
    return close_matches(name, list_variants(), limit)


def get_spec(name: str):
    """The registered spec called `name`; `UnknownVariantError` with suggestions otherwise."""
    try:
        return VARIANTS[name]
    except (KeyError, TypeError):
        close = suggest(str(name))
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownVariantError(
            f"unknown variant {name!r}{hint} (`zoo list` shows all {len(VARIANTS)} names)"
        ) from None


def resolve_spec(name_or_spec, *, input_shape=None, num_classes=None, **overrides):
    """The spec `build` would build: a registry name or a spec (of any family), with overrides applied and
    validated."""
    if isinstance(name_or_spec, SPEC_TYPES):
        spec = name_or_spec
    elif isinstance(name_or_spec, str):
        spec = get_spec(name_or_spec)
    else:
        raise SpecError(f"expected a variant name or a spec ({', '.join(t.__name__ for t in SPEC_TYPES)}), "
                        f"got {type(name_or_spec).__name__}")
    if input_shape is not None:
        overrides["input_shape"] = input_shape
    if num_classes is not None:
        overrides["num_classes"] = num_classes
    check_field_names(type(spec), overrides)
    return replace(spec, **overrides) if overrides else spec
