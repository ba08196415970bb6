"""The `zoo` command line (and `python -m zoo ...`): one module per command, each declaring its arguments
and its handler together (`add_parser(sub)` sets `func=run`); this module assembles the parser and runs
the chosen command.

Bad input (unknown names, invalid knobs, wrong argument types) prints one `zoo: error: ...` line and exits
with status 2. Commands import Keras only when they build or train a model, so the others answer at once.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys

from zoo.backends import configured_backend
from zoo.errors import ZooError, first_line

#: The commands in the order `zoo --help` lists them: modules of this package.
COMMANDS = ("listing", "show", "recipes", "train", "bench", "tune", "throughput", "compare", "predict", "export")


def version_text() -> str:
    """`zoo 0.1.0 (Keras 3.15.1, backend tensorflow 2.21.0)`: installed versions, nothing imported."""
    from importlib.metadata import PackageNotFoundError, version

    from zoo import __version__

    def installed(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
            return "not installed"

    backend = configured_backend()
    return f"zoo {__version__} (Keras {installed('keras')}, backend {backend} {installed(backend)})"


class _Version(argparse.Action):
    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help="print zoo's, Keras' and the backend's versions")

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_text())
        parser.exit()


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: `zoo train: error: argument --epochs: invalid int value: 'x' (zoo train
    --help)` and exit status 2, like every other bad input, instead of a usage block first."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="zoo", description="Residual networks as data, built with Keras 3.")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show the backend's own C++ log lines (hidden by default)")
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"zoo.cli.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    # TensorFlow's C++ logging (CUDA probing on a CPU machine, oneDNN notices) unless -v; set before it loads
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if args.verbose else "3")
    if not args.verbose:
        from zoo.quiet import install

        install()
    try:
        return args.func(args)
    except ZooError as exc:
        print(f"zoo: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `zoo list | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (OSError, RecursionError, MemoryError) as exc:  # named for the user: a path, a limit, not a bug
        print(f"zoo: error: {_one_line(fault_text(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: what finished is saved; a rerun resumes
        print("zoo: interrupted", file=sys.stderr)
        return 130
    except Exception:  # a defect of zoo's: show it whole, and ask for a report
        import traceback

        traceback.print_exc()
        print(f"zoo: internal error in `zoo {args.command}` (a bug, not your input): please report it with the "
              "lines above and `zoo --version`", file=sys.stderr)
        return 1


def _one_line(text: str) -> str:
    """An error message on one line whatever it quotes (a file name with a newline in it)."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def fault_text(exc: BaseException) -> str:
    """One line for a fault the user can act on: an OS error with its path(s), a recursion or memory limit.

    >>> fault_text(FileNotFoundError(2, "No such file or directory", "runs/x"))
    'runs/x: No such file or directory'
    >>> fault_text(OSError(28, "No space left on device"))
    'No space left on device (disk full?)'
    """
    if isinstance(exc, RecursionError):
        return "input nested too deeply to process (Python's recursion limit): " + first_line(exc)
    if isinstance(exc, MemoryError):
        return "out of memory" + (f": {first_line(exc)}" if str(exc) else "")
    reason = exc.strerror or first_line(exc) if isinstance(exc, OSError) else first_line(exc)
    if getattr(exc, "errno", None) == errno.ENOSPC:
        reason += " (disk full?)"
    paths = [p for p in (getattr(exc, "filename", None), getattr(exc, "filename2", None)) if p]
    return f"{' -> '.join(map(str, paths))}: {reason}" if paths else reason


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
