"""The fast CIFAR nets (ResNet-9, airbench94) and the recipe ingredients that make them fast: bias learning
rate, weight averaging, test-time augmentation, patch whitening, DAWNBench time to target."""

import dataclasses

import keras
import numpy as np
import pytest
from test_train import data_dir  # noqa: F401  (the tiny CIFAR / MNIST files fixture)

import zoo
from zoo.errors import SpecError, ZooError
from zoo.models.layers import PartialDirac
from zoo.models.registry import resolve_spec
from zoo.models.summary import param_counts
from zoo.training import optimizers, tta, whiten
from zoo.training.recipes import get_recipe

pytestmark = pytest.mark.portable  # also runs under every other installed backend (test_backends)


#: a few thousand parameters with every new spec option on: a whitenable 2x2 stem, conv + pool entries,
#: plain and Page-style residual blocks, BN without scale, a scaled head without bias
TINY_FAST = dict(stem_filters=24, stem_kernel=2, stem_padding="valid", stem_bn=False, stem_activation="gelu",
                 stage_entry="conv_pool_bn", depths=(1, 0, 1), widths=(8, 16, 16), strides=(2, 2, 2), act_before_add=True,
                 bn_scale=False, head="gmp", head_bias=False, head_scale=0.125, kernel_initializer="dirac")


def test_stage_entries_pool_like_torch_and_blocks_compose():
    page = zoo.build("resnet9")
    assert [page.get_layer(f"stage{i}_entry_pool").output.shape[1] for i in (1, 2, 3)] == [16, 8, 4]
    assert page.get_layer("head_scale").scale == 0.125 and not page.get_layer("head_fc").use_bias
    # Page's residual: x + act(bn(conv(...))), the sum not activated
    assert page.get_layer("stage1_block1_act2") is not None
    assert "stage1_block1_out" not in [layer.name for layer in page.layers]
    air = zoo.build("airbench94")
    assert [air.get_layer(f"stage{i}_entry_pool").output.shape[1] for i in (1, 2, 3)] == [15, 7, 3]
    assert not air.get_layer("stage1_entry_bn").scale and air.get_layer("stage1_block1_conv1").filters == 64
    assert not any("shortcut" in layer.name or layer.name.endswith("_add") for layer in air.layers)
    spec = resolve_spec("resnet_tiny", **TINY_FAST)
    assert zoo.build(spec).count_params() > 0 and spec.spatial_plan()[-1] == ("stage3", 3, 3)


@pytest.mark.parametrize("overrides, message", [
    (dict(stage_entry="pool"), "stage_entry must be one of 'block', 'conv_bn_pool', 'conv_pool_bn', got 'pool'"),
    (dict(depths=(1, 0, 1)), r"depths\[1\] must be an integer >= 1"),
    (dict(block="plain", preact=True), "preact needs a residual block"),
    (dict(act_before_add=True, block="bottleneck"), "act_before_add applies to post-activation basic blocks"),
    (dict(head_scale=0.0), r"head_scale must be in \(0.0, inf\), got 0.0"),
    (dict(bn_scale=1), "bn_scale must be true or false, got 1"),
    (dict(stem_kernel=2), "stem_kernel must be odd with stem_padding='same'"),
])
def test_new_spec_fields_refuse_bad_values_by_name(overrides, message):
    with pytest.raises(SpecError, match=message):
        resolve_spec("resnet_tiny", **overrides)


def test_partial_dirac_passes_its_first_channels_through():
    x = np.random.default_rng(0).normal(size=(2, 5, 5, 3)).astype("float32")
    conv = keras.layers.Conv2D(4, 3, padding="same", use_bias=False, kernel_initializer=PartialDirac(seed=1))
    y = keras.ops.convert_to_numpy(conv(x))
    np.testing.assert_allclose(y[..., :3], x, atol=1e-6)
    assert np.abs(y[..., 3]).sum() > 0
    assert keras.initializers.deserialize(keras.initializers.serialize(PartialDirac(seed=1))).seed == 1


def test_bias_lr_is_the_learning_rate_of_the_norm_offsets_with_momentum():
    def run(lr, bias_lr):
        beta = keras.Variable(np.zeros(2, "float32"), name="beta")
        kernel = keras.Variable(np.zeros(2, "float32"), name="kernel")
        opt = optimizers.SGD(lr, momentum=0.85, nesterov=True, bias_lr=bias_lr)
        for step in range(3):
            grad = np.array([1.0, -2.0], "float32") * (step + 1)
            opt.apply([grad, grad], [beta, kernel])
        return [keras.ops.convert_to_numpy(v) for v in (beta, kernel)]

    scaled, plain, fast = run(0.01, 64.0), run(0.01, 1.0), run(0.64, 1.0)
    np.testing.assert_allclose(scaled[0], fast[0], rtol=1e-5)   # beta: as if its rate were 64x
    np.testing.assert_allclose(scaled[1], plain[1], rtol=1e-6)  # the rest: unchanged
    assert optimizers.SGD.from_config(optimizers.SGD(0.1, bias_lr=8.0).get_config()).bias_lr == 8.0


def test_tta_views_mirror_and_shift_with_reflected_edges():
    x = np.arange(2 * 4 * 4 * 1, dtype="uint8").reshape(2, 4, 4, 1)
    pairs = tta.views(x, 2)
    assert sum(weight for weight, _ in pairs) == pytest.approx(1.0) and len(tta.views(x, 1)) == 2
    np.testing.assert_array_equal(pairs[1][1], x[:, :, ::-1])
    down_right = pairs[2][1]
    np.testing.assert_array_equal(down_right[:, 1:, 1:], x[:, :-1, :-1])   # moved one pixel down and right
    np.testing.assert_array_equal(down_right[:, 0, 1:], x[:, 1, :-1])     # the new top row: reflected
    np.testing.assert_array_equal(pairs[4][1][:, :-1, :-1], x[:, 1:, 1:])  # and up-left


