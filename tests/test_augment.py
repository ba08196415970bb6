"""Augmentation as recipe knobs, through Keras' own layers: RandAugment, AugMix and RandomErasing inside the
model on raw pixels, MixUp and CutMix on each training batch's images and labels."""

import keras
import numpy as np
import pytest
from test_train import data_dir  # noqa: F401  (the tiny CIFAR / MNIST files fixture)

import zoo
from zoo.data.preprocess import label_mixing, pixel_augmentation
from zoo.errors import ZooError
from zoo.training.loops import _epoch_input
from zoo.training.recipes import get_recipe

pytestmark = pytest.mark.portable  # also runs under every other installed backend (test_backends)

KNOBS = [dict(mixup=0.4), dict(cutmix=1.0), dict(randaugment=2), dict(augmix=True), dict(random_erasing=0.5)]


@pytest.mark.parametrize("knobs", KNOBS, ids=lambda k: next(iter(k)))
def test_a_tiny_net_trains_with_each_augmentation(data_dir, knobs):  # noqa: F811
    result = zoo.train("resnet_tiny", "tf2_cifar10", data_dir=data_dir, epochs=1, batch_size=8, out_dir=None,
                       verbose=0, **knobs)
    assert result["status"] == "ok" and np.isfinite(result["test_loss"]), result.get("error")
    assert result["recipe_knobs"][next(iter(knobs))] == next(iter(knobs.values()))


def test_mixing_blends_images_and_labels_alike():
    images = np.stack([np.full((8, 8, 3), v, "uint8") for v in (0, 100, 200, 250)])
    labels = np.eye(4, dtype="float32")
    mixed, soft = (keras.ops.convert_to_numpy(t) for t in label_mixing(mixup=1.0, seed=1)(images, labels))
    np.testing.assert_allclose(soft.sum(axis=1), 1.0, rtol=1e-5)
    # each mixed image is its labels' blend of the originals' constant values
    np.testing.assert_allclose(mixed[:, 0, 0, 0], soft @ np.array([0, 100, 200, 250], "float32"), rtol=1e-4, atol=1e-3)
    big = np.repeat(np.repeat(images, 4, axis=1), 4, axis=2)  # 32x32: a box edge is a small share of it
    cut, area = (keras.ops.convert_to_numpy(t) for t in label_mixing(cutmix=1.0, seed=1)(big, labels))
    share = (cut[..., 0][:, :, :, None] == np.array([0, 100, 200, 250])).mean(axis=(1, 2))
    # CutMix labels: each source's share of the pixels (the box's area, to within its edge pixels)
    np.testing.assert_allclose(area, share, atol=0.07)
    np.testing.assert_allclose(area.sum(axis=1), 1.0, rtol=1e-5)


def test_mixed_batches_reach_fit_whole():
    x, y = np.zeros((10, 4, 4, 3), "uint8"), np.eye(10, dtype="float32")
    fed = _epoch_input(x, y, 4, label_mixing(mixup=0.2, seed=0))
    batches = list(fed["x"]) if keras.backend.backend() == "tensorflow" else [fed["x"][i] for i in range(len(fed["x"]))]
    assert len(batches) == 2 and all(tuple(b[0].shape) == (4, 4, 4, 3) for b in batches)


def test_pixel_augmentations_are_identities_at_inference():
    x = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3)).astype("float32")
    for layer in pixel_augmentation(randaugment=2, augmix=True, random_erasing=1.0, seed=0):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x, training=False)), x)


@pytest.mark.parametrize("knobs, message", [
    (dict(mixup=0.2, cutmix=1.0), "both mix labels; give one of them"),
    (dict(cutmix=1.5), r"cutmix must be a number in \[0, 1\]"),
    (dict(random_erasing=-0.1), r"random_erasing must be a number in \[0, 1\]"),
    (dict(randaugment=-1), "randaugment must be an integer >= 0"),
    (dict(augmix=1), "augmix must be true or false"),
])
def test_bad_augmentation_knobs_are_named(knobs, message):
    with pytest.raises(ZooError, match=message):
        get_recipe("fast", **knobs)


def test_the_device_loop_refuses_batch_mixing(data_dir):  # noqa: F811
    with pytest.raises(ZooError, match="mixup / cutmix mix each batch|needs the JAX backend"):
        zoo.train("resnet_tiny", "tf2_cifar10", data_dir=data_dir, epochs=1, batch_size=8, out_dir=None,
                  verbose=0, mixup=0.2, loop="device")
