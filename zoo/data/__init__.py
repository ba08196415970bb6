"""Datasets as uint8 arrays from local files, preprocessing modes and augmentation (no tf.data).

>>> from zoo.data import load_dataset, NAMED
>>> "cifar10" in NAMED
True
"""

from zoo.data.datasets import NAMED, Dataset, load_dataset, pad_images

__all__ = ["NAMED", "Dataset", "load_dataset", "pad_images"]
