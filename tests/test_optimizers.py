"""zoo's Adam and AdamW update exactly as Keras' do, with fewer graph ops per step on TensorFlow.

Backend-portable: test_backends.py reruns this file under the other installed backend.
"""

import keras
import numpy as np
import pytest

import zoo
from zoo.training import optimizers

pytestmark = pytest.mark.portable

CASES = {
    "adam": (optimizers.Adam, keras.optimizers.Adam, {}),
    "adam_weight_decay": (optimizers.Adam, keras.optimizers.Adam, {"weight_decay": 0.05}),
    "adamw": (optimizers.AdamW, keras.optimizers.AdamW, {"weight_decay": 0.01}),
    "adam_amsgrad": (optimizers.Adam, keras.optimizers.Adam, {"amsgrad": True}),
    "adam_clipnorm": (optimizers.Adam, keras.optimizers.Adam, {"clipnorm": 0.5}),
    "adam_accumulation": (optimizers.Adam, keras.optimizers.Adam, {"gradient_accumulation_steps": 2}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_updates_match_keras(case):
    ours, theirs, kwargs = CASES[case]
    rng = np.random.default_rng(0)
    init = [rng.normal(size=shape).astype("float32") for shape in [(3, 3, 2, 4), (4,), (5,)]]
    mine, ref = [keras.Variable(x) for x in init], [keras.Variable(x) for x in init]
    schedule = keras.optimizers.schedules.ExponentialDecay(0.02, decay_steps=2, decay_rate=0.5)
    opt_mine, opt_ref = ours(schedule, **kwargs), theirs(schedule, **kwargs)
    for _ in range(6):
        grads = [keras.ops.convert_to_tensor(rng.normal(size=x.shape).astype("float32")) for x in init]
        opt_mine.apply(grads, mine)
        opt_ref.apply(grads, ref)
    for a, b, start in zip(mine, ref, init):
        a, b = keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b)
        assert not np.allclose(a, start)  # it trained
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert int(opt_mine.iterations) == int(opt_ref.iterations) > 0


def test_inside_a_loss_scale_optimizer():
    """Under mixed_float16, `fit` wraps the optimizer in Keras' LossScaleOptimizer, which calls its `apply`
    (on JAX through `stateless_apply` in the traced step): same weights as with Keras' Adam after 3 steps."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(24, 6)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 3, 24), 3)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        weights = []
        for make in (optimizers.Adam, keras.optimizers.Adam):
            keras.utils.set_random_seed(0)
            model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="relu"),
                                      keras.layers.Dense(3, dtype="float32")])
            model.compile(optimizer=make(0.01), loss=keras.losses.CategoricalCrossentropy(from_logits=True))
            assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
            start = model.get_weights()
            model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
            weights.append(model.get_weights())
            assert not np.allclose(start[0], weights[-1][0])  # it trained
    finally:
        keras.config.set_dtype_policy(previous)
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


def test_recipes_use_it_and_a_saved_model_loads_with_it(tmp_path):
    zoo.train("resnet_tiny", "mnist_functional", dataset="digits", epochs=1, limit=64, batch_size=32, verbose=0,
              out_dir=tmp_path)
    from zoo.training.predict import load_model

    (path,) = tmp_path.rglob("model.keras")
    model = load_model(path)
    if keras.backend.backend() == "torch":  # Keras' own Adam, which Keras swaps for its foreach update there
        assert type(model.optimizer).__module__.startswith("keras.src.backend.torch.optimizers")
    else:
        assert type(model.optimizer) is optimizers.Adam
    assert int(model.optimizer.iterations) > 0


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="counts TensorFlow graph ops")
def test_fewer_graph_ops_than_keras_adam():
    import tensorflow as tf

    def ops_in_train_step(optimizer):
        model = zoo.build("resnet_tiny")
        model.compile(optimizer=optimizer, loss="categorical_crossentropy")
        model.optimizer.build(model.trainable_variables)
        specs = (tf.TensorSpec((8, *model.input_shape[1:])), tf.TensorSpec((8, model.output_shape[-1])))
        graph = tf.function(lambda x, y: model.train_step((x, y))).get_concrete_function(*specs).graph
        return len(graph.get_operations()), len(model.trainable_variables)

    theirs, variables = ops_in_train_step(keras.optimizers.Adam(1e-3))
    ours, _ = ops_in_train_step(optimizers.Adam(1e-3))
    assert theirs - ours >= 10 * variables  # Keras' per-variable bias corrections: ~15 ops a variable
