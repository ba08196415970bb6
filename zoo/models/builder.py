"""Name or spec -> functional `keras.Model`: resolve the spec, check it fits in memory, hand it to its
family's builder (`zoo.models.family`).

>>> import zoo
>>> model = zoo.build("resnet_tiny", num_classes=5)
>>> model.output_shape
(None, 5)
>>> model.get_layer("stage2_block1_shortcut_bn").name
'stage2_block1_shortcut_bn'
"""

from __future__ import annotations

import os
import sys

import keras

from zoo.errors import SpecError
from zoo.models.registry import family_of, resolve_spec


def memory_bytes() -> int | None:
    """This machine's physical memory in bytes (None where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_fits_in_memory(spec, memory: int | None = None) -> None:
    """Refuse, before Keras allocates anything, a network whose float32 weights alone would take more than
    half of this machine's memory (training needs about four times the weights: gradients, optimizer slots)."""
    memory = memory if memory is not None else memory_bytes()
    params = spec.approx_params()
    if memory and 4 * params > memory // 2:
        raise SpecError(f"{spec.name} would have about {params:,} parameters ({4 * params / 2**30:,.1f} GiB of "
                        f"float32 weights; training needs about 4x that) and this machine has "
                        f"{memory / 2**30:,.1f} GiB of memory: reduce widths, depths, stem_filters or head_hidden")


def build(name_or_spec, *, input_shape=None, num_classes=None, **overrides) -> keras.Model:
    """Build a functional Keras model from a registry name or a spec of any family (`ResNetSpec`, `RegNetSpec`).

    `input_shape`, `num_classes` and any other field of the spec given as a keyword override the
    spec (via `dataclasses.replace`, so the result is validated like any spec). The model is named
    after the spec and every layer has a stable hierarchical name.
    """
    spec = resolve_spec(name_or_spec, input_shape=input_shape, num_classes=num_classes, **overrides)
    check_fits_in_memory(spec)
    make_room_for(spec)
    return family_of(spec).build(spec)


#: Python frames Keras' functional graph code may stack per residual block: it walks the graph recursively
#: (node to its inputs), so ResNet-1202 (600 blocks) overflows Python's default limit of 1000.
FRAMES_PER_BLOCK = 60


def make_room_for(spec) -> None:
    """Raise Python's recursion limit (never lower it) so Keras can build, save and load a net this deep.
    It stays raised: the model's later graph walks (saving, cloning, summaries) need the same room."""
    blocks = sum(getattr(spec, "depths", ()) or ())
    needed = 2000 + FRAMES_PER_BLOCK * blocks
    if sys.getrecursionlimit() < needed:
        sys.setrecursionlimit(needed)
