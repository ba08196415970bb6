"""Gradients of one training step of small specs covering the builders' layer kinds, saved to an .npz: run by
tests/test_kernels.py with TensorFlow's Eigen kernels and with oneDNN's (fixed per process), then in float64
(Eigen) as the reference for each of those runs.

Why a reference per run: every ReLU is a step in its gradient. A few of a net's million ReLU inputs lie
within float32 rounding of zero (1e-7-5e-5 here), and a float32 run lands some of them on the other side
of zero than float64 does; each such flip moves the gradients before it by percents
(benchmarks/results/cpu-2core-avx512/README.md, "oneDNN's gradients on AVX-512"). That is no kernel's
error, and which elements flip differs between CPUs and kernel sets. So every float32 run also saves the
sign of each ReLU input it computed (`relu/SPEC/LAYER`), and its float64 reference computes the same step
with those signs as the ReLUs' masks: what is left between the two is the kernels' arithmetic alone.

    TF_ENABLE_ONEDNN_OPTS=1 python tests/kernel_gradients.py ONEDNN.npz
    TF_ENABLE_ONEDNN_OPTS=0 python tests/kernel_gradients.py EIGEN.npz perturb=1
    TF_ENABLE_ONEDNN_OPTS=0 python tests/kernel_gradients.py REF.npz float64 against=ONEDNN.npz,EIGEN.npz

Options: `perturb=SEED` moves each pixel by a factor 1 + 1e-6 N(0, 1) (float32 rounding's order: another
sample of the same arithmetic); `specs=A,B` a subset of SPECS; `workaround=off` computes strided 1x1
convolutions with the plain kernel on any channel count (restores the known wrong oneDNN AVX2 kernel, for
showing that the test catches it); `float64 against=RUN,...` writes, for each float32 run and each spec in
it, `RUN_NAME|SPEC/i` keys: the float64 gradients at that run's input with that run's ReLU signs.
"""

import sys
from dataclasses import replace
from pathlib import Path

import zoo  # noqa: F401  first, as everywhere (it would pick oneDNN when the variable is unset)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from zoo.models import layers  # noqa: E402
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


def _relu_layers(model) -> list:
    """Every layer whose activation is a ReLU (Activation layers, the squeeze-excite Dense)."""
    return [layer for layer in model.layers if getattr(layer, "activation", None) is keras.activations.relu]


def _recording_relu(name: str, signs: dict):
    def relu(t):
        out = keras.activations.relu(t)
        signs[name] = out > 0
        return out
    return relu


def gradients(spec, seed: int = 0, perturb: int | None = None, masks: dict | None = None):
    """(gradients, {layer name: ReLU input > 0}) of one traced training step. With `masks`, each ReLU
    multiplies its input by the given mask instead (the float64 reference of a float32 run)."""
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
    signs = {}
    for layer in _relu_layers(model):
        if masks is None:  # record where each ReLU passes its input (read off its output: a second
            layer.activation = _recording_relu(layer.name, signs)  # reader of the input would stop fusions)
        else:
            mask = tf.constant(masks[layer.name], dtype=keras.config.floatx())
            layer.activation = lambda t, mask=mask: t * mask

    @tf.function  # traced, as `fit` runs a step: graph optimization and its fused oneDNN kernels included
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(keras.losses.categorical_crossentropy(y, model(x, training=True), from_logits=True))
        return tape.gradient(loss, model.trainable_weights), dict(signs)

    grads, traced_signs = step(x, y)
    return [g.numpy() for g in grads], {name: s.numpy() for name, s in traced_signs.items()}


def _option(options, name, default=None):
    return next((o.split("=", 1)[1] for o in options if o.startswith(f"{name}=")), default)


def main(out: str, *options: str) -> None:
    if _option(options, "workaround") == "off":
        layers.STRIDED_1X1_MIN_CHANNELS = 0
    arrays = {}
    if "float64" in options:  # references in double precision (Eigen only: oneDNN has no float64)
        keras.config.set_floatx("float64")
        for run_file in _option(options, "against").split(","):
            run = np.load(run_file)
            perturb = int(run["perturb"]) if int(run["perturb"]) >= 0 else None
            for name in dict.fromkeys(k.split("/")[1] for k in run.files if k.startswith("relu/")):
                masks = {k.split("/")[2]: run[k] for k in run.files if k.startswith(f"relu/{name}/")}
                grads, _ = gradients(SPECS[name], perturb=perturb, masks=masks)
                arrays.update({f"{Path(run_file).stem}|{name}/{i}": g for i, g in enumerate(grads)})
    else:
        perturb = _option(options, "perturb")
        arrays["perturb"] = np.array(-1 if perturb is None else int(perturb))
        for name in _option(options, "specs", ",".join(SPECS)).split(","):
            grads, signs = gradients(SPECS[name], perturb=None if perturb is None else int(perturb))
            arrays.update({f"{name}/{i}": g for i, g in enumerate(grads)})
            arrays.update({f"relu/{name}/{layer}": s for layer, s in signs.items()})
    np.savez(out, **arrays)


if __name__ == "__main__":
    main(*sys.argv[1:])
