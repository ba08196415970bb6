"""ResNetSpec validation (every bad input is a clear SpecError naming the field) and JSON round trips."""

import dataclasses
import json

import pytest

from zoo import VARIANTS, SpecError, get_spec
from zoo.models.registry import family_of, spec_from_json
from zoo.models.resnet.spec import ResNetSpec, min_input_size

TINY = get_spec("resnet_tiny")


def bad(**changes):
    return lambda: dataclasses.replace(TINY, **changes)


@pytest.mark.parametrize(
    "changes, message",
    [
        # zero / negative widths and depths
        (dict(widths=(8, 0, 32)), r"widths\[1\] must be an integer >= 1, got 0"),
        (dict(widths=(8, -16, 32)), r"widths\[1\] must be an integer >= 1, got -16"),
        (dict(depths=(1, 0, 1)), r"depths\[1\] must be an integer >= 1, got 0"),
        (dict(depths=(-1, 1, 1)), r"depths\[0\] must be an integer >= 1, got -1"),
        (dict(depths=()), r"depths must be a non-empty list of integers, got \(\)"),
        (dict(strides=(1, 0, 2)), r"strides\[1\] must be an integer >= 1, got 0"),
        (dict(stem_filters=0), r"stem_filters must be >= 1, got 0"),
        (dict(depths=(1, 1.5, 1)), r"depths\[1\] must be an integer >= 1, got 1.5"),
        # mismatched list lengths
        (dict(depths=(1, 1)), r"same length.*depths=\(1, 1\) \(length 2\), widths=\(8, 16, 32\) \(length 3\)"),
        (dict(strides=(1, 2, 2, 2)), r"strides=\(1, 2, 2, 2\) \(length 4\)"),
        # kernels
        (dict(stem_kernel=0), r"stem_kernel must be >= 1, got 0"),
        (dict(stem_kernel=4), r"stem_kernel must be odd .*got 4"),
        (dict(stem_pool_size=0), r"stem_pool_size must be >= 1, got 0"),
        # unknown kinds
        (dict(head="avgpool"), r"head must be one of 'gap', 'gmp', 'flatten', got 'avgpool'"),
        (dict(shortcut="projection"), r"shortcut must be one of 'conv', 'conv_bn', 'identity_pad', 'avg_down', got 'projection'"),
        (dict(block="dense"), r"block must be one of .*got 'dense'"),
        (dict(shortcut_when="always"), r"shortcut_when must be one of .*got 'always'"),
        (dict(head_activation="sigmoid"), r"head_activation must be one of 'linear', 'softmax', got 'sigmoid'"),
        (dict(stem_padding="full"), r"stem_padding must be one of 'same', 'valid', got 'full'"),
        (dict(stem_pool="min"), r"stem_pool must be one of 'none', 'max', 'avg', got 'min'"),
        (dict(activation="rleu"), r"activation must be one of .*got 'rleu'"),
        (dict(kernel_initializer="zeros"), r"kernel_initializer must be one of .*got 'zeros'"),
        # classes
        (dict(num_classes=0), r"num_classes must be >= 1, got 0"),
        (dict(num_classes=-3), r"num_classes must be >= 1, got -3"),
        (dict(num_classes=True), r"num_classes must be an integer, got True"),
        # input shape
        (dict(input_shape=(32, 32)), r"input_shape must be 3-D \(height, width, channels\), got \(32, 32\)"),
        (dict(input_shape=(1, 32, 32, 3)), r"input_shape must be 3-D .*got \(1, 32, 32, 3\)"),
        (dict(input_shape="32x32x3"), r"input_shape must be 3-D .*got '32x32x3'"),
        (dict(input_shape=(32, 0, 3)), r"input_shape\[1\] must be an integer >= 1, got 0"),
        # numbers and flags
        (dict(bn_momentum=1.0), r"bn_momentum must be in \(0.0, 1.0\), got 1.0"),
        (dict(bn_epsilon=0), r"bn_epsilon must be in \(0.0, 1.0\), got 0"),
        (dict(head_dropout=1.0), r"head_dropout must be in \[0.0, 1.0\), got 1.0"),
        (dict(block_dropout=-0.1), r"block_dropout must be in \[0.0, 1.0\), got -0.1"),
        (dict(stem_bn="yes"), r"stem_bn must be true or false, got 'yes'"),
        (dict(head_hidden=-1), r"head_hidden must be >= 0, got -1"),
        (dict(name=""), r"name must be 1-100 letters, digits.*got ''"),
        # combinations
        (dict(preact=True, zero_init_last_bn=True), r"zero_init_last_bn needs a block with a final BN"),
        (dict(stride_in_1x1=True), r"stride_in_1x1 only applies to bottleneck blocks"),
        (dict(groups=32), r"groups only applies to bottleneck blocks \(with block='basic' it must be 1\), got 32"),
        (dict(base_width=4), r"base_width only applies to bottleneck blocks .*got 4"),
        (dict(block="bottleneck", groups=0), r"groups must be >= 1, got 0"),
        (dict(attention="cbam"), r"attention must be one of 'none', 'se', got 'cbam'"),
        (dict(se_reduction=0), r"se_reduction must be >= 1, got 0"),
        (dict(drop_path=1.0), r"drop_path must be in \[0.0, 1.0\), got 1.0"),
        (dict(preact="yes"), r"preact must be true or false, got 'yes'"),
        (dict(shortcut="identity_pad", widths=(8, 16, 4)), r"identity_pad.*stage3 block1 reduces channels 16->4"),
    ],
)
def test_bad_spec_is_a_clear_error(changes, message):
    with pytest.raises(SpecError, match=message):
        bad(**changes)()


