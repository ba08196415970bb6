"""Keep TensorFlow's import-time C++ lines off the console (the command line's default; `zoo -v` shows them).

Importing TensorFlow on a machine without a GPU prints lines such as ``Could not find cuda drivers on your
machine`` and ``All log messages before absl::InitializeLog() is called are written to STDERR`` from C++,
before `TF_CPP_MIN_LOG_LEVEL` applies. `install()` adds an import hook that sends file descriptor 2 to
/dev/null while the `tensorflow` package itself is imported, and nothing else: an import error is still
raised (and printed) as usual, and every later message, TensorFlow's included, reaches stderr.
`ZOO_QUIET_BACKEND=1` in the environment installs it when this module is imported (the sweep's fork
server and the runs it starts inherit it).
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import sys

ENV = "ZOO_QUIET_BACKEND"
QUIET_PACKAGES = ("tensorflow",)


@contextlib.contextmanager
def stderr_to_devnull():
    """File descriptor 2 points at /dev/null inside the block (C and C++ writes included)."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, inner):
        self.inner = inner

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module):
        with stderr_to_devnull():
            self.inner.exec_module(module)


class _QuietFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name not in QUIET_PACKAGES:
            return None
        sys.meta_path.remove(self)  # find the real package, then stay out of the way
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def install() -> None:
    """Quiet the next import of TensorFlow in this process (no-op once it is imported), and in children."""
    os.environ[ENV] = "1"
    if not any(name in sys.modules for name in QUIET_PACKAGES) and \
            not any(isinstance(f, _QuietFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())


if os.environ.get(ENV) == "1":
    install()
