"""Multiply-accumulate counts from the built graph."""

import pytest

import zoo
from zoo.models.macs import count_macs, format_count

pytestmark = pytest.mark.portable  # also runs under every other installed backend (test_backends)


def test_tiny_model_macs_by_hand():
    # 8x8x1 input, stem 3x3/1 same 2 filters (no BN/pool), one basic stage of 1 block at 2 channels
    # (no projection), GAP, dense 2 -> 3.
    model = zoo.build(zoo.ResNetSpec(
        input_shape=(8, 8, 1), num_classes=3, stem_filters=2, stem_kernel=3, stem_stride=1, stem_pool="none",
        depths=(1,), widths=(2,), strides=(1,)))
    stem = 8 * 8 * 2 * (3 * 3 * 1)
    block = 2 * (8 * 8 * 2 * (3 * 3 * 2))
    head = 2 * 3
    assert count_macs(model) == stem + block + head


@pytest.mark.parametrize("name, published", [
    ("resnet18", 1.81e9), ("resnet50", 4.09e9), ("resnext50_32x4d", 4.23e9), ("resnext101_32x8d", 16.41e9),
    ("wide_resnet50_2", 11.40e9),
])
def test_imagenet_macs_match_torchvision(name, published, build_once):
    # torchvision's model cards list these GFLOPS (multiply-accumulates) at 224x224.
    assert count_macs(build_once(name)) == pytest.approx(published, rel=0.005)


@pytest.mark.parametrize("name, published", [
    ("seresnet50", 4.11e9), ("seresnext50_32x4d", 4.26e9),  # timm's results tables, GMACs at 224x224
    ("resnext29_32x4d", 780.55e6), ("seresnet20", 41.34e6),  # osmr/imgclsmob's CIFAR-10 table
])
def test_macs_of_composed_options_match_published(name, published, build_once):
    # These counts also include the elementwise work (SE scaling, pooling, additions) that zoo leaves out by
    # convention, about 1% of the total here: hence 1.5%.
    assert count_macs(build_once(name)) == pytest.approx(published, rel=0.015)


def test_format_count():
    assert format_count(1_814_073_344) == "1.81 G"
    assert format_count(40_551_040) == "40.55 M"
    assert format_count(999) == "999"
