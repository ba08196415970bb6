"""Recipes as data and `zoo.train` end to end on tiny data (every recipe for one epoch), plus bad input."""

import json

import keras
import numpy as np
import pytest
from datafiles import write_cifar, write_mnist

import zoo
from zoo.cli import main
from zoo.errors import DatasetError, ZooError
from zoo.training.recipes import KNOBS, RECIPES, get_recipe

pytestmark = pytest.mark.portable  # also runs under every other installed backend (test_backends)


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """CIFAR-10/100 pickles and MNIST IDX files, tiny, in their real formats."""
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    write_cifar(tmp_path / "data", "cifar10", n=16)
    write_cifar(tmp_path / "data", "cifar100", n=48)
    write_mnist(tmp_path / "data" / "mnist", n_train=60, n_test=20)
    return tmp_path / "data"


def test_article_recipes_hold_the_articles_settings():
    assert (RECIPES["tf2_cifar10"].lr, RECIPES["tf2_cifar10"].batch_size, RECIPES["tf2_cifar10"].epochs,
            RECIPES["tf2_cifar10"].preprocessing) == (1e-4, 128, 20, "minus1_1")
    assert (RECIPES["tf2_cifar100"].dataset, RECIPES["tf2_cifar100"].batch_size, RECIPES["tf2_cifar100"].epochs,
            RECIPES["tf2_cifar100"].preprocessing) == ("cifar100", 512, 500, "centered")
    assert (RECIPES["mnist_functional"].pad_to, RECIPES["mnist_functional"].validation_split,
            RECIPES["mnist_functional"].batch_size) == (32, 0.2, 64)
    r = RECIPES["d2l_cifar10"]
    assert (r.optimizer, r.lr, r.momentum, r.batch_size, r.epochs, r.validation_split) == \
        ("sgd", 0.005, 0.9, 100, 100, 0.1)
    fast = RECIPES["fast"]
    assert fast.schedule == "cosine" and fast.warmup_epochs > 0 and fast.label_smoothing > 0 and fast.flip


@pytest.mark.parametrize("overrides, message", [
    (dict(epochs=0), "recipe epochs must be an integer >= 1, got 0"),
    (dict(lr=-1.0), r"recipe lr must be a number in \[0, inf\), got -1.0"),
    (dict(optimizer="rmsprop"), "recipe optimizer must be one of adam, adamw, sgd, got 'rmsprop'"),
    (dict(precision="fp8"), "recipe precision must be one of"),
    (dict(preprocessing="zscore"), "recipe preprocessing must be one of"),
    (dict(epoch=3), r"unknown recipe knob\(s\): epoch \(did you mean epochs"),
])
def test_bad_recipe_knobs(overrides, message):
    with pytest.raises(ZooError, match=message):
        get_recipe("fast", **overrides)


def test_unknown_recipe():
    with pytest.raises(ZooError, match="unknown recipe 'fastest'; did you mean fast"):
        get_recipe("fastest")
    assert "epochs" in KNOBS and "name" not in KNOBS


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_every_recipe_runs_one_epoch_on_a_small_subset(recipe, data_dir, tmp_path):
    one_epoch = {"budget_images": 32} if RECIPES[recipe].budgeted else {"epochs": 1}  # 48 images: 2 batches
    variant = "airbench94" if RECIPES[recipe].whiten else "resnet_tiny"  # whitening needs its 2x2 stem of 24
    result = zoo.train(variant, recipe, data_dir=data_dir, batch_size=16, limit=48,
                       verbose=0, out_dir=tmp_path / "runs", **one_epoch)
    assert result["status"] == "ok" and result["epochs"] == 1 and result["recipe"] == recipe
    assert 0.0 <= result["top1"] <= 1.0 and np.isfinite(result["test_loss"])
    assert result["train_seconds"] > 0 and result["compile_seconds"] > 0 and result["train_images_per_second"] > 0
    assert result["dataset_source"] == RECIPES[recipe].dataset
    assert set(result["history"]) >= {"loss", "top1"}
    run = tmp_path / "runs" / result["run_dir"].split("/")[-1]
    saved = json.loads((run / "result.json").read_text())
    assert saved["top1"] == result["top1"]
    model = keras.saving.load_model(run / "model.keras")
    assert model.input.dtype == "uint8"


def test_train_is_deterministic_for_a_seed(data_dir):
    kwargs = dict(data_dir=data_dir, epochs=2, batch_size=16, limit=48, verbose=0, out_dir=None, seed=3)
    first = zoo.train("resnet_tiny", "fast", **kwargs)
    second = zoo.train("resnet_tiny", "fast", **kwargs)
    assert first["history"] == second["history"]
    assert (first["top1"], first["test_loss"]) == (second["top1"], second["test_loss"])


