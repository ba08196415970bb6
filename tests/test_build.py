"""Built models: published parameter counts, per-stage shapes, layer names, knob effects.

Backend-portable: test_backends.py reruns this file under the other installed backend.
"""

import dataclasses

import keras
import numpy as np
import pytest
from conformance import check_variant
from derive import derived_params

import zoo
from zoo.models.summary import param_counts, stage_rows

pytestmark = pytest.mark.portable  # also runs under every other installed backend (test_backends)

# Trainable parameters. Article variants at 32x32 with Keras' biased convs; ImageNet layouts at
# 224x224x3/1000 classes without conv bias; CIFAR layouts with 10 classes.
PUBLISHED = {
    "resnet18_cifar10_tf2": 11_176_970,
    "resnet34_cifar10_tf2": 21_288_842,
    "resnet18_cifar100_tf2": 11_223_140,
    "resnet34_cifar100_tf2": 21_335_012,
    "resnet18_mnist_functional": 11_697_922,
    "resnet18_cifar10_d2l": 11_176_970,
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet50_keras": 25_583_592,  # keras.applications.ResNet50: 25,636,712 weights, 53,120 of them BN statistics
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "resnet18_cifar": 11_173_962,
    "resnet34_cifar": 21_282_122,
    "resnet50_cifar": 23_520_842,
    "resnet20": 269_722,
    "resnet32": 464_154,
    "resnet44": 658_586,
    "resnet56": 853_018,
    "resnet110": 1_727_962,
    # Derived in tests/derive.py and documented in the README: PreAct-18 with the paper's final
    # BN-ReLU (kuangliu's version without it has 11,171,146 = this - 2*512); ResNet-18-D equals
    # timm's resnet18d; WRN-28-10 equals the paper's 36.5M.
    "preact_resnet18": 11_172_170,
    "resnet18d": 11_708_744,
    "wide_resnet28_10": 36_479_194,
    "resnet_tiny": 19_954,
    # composed block options: torchvision's resnext50_32x4d, resnext101_32x8d, wide_resnet50_2; timm's
    # seresnet50, seresnext50_32x4d; osmr/imgclsmob's CIFAR resnext29_32x4d and seresnet20 (their README
    # tables). ResNeXt-29 8x64d: Xie et al. give 34.4M (test_published_rounded_counts).
    "resnext50_32x4d": 25_028_904,
    "resnext101_32x8d": 88_791_336,
    "wide_resnet50_2": 68_883_240,
    "seresnet50": 28_088_024,
    "seresnext50_32x4d": 27_559_896,
    "resnext29_32x4d": 4_775_754,
    "seresnet20": 274_847,
    "resnext29_8x64d": 34_426_698,
    # fast CIFAR nets. ResNet-9: Page's (Myrtle, 2018) convolutions and BN, its linear head without bias.
    # airbench94: its 1.97M; exactly, its 1,972,792 less the frozen BN scales it holds and we omit (1,152)
    # and its whitening conv's 24 biases (our stem conv has none).
    "resnet9": 6_573_120,
    "airbench94": 1_971_616,
    # the RegNet family: torchvision's num_params of regnet_x_400mf, regnet_x_800mf, regnet_y_400mf and
    # regnet_y_800mf; the CIFAR layout derived (tests/derive.py)
    "regnetx_400mf": 5_495_976,
    "regnetx_800mf": 7_259_656,
    "regnety_400mf": 4_344_144,
    "regnety_800mf": 6_432_512,
    "regnety_400mf_cifar": 3_907_554,
}

STAGE_SHAPES = {  # output shape of stem, stage1..4, head for the six source-article variants
    "resnet18_cifar10_tf2": [(15, 15, 64), (15, 15, 64), (8, 8, 128), (4, 4, 256), (2, 2, 512), (10,)],
    "resnet34_cifar10_tf2": [(15, 15, 64), (15, 15, 64), (8, 8, 128), (4, 4, 256), (2, 2, 512), (10,)],
    "resnet18_cifar100_tf2": [(30, 30, 64), (30, 30, 64), (15, 15, 128), (8, 8, 256), (4, 4, 512), (100,)],
    "resnet34_cifar100_tf2": [(30, 30, 64), (30, 30, 64), (15, 15, 128), (8, 8, 256), (4, 4, 512), (100,)],
    "resnet18_mnist_functional": [(8, 8, 64), (8, 8, 64), (4, 4, 128), (2, 2, 256), (1, 1, 512), (10,)],
    "resnet18_cifar10_d2l": [(32, 32, 64), (32, 32, 64), (16, 16, 128), (8, 8, 256), (4, 4, 512), (10,)],
}


def test_every_variant_has_a_published_count():
    assert set(PUBLISHED) == set(zoo.VARIANTS)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_every_registered_variant_conforms(name, build_once, tmp_path):
    # published and derived counts, the estimate, stage sizes, layer names, JSON; small ones also
    # mixed precision and a .keras round trip (tests/conformance.py)
    check_variant(name, build_once(name), PUBLISHED[name], tmp_path)


