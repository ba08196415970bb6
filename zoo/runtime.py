"""Process-wide choices made before the backend loads: which CPU kernels TensorFlow uses.

TensorFlow ships two sets of CPU kernels: Eigen's and oneDNN's (the library PyTorch's CPU convolutions use).
It turns oneDNN on by itself only on CPUs with AVX-512 or AMX; on an AVX2 machine it keeps Eigen, whose
convolution backward pass is the slowest part of training there (profile and before/after numbers:
benchmarks/results/cpu-2core/README.md, "Where training time goes on the CPU"). `prefer_onednn()`, run when
`zoo` is imported, asks for oneDNN on x86 unless the environment already says otherwise
(`TF_ENABLE_ONEDNN_OPTS=0` keeps Eigen). TensorFlow reads the variable once, when it is imported, so a
process that imported TensorFlow before `zoo` keeps what it had; `onednn_enabled()` says which it is.

>>> onednn_enabled() in (True, False)
True
"""

from __future__ import annotations

import functools
import os
import platform
import sys
import warnings

ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"
_DEFAULTED = "ZOO_ONEDNN_DEFAULTED"  # set beside it when the value is zoo's default, not the user's
_X86 = ("x86_64", "amd64", "i686", "x86")


def prefer_onednn() -> None:
    """Ask TensorFlow for oneDNN kernels on x86 CPUs when it is Keras' backend, unless set already or
    TensorFlow is loaded. Not for the other backends: a process on torch that also imports TensorFlow
    (keras-tuner does) hung in torch's first convolution gradient with TensorFlow's oneDNN kernels on (two
    OpenMP users in one process), and TensorFlow computes nothing there anyway; a child process on another
    backend that inherited zoo's choice from its parent drops it again."""
    from zoo.backends import configured_backend

    if "tensorflow" in sys.modules:
        return
    if configured_backend() == "tensorflow":
        if platform.machine().lower() in _X86 and ONEDNN_ENV not in os.environ:
            os.environ[ONEDNN_ENV] = "1"
            os.environ[_DEFAULTED] = "1"
    elif os.environ.pop(_DEFAULTED, None) == "1":
        os.environ.pop(ONEDNN_ENV, None)


def onednn_enabled() -> bool:
    """Whether TensorFlow in this process computes with oneDNN kernels (as it decided at import: the
    variable when set, else on only for x86 CPUs with AVX-512 or AMX)."""
    value = os.environ.get(ONEDNN_ENV)
    if value is not None:
        return value.strip().lower() in ("1", "true", "yes", "on")
    flags = _cpu_flags()
    return platform.machine().lower() in _X86 and any(f.startswith(("avx512", "amx")) for f in flags)


def _cpu_flags() -> set[str]:
    return set((cpuinfo("flags") or cpuinfo("Features") or "").split())


#: The CPU flags that decide which kernels run and how fast (oneDNN's and XLA's ISA, bfloat16 in hardware).
KERNEL_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16",
                "amx_tile", "amx_bf16", "amx_int8", "asimd", "sve", "bf16")
#: Flags that mean bfloat16 arithmetic in hardware: AVX512_BF16 (Intel Cooper Lake / Sapphire Rapids on,
#: AMD Zen 4 on), AMX (Intel Sapphire Rapids on), Arm's BF16 extension.
BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")


def cpu_features() -> str:
    """This CPU's kernel-deciding flags, space-separated in KERNEL_FLAGS order ("" where /proc/cpuinfo is
    absent): benchmark rows carry it, since one model name ("AMD EPYC") covers CPUs with and without AVX-512.

    >>> set(cpu_features().split()) <= set(KERNEL_FLAGS)
    True
    """
    flags = _cpu_flags()
    return " ".join(flag for flag in KERNEL_FLAGS if flag in flags)


def cpu_has_bfloat16(flags=None) -> bool:
    """Whether the CPU computes bfloat16 in hardware (BF16_FLAGS), where `precision="auto"` may pick it:
    this CPU, or the one whose `flags` (a set, or a row's `cpu_features` text) are given."""
    found = _cpu_flags() if flags is None else (flags.split() if isinstance(flags, str) else flags)
    return any(flag in BF16_FLAGS for flag in found)


@functools.lru_cache(maxsize=None)
def cpuinfo(field: str) -> str | None:
    """The value of the first `field` line of /proc/cpuinfo ("model name", "flags"); None where there is none."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                name, _, value = line.partition(":")
                if name.strip() == field:
                    return value.strip()
    except OSError:
        pass
    return None


def warn_if_eigen_by_accident() -> None:
    """Warn (once per process) when TensorFlow was imported before zoo on an x86 CPU where it then chose
    Eigen's slower kernels by itself: the user did not set TF_ENABLE_ONEDNN_OPTS and does not know."""
    if ("tensorflow" in sys.modules and ONEDNN_ENV not in os.environ
            and platform.machine().lower() in _X86 and not onednn_enabled()):
        warnings.warn("TensorFlow was imported before zoo and computes with its Eigen CPU kernels, which train "
                      "ResNets about 25% slower on this CPU: import zoo first, or set TF_ENABLE_ONEDNN_OPTS=1 "
                      "before starting Python", RuntimeWarning, stacklevel=3)
