"""The `ema` recipe knob: Keras' own exponential moving average of the weights (`use_ema`) scores and saves the
run, and never changes the training steps, though the zoo calls `fit` once per epoch."""

import keras
import numpy as np
import pytest
from test_train import data_dir  # noqa: F401  (the tiny CIFAR / MNIST files fixture)

import zoo
from zoo.errors import ZooError
from zoo.training.recipes import get_recipe

pytestmark = pytest.mark.portable  # also runs under every other installed backend (test_backends)

KNOBS = dict(epochs=3, batch_size=8, limit=32, verbose=0, precision="float32", seed=2, target_top1=0.0)


class _Model(keras.callbacks.Callback):
    """Keeps the trained model for the test to read."""


def test_the_average_is_scored_and_saved_and_training_runs_on_the_trained_weights(data_dir, tmp_path):  # noqa: F811
    if keras.backend.backend() == "jax":  # refused there, by name (zoo.training.trainer._fit)
        with pytest.raises(ZooError, match="ema on the JAX backend"):
            zoo.train("resnet_tiny", "fast", data_dir=data_dir, out_dir=None, ema=0.9, **KNOBS)
        return
    plain = zoo.train("resnet_tiny", "fast", data_dir=data_dir, out_dir=None, **KNOBS)
    seen = _Model()
    averaged = zoo.train("resnet_tiny", "fast", data_dir=data_dir, out_dir=tmp_path, ema=0.9, callbacks=[seen],
                         **KNOBS)
    assert averaged["status"] == "ok" and averaged["recipe_knobs"]["ema"] == 0.9
    # the steps are those of the plain run: each epoch trains on from the trained weights, not the average
    np.testing.assert_allclose(averaged["history"]["loss"], plain["history"]["loss"], rtol=1e-5, atol=1e-6)
    # every epoch's test score is the average's
    assert not np.allclose(averaged["history"]["test_loss"], plain["history"]["test_loss"], rtol=1e-4)
    model = seen.model
    average = model.optimizer._model_variables_moving_average  # Keras' own average, in the optimizer
    for variable, mean in zip(model.trainable_weights, average):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), keras.ops.convert_to_numpy(mean))
    saved = keras.saving.load_model(tmp_path / averaged["run_dir"].split("/")[-1] / "model.keras")
    saved_weights = {w.path: keras.ops.convert_to_numpy(w) for w in saved.trainable_weights}
    for variable in model.trainable_weights:  # the saved model holds the average too
        np.testing.assert_array_equal(saved_weights[variable.path], keras.ops.convert_to_numpy(variable))


@pytest.mark.parametrize("value", [1, 1.5, -0.1, True])
def test_ema_outside_0_1_is_refused_by_name(value):
    with pytest.raises(ZooError, match=r"recipe ema must be a number in \[0, 1\), got"):
        get_recipe("fast", ema=value)
