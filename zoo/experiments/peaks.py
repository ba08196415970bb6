"""Device peaks for MFU: NVIDIA's data sheets for known GPUs, and on a CPU a matrix product's rate measured
once per host (float32 through NumPy's BLAS; bfloat16 through Keras' backend on CPUs with bfloat16
instructions, where it runs about twice float32's rate: benchmarks/results/cpu-2core-avx512/README.md).

>>> peak_tflops("NVIDIA H100 80GB HBM3", "mixed_bfloat16")
989.0
"""

from __future__ import annotations

import json
import os
import socket
import time

#: Dense (no sparsity) tensor-core peaks in TFLOP/s from NVIDIA's data sheets; float32 means TF32 tensor cores.
PEAK_TFLOPS = {
    "H100": {"mixed_bfloat16": 989.0, "mixed_float16": 989.0, "float32": 494.0},
    "H200": {"mixed_bfloat16": 989.0, "mixed_float16": 989.0, "float32": 494.0},
    "A100": {"mixed_bfloat16": 312.0, "mixed_float16": 312.0, "float32": 156.0},
    "L4": {"mixed_bfloat16": 121.0, "mixed_float16": 121.0, "float32": 60.0},
}


def cpu_peak_tflops(*, size: int = 2048, repeats: int = 10, cache: bool = True, at_least: float = 0.0,
                    dtype: str = "float32") -> float:
    """This CPU's practical peak: the best of `repeats` `size`x`size` matrix products on every core, measured
    once per host, CPU and dtype and kept in `ZOO_CACHE_DIR/peak-<host>.json` (`peak-<host>-bfloat16-<backend>.json`).
    float32 through NumPy's BLAS; bfloat16 through Keras' backend (oneDNN's bfloat16 kernels on TensorFlow
    and torch), for CPUs that compute it in hardware, where it runs about twice float32's rate.

    A kept peak below `at_least` (a rate a measurement has just reached, so the peak was taken while the CPU
    was busy) is measured again; the file keeps the higher of the two, so a busy moment never lowers it."""
    from zoo.data.datasets import cache_dir
    from zoo.environment import cpu_name

    suffix = ""  # float32: NumPy's, whatever the backend; bfloat16: the backend's own (one file each)
    if dtype != "float32":
        import keras

        suffix = f"-{dtype}-{keras.backend.backend()}"
    path = cache_dir() / f"peak-{socket.gethostname()}{suffix}.json"
    key = f"{cpu_name()} | {os.cpu_count()} cores | {dtype} {size}{suffix}"
    saved = 0.0
    if cache:
        try:
            found = json.loads(path.read_text())
            saved = float(found["tflops"]) if found.get("key") == key else 0.0
        except (OSError, ValueError, KeyError, TypeError):
            pass
        if saved and saved >= at_least:
            return saved
    best = _best_seconds(_matrix_product(size, dtype), repeats)
    tflops = max(2 * size**3 / best / 1e12, saved)
    if cache:
        from zoo.files import write_text_atomic

        write_text_atomic(path, json.dumps({"key": key, "tflops": tflops, "measured": time.time()}))
    return tflops


def _matrix_product(size: int, dtype: str):
    """A call that computes one `size`x`size` product in `dtype` and waits for it."""
    import numpy as np

    a = np.random.default_rng(0).random((size, size), dtype=np.float32)
    if dtype == "float32":
        return lambda: a @ a
    import keras

    b = keras.ops.convert_to_tensor(a, dtype=dtype)
    # one element back (as float32: NumPy has no bfloat16 of its own): waits for the product, copies little
    return lambda: keras.ops.convert_to_numpy(keras.ops.cast(keras.ops.matmul(b, b)[0, 0], "float32"))


def peak_tflops(device: str, precision: str, achieved: float = 0.0) -> float | None:
    """The device's dense peak for the precision: a known GPU's data sheet, a CPU's measured rate (bfloat16's
    for `mixed_bfloat16` on a CPU with bfloat16 instructions, else float32's; measured again if `achieved`,
    a rate just reached, is above it: `cpu_peak_tflops`)."""
    for key, peaks in PEAK_TFLOPS.items():
        if key in device:
            return peaks.get(precision)
    if device.startswith("cpu"):
        from zoo.runtime import cpu_has_bfloat16

        dtype = "bfloat16" if precision == "mixed_bfloat16" and cpu_has_bfloat16() else "float32"
        return cpu_peak_tflops(at_least=achieved, dtype=dtype)
    return None


def _best_seconds(call, repeats: int) -> float:
    """The fastest of `repeats` timed calls, after one untimed (threads, pages)."""
    call()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best
