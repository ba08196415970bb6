"""Errors that zoo raises for bad input: plain messages for people, never backend tracebacks.

>>> did_you_mean("fsat", ["fast", "budget"])
'did you mean fast?'
"""

import difflib


class ZooError(ValueError):
    """Base class of every error zoo raises for bad user input.

    The command-line interface prints these as one line and exits with status 2.
    """


class SpecError(ZooError):
    """A `ResNetSpec` field (or a combination of fields) holds an invalid value."""


class UnknownVariantError(ZooError):
    """A variant name is not in the registry; the message lists the closest names."""


class DatasetError(ZooError):
    """A dataset is missing, corrupt, or does not fit the model it is used with."""


def first_line(exc: BaseException) -> str:
    """An exception's message, first line only (its type's name when it has none), for a one-line error."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def error_text(exc: BaseException, limit: int | None = 500) -> str:
    """`TypeName: first line of the message`, at most `limit` characters (None: no limit): a row's `error` cell."""
    text = f"{type(exc).__name__}: {first_line(exc)}"
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."


def close_matches(name: str, choices, limit: int = 3) -> list[str]:
    """The choices closest to a mistyped `name`: spelling first, then choices that contain it."""
    choices = [str(c) for c in choices]
    close = difflib.get_close_matches(str(name), choices, n=limit, cutoff=0.6)
    close += [c for c in choices if name and str(name) in c and c not in close]
    return close[:limit]


def did_you_mean(name: str, choices, limit: int = 3) -> str:
    """`did you mean a, b?` for the closest choices, or "" when none is close: every unknown-name error's hint."""
    close = close_matches(name, choices, limit)
    return f"did you mean {', '.join(close)}?" if close else ""
