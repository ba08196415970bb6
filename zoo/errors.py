"""Errors that zoo raises for bad input: plain messages for people, never backend tracebacks."""


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
