"""zoo: residual networks as data, built by name with the Keras 3 functional API.

>>> import zoo
>>> model = zoo.build("resnet20")
>>> model.count_params()
271098
>>> zoo.list_variants("resnet*_tf2")
['resnet18_cifar10_tf2', 'resnet18_cifar100_tf2', 'resnet34_cifar10_tf2', 'resnet34_cifar100_tf2']

Keras (and with it the backend) is imported on first use of a model-building name, so
`zoo list` and spec work stay instant.
"""

import importlib

from zoo import runtime

runtime.prefer_onednn()  # before any backend loads: see zoo/runtime.py

from zoo.errors import SpecError, UnknownVariantError, ZooError
from zoo.models.registry import VARIANTS, get_spec, list_variants, resolve_spec
from zoo.models.regnet.spec import RegNetSpec
from zoo.models.resnet.spec import ResNetSpec

__version__ = "0.1.0"

_LAZY = {"build": "zoo.models.builder", "count_macs": "zoo.models.macs", "train": "zoo.training.trainer",
         "load_dataset": "zoo.data"}

__all__ = [
    "RegNetSpec",
    "ResNetSpec",
    "SpecError",
    "UnknownVariantError",
    "VARIANTS",
    "ZooError",
    "build",
    "count_macs",
    "get_spec",
    "list_variants",
    "load_dataset",
    "resolve_spec",
    "train",
]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
