"""zoo's own layers: the matrix-product convolution gives Keras' Conv2D results and gradients; the fused
batch norm gives Keras' BatchNormalization outputs, gradients and moving statistics.

Backend-portable: test_backends.py reruns this file under the other installed backend.
"""

import keras
import numpy as np
import pytest

from zoo.models import layers
from zoo.models.layers import BatchNormalization, Conv2D, _live_taps, matmul_max_positions

pytestmark = pytest.mark.portable  # also runs under every other installed backend (test_backends)

GEOMETRIES = [  # (input size, kernel, stride, padding)
    (1, 3, 1, "same"), (2, 3, 1, "same"), (2, 3, 2, "same"), (3, 3, 2, "same"), (4, 1, 2, "same"),
    (4, 3, 1, "valid"), (5, 3, 2, "valid"), (4, 7, 2, "same"), (3, 2, 1, "same"), (8, 3, 2, "same"),
    (2, 5, 1, "same"),
]


@pytest.fixture
def matmul_up_to_4x4(monkeypatch):
    """Every geometry above through the matrix product, whatever this runtime's threshold."""
    monkeypatch.delenv("ZOO_MATMUL_MAX_POSITIONS", raising=False)
    monkeypatch.setitem(layers.MATMUL_MAX_POSITIONS, "eigen", 16)
    monkeypatch.setitem(layers.MATMUL_MAX_POSITIONS, "other", 16)


def _pair(x, kernel, stride, padding, use_bias=True):
    fast = Conv2D(6, kernel, strides=stride, padding=padding, use_bias=use_bias)
    plain = keras.layers.Conv2D(6, kernel, strides=stride, padding=padding, use_bias=use_bias)
    fast(x), plain(x)
    plain.set_weights(fast.get_weights())
    return fast, plain


@pytest.mark.parametrize("size,kernel,stride,padding", GEOMETRIES)
def test_matmul_convolution_equals_keras_conv2d(size, kernel, stride, padding, matmul_up_to_4x4):
    x = np.random.default_rng(0).standard_normal((3, size, size, 5)).astype("float32")
    fast, plain = _pair(x, kernel, stride, padding)
    assert fast._as_matmul(x.shape)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(fast(x)), keras.ops.convert_to_numpy(plain(x)),
                               atol=1e-5)


def test_matmul_convolution_trains_like_keras_conv2d(matmul_up_to_4x4):
    """One SGD step on each gives the same kernel: the gradients agree too."""
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((8, 2, 2, 4)).astype("float32"), rng.standard_normal((8, 2, 2, 6)).astype("float32")
    kernels = []
    for layer_class in (Conv2D, keras.layers.Conv2D):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((2, 2, 4)), layer_class(6, 3, padding="same", name="c")])
        model.compile(keras.optimizers.SGD(0.1), "mse")
        model.train_on_batch(x, y)
        kernels.append(keras.ops.convert_to_numpy(model.get_layer("c").kernel))
    np.testing.assert_allclose(kernels[0], kernels[1], atol=1e-5)


def test_large_maps_keep_the_backend_convolution():
    layer = Conv2D(4, 3, padding="same")
    assert not layer._as_matmul((None, 8, 8, 3))
    assert layer._as_matmul((None, 2, 2, 3)) and matmul_max_positions() >= 4
    assert layer._as_matmul((None, 4, 4, 3)) == (matmul_max_positions() >= 16)


def test_taps_that_only_read_padding_are_left_out():
    assert _live_taps(1, 1, 1, 3, 1) == [1]  # "same" 3x3 on a 1x1 map: the centre tap only
    assert _live_taps(2, 2, 2, 5, 1) == [1, 2, 3]  # 5 wide on a 2x2 map: the outer taps read padding only
    assert _live_taps(2, 1, 2, 3, 1) == [0, 1, 2]


