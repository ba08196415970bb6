"""The zoo's own layers (a zero-padding shortcut, a convolution and a batch norm that are faster on a CPU),
registered so `.keras` files reload without `custom_objects`."""

import os

import keras

from zoo import runtime
from zoo.environment import backend_module


@keras.saving.register_keras_serializable(package="zoo")
class ChannelPad(keras.layers.Layer):
    """Append `extra` zero channels to a channels-last tensor (He et al.'s option-A shortcut).

    >>> import numpy as np
    >>> tuple(ChannelPad(2)(np.ones((1, 2, 2, 3), "float32")).shape)
    (1, 2, 2, 5)
    """

    def __init__(self, extra: int, **kwargs):
        super().__init__(**kwargs)
        if isinstance(extra, bool) or not isinstance(extra, int) or extra < 0:
            raise ValueError(f"ChannelPad extra must be an integer >= 0, got {extra!r}")
        self.extra = extra

    def call(self, inputs):
        return keras.ops.pad(inputs, [[0, 0], [0, 0], [0, 0], [0, self.extra]])

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1]
        return (*input_shape[:-1], None if channels is None else channels + self.extra)

    def get_config(self):
        return {**super().get_config(), "extra": self.extra}


#: Largest output map (in positions) a convolution computes as one matrix product: up to 4x4 with
#: TensorFlow's Eigen kernels, up to 2x2 elsewhere (oneDNN and the other backends are faster than a matrix
#: product on larger maps). Measured on resnet18 / resnet18_cifar / resnet18_mnist_functional training steps:
#: benchmarks/results/cpu-2core/README.md, "Where training time goes on the CPU". `ZOO_MATMUL_MAX_POSITIONS`
#: in the environment overrides both (0: never), for measuring the choice.
MATMUL_MAX_POSITIONS = {"eigen": 16, "other": 4}


#: Strided 1x1 convolutions on fewer input channels than this are computed as a subsample followed by a
#: unit-stride 1x1 convolution. Why: oneDNN's strided 1x1 kernel for channels-last inputs with fewer input
#: channels than its register block (8 with AVX2, 16 with AVX-512) computes wrong weight gradients: on this
#: AVX2 CPU TensorFlow with oneDNN (zoo's default there) got gradients wrong by as much as their own size
#: for 3 to 7 channels, and PyTorch's CPU build (the torch backend) hung in the same kernel (oneDNN issue
#: 6035; measured in benchmarks/results/cpu-2core/README.md, "What limits the JAX and torch backends"). The
#: zoo's article variants never have so few channels; narrow searched or tiny specs (`resnet_tiny` at
#: width 0.5: 4-channel shortcuts) do.
STRIDED_1X1_MIN_CHANNELS = 16


def subsamples_strided_1x1(kernel_size, strides, groups: int, channels: int | None) -> bool:
    """Whether a convolution is one the zoo computes as a subsample and a unit-stride 1x1 convolution
    (`STRIDED_1X1_MIN_CHANNELS`); the PyTorch reference network asks the same."""
    return (tuple(kernel_size) == (1, 1) and tuple(strides) != (1, 1) and groups == 1
            and channels is not None and channels < STRIDED_1X1_MIN_CHANNELS)


