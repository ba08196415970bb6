"""Where a number was measured: backend and versions, device, host, git commit, peak memory.

>>> env = environment()
>>> sorted(env) == sorted(ENVIRONMENT_KEYS)
True
>>> env["keras_version"] == __import__("keras").__version__
True

Nothing here imports TensorFlow, JAX or PyTorch itself: whichever backend Keras has loaded is read
from `sys.modules`, so asking costs nothing and never pulls in a second framework.
"""

from __future__ import annotations

import functools
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

import keras

from zoo.runtime import cpu_features, cpuinfo

ENVIRONMENT_KEYS = ("backend", "backend_version", "keras_version", "device", "cpu_features", "host",
                    "load_average", "python_version", "zoo_version", "git_sha")

_BACKEND_MODULE = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch", "numpy": "numpy"}


def backend_module():
    """The loaded framework module behind Keras' backend (None when it is not loaded)."""
    return sys.modules.get(_BACKEND_MODULE.get(keras.backend.backend(), ""))


def backend_version() -> str:
    module = backend_module()
    return getattr(module, "__version__", "") if module else ""


def cpu_name() -> str:
    return cpuinfo("model name") or platform.processor() or platform.machine()


def device_name() -> str:
    """The accelerator Keras computes on (`NVIDIA H100 80GB HBM3`), else `cpu: <model name>`."""
    backend, module = keras.backend.backend(), backend_module()
    try:
        if backend == "jax":
            device = module.devices()[0]
            if device.platform != "cpu":
                return str(getattr(device, "device_kind", device.platform))
        elif backend == "tensorflow":
            gpus = module.config.list_physical_devices("GPU")
            if gpus:
                return module.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
        elif backend == "torch" and module.cuda.is_available():
            return module.cuda.get_device_name(0)
    except Exception:  # a backend without device queries still runs on the CPU
        pass
    return f"cpu: {cpu_name()}"


@functools.lru_cache(maxsize=None)
def git_sha(where: str | None = None) -> str:
    """The commit of the checkout `zoo` runs from (or `where`), `+dirty` when it has local changes; '' outside git.
    `ZOO_GIT_SHA` overrides it, for a copy of the tree without its .git (a GPU machine's working copy)."""
    if os.environ.get("ZOO_GIT_SHA"):
        return os.environ["ZOO_GIT_SHA"]
    cwd = where or str(Path(__file__).resolve().parent)
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return sha + ("+dirty" if dirty else "")


def load_average() -> str | None:
    """The host's 1-, 5- and 15-minute load averages, as `uptime` prints them (None where the system has none).

    Why: a timed row measured beside other work is wrong (the same run took 3x longer on a busy 2-core
    machine). Written when the row is, after the run: a run alone on N cores shows about N; more means
    something else ran beside it, and the row's times should be measured again.

    >>> value = load_average()
    >>> value is None or len(value.split()) == 3
    True
    """
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except (AttributeError, OSError):
        return None


def environment() -> dict[str, str]:
    """The environment columns every benchmark row carries."""
    from zoo import __version__

    return {
        "backend": keras.backend.backend(),
        "backend_version": backend_version(),
        "keras_version": keras.__version__,
        "device": device_name(),
        "cpu_features": cpu_features(),
        "host": socket.gethostname(),
        "load_average": load_average(),
        "python_version": platform.python_version(),
        "zoo_version": __version__,
        "git_sha": git_sha(),
    }


def reset_peak_memory() -> None:
    """Start a fresh peak-memory window where the backend allows it (torch, TensorFlow GPU)."""
    backend, module = keras.backend.backend(), backend_module()
    try:
        if backend == "torch" and module.cuda.is_available():
            module.cuda.reset_peak_memory_stats()
        elif backend == "tensorflow" and module.config.list_physical_devices("GPU"):
            module.config.experimental.reset_memory_stats("GPU:0")
    except Exception:
        pass


def mib(count: int | None) -> float | None:
    """Bytes as MiB (None stays None): the tables' memory columns."""
    return None if count is None else count / 2**20


def peak_device_memory() -> int | None:
    """Peak bytes allocated on the accelerator, where the backend exposes it; None on CPU.

    JAX reports the process-wide peak (it cannot be reset), TensorFlow and torch the peak since
    `reset_peak_memory()`.
    """
    backend, module = keras.backend.backend(), backend_module()
    try:
        if backend == "jax":
            device = module.devices()[0]
            stats = device.memory_stats() if device.platform != "cpu" else None
            return int(stats["peak_bytes_in_use"]) if stats and "peak_bytes_in_use" in stats else None
        if backend == "tensorflow" and module.config.list_physical_devices("GPU"):
            return int(module.config.experimental.get_memory_info("GPU:0")["peak"])
        if backend == "torch" and module.cuda.is_available():
            return int(module.cuda.max_memory_allocated())
    except Exception:
        pass
    return None


def peak_host_memory() -> int | None:
    """Peak resident memory of this process in bytes (Linux/macOS), None where unknown."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)