def test_mixed_bfloat16_trains_like_float32_and_reloads(data_dir, tmp_path):
    """bfloat16 training (on any CPU: slowly where it has no bfloat16 instructions): from the same seed its
    per-epoch losses stay within 5% of float32's, the batch-norm statistics stay finite float32, and the
    saved model reloads in bfloat16 and predicts finite outputs."""
    kwargs = dict(data_dir=data_dir, epochs=3, batch_size=16, limit=48, verbose=0, seed=5, optimizer="sgd",
                  lr=0.01)
    fp32 = zoo.train("resnet_tiny", "fast", precision="float32", out_dir=None, **kwargs)
    bf16 = zoo.train("resnet_tiny", "fast", precision="mixed_bfloat16", out_dir=tmp_path / "runs", **kwargs)
    assert bf16["precision"] == "mixed_bfloat16" and bf16["status"] == "ok"
    np.testing.assert_allclose(bf16["history"]["loss"], fp32["history"]["loss"], rtol=0.05)
    model = keras.saving.load_model(tmp_path / "runs" / bf16["run_dir"].split("/")[-1] / "model.keras")
    norms = [w for w in model.weights if "moving" in w.path]
    assert norms and all(w.dtype == "float32" and np.isfinite(keras.ops.convert_to_numpy(w)).all() for w in norms)
    assert any(layer.dtype_policy.name == "mixed_bfloat16" for layer in model.layers)
    images = np.random.default_rng(0).integers(0, 256, (4, *model.input.shape[1:]), dtype="uint8")
    assert np.isfinite(np.asarray(model.predict(images, verbose=0), "float32")).all()


@pytest.mark.parametrize("flags, backend, expected", [
    ("fpu sse4_2 avx avx2 fma avx512f avx512bw", "tensorflow", "float32"),  # AVX-512 without bfloat16
    ("fpu avx2 fma avx512f avx512_bf16", "tensorflow", "mixed_bfloat16"),  # AMD Zen 4, Intel Cooper Lake
    ("fpu avx2 fma avx512f avx512_bf16 amx_tile amx_bf16", "tensorflow", "mixed_bfloat16"),  # Sapphire Rapids
    ("fpu avx2 fma avx512f avx512_bf16 amx_bf16", "jax", "float32"),  # XLA:CPU gains nothing from it
    ("fpu avx2 fma avx512f avx512_bf16", "torch", "mixed_bfloat16"),
    ("fpu avx2 fma", "tensorflow", "float32"),
])
def test_auto_precision_follows_the_cpus_bfloat16_instructions(monkeypatch, flags, backend, expected):
    from zoo import runtime
    from zoo.training import policy

    monkeypatch.setattr(policy, "has_accelerator", lambda: False)
    monkeypatch.setattr(runtime, "_cpu_flags", lambda: set(flags.split()))
    monkeypatch.setattr(policy.keras.backend, "backend", lambda: backend)
    assert policy.resolve_precision("auto") == expected
    assert policy.resolve_precision("float32") == "float32"  # a flag forces either
    assert policy.resolve_precision("mixed_bfloat16") == "mixed_bfloat16"
    monkeypatch.setattr(policy, "has_accelerator", lambda: True)
    assert policy.resolve_precision("auto") == "mixed_bfloat16"


def test_model_that_does_not_fit_the_dataset(data_dir):
    model = zoo.build("resnet_tiny", num_classes=7)
    with pytest.raises(DatasetError, match=r"takes \(32, 32, 3\) images and predicts 7 classes, but the dataset "
                                           r"has \(32, 32, 3\) images and 10 classes"):
        zoo.train(model, "tf2_cifar10", data_dir=data_dir, epochs=1, verbose=0, out_dir=None)
    model = zoo.build("resnet_tiny")
    with pytest.raises(DatasetError, match=r"takes \(32, 32, 3\) images .* has \(32, 32, 1\) images"):
        zoo.train(model, "mnist_functional", data_dir=data_dir, epochs=1, verbose=0, out_dir=None)


def test_names_adapt_to_the_dataset(data_dir):
    result = zoo.train("resnet_tiny", "tf2_cifar100", data_dir=data_dir, epochs=1, verbose=0, out_dir=None)
    assert result["spec"]["num_classes"] == 100 and result["spec"]["input_shape"] == [32, 32, 3]