def matmul_max_positions() -> int:
    if os.environ.get("ZOO_MATMUL_MAX_POSITIONS", "").strip().isdigit():
        return int(os.environ["ZOO_MATMUL_MAX_POSITIONS"])
    eigen = keras.backend.backend() == "tensorflow" and not runtime.onednn_enabled()
    return MATMUL_MAX_POSITIONS["eigen" if eigen else "other"]


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """(output size, pad before, pad after) of a "same" convolution along one axis (TensorFlow's rule)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2


def _live_taps(out: int, before: int, size: int, kernel: int, stride: int) -> list[int]:
    """Kernel offsets along one axis that read at least one real (not padding) input for some output."""
    return [k for k in range(kernel) if any(before <= o * stride + k < before + size for o in range(out))]


@keras.saving.register_keras_serializable(package="zoo")
class Conv2D(keras.layers.Conv2D):
    """`keras.layers.Conv2D` that computes a convolution with a small output map (`matmul_max_positions()`)
    as one matrix product over its patches (im2col), leaving out kernel taps that only ever read padding
    (on a 1x1 map, 8 of a 3x3 kernel's 9); the same kernel, weights, names and results.

    Why: ResNets end on such maps on 28-32 pixel inputs, where the backends' convolutions are slow: with
    TensorFlow's Eigen kernels the gradient w.r.t. the input of a 3x3, 512-channel convolution on a 1x1 or
    2x2 map is an order of magnitude slower than the same arithmetic as a matrix product (measured:
    benchmarks/results/cpu-2core/README.md, "Measurements behind the library's choices"), and on a
    1x1 map a "same" 3x3 convolution is a 1x1 one (a ninth of the arithmetic) that no backend shortcuts.
    A strided 1x1 convolution on few input channels is computed as a subsample and a unit-stride one
    (`STRIDED_1X1_MIN_CHANNELS`: oneDNN's strided 1x1 kernel gets its weight gradient wrong there).

    >>> import numpy as np
    >>> x = np.random.default_rng(0).random((2, 2, 2, 8)).astype("float32")
    >>> fast = Conv2D(4, 3, padding="same")
    >>> plain = keras.layers.Conv2D(4, 3, padding="same")
    >>> _ = fast(x), plain(x)
    >>> plain.set_weights(fast.get_weights())
    >>> bool(np.allclose(fast(x), plain(x), atol=1e-5))
    True
    """

    def _as_matmul(self, shape) -> bool:
        height, width = shape[1], shape[2]
        if (height is None or width is None or self.data_format != "channels_last" or self.groups != 1
                or tuple(self.dilation_rate) != (1, 1)):
            return False
        (out_h, _, _), (out_w, _, _) = self._geometry(height, width)
        return out_h * out_w <= matmul_max_positions()

    def _geometry(self, height: int, width: int):
        axes = []
        for size, kernel, stride in zip((height, width), self.kernel_size, self.strides):
            if self.padding == "same":
                axes.append(_same_padding(size, kernel, stride))
            else:
                axes.append(((size - kernel) // stride + 1, 0, 0))
        return axes

    def _strided_pointwise(self, shape) -> bool:
        """A strided 1x1 convolution on fewer than `STRIDED_1X1_MIN_CHANNELS` input channels."""
        return (tuple(self.dilation_rate) == (1, 1) and self.data_format == "channels_last"
                and subsamples_strided_1x1(self.kernel_size, self.strides, self.groups, shape[-1]))

    def convolution_op(self, inputs, kernel):
        as_matmul = self._as_matmul(inputs.shape)
        if not as_matmul and self._strided_pointwise(inputs.shape):
            # every stride-th pixel, then a unit-stride 1x1 convolution: the same outputs for "same" and
            # "valid" padding (a 1x1 kernel never reads padding), without oneDNN's strided 1x1 kernel
            s_h, s_w = self.strides
            return keras.ops.conv(inputs[:, ::s_h, ::s_w, :], kernel, strides=1, padding="valid",
                                  data_format=self.data_format)
        if not as_matmul:
            return super().convolution_op(inputs, kernel)
        height, width = inputs.shape[1], inputs.shape[2]
        (out_h, top, bottom), (out_w, left, right) = self._geometry(height, width)
        (k_h, k_w), (s_h, s_w) = self.kernel_size, self.strides
        rows = _live_taps(out_h, top, height, k_h, s_h)
        cols = _live_taps(out_w, left, width, k_w, s_w)
        padded = keras.ops.pad(inputs, [[0, 0], [top, bottom], [left, right], [0, 0]])
        taps = [(i, j) for i in rows for j in cols]
        patches = [padded[:, i:i + (out_h - 1) * s_h + 1:s_h, j:j + (out_w - 1) * s_w + 1:s_w, :] for i, j in taps]
        columns = patches[0] if len(patches) == 1 else keras.ops.concatenate(patches, axis=-1)
        weights = [kernel[i, j] for i, j in taps]  # (channels, filters) each, in the columns' order
        weights = weights[0] if len(weights) == 1 else keras.ops.concatenate(weights, axis=0)
        flat = keras.ops.reshape(columns, (-1, len(taps) * inputs.shape[-1]))
        out = keras.ops.matmul(flat, weights)
        return keras.ops.reshape(out, (-1, out_h, out_w, self.filters))


def fused_batchnorm_enabled() -> bool:
    """Whether `BatchNormalization` trains through TensorFlow's fused kernel: yes unless `ZOO_FUSED_BN=0` is
    in the environment (for measuring the difference). It trains 5-20% faster on a CPU
    (benchmarks/results/cpu-2core/README.md); its gradients are within float32 noise of a float64
    reference with Eigen's and oneDNN's kernels (tests/test_kernels.py)."""
    return os.environ.get("ZOO_FUSED_BN", "1").strip() != "0"


@keras.saving.register_keras_serializable(package="zoo")
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` whose training step runs as TensorFlow's fused batch norm (one
    kernel forward, one backward: oneDNN's where TensorFlow uses oneDNN) on 4-D channels-last float32 or
    bfloat16 inputs (`mixed_bfloat16`: statistics, scale and offset stay float32, as in Keras' own);
    `ZOO_FUSED_BN=0` turns it off (`fused_batchnorm_enabled`). The same weights, moving-average update and
    results. Inference, other backends, dtypes and options (renorm, synchronized, masks) use Keras' own.

    Why: Keras 3 composes batch norm from elementwise and reduction ops on every backend, several passes
    over each activation forward and backward; on this 2-core CPU that cost 2.6-2.8x PyTorch's fused batch
    norm in a ResNet training step (benchmarks/results/cpu-2core/README.md, "Where training time goes on
    the CPU"). tf.keras 2 used the fused kernel by default; Keras 3 does not.

    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(3.0, 2.0, (4, 5, 5, 8)).astype("float32")
    >>> fused, plain = BatchNormalization(momentum=0.5), keras.layers.BatchNormalization(momentum=0.5)
    >>> ys = fused(x, training=True), plain(x, training=True)
    >>> bool(np.allclose(*ys, atol=1e-4))
    True
    >>> bool(np.allclose(fused.moving_variance, plain.moving_variance, atol=1e-4))
    True
    """

    def _fusable(self, inputs, mask) -> bool:
        return bool(mask is None and not self.renorm and not self.synchronized and self.center
                    and keras.backend.backend() == "tensorflow" and len(inputs.shape) == 4
                    and self.axis in (3, -1) and inputs.dtype in ("float32", "bfloat16")
                    and self.beta.dtype == "float32" and fused_batchnorm_enabled())

    def _scale(self):
        """The fused kernel's scale: gamma, or ones where the layer has none (`scale=False`, airbench's frozen 1)."""
        return self.gamma if self.scale else keras.ops.ones_like(self.beta)

    def call(self, inputs, training=None, mask=None):
        # float32 inference keeps Keras' ops: TensorFlow's fused inference kernel slowed nets with biased
        # convolutions (resnet50_keras at 96x96: 102-113 -> 79-85 images/s); bfloat16's gains (below)
        if not (training and self.trainable) and self._fusable(inputs, mask) and inputs.dtype == "bfloat16":
            return self._fused_inference(inputs)
        if not (training and self.trainable and self._fusable(inputs, mask)):
            return super().call(inputs, training=training, mask=mask)
        tf = backend_module()
        empty = tf.constant([], dtype="float32")
        outputs, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
            x=inputs, scale=self._scale(), offset=self.beta, mean=empty, variance=empty, epsilon=self.epsilon,
            exponential_avg_factor=1.0, data_format="NHWC", is_training=True)
        # the kernel's variance is the unbiased one (n - 1); Keras averages the biased one (n), as here
        count = tf.cast(tf.size(inputs) // tf.shape(inputs)[-1], "float32")
        variance = variance * (count - 1.0) / count
        momentum = self.momentum
        self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
        self.moving_variance.assign(self.moving_variance * momentum + variance * (1.0 - momentum))
        return keras.ops.cast(outputs, self.compute_dtype)

    def _fused_inference(self, inputs):
        """bfloat16 inference through the fused kernel: one pass instead of Keras' casts to float32 and back
        around its composed ops. Interleaved on an AMD EPYC with AVX512_BF16 (predict_on_batch, median of
        10, two rounds): resnet18_cifar 32x32 b64 284 / 336 -> 343 / 360 images/s, resnet50 96x96 b32
        157 / 164 -> 185 / 185."""
        outputs, *_ = backend_module().raw_ops.FusedBatchNormV3(
            x=inputs, scale=self._scale(), offset=self.beta, mean=self.moving_mean, variance=self.moving_variance,
            epsilon=self.epsilon, data_format="NHWC", is_training=False)
        return outputs


@keras.saving.register_keras_serializable(package="zoo")
class PartialDirac(keras.initializers.Initializer):
    """Conv kernels (torch's default init) whose first `min(in, out)` filters are the identity (a 1 at the kernel's
    centre on their own input channel), so each conv starts by passing part of its input through unchanged.

    Why: airbench's ablations (K. Jordan, cifar10-zoo `airbench_ablations`) cut the epochs to 94% from 21 to
    18 with this init alone. Even kernels have no centre: they get the random init alone.

    >>> import numpy as np
    >>> w = np.asarray(PartialDirac(seed=0)((3, 3, 2, 4)))
    >>> [float(w[1, 1, i, i]) for i in range(2)], float(w[0, 0, 0, 0]), float(w[0, 0, 0, 3]) != 0.0
    ([1.0, 1.0], 0.0, True)
    """

    def __init__(self, seed=None):
        self.seed = seed

    def __call__(self, shape, dtype=None):
        # torch's default conv init (uniform, bound 1 / sqrt(fan_in)), as airbench's
        kernel = keras.initializers.VarianceScaling(1 / 3, "fan_in", "uniform", seed=self.seed)(shape, dtype=dtype)
        if len(shape) != 4 or shape[0] % 2 == 0 or shape[1] % 2 == 0:
            return kernel
        channels = min(shape[2], shape[3])
        identity = keras.ops.eye(shape[2], shape[3], dtype=kernel.dtype)
        centre = keras.ops.pad(identity[None, None], [[shape[0] // 2] * 2, [shape[1] // 2] * 2, [0, 0], [0, 0]])
        keep = keras.ops.cast(keras.ops.arange(shape[3]) >= channels, kernel.dtype)
        return kernel * keep + centre

    def get_config(self):
        return {"seed": self.seed}