def test_d2l_totals_match_the_article_summary(build_once):
    assert param_counts(build_once("resnet18_cifar10_d2l")) == {
        "total": 11_184_778, "trainable": 11_176_970, "non_trainable": 7_808}


@pytest.mark.parametrize("name", sorted(STAGE_SHAPES))
def test_article_stage_shapes(name, build_once):
    rows = stage_rows(build_once(name))
    assert [r["part"] for r in rows] == ["stem", "stage1", "stage2", "stage3", "stage4", "head"]
    assert [r["output_shape"] for r in rows] == STAGE_SHAPES[name]


def test_layer_names_follow_the_scheme(build_once):
    names = {layer.name for layer in build_once("resnet18").layers}
    for expected in ["stem_conv", "stem_bn", "stem_act", "stem_pool", "stage1_block1_conv1", "stage1_block1_bn2",
                     "stage1_block2_out", "stage2_block1_shortcut_conv", "stage2_block1_shortcut_bn",
                     "stage4_block2_add", "head_pool", "head_fc"]:
        assert expected in names
    assert "stage1_block1_shortcut_conv" not in names
    names = {layer.name for layer in build_once("resnet50").layers}
    assert {"stage1_block1_shortcut_conv", "stage1_block1_conv3", "stage3_block6_bn3"} <= names
    names = {layer.name for layer in build_once("preact_resnet18").layers}
    assert {"stage1_block1_preact_bn", "post_bn", "post_act"} <= names and "stem_bn" not in names
    names = {layer.name for layer in build_once("resnet20").layers}
    assert {"stage2_block1_shortcut_pool", "stage2_block1_shortcut_pad"} <= names
    names = {layer.name for layer in build_once("resnet18d").layers}
    assert {"stem_conv1", "stem_conv3", "stage2_block1_shortcut_pool", "stage2_block1_shortcut_bn"} <= names


def test_head_kinds_and_outputs():
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")
    softmax = zoo.build("resnet_tiny", head="flatten", head_hidden=12, head_dropout=0.5, head_activation="softmax")
    assert [l.name for l in softmax.layers[-5:]] == ["head_flatten", "head_hidden", "head_dropout", "head_fc",
                                                     "head_softmax"]
    probs = keras.ops.convert_to_numpy(softmax(x))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    gmp = zoo.build("resnet_tiny", head="gmp")
    assert isinstance(gmp.get_layer("head_pool"), keras.layers.GlobalMaxPooling2D)
    assert gmp.output_shape == (None, 10)


def test_zero_init_last_bn_makes_blocks_start_as_identity():
    model = zoo.build("resnet_tiny", zero_init_last_bn=True)
    gamma = keras.ops.convert_to_numpy(model.get_layer("stage1_block1_bn2").gamma)
    assert not gamma.any()
    assert keras.ops.convert_to_numpy(model.get_layer("stage1_block1_bn1").gamma).all()
    model = zoo.build("resnet_tiny", block="bottleneck", widths=(8, 8, 8), zero_init_last_bn=True)
    assert not keras.ops.convert_to_numpy(model.get_layer("stage3_block1_bn3").gamma).any()


def test_stride_placement_in_bottlenecks():
    v15 = zoo.build("resnet_tiny", block="bottleneck", widths=(4, 8, 16))
    v1 = zoo.build("resnet_tiny", block="bottleneck", widths=(4, 8, 16), stride_in_1x1=True)
    assert v15.get_layer("stage2_block1_conv2").strides == (2, 2)
    assert v15.get_layer("stage2_block1_conv1").strides == (1, 1)
    assert v1.get_layer("stage2_block1_conv1").strides == (2, 2)
    assert v1.output_shape == v15.output_shape == (None, 10)


def test_published_rounded_counts():
    assert round(PUBLISHED["resnext29_8x64d"] / 1e6, 1) == 34.4  # Xie et al. 2017, table 7


OPTIONS = {  # block options that compose with both blocks (groups / base_width: bottlenecks only)
    "plain": {}, "preact": dict(preact=True), "se": dict(attention="se", se_reduction=2),
    "drop_path": dict(drop_path=0.2), "preact_se": dict(preact=True, attention="se", se_reduction=4),
}


SHORTCUTS = ["conv", "conv_bn", "identity_pad", "avg_down"]
# Every shortcut with each plain block, every option with each block (a projecting shortcut included), and a
# pre-activation block with every shortcut (its projection reads the pre-activated input): 19 builds, not 40.
COMBINATIONS = sorted({(b, "plain", s) for b in ("basic", "bottleneck") for s in SHORTCUTS}
                      | {(b, o, "conv_bn") for b in ("basic", "bottleneck") for o in OPTIONS}
                      | {("basic", "preact", s) for s in SHORTCUTS})


