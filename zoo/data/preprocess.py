"""Preprocessing modes and augmentation as Keras layers: they run inside the model, on the accelerator,
on any backend (no tf.data).

>>> import numpy as np
>>> layer = normalization("minus1_1")
>>> [float(v) for v in layer(np.array([[0.0, 255.0]]))[0]]
[-1.0, 1.0]
"""

from __future__ import annotations

import keras
import numpy as np

from zoo.data.scaling import MODES, RESCALE
from zoo.errors import ZooError


#: Images `standardize` fits its per-channel mean and variance on (the first ones given: pass shuffled images).
STANDARDIZE_SAMPLE = 10_000


def normalization(mode: str, train_images: np.ndarray | None = None) -> keras.layers.Layer:
    """The layer mapping uint8 pixels to the mode's float range (per-channel statistics for `standardize`)."""
    if mode in RESCALE:
        scale, offset = RESCALE[mode]
        return keras.layers.Rescaling(scale, offset, name="preprocess")
    if mode == "standardize":
        if train_images is None:
            raise ZooError("preprocessing='standardize' needs the training images to fit its statistics")
        sample = train_images[:STANDARDIZE_SAMPLE]  # callers pass shuffled images; per-channel stats need few
        pixels = sample.reshape(-1, sample.shape[-1]).astype(np.float32)
        mean = pixels.mean(axis=0, dtype=np.float64)
        var = ((pixels - mean.astype(np.float32)) ** 2).mean(axis=0, dtype=np.float64)
        std = np.sqrt(np.maximum(var, 1e-6))
        # (x - mean) / std as one multiply-add with per-channel constants in the graph: exporters (tf2onnx)
        # turn Normalization's stored tensors into missing graph inputs
        return keras.layers.Rescaling((1.0 / std).tolist(), (-mean / std).tolist(), name="preprocess")
    raise ZooError(f"preprocessing must be one of {', '.join(MODES)}, got {mode!r}")


@keras.saving.register_keras_serializable(package="zoo")
class RandomPadCrop(keras.layers.Layer):
    """Training-time augmentation: zero-pad by `pad` pixels, then crop back at a random offset per image."""

    def __init__(self, pad: int, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.pad, self.seed = pad, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training or not self.pad:
            return inputs
        p = self.pad
        shape = keras.ops.shape(inputs)
        n, h, w, c = shape[0], shape[1], shape[2], shape[3]
        padded = keras.ops.pad(inputs, [[0, 0], [p, p], [p, p], [0, 0]])
        offsets = keras.random.randint((n, 2), 0, 2 * p + 1, seed=self.seed_generator)
        rows = offsets[:, 0:1] + keras.ops.arange(h)[None, :]  # (n, h)
        cols = offsets[:, 1:2] + keras.ops.arange(w)[None, :]  # (n, w)
        rows = keras.ops.broadcast_to(rows[:, :, None, None], (n, h, w + 2 * p, c))
        out = keras.ops.take_along_axis(padded, rows, axis=1)
        cols = keras.ops.broadcast_to(cols[:, None, :, None], (n, h, w, c))
        return keras.ops.take_along_axis(out, cols, axis=2)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "pad": self.pad, "seed": self.seed}


@keras.saving.register_keras_serializable(package="zoo")
class Cutout(keras.layers.Layer):
    """Training-time augmentation: zero a `size` x `size` square at a random centre of each image."""

    def __init__(self, size: int, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.size, self.seed = size, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training or not self.size:
            return inputs
        shape = keras.ops.shape(inputs)
        n, h, w = shape[0], shape[1], shape[2]
        centre = keras.random.uniform((n, 2), 0.0, 1.0, seed=self.seed_generator)
        cy = keras.ops.floor(centre[:, 0] * keras.ops.cast(h, "float32"))
        cx = keras.ops.floor(centre[:, 1] * keras.ops.cast(w, "float32"))
        ys = keras.ops.cast(keras.ops.arange(h), "float32")[None, :]
        xs = keras.ops.cast(keras.ops.arange(w), "float32")[None, :]
        half = self.size / 2
        in_y = keras.ops.abs(ys - cy[:, None]) < half  # (n, h)
        in_x = keras.ops.abs(xs - cx[:, None]) < half  # (n, w)
        hole = keras.ops.logical_and(in_y[:, :, None], in_x[:, None, :])[..., None]
        return keras.ops.where(hole, keras.ops.zeros_like(inputs), inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "size": self.size, "seed": self.seed}


def augmentation(*, flip: bool, crop_pad: int, cutout: int, seed: int | None) -> list[keras.layers.Layer]:
    """The training-time augmentation layers a recipe asks for, in order: flip, pad-and-crop, cutout."""
    layers = []
    if flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed, name="augment_flip"))
    if crop_pad:
        layers.append(RandomPadCrop(crop_pad, seed=seed, name="augment_crop"))
    if cutout:
        layers.append(Cutout(cutout, seed=seed, name="augment_cutout"))
    return layers


def pixel_augmentation(*, randaugment: int = 0, augmix: bool = False, random_erasing: float = 0.0,
                       seed: int | None = None) -> list[keras.layers.Layer]:
    """Keras' own image augmentations that work on raw pixels (0..255 floats, before normalization), in
    order: RandAugment (`randaugment` operations per image, magnitude 0.5), AugMix, RandomErasing (a share
    `random_erasing` of the images). Active in training only, like every augmentation layer."""
    layers = []
    if randaugment:
        layers.append(keras.layers.RandAugment(value_range=(0, 255), num_ops=randaugment, seed=seed,
                                               name="augment_randaugment"))
    if augmix:
        layers.append(keras.layers.AugMix(value_range=(0, 255), seed=seed, name="augment_augmix"))
    if random_erasing:
        layers.append(keras.layers.RandomErasing(factor=random_erasing, value_range=(0, 255), seed=seed,
                                                 name="augment_erasing"))
    return layers


def label_mixing(*, mixup: float = 0.0, cutmix: float = 0.0, seed: int | None = None):
    """The batch transform of MixUp (`mixup`: its alpha) or CutMix (`cutmix`: its factor), through Keras'
    layers: `(images, one-hot labels) -> (mixed images, mixed labels)`, or None for neither. It runs on
    whole training batches outside the model (it needs the labels): inside a `tf.data` pipeline on
    TensorFlow, on each gathered batch elsewhere. Images come back as floats; the model's uint8 input
    takes them (a mixed pixel rounds down by less than one level).

    >>> mix = label_mixing(mixup=0.2, seed=0)
    >>> images, labels = mix(np.zeros((4, 8, 8, 3), "uint8"), np.eye(4, dtype="float32"))
    >>> [round(float(v), 4) for v in keras.ops.convert_to_numpy(keras.ops.sum(labels, axis=1))]
    [1.0, 1.0, 1.0, 1.0]
    """
    if mixup and cutmix:
        raise ZooError("mixup and cutmix both mix labels; give one of them")
    if not mixup and not cutmix:
        return None
    layer = keras.layers.MixUp(alpha=mixup, seed=seed) if mixup else keras.layers.CutMix(factor=cutmix, seed=seed)

    def mix(images, labels):
        mixed = layer({"images": images, "labels": labels}, training=True)
        return mixed["images"], mixed["labels"]

    return mix
