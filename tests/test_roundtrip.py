"""Spec JSON, Keras config and `.keras` round trips give the same model and identical outputs.

Backend-portable: test_backends.py reruns this file under the other installed backend.
"""

import keras
import numpy as np
import pytest

import zoo
from zoo.models.resnet.spec import ResNetSpec

pytestmark = pytest.mark.portable  # also runs under every other installed backend (test_backends)

TINY_KINDS = {  # small models that between them use every layer kind zoo builds
    "basic_conv_bn": dict(),
    "option_a": dict(shortcut="identity_pad"),
    "resnet_d": dict(shortcut="avg_down", stem_deep=True),
    "preact_bottleneck": dict(block="bottleneck", preact=True, stem_filters=4, widths=(4, 8, 16), shortcut="conv"),
    "resnext_se_drop_path": dict(block="bottleneck", groups=2, base_width=32, attention="se", se_reduction=2,
                                 drop_path=0.1, stem_filters=4, widths=(4, 8, 16)),
    "flatten_softmax": dict(head="flatten", head_hidden=16, head_dropout=0.2, head_activation="softmax",
                            stem_pool="max", stem_pool_size=2, stem_pool_stride=2, block_dropout=0.1),
}


def _randomize(model, seed=0):
    """Random values for every variable (BN moving variance kept positive), so nothing is default."""
    rng = np.random.default_rng(seed)
    model.set_weights([
        (rng.random(w.shape) + 0.5 if "variance" in v.path else rng.normal(0, 0.1, w.shape)).astype(w.dtype)
        for v, w in zip(model.weights, model.get_weights())
    ])
    return model


def _images(shape, n=3, seed=1):
    return np.random.default_rng(seed).random((n, *shape)).astype("float32")


def _predict(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


@pytest.mark.parametrize("kind", sorted(TINY_KINDS))
def test_keras_file_round_trip_has_identical_outputs(kind, tmp_path):
    model = _randomize(zoo.build("resnet_tiny", **TINY_KINDS[kind]))
    x = _images(model.input_shape[1:])
    path = tmp_path / f"{kind}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # no custom_objects: zoo's layers are registered
    assert loaded.name == model.name
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    np.testing.assert_array_equal(_predict(loaded, x), _predict(model, x))


@pytest.mark.parametrize("name", ["resnet18_cifar10_tf2", "resnet18_mnist_functional", "resnet20"])
def test_article_variant_keras_file_round_trip(name, tmp_path):
    model = _randomize(zoo.build(name))
    x = _images(model.input_shape[1:], n=2)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(_predict(loaded, x), _predict(model, x))


@pytest.mark.parametrize("kind", sorted(TINY_KINDS))
def test_spec_json_round_trip_builds_the_same_model(kind):
    spec = zoo.resolve_spec("resnet_tiny", **TINY_KINDS[kind])
    first = _randomize(zoo.build(spec))
    second = zoo.build(ResNetSpec.from_json(spec.to_json()))
    assert second.get_config() == first.get_config()
    second.set_weights(first.get_weights())
    x = _images(spec.input_shape)
    np.testing.assert_array_equal(_predict(second, x), _predict(first, x))


def test_keras_config_json_round_trip():
    model = _randomize(zoo.build("resnet_tiny", shortcut="identity_pad"))
    clone = keras.models.model_from_json(model.to_json())
    clone.set_weights(model.get_weights())
    x = _images(model.input_shape[1:])
    np.testing.assert_array_equal(_predict(clone, x), _predict(model, x))


def test_models_train_one_step():
    model = zoo.build("resnet_tiny")
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = _images((32, 32, 3), n=8), np.arange(8) % 10
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
