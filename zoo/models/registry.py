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

from zoo.errors import SpecError, UnknownVariantError, close_matches
from zoo.models.resnet.presets import PRESETS as RESNET_PRESETS
from zoo.models.resnet.spec import ResNetSpec, check_field_names

VARIANTS: dict[str, ResNetSpec] = {**RESNET_PRESETS}  # a new family: `**its_presets` here


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


def get_spec(name: str) -> ResNetSpec:
    """The registered spec called `name`; `UnknownVariantError` with suggestions otherwise."""
    try:
        return VARIANTS[name]
    except (KeyError, TypeError):
        close = suggest(str(name))
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownVariantError(
            f"unknown variant {name!r}{hint} (`zoo list` shows all {len(VARIANTS)} names)"
        ) from None


def resolve_spec(name_or_spec: str | ResNetSpec, *, input_shape=None, num_classes=None, **overrides) -> ResNetSpec:
    """The spec `build` would build: a registry name or a spec, with overrides applied and validated."""
    if isinstance(name_or_spec, ResNetSpec):
        spec = name_or_spec
    elif isinstance(name_or_spec, str):
        spec = get_spec(name_or_spec)
    else:
        raise SpecError(f"expected a variant name or a ResNetSpec, got {type(name_or_spec).__name__}")
    if input_shape is not None:
        overrides["input_shape"] = input_shape
    if num_classes is not None:
        overrides["num_classes"] = num_classes
    check_field_names(overrides)
    return replace(spec, **overrides) if overrides else spec
