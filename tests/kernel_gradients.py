"""Gradients of one training step of small specs covering the builders' layer kinds, saved to an .npz: run by
tests/test_kernels.py with TensorFlow's Eigen kernels, with oneDNN's (fixed per process), with Eigen in
float64 as the reference, and with Eigen on inputs moved by float32 rounding (`perturb=SEED`: each pixel
times 1 + 1e-6 N(0, 1)), which shows how far float32 noise alone moves each gradient.

    TF_ENABLE_ONEDNN_OPTS=1 python tests/kernel_gradients.py OUT.npz
    TF_ENABLE_ONEDNN_OPTS=0 python tests/kernel_gradients.py OUT.npz float64
    TF_ENABLE_ONEDNN_OPTS=0 python tests/kernel_gradients.py OUT.npz perturb=1
"""

import sys
from dataclasses import replace

import zoo  # noqa: F401  first, as everywhere (it would pick oneDNN when the variable is unset)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from zoo.models.registry import get_spec  # noqa: E402

BASE = replace(get_spec("resnet_tiny"), input_shape=(32, 32, 3), num_classes=10)
SPECS = {
    # 4- and 8-channel stages: strided 1x1 conv shortcuts on fewer channels than oneDNN's AVX2 block
    "narrow_conv_shortcut": replace(BASE, stem_filters=4, widths=(4, 8, 16), shortcut="conv"),
    "imagenet_stem_pool": replace(BASE, stem_kernel=7, stem_stride=2, stem_pool="max", widths=(8, 16, 32)),
    "deep_stem_preact": replace(BASE, stem_deep=True, preact=True),
    "bottleneck_grouped_se": replace(BASE, block="bottleneck", groups=2, base_width=8, attention="se",
                                     se_reduction=4),
    "identity_pad_shortcut": replace(BASE, shortcut="identity_pad"),
    "avg_down_shortcut": replace(BASE, stem_filters=4, widths=(4, 8, 16), shortcut="avg_down"),
}


#: Relative size of the input perturbation: float32 rounding's order (its epsilon is 6e-8; a few ops' worth).
PERTURBATION = 1e-6


def gradients(spec, seed: int = 0, perturb: int | None = None) -> list[np.ndarray]:
    model = zoo.build(spec)
    rng = np.random.default_rng(seed)
    for v in model.weights:  # the same weights in every process: He-normal kernels, the rest as built
        if len(v.shape) > 1:
            v.assign(rng.normal(0, np.sqrt(2 / np.prod(v.shape[:-1])), v.shape).astype(v.dtype))
    pixels = rng.random((32, *spec.input_shape))
    if perturb is not None:  # its own generator: the weights and labels stay those of the other runs
        pixels = pixels * (1 + PERTURBATION * np.random.default_rng(perturb).standard_normal(pixels.shape))
    x = tf.constant(pixels, dtype=keras.config.floatx())
    y = tf.one_hot(rng.integers(0, spec.num_classes, 32), spec.num_classes, dtype=keras.config.floatx())

    @tf.function  # traced, as `fit` runs a step: graph optimization and its fused oneDNN kernels included
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(keras.losses.categorical_crossentropy(y, model(x, training=True), from_logits=True))
        return tape.gradient(loss, model.trainable_weights)

    return [g.numpy() for g in step(x, y)]


if __name__ == "__main__":
    out, *options = sys.argv[1:]
    if "float64" in options:  # a reference in double precision (Eigen only: oneDNN has no float64)
        keras.config.set_floatx("float64")
    seed = next((int(o.removeprefix("perturb=")) for o in options if o.startswith("perturb=")), None)
    arrays = {f"{name}/{i}": g for name, spec in SPECS.items() for i, g in enumerate(gradients(spec, perturb=seed))}
    np.savez(out, **arrays)
