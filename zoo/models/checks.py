"""The checks every family's spec shares: each raises a `SpecError` naming the field, why, and the value
received (`check_common` for the fields every spec has: name, input_shape, num_classes, source).

>>> from dataclasses import dataclass
>>> @dataclass
... class Spec:
...     depths: tuple = (2, 0)
>>> int_tuple(Spec(), "depths", 1)
Traceback (most recent call last):
...
zoo.errors.SpecError: depths[1] must be an integer >= 1, got 0 in depths=(2, 0)
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import fields
from typing import Any

from zoo.errors import SpecError, did_you_mean, first_line

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def fail(field: str, value: Any, why: str) -> None:
    raise SpecError(f"{field} {why}, got {value!r}")


def integer(spec, field: str, minimum: int = 1) -> None:
    value = getattr(spec, field)
    if isinstance(value, bool) or not isinstance(value, int):
        fail(field, value, "must be an integer")
    if value < minimum:
        fail(field, value, f"must be >= {minimum}")


def choice(spec, field: str, choices) -> None:
    value = getattr(spec, field)
    if value not in choices:
        fail(field, value, f"must be one of {', '.join(map(repr, choices))}")


def boolean(spec, field: str) -> None:
    value = getattr(spec, field)
    if not isinstance(value, bool):
        fail(field, value, "must be true or false")


def fraction(spec, field: str, low: float, high: float, closed_low: bool) -> None:
    value = getattr(spec, field)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        fail(field, value, "must be a number")
    ok = (value >= low if closed_low else value > low) and value < high
    if not ok:
        fail(field, value, f"must be in {'[' if closed_low else '('}{low}, {high})")


def int_tuple(spec, field: str, minimum: int) -> None:
    value = getattr(spec, field)
    if not isinstance(value, tuple) or not value:
        fail(field, value, "must be a non-empty list of integers")
    for i, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, int) or item < minimum:
            raise SpecError(f"{field}[{i}] must be an integer >= {minimum}, got {item!r} in {field}={value!r}")


def check_common(spec) -> None:
    """The fields every family's spec has: its name (it names the model, layers and files), a 3-D input
    shape, a class count and a source text."""
    if not isinstance(spec.name, str) or not NAME.fullmatch(spec.name) or ".." in spec.name:
        fail("name", spec.name, "must be 1-100 letters, digits, '_', '-' or '.' (no '/', no '..'), starting "
                                "with a letter or digit: it names the model, its layers and its files")
    shape = spec.input_shape
    if not isinstance(shape, tuple) or len(shape) != 3:
        fail("input_shape", shape, "must be 3-D (height, width, channels)")
    int_tuple(spec, "input_shape", 1)
    integer(spec, "num_classes")
    if not isinstance(spec.source, str):
        fail("source", spec.source, "must be a string")


# -- JSON: every family's spec reads and writes itself the same way -------------------------------

def check_field_names(spec_type: type, names) -> None:
    """Raise `SpecError` for any name that is not a field of `spec_type`, suggesting the closest."""
    known = [f.name for f in fields(spec_type)]
    unknown = [n for n in names if n not in known]
    if unknown:
        hints = [f"{n!r}" + (f" ({hint})" if (hint := did_you_mean(str(n), known)) else "") for n in unknown]
        raise SpecError(f"unknown {spec_type.__name__} field(s): {'; '.join(hints)}")


def as_dict(spec, family: str) -> dict[str, Any]:
    """A spec as a plain JSON-ready dict of every field (tuples become lists), tagged with its family."""
    out: dict[str, Any] = {"family": family}
    for f in fields(spec):
        value = getattr(spec, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def fields_of(spec_type: type, family: str, data, *, untagged: bool = False) -> dict[str, Any]:
    """The fields of a spec's JSON object (`as_dict`'s), checked: an object, of this family (untagged ones
    accepted when `untagged`: specs written before the tag), with known fields only."""
    if not isinstance(data, dict):
        raise SpecError(f"a spec must be a JSON object, got {type(data).__name__}")
    tag = data.get("family", family if untagged else None)
    if tag != family:
        raise SpecError(f"a {spec_type.__name__}'s JSON has \"family\": {family!r}, got {tag!r} (read specs of any "
                        "family with zoo.models.registry.spec_from_dict)")
    data = {k: v for k, v in data.items() if k != "family"}
    check_field_names(spec_type, data)
    return data


def read_json(text: str):
    """Parsed spec JSON text; a `SpecError` saying why for text that is not JSON."""
    try:
        return json.loads(text)
    except RecursionError:
        raise SpecError("spec JSON is nested too deeply to be a spec") from None
    except ValueError as exc:  # invalid JSON, or an integer of thousands of digits
        raise SpecError(f"spec JSON is not valid JSON: {first_line(exc)}") from None


class SpecJson:
    """Mixed into a family's spec dataclass: its JSON, tagged with `FAMILY_TAG` (a class attribute).
    `UNTAGGED_OK`: JSON without a tag is this family's (ResNet specs were written before the tag)."""

    FAMILY_TAG = ""
    UNTAGGED_OK = False

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of every field (tuples become lists), tagged with the family."""
        return as_dict(self, self.FAMILY_TAG)

    def to_json(self, **kwargs) -> str:
        """JSON text of the spec; `from_json` reads it back to an equal spec."""
        kwargs.setdefault("indent", 2)
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        """Spec from a dict as written by `to_dict`; unknown keys are an error naming them."""
        return cls(**fields_of(cls, cls.FAMILY_TAG, data, untagged=cls.UNTAGGED_OK))

    def lists_to_tuples(self, *names: str) -> None:
        """In `__post_init__`: JSON's lists become the tuples a frozen spec holds (and hashes)."""
        for name in names:
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))

    @classmethod
    def from_json(cls, text: str):
        """Spec from JSON text (see `to_json`)."""
        return cls.from_dict(read_json(text))
