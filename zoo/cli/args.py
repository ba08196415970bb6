"""Argument types and spec arguments shared by the commands: each turns text into a value or raises
`argparse.ArgumentTypeError` with the text received (one `zoo CMD: error:` line, exit status 2)."""

from __future__ import annotations

import argparse
import json
import re
from functools import partial

from zoo.errors import SpecError
from zoo.models.registry import get_spec, resolve_spec, spec_from_json


def shape(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected H,W,C integers such as 32,32,3, got {text!r}") from None


def names(kind: str, allowed=None):
    """Argument type for a comma-separated list (`tensorflow,jax`): the stripped, non-empty names, at least
    one; with `allowed`, each one of them. Errors name the kind and the text received."""
    def parse(text: str) -> list[str]:
        found = [n.strip() for n in text.split(",") if n.strip()]
        unknown = [n for n in found if allowed is not None and n not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {kind} {unknown[0]!r} (choose from {', '.join(allowed)})")
        if not found:
            raise argparse.ArgumentTypeError(f"no {kind} named in {text!r}")
        return found
    return parse


def override(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected FIELD=VALUE such as block=bottleneck, got {text!r}")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value  # bare strings need no quotes: block=bottleneck
    return key.strip(), parsed


BUDGET_UNITS = {"": 1, "s": 1, "m": 60, "min": 60, "h": 3600, "img": None, "images": None}


def budget(text: str) -> dict:
    """`--budget 10m` / `90s` / `1.5h` -> {"budget_seconds": ...}; `50000img` -> {"budget_images": 50000}."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-z]*)\s*", text.lower())
    unit = match.group(2) if match else None
    if not match or unit not in BUDGET_UNITS:
        raise argparse.ArgumentTypeError(f"expected a training budget such as 90s, 10m, 1.5h or 50000img, got {text!r}")
    value = float(match.group(1))
    if unit in ("img", "images"):
        if not value.is_integer() or value < 1:
            raise argparse.ArgumentTypeError(f"an images budget must be a whole number >= 1, got {text!r}")
        return {"budget_images": int(value)}
    seconds = value * BUDGET_UNITS[unit]
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"a time budget must be above zero, got {text!r}")
    return {"budget_seconds": seconds}


def duration(text: str) -> float:
    """`--search-budget 2h` / `30m` / `90s` -> seconds (a wall-clock duration; no images budget)."""
    try:
        spent = budget(text)
    except argparse.ArgumentTypeError as exc:
        if "above zero" in str(exc):
            raise
        spent = {}
    if "budget_seconds" not in spent:
        raise argparse.ArgumentTypeError(f"expected a duration such as 90s, 30m or 2h, got {text!r}")
    return spent["budget_seconds"]


def bounded(text: str, *, parse, low: float, strict: bool, what: str):
    """`text` parsed by `parse`, finite and at least `low` (above it when `strict`), or an error naming
    `what` was expected and the text received."""
    try:
        value = parse(text)
    except ValueError:
        value = None
    if value is None or not (low < value if strict else low <= value) or not value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def _digits(text: str) -> int:
    if not text.isdigit():
        raise ValueError(text)
    return int(text)


count = partial(bounded, parse=int, low=1, strict=False, what="a whole number >= 1")          # --max-trials
whole_number = partial(bounded, parse=_digits, low=0, strict=False, what="a whole number >= 0")  # --retries
positive = partial(bounded, parse=float, low=0, strict=True, what="a number above zero")      # --cpus-per-run
at_least_zero = partial(bounded, parse=float, low=0, strict=False, what="a number >= 0")      # --gpus-per-run
image_limit = partial(bounded, parse=int, low=2, strict=False,
                      what="a whole number of images >= 2 (one to train, one to test)")      # --limit


def fraction(text: str) -> float:
    """A test top-1 target as a fraction in [0, 1] (`0.94`); `94` (percent) or `nan` is an error."""
    value = bounded(text, parse=float, low=0, strict=False, what="a top-1 fraction in [0, 1] such as 0.94")
    if value > 1:
        raise argparse.ArgumentTypeError(f"expected a top-1 fraction in [0, 1] such as 0.94, got {text!r} "
                                         "(a percentage? divide by 100)")
    return value


def add_spec_args(p) -> None:
    p.add_argument("name", nargs="?", help="variant name (see `zoo list`)")
    p.add_argument("--spec", metavar="FILE", help="a spec JSON file (as written by --json or `zoo tune`)")
    p.add_argument("--input-shape", type=shape, metavar="H,W,C", help="override the input shape")
    p.add_argument("--num-classes", type=int, metavar="N", help="override the number of classes")
    p.add_argument("--set", type=override, action="append", metavar="FIELD=VALUE",
                   help="override any spec field, e.g. --set block=bottleneck --set 'depths=[1,1,1,1]'")


def spec_from_args(args):
    if args.spec:
        from zoo.files import read_text_file

        base = spec_from_json(read_text_file(args.spec, "spec file"))
    elif args.name:
        base = get_spec(args.name)
    else:
        raise SpecError("give a variant NAME or --spec FILE")
    overrides = dict(args.set or [])
    if args.input_shape is not None:
        overrides["input_shape"] = args.input_shape
    if args.num_classes is not None:
        overrides["num_classes"] = args.num_classes
    return resolve_spec(base, **overrides)
