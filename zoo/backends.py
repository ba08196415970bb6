"""Which Keras backend a process will use, and the package each backend needs, known without importing
Keras (answers that need no backend stay instant; a sweep hands each run its backend by name).

>>> configured_backend() in BACKEND_PACKAGES
True
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

#: backend name -> the package it needs installed
BACKEND_PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def configured_backend() -> str:
    """The backend Keras uses in this process when it is imported, found as Keras finds it (KERAS_BACKEND,
    then the `backend` of $KERAS_HOME/keras.json or ~/.keras/keras.json, else tensorflow); the loaded
    one when Keras is imported already."""
    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    try:
        return json.loads((home / "keras.json").read_text()).get("backend") or "tensorflow"
    except (OSError, ValueError, AttributeError):
        return "tensorflow"