def test_cli_train_and_recipes(data_dir, tmp_path, capsys):
    assert main(["recipes"]) == 0
    assert "d2l_cifar10" in capsys.readouterr().out
    code = main(["train", "resnet_tiny", "--recipe", "mnist_functional", "--data-dir", str(data_dir),
                 "--epochs", "1", "--limit", "40", "--quiet", "--json", "--out-dir", str(tmp_path / "r"),
                 "--knob", "validation_split=0.25"])
    out = capsys.readouterr().out
    assert code == 0 and json.loads(out)["dataset_source"] == "mnist"
    code = main(["train", "resnet_tiny", "--recipe", "tf2_cifar100", "--data-dir", str(tmp_path / "empty"),
                 "--quiet"])
    assert code == 2 and "dataset 'cifar100' not found" in capsys.readouterr().err


def test_time_to_target_from_the_per_epoch_test_accuracy(data_dir):
    kwargs = dict(data_dir=data_dir, epochs=2, batch_size=16, limit=48, verbose=0, out_dir=None)
    reached = zoo.train("resnet_tiny", "fast", target_top1=0.0, **kwargs)
    assert len(reached["history"]["test_top1"]) == 2 and len(reached["history"]["test_loss"]) == 2
    assert reached["history"]["test_top1"][-1] == pytest.approx(reached["top1"])
    assert (reached["target_top1"], reached["epochs_to_target"]) == (0.0, 1)
    # DAWNBench: the compiling first step, the first epoch and its evaluation
    assert reached["epoch_seconds"][0] + reached["compile_seconds"] < reached["seconds_to_target"] < \
        reached["epoch_seconds"][0] + reached["compile_seconds"] + reached["test_seconds"]
    missed = zoo.train("resnet_tiny", "fast", target_top1=1.01, **kwargs)
    assert (missed["epochs_to_target"], missed["seconds_to_target"]) == (None, None)
    plain = zoo.train("resnet_tiny", "fast", **kwargs)
    assert "test_top1" not in plain["history"] and plain["target_top1"] is None
    assert plain["history"]["top1"] == reached["history"]["top1"]  # measuring the test split changes nothing


jax_only = pytest.mark.skipif(keras.backend.backend() != "jax", reason="the device loop is JAX-only")


@jax_only
def test_device_loop_trains_like_keras_fit(data_dir):
    kwargs = dict(data_dir=data_dir, epochs=2, batch_size=16, limit=48, verbose=0, out_dir=None, seed=1,
                  validation_split=0.25)
    fit = zoo.train("resnet_tiny", "fast", loop="keras", **kwargs)
    device = zoo.train("resnet_tiny", "fast", loop="device", **kwargs)
    assert (fit["loop"], device["loop"]) == ("keras", "device")
    assert set(device["history"]) == set(fit["history"]) >= {"loss", "top1", "val_top1", "val_loss"}
    assert device["epochs"] == fit["epochs"] == 2 and device["compile_seconds"] > 0
    # the same shuffles, augmentation draws and Keras train step: equal up to float reassociation
    np.testing.assert_allclose(device["history"]["loss"], fit["history"]["loss"], rtol=1e-3)
    assert device["top1"] == pytest.approx(fit["top1"], abs=0.07)


@jax_only
def test_device_loop_keeps_data_on_the_device_only_when_it_fits(monkeypatch):
    from zoo.training import device_loop
    assert device_loop.fits(2**20) and not device_loop.fits(2**40)
    monkeypatch.setattr(zoo.training.policy, "has_accelerator", lambda: True)
    assert zoo.training.policy.resolve_loop("auto", data_bytes=2**20) == "device"
    assert zoo.training.policy.resolve_loop("auto", data_bytes=2**40) == "keras"  # e.g. a large image folder


@jax_only
def test_device_epochs_on_a_small_model():
    from zoo.training.device_loop import DeviceEpochs

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="fc")(inputs))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
    x = np.random.default_rng(0).normal(size=(12, 4)).astype("float32")
    y = np.zeros((12, 2), "float32")
    epochs = DeviceEpochs(model, x, y, batch_size=4)
    assert epochs.steps == 3 and epochs.compile_seconds > 0
    with pytest.raises(ValueError, match=r"order must have shape \(3, 4\)"):
        epochs.run(np.arange(8).reshape(2, 4))
    first = epochs.run(np.arange(12).reshape(3, 4))
    second = epochs.run(np.arange(12).reshape(3, 4))
    assert set(first) == {"loss", "mae"} and second["loss"] < first["loss"]  # weights were written back
    assert model.evaluate(x, y, verbose=0, return_dict=True)["loss"] < first["loss"]


