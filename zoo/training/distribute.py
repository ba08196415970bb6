"""Data-parallel training of one run over the local devices, through Keras' own `keras.distribution`.

`devices=N` (a recipe knob; `zoo train --devices N`; 0 means every local device) sets a
`keras.distribution.DataParallel` over the first N devices while the run builds, trains and evaluates:
the weights are replicated, each global batch is split over the devices, and the gradients are reduced
across them by the backend (XLA's SPMD partitioner on JAX), so the run computes what the single-device
run on the same global batch computes. Keras implements the distribution API on JAX; on other backends
`devices > 1` is a clear error.

On a CPU, `XLA_FLAGS=--xla_force_host_platform_device_count=N` (set before JAX is imported) gives JAX N
CPU devices: how the tests check it without an accelerator.
"""

from __future__ import annotations

import contextlib

import keras

from zoo.errors import ZooError


def device_count(devices: int) -> int:
    """How many devices `devices` asks for (0: every local device), checked against what this process has."""
    available = keras.distribution.list_devices()
    wanted = len(available) if devices == 0 else devices
    if wanted > len(available):
        raise ZooError(f"devices={devices} but this process has {len(available)} device(s): "
                       f"{', '.join(map(str, available))}")
    return wanted


@contextlib.contextmanager
def data_parallel(devices: int, batch_size: int):
    """Inside the block, Keras distributes over `devices` local devices (0: all); yields the device count.
    One device (the default) changes nothing."""
    if devices == 1:
        yield 1
        return
    backend = keras.backend.backend()
    if backend != "jax":
        raise ZooError(f"devices={devices}: Keras' data-parallel distribution runs on the JAX backend, not {backend} "
                       "(KERAS_BACKEND=jax)")
    count = device_count(devices)
    if count == 1:
        yield 1
        return
    if batch_size % count:
        raise ZooError(f"batch_size {batch_size} does not split over {count} devices; use a multiple of {count}")
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(
        keras.distribution.DataParallel(devices=keras.distribution.list_devices()[:count]))
    try:
        yield count
    finally:
        keras.distribution.set_distribution(previous)