def test_tta_scores_match_evaluate_for_a_mirror_invariant_net():
    inputs = keras.Input((4, 4, 1))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)   # a mirror and a shift barely change a mean
    model = keras.Model(inputs, keras.layers.Dense(6)(pooled))
    loss = keras.losses.CategoricalCrossentropy(from_logits=True)
    model.compile(loss=loss, metrics=[keras.metrics.CategoricalAccuracy(name="top1")])
    x = np.random.default_rng(0).integers(0, 255, (64, 4, 4, 1)).astype("float32")
    y = np.eye(6, dtype="float32")[np.arange(64) % 6]
    plain = model.evaluate(x, y, verbose=0, return_dict=True)
    mirrored = tta.scores(model, x, y, 1, batch_size=32, loss=loss)
    assert mirrored["top1"] == pytest.approx(plain["top1"]) and mirrored["loss"] == pytest.approx(plain["loss"],
                                                                                               rel=1e-5)
    assert set(tta.scores(model, x, y, 2, batch_size=32, loss=loss)) == {"loss", "top1", "top5"}


def test_whitening_decorrelates_patches_and_freezes_the_stem():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(200, 8, 8, 3)).astype("float32")
    images[..., 1] += images[..., 0]  # correlated channels
    kernel = whiten.whitening_kernel(images, 2)
    assert kernel.shape == (2, 2, 3, 24)
    patches = whiten.patch_matrix(images, 2).astype("float64")
    out = patches @ kernel.reshape(12, 24)[:, :12]
    np.testing.assert_allclose(out.T @ out / len(out), np.eye(12), atol=0.02)
    net = zoo.build(resolve_spec("resnet_tiny", **TINY_FAST))
    whiten.whiten_stem(net, images)
    assert not net.get_layer("stem_conv").trainable
    np.testing.assert_allclose(keras.ops.convert_to_numpy(net.get_layer("stem_conv").kernel), kernel)
    with pytest.raises(ZooError, match="recipe whiten needs a square stem conv with 2 x k x k x channels filters"):
        whiten.whiten_stem(zoo.build("resnet_tiny"), images)


@pytest.mark.parametrize("overrides, message", [
    (dict(optimizer="adam", bias_lr=64.0), "recipe bias_lr scales SGD's step; adam normalizes gradients"),
    (dict(lookahead=-5), "recipe lookahead must be an integer >= 0"),
    (dict(tta=3), "recipe tta must be 0 .none., 1 .mirror. or 2"),
    (dict(whiten=1), "recipe whiten must be true or false"),
    (dict(test_from=-1), "recipe test_from must be an integer >= 0"),
])
def test_fast_knobs_refuse_bad_values(overrides, message):
    with pytest.raises(ZooError, match=message):
        get_recipe("airbench", **overrides)


def test_a_tiny_net_trains_with_every_fast_ingredient_and_times_its_target(data_dir, tmp_path):
    spec = dataclasses.replace(resolve_spec("resnet_tiny", **TINY_FAST), name="tiny_fast")
    kwargs = dict(data_dir=data_dir, epochs=3, batch_size=8, limit=32, verbose=0, precision="float32")
    result = zoo.train(spec, "airbench", out_dir=tmp_path / "runs", target_top1=0.0, test_from=2, **kwargs)
    assert result["status"] == "ok" and result["recipe_knobs"]["tta"] == 2 and result["recipe_knobs"]["whiten"]
    history = result["history"]
    assert np.isnan(history["test_top1"][0]) and not np.isnan(history["test_top1"][1])
    assert len(history["test_top1"]) == len(history["test_loss"]) == 3
    assert result["epochs_to_target"] == 2
    # DAWNBench: from the start of training to the end of the evaluation that reached the target
    assert result["seconds_to_target"] > result["compile_seconds"] + sum(result["epoch_seconds"][:2])
    assert result["seconds_to_target"] < result["compile_seconds"] + sum(result["epoch_seconds"]) + \
        result["test_seconds"] + result["build_seconds"]
    assert result["params"] == param_counts(zoo.build(spec))["trainable"] - 2 * 2 * 3 * 24  # the stem: frozen
    model = keras.saving.load_model(tmp_path / "runs" / result["run_dir"].split("/")[-1] / "model.keras")
    assert not model.get_layer("tiny_fast").get_layer("stem_conv").trainable
    averaged = zoo.train("resnet_tiny", "fast", lookahead=2, out_dir=None, **kwargs)
    plain = zoo.train("resnet_tiny", "fast", out_dir=None, **kwargs)
    assert averaged["status"] == "ok" and averaged["history"]["loss"] != plain["history"]["loss"]


def test_alternating_flip_mirrors_each_image_in_every_other_epoch(data_dir):
    from zoo.training.loops import alternating_flips

    parity = alternating_flips(1000, seed=3)
    assert 400 < parity.sum() < 600 and (alternating_flips(1000, seed=3) == parity).all()
    result = zoo.train("resnet_tiny", "fast", flip="alternate", data_dir=data_dir, epochs=2, batch_size=8, limit=32,
                       verbose=0, out_dir=None)
    assert result["status"] == "ok" and result["recipe_knobs"]["flip"] == "alternate"
    with pytest.raises(ZooError, match='recipe flip must be true, false or "alternate", got 1'):
        get_recipe("fast", flip=1)