def test_eigen_kernels_take_the_matrix_product_up_to_4x4(monkeypatch):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's kernel choice")
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    assert matmul_max_positions() == 16
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    assert matmul_max_positions() == 4
    monkeypatch.setenv("ZOO_MATMUL_MAX_POSITIONS", "0")  # for measuring the choice: never
    assert matmul_max_positions() == 0


def test_builders_emit_the_matmul_convolution_on_small_maps(build_once):
    model = build_once("resnet18_mnist_functional")  # 32x32 input: stage 4 runs on 1x1 maps
    conv = model.get_layer("stage4_block2_conv2")
    assert isinstance(conv, Conv2D) and conv._as_matmul(conv.input.shape)
    assert not model.get_layer("stem_conv")._as_matmul(model.get_layer("stem_conv").input.shape)


@pytest.mark.parametrize("channels", [3, 4, 7, 16])
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_strided_1x1_convolution_trains_with_exact_gradients(channels, padding):
    """A stride-2 1x1 convolution (a conv shortcut) on few channels: outputs and one SGD step's kernel
    equal numpy's. oneDNN's strided 1x1 kernel got these weight gradients wrong for 3-7 channels (and hung
    in PyTorch); the layer computes them as a subsample and a unit-stride convolution."""
    rng = np.random.default_rng(channels)
    x = rng.standard_normal((32, 32, 32, channels)).astype("float32")
    y = rng.standard_normal((32, 16, 16, 8)).astype("float32")
    kernel = rng.standard_normal((1, 1, channels, 8)).astype("float32")
    model = keras.Sequential([keras.Input((32, 32, channels)),
                              Conv2D(8, 1, strides=2, padding=padding, use_bias=False, name="c")])
    model.get_layer("c").kernel.assign(kernel)
    picked = x[:, ::2, ::2, :]
    predicted = np.einsum("nhwc,co->nhwo", picked, kernel[0, 0])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), predicted, rtol=1e-4, atol=1e-4)
    model.compile(keras.optimizers.SGD(1.0), "mse")
    model.train_on_batch(x, y)
    gradient = np.einsum("nhwc,nhwo->co", picked, 2 * (predicted - y) / y.size)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.get_layer("c").kernel)[0, 0],
                               kernel[0, 0] - gradient, rtol=1e-4, atol=1e-5)


@pytest.fixture
def fused_on(monkeypatch):
    """The default: the fused batch norm on (zoo.models.layers.fused_batchnorm_enabled), whatever the
    environment running the tests sets."""
    monkeypatch.delenv("ZOO_FUSED_BN", raising=False)


def _trained_norms(x, y, epsilon: float, steps: int = 2):
    """The zoo's and Keras' batch norm trained side by side from the same start: (outputs in training and
    in inference mode, gamma, beta, moving mean, moving variance) for each."""
    found = []
    for layer_class in (BatchNormalization, keras.layers.BatchNormalization):
        model = keras.Sequential([keras.Input(x.shape[1:]), layer_class(momentum=0.5, epsilon=epsilon, name="bn")])
        model.compile(keras.optimizers.SGD(0.5), "mse")
        for _ in range(steps):
            model.train_on_batch(x, y)
        bn = model.get_layer("bn")
        values = [model(x, training=True), model(x, training=False), model.predict(x, verbose=0),
                  bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance]
        found.append([keras.ops.convert_to_numpy(value) for value in values])
    return found


@pytest.mark.parametrize("epsilon", [1e-3, 1e-5])
def test_fused_batchnorm_trains_like_keras_batchnorm(epsilon, fused_on):
    """Two SGD steps on each: the same outputs (training and inference mode, eager and compiled), the same
    gamma and beta (so the same gradients) and the same moving statistics. On TensorFlow the zoo's layer
    runs the fused kernel; elsewhere it is Keras' own."""
    rng = np.random.default_rng(2)
    x = rng.normal(3.0, 2.0, (16, 6, 6, 8)).astype("float32")
    y = rng.normal(0.0, 1.0, (16, 6, 6, 8)).astype("float32")
    fused, plain = _trained_norms(x, y, epsilon)
    for ours, theirs in zip(fused, plain):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)
    assert not np.allclose(fused[3], 1.0)  # gamma moved: the comparison saw real gradients