@jax_only
def test_device_loop_stops_a_diverging_run(data_dir):
    result = zoo.train("resnet_tiny", "fast", data_dir=data_dir, epochs=3, batch_size=16, limit=48, verbose=0,
                       out_dir=None, loop="device", optimizer="sgd", lr=1e38, schedule="constant", precision="float32")
    assert result["status"] == "diverged" and result["epochs"] < 3 and "loss became" in result["error"]


def test_the_nan_stop_never_writes_training_state_from_the_callback_thread():
    """It runs on Keras' callback thread; on JAX, `Callback.model` would write the loop's training state
    into the variables from there, racing the next step's donation of that state."""

    class Model:
        stop_training = False
        syncs = 0

        def jax_state_sync(self):
            self.syncs += 1

    from zoo.training.loops import _StopOnNaN

    model, stop = Model(), _StopOnNaN()
    stop.set_model(model)
    assert stop.async_safe
    stop.on_train_batch_end(0, {"loss": 2.3})
    assert not model.stop_training
    for loss in (float("nan"), float("inf")):
        model.stop_training = False
        stop.on_train_batch_end(1, {"loss": loss})
        assert model.stop_training
    assert model.syncs == 0


def test_loop_knob(data_dir):
    with pytest.raises(ZooError, match="recipe loop must be one of auto, keras, device, got 'scan'"):
        get_recipe("fast", loop="scan")
    if keras.backend.backend() != "jax":
        with pytest.raises(ZooError, match='loop "device" needs the JAX backend'):
            zoo.train("resnet_tiny", "fast", data_dir=data_dir, epochs=1, limit=16, verbose=0, out_dir=None,
                      loop="device")
    on_accelerator = keras.backend.backend() == "jax" and zoo.training.policy.has_accelerator()
    assert zoo.training.policy.resolve_loop("auto") == ("device" if on_accelerator else "keras")


@pytest.mark.slow
def test_digits_reaches_95_percent_on_cpu():
    result = zoo.train("resnet_tiny", "mnist_functional", dataset="digits", epochs=15, validation_split=0.0,
                       verbose=0, out_dir=None)
    assert result["top1"] >= 0.95, result["top1"]


@pytest.mark.parametrize("knobs, message", [
    (dict(limit=0), "limit must be a whole number of images >= 2, got 0"),
    (dict(limit=1), "limit must be a whole number of images >= 2, got 1"),
    (dict(limit=-5), "limit must be a whole number of images >= 2, got -5"),
    (dict(test_limit=0), "test_limit must be a whole number of images >= 1, got 0"),
    (dict(limit=2, validation_split=0.9), "validation_split 0.9 of 2 training images leaves none to train on"),
])
def test_image_limits_that_leave_nothing_to_train_or_test_are_errors(data_dir, knobs, message):
    with pytest.raises(ZooError, match=message):
        zoo.train("resnet_tiny", "mnist_functional", data_dir=data_dir, out_dir=None, verbose=0, **knobs)


def test_precise_bn_with_fewer_images_than_its_batch_still_reestimates():
    # quick's 128 images against PRECISE_BN_BATCH = 256 once made zero whole batches: statistics left as trained
    from zoo.training.batchnorm import reestimate_batchnorm

    model = keras.Sequential([keras.Input((4,)), keras.layers.BatchNormalization(name="bn")])
    x = np.random.default_rng(0).normal(5.0, 2.0, (100, 4)).astype("float32")
    assert reestimate_batchnorm(model, x, batch_size=256) == 100
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.get_layer("bn").moving_mean), x.mean(0), atol=1e-4)


def test_an_epoch_feeds_whole_batches_and_tensorflow_without_autotuning():
    """A budget stops `fit` mid-epoch; on TensorFlow the abandoned iterator of an autotuned tf.data pipeline
    stalled the next traced call for as long as the run had trained (zoo.training.loops._epoch_input)."""
    from zoo.training.loops import _epoch_input

    x = np.arange(70 * 2 * 2, dtype="uint8").reshape(70, 2, 2, 1)
    y = np.eye(2, dtype="float32")[np.arange(70) % 2]
    feed = _epoch_input(x, y, 32)
    if keras.backend.backend() != "tensorflow":
        assert feed["x"] is x and feed["y"] is y and feed["batch_size"] == 32
        return
    dataset = feed["x"]
    assert dataset.options().autotune.enabled is False
    batches = [(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b)) for a, b in dataset]
    assert [len(a) for a, _ in batches] == [32, 32]  # whole batches only, in the given order
    np.testing.assert_array_equal(np.concatenate([a for a, _ in batches]), x[:64])
    np.testing.assert_array_equal(np.concatenate([b for _, b in batches]), y[:64])