@pytest.mark.parametrize("block, options, shortcut", COMBINATIONS)
def test_every_block_option_and_shortcut_combination_builds_and_runs(block, options, shortcut):
    grouped = dict(groups=2, base_width=32) if block == "bottleneck" and options != "plain" else {}
    spec = dataclasses.replace(zoo.get_spec("resnet_tiny"), block=block, shortcut=shortcut,
                               stem_filters=4, widths=(4, 8, 16), block_dropout=0.1, **OPTIONS[options],
                               **grouped)
    model = zoo.build(spec, input_shape=(16, 16, 3))
    assert (param_counts(model)["trainable"], param_counts(model)["non_trainable"]) == derived_params(
        zoo.resolve_spec(spec, input_shape=(16, 16, 3)))
    out = model(np.zeros((2, 16, 16, 3), "float32"), training=False)
    assert tuple(out.shape) == (2, 10)


def test_deep_stem_and_stem_options():
    model = zoo.build("resnet_tiny", stem_deep=True, stem_stride=2, stem_pool="avg", stem_pool_size=2)
    assert model.get_layer("stem_conv1").filters == 4 and model.get_layer("stem_conv3").filters == 8
    assert isinstance(model.get_layer("stem_pool"), keras.layers.AveragePooling2D)
    assert stage_rows(model)[0]["output_shape"] == (8, 8, 8)
    plain = zoo.build("resnet_tiny", stem_bn=False, stem_activation="linear")
    assert {l.name for l in plain.layers} & {"stem_bn", "stem_act"} == set()


def test_build_overrides_input_shape_and_classes():
    model = zoo.build("resnet18_cifar10_tf2", input_shape=(64, 64, 1), num_classes=3)
    assert model.input_shape == (None, 64, 64, 1) and model.output_shape == (None, 3)


def test_conv_bias_and_initializer_follow_the_spec(build_once):
    article = build_once("resnet18_cifar10_tf2").get_layer("stage1_block1_conv1")
    torch_like = build_once("resnet18_cifar").get_layer("stage1_block1_conv1")
    assert article.use_bias and not torch_like.use_bias
    assert isinstance(torch_like.kernel_initializer, keras.initializers.HeNormal)
    assert build_once("resnet18_cifar").get_layer("stem_bn").momentum == 0.9


def test_bad_build_input_is_a_clear_error():
    with pytest.raises(zoo.UnknownVariantError, match="did you mean resnet18"):
        zoo.build("resnet181")
    with pytest.raises(zoo.SpecError, match="num_classes must be >= 1, got 0"):
        zoo.build("resnet18", num_classes=0)
    with pytest.raises(zoo.SpecError, match=r"input_shape must be 3-D .*got \(32, 32\)"):
        zoo.build("resnet18", input_shape=(32, 32))
    with pytest.raises(zoo.SpecError, match="stage3 receives a 1x1 feature map.*accepts is 17x17"):
        zoo.build("resnet18", input_shape=(8, 8, 3))


def test_a_network_too_big_for_memory_is_refused_before_allocation():
    from zoo.models.builder import check_fits_in_memory

    huge = zoo.resolve_spec("resnet18", widths=(64, 128, 256, 200_000))
    with pytest.raises(zoo.SpecError, match=r"resnet18 would have about [\d,]+ parameters \([\d,.]+ GiB of float32 "
                                            r"weights; training needs about 4x that\) and this machine has"):
        zoo.build(huge)
    check_fits_in_memory(zoo.get_spec("resnet18"), memory=2**30)  # 47 MB of weights fit in 1 GiB
    with pytest.raises(zoo.SpecError, match="this machine has 0.1 GiB of memory"):
        check_fits_in_memory(zoo.get_spec("resnet18"), memory=2**26)


def test_drop_path_rises_linearly_and_is_the_identity_at_inference():
    model = zoo.build("resnet_tiny", drop_path=0.5)  # three blocks: rates 0, 0.25, 0.5
    names = {layer.name: layer for layer in model.layers}
    assert "stage1_block1_drop_path" not in names
    assert [names[f"stage{i}_block1_drop_path"].rate for i in (2, 3)] == [0.25, 0.5]
    x = np.random.default_rng(0).random((8, 32, 32, 3)).astype("float32")
    plain = zoo.build("resnet_tiny")
    for layer in plain.layers:
        layer.set_weights(model.get_layer(layer.name).get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x, training=False)),
                               keras.ops.convert_to_numpy(plain(x, training=False)), atol=1e-5)


def test_squeeze_excite_and_groups_layers():
    model = zoo.build("resnet_tiny", block="bottleneck", widths=(8, 16, 32), groups=4, base_width=32,
                      attention="se", se_reduction=4)
    assert model.get_layer("stage2_block1_conv2").groups == 4
    assert model.get_layer("stage2_block1_conv2").filters == 32  # int(16 * 32 / 64) * 4 (widths are planes)
    assert model.get_layer("stage2_block1_se_reduce").units == 64 // 4
    assert model.get_layer("stage2_block1_se_expand").units == 64