@pytest.fixture
def mixed_bfloat16():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    yield
    keras.config.set_dtype_policy(previous)


def test_fused_batchnorm_trains_like_keras_batchnorm_in_mixed_bfloat16(fused_on, mixed_bfloat16):
    """bfloat16 activations (the `mixed_bfloat16` policy): the fused kernel takes them with float32 scale,
    offset and statistics, as Keras' layer computes them; outputs agree to bfloat16's rounding (3 digits),
    weights and moving statistics to float32's."""
    rng = np.random.default_rng(4)
    x = rng.normal(3.0, 2.0, (16, 6, 6, 8)).astype("float32")
    y = rng.normal(0.0, 1.0, (16, 6, 6, 8)).astype("float32")
    fused, plain = _trained_norms(x, y, 1e-3)
    for ours, theirs in zip(fused[:3], plain[:3]):  # outputs: bfloat16
        np.testing.assert_allclose(np.asarray(ours, "float32"), np.asarray(theirs, "float32"), rtol=2e-2, atol=2e-2)
    for ours, theirs in zip(fused[3:], plain[3:]):  # gamma, beta, moving statistics: float32 variables
        assert ours.dtype == theirs.dtype == np.float32
        np.testing.assert_allclose(ours, theirs, rtol=1e-2, atol=1e-3)
    assert not np.allclose(fused[3], 1.0) and np.isfinite(fused[6]).all()


def test_fused_batchnorm_runs_tensorflow_fused_kernel(monkeypatch, fused_on):
    """On TensorFlow, by default, a 4-D float32 or bfloat16 batch norm trains through FusedBatchNormV3 (and a
    bfloat16 one infers through it); float32 inference, `ZOO_FUSED_BN=0` and 2-D inputs keep Keras' ops."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the fused kernel is TensorFlow's")
    import tensorflow as tf

    def op_types(layer, x, training):
        function = tf.function(lambda t: layer(t, training=training))
        return {op.type for op in function.get_concrete_function(tf.constant(x)).graph.get_operations()}

    x = np.ones((2, 3, 3, 4), "float32")
    layer = BatchNormalization()
    assert "FusedBatchNormV3" in op_types(layer, x, True) and "FusedBatchNormV3" not in op_types(layer, x, False)
    assert "FusedBatchNormV3" not in op_types(BatchNormalization(), np.ones((2, 4), "float32"), True)
    # bfloat16 activations (mixed_bfloat16) train and infer through it, with float32 scale and statistics
    bf16 = tf.cast(x, tf.bfloat16)
    assert "FusedBatchNormV3" in op_types(BatchNormalization(dtype="mixed_bfloat16"), bf16, True)
    assert "FusedBatchNormV3" in op_types(BatchNormalization(dtype="mixed_bfloat16"), bf16, False)
    monkeypatch.setenv("ZOO_FUSED_BN", "0")
    assert "FusedBatchNormV3" not in op_types(BatchNormalization(), x, True)


def test_builders_emit_the_fused_batchnorm(build_once):
    model = build_once("resnet18_mnist_functional")
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and all(isinstance(layer, BatchNormalization) for layer in norms)


def test_fused_batchnorm_on_one_value_per_channel_keeps_finite_statistics(fused_on):
    """Batch 1 on a 1x1 map (a ResNet's last stage at batch 1): one value per channel, whose unbiased
    variance is undefined; the moving variance stays what Keras' layer gives, not NaN."""
    x = np.random.default_rng(3).random((1, 1, 1, 8)).astype("float32")
    fused, plain = BatchNormalization(), keras.layers.BatchNormalization()
    outputs = [keras.ops.convert_to_numpy(layer(x, training=True)) for layer in (fused, plain)]
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(fused.moving_variance),
                               keras.ops.convert_to_numpy(plain.moving_variance), atol=1e-6)