def test_shortcut_when_stride_needs_matching_channels():
    with pytest.raises(SpecError, match=r"stage1 block1 changes channels 16->64 at stride 1"):
        dataclasses.replace(TINY, stem_filters=16, widths=(64, 64, 64), shortcut_when="stride")


def test_input_too_small_names_the_stage_and_the_minimum():
    with pytest.raises(SpecError, match=r"input_shape \(16, 16, 3\) is too small.*stage4 receives a 1x1 feature "
                                        r"map.*smallest square input this layout accepts is 17x17"):
        dataclasses.replace(get_spec("resnet18"), input_shape=(16, 16, 3))


def test_input_too_small_for_a_valid_stem():
    with pytest.raises(SpecError, match=r"the stem conv receives a 2x2 feature map, smaller than its 3x3 kernel"):
        dataclasses.replace(get_spec("resnet18_cifar10_tf2"), input_shape=(2, 2, 3))


def test_min_input_size():
    assert min_input_size(get_spec("resnet18")) == 17
    assert min_input_size(get_spec("resnet18_cifar10_tf2")) == 11
    assert min_input_size(get_spec("resnet20")) == 3


def test_spatial_plan_of_the_articles_tf2_stem():
    assert get_spec("resnet18_cifar10_tf2").spatial_plan() == [
        ("stem", 15, 15), ("stage1", 15, 15), ("stage2", 8, 8), ("stage3", 4, 4), ("stage4", 2, 2)]


@pytest.mark.parametrize("old, block", [("preact_basic", "basic"), ("preact_bottleneck", "bottleneck")])
def test_specs_saved_with_a_preact_block_kind_still_load(old, block):
    # before `preact` was a flag, pre-activation was a block kind; such JSON loads as the flag
    data = {**TINY.to_dict(), "block": old}
    data.pop("preact")
    spec = ResNetSpec.from_dict(data)
    assert (spec.block, spec.preact) == (block, True)
    assert spec == dataclasses.replace(TINY, block=block, preact=True)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_json_round_trip(name):
    spec = VARIANTS[name]
    text = spec.to_json()
    again = spec_from_json(text)
    assert again == spec and type(again) is type(spec)
    assert again.source == spec.source
    assert json.loads(text)["depths"] == list(spec.depths)
    assert set(json.loads(text)) == {f.name for f in dataclasses.fields(spec)} | {"family"}
    assert json.loads(text)["family"] == family_of(spec).name


def test_from_json_lists_become_tuples_and_specs_hash():
    spec = ResNetSpec.from_json(json.dumps({"depths": [1, 1], "widths": [8, 16], "strides": [1, 2],
                                            "input_shape": [32, 32, 3]}))
    assert spec.depths == (1, 1) and spec.input_shape == (32, 32, 3)
    assert hash(spec) == hash(dataclasses.replace(spec))


def test_from_json_rejects_unknown_keys_and_bad_json():
    with pytest.raises(SpecError, match=r"unknown ResNetSpec field\(s\): 'depth' \(did you mean depths"):
        ResNetSpec.from_json('{"depth": [2, 2, 2, 2]}')
    with pytest.raises(SpecError, match="not valid JSON"):
        ResNetSpec.from_json("{depths: ")
    with pytest.raises(SpecError, match="must be a JSON object, got list"):
        ResNetSpec.from_json("[1, 2]")


def test_spec_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TINY.depths = (2, 2, 2)
