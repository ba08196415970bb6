"""TensorFlow's oneDNN kernels (the zoo turns them on on x86, zoo.runtime) give training gradients within
float32 noise of a float64 reference for every layer kind the builders emit. oneDNN's strided 1x1 kernel
did not, for fewer input channels than its register block (benchmarks/results/cpu-2core/README.md, "What
limits the JAX and torch backends"): a wrong gradient trains on silently, so this checks the kernels
directly. TensorFlow picks its kernels once per process: one subprocess each."""

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

HERE = Path(__file__).parent


def _gradients(tmp_path, onednn: str, *extra) -> dict:
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": onednn, "KERAS_BACKEND": "tensorflow"}
    for name in ("ZOO_ONEDNN_DEFAULTED", "ZOO_FUSED_BN"):  # the zoo's defaults
        env.pop(name, None)
    out = tmp_path / f"onednn{onednn}{''.join(extra).replace('=', '')}.npz"
    result = subprocess.run([sys.executable, str(HERE / "kernel_gradients.py"), str(out), *extra], env=env,
                            capture_output=True, text=True, cwd=HERE.parent)
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(np.load(out))


@pytest.mark.slow
@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's kernel sets")
def test_onednn_gradients_are_within_float32_noise_of_float64(tmp_path):
    """oneDNN's float32 gradients (the zoo's defaults: its fused batch norm included) against a float64
    reference, each allowed 10x the float32 noise of that gradient or 1% of its largest value, whichever
    is larger. The noise is measured, not assumed: Eigen's float32 gradients, and Eigen's on inputs moved
    by float32 rounding (kernel_gradients.PERTURBATION). Why both: some gradients of these random nets are
    ill-conditioned (a ReLU input within rounding of zero, a batch-norm backward that cancels), and there
    any float32 kernel misses the reference by percents: at 6be1095 one Eigen sample put five of
    `deep_stem_preact`'s at 2e-5 and oneDNN's at 2-5%, and moving the input by 1e-6 put Eigen's own at 0.3-2.3%.
    A wrong kernel is off by its gradient's size: with the strided-1x1 workaround removed
    (zoo.models.layers.STRIDED_1X1_MIN_CHANNELS = 0) `narrow_conv_shortcut`'s shortcut kernel was 12.6x
    off, against a noise of 3e-6."""
    reference = _gradients(tmp_path, "0", "float64")
    noise_runs = [_gradients(tmp_path, "0"), *(_gradients(tmp_path, "0", f"perturb={s}") for s in (1, 2))]
    onednn = _gradients(tmp_path, "1")
    assert all(reference.keys() == run.keys() for run in (*noise_runs, onednn)) and len(reference) > 50

    def off(run, key):
        return float(np.abs(run[key] - reference[key]).max()) / max(float(np.abs(reference[key]).max()), 1e-12)

    wrong, well_conditioned = [], 0
    for key in reference:
        noise = max(off(run, key) for run in noise_runs)
        well_conditioned += noise < 1e-3
        if off(onednn, key) > max(10 * noise, 1e-2):
            wrong.append(f"{key}: oneDNN {off(onednn, key):.3g}, float32 noise {noise:.3g} of its largest value")
    assert not wrong, "oneDNN's gradients are off: " + "; ".join(wrong)
    # the test judges most gradients at 1%: at 6be1095 131 of 196 had a noise under 1e-3
    assert well_conditioned > len(reference) / 2, f"only {well_conditioned} of {len(reference)} well-conditioned"
