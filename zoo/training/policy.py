"""Runtime policy: what the `"auto"` knobs resolve to on this machine and backend (precision, XLA
compilation, the training loop), whether an accelerator is present, and JAX's on-disk compilation cache.
Training, throughput and tuning all decide through here, so one machine gets one answer.

>>> resolve_precision("float32"), resolve_jit_compile(False)
('float32', False)
"""

from __future__ import annotations

import os

import keras

from zoo import runtime
from zoo.errors import ZooError


def has_accelerator() -> bool:
    """True when Keras' backend sees a GPU or TPU."""
    try:
        return any(not d.lower().startswith("cpu") for d in keras.distribution.list_devices())
    except Exception:  # backends without keras.distribution support report no accelerator
        return False


#: Backends whose training `precision="auto"` runs in bfloat16 on a CPU with bfloat16 hardware
#: (runtime.cpu_has_bfloat16): where it was measured faster than float32, on an AMD EPYC with AVX512_BF16
#: (benchmarks/results/cpu-2core-avx512/README.md, "bfloat16 on this CPU"): TensorFlow 1.59x (resnet18_cifar
#: 32x32 b64) and 1.83x (resnet50 96x96 b32), torch 1.59x (resnet18_cifar). Not JAX: XLA:CPU's bfloat16
#: matrix product runs below its float32 one there (0.16 against 0.20 TFLOP/s).
BF16_CPU_BACKENDS = ("tensorflow", "torch")


def resolve_precision(precision: str) -> str:
    """`"auto"`: bfloat16 mixed precision on a GPU/TPU, and on a CPU with bfloat16 instructions for the
    backends in BF16_CPU_BACKENDS; float32 elsewhere. Any other value is kept (a flag forces either)."""
    if precision == "auto":
        bf16_cpu = runtime.cpu_has_bfloat16() and keras.backend.backend() in BF16_CPU_BACKENDS
        return "mixed_bfloat16" if has_accelerator() or bf16_cpu else "float32"
    return precision


def resolve_jit_compile(jit_compile: bool | str) -> bool:
    """`"auto"`: always on JAX (uncompiled JAX steps run eagerly), on TensorFlow only with an accelerator
    (XLA-CPU convolutions are an order of magnitude slower than oneDNN's), never on torch (torch.compile)."""
    if jit_compile != "auto":
        return bool(jit_compile)
    backend = keras.backend.backend()
    return backend == "jax" or (backend == "tensorflow" and has_accelerator())


def enable_compilation_cache() -> str | None:
    """On JAX, keep compiled programs on disk in `ZOO_CACHE_DIR/jax` (default ~/.cache/zoo/jax) unless a
    cache is configured already or `ZOO_JAX_CACHE=0`; return the folder in use. Runs that differ only in
    their seed compile the same program, so seeds after the first load it instead of compiling (what it
    saves: benchmarks/results/cpu-2core/README.md, "Measurements behind the library's choices")."""
    if keras.backend.backend() != "jax" or os.environ.get("ZOO_JAX_CACHE", "1") == "0":
        return None
    import jax

    configured = jax.config.jax_compilation_cache_dir or os.environ.get("JAX_COMPILATION_CACHE_DIR")
    if configured:
        return configured
    from zoo.data.datasets import cache_dir

    folder = cache_dir() / "jax"
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    return str(folder)


def resolve_loop(loop: str, data_bytes: int = 0, budgeted: bool = False) -> str:
    """`"auto"`: the device loop on JAX with an accelerator when the training data (`data_bytes`) takes at
    most a quarter of its memory and the run has no budget, Keras' fit otherwise. Not on a CPU: XLA:CPU
    runs convolutions inside a loop body (`lax.scan`) on a slow path, many times slower per step than the
    same step compiled alone (benchmarks/results/cpu-2core/README.md, "Measurements behind the library's choices")."""
    from zoo.training import device_loop
    if loop == "auto":
        usable = device_loop.available() and has_accelerator() and device_loop.fits(data_bytes) and not budgeted
        return "device" if usable else "keras"
    if loop == "device" and budgeted:
        raise ZooError('recipe loop "device" runs whole epochs in one call, so it cannot stop at a budget '
                       '(use loop="auto" or "keras" with budget_seconds / budget_images)')
    if loop == "device" and not device_loop.available():
        raise ZooError(f'recipe loop "device" needs the JAX backend; this process runs {keras.backend.backend()} '
                       '(set KERAS_BACKEND=jax, or loop="keras")')
    return loop
