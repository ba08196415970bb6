"""TensorFlow's oneDNN kernels (the zoo turns them on on x86, zoo.runtime) give the same training gradients
as its Eigen kernels for every layer kind the builders emit. oneDNN's strided 1x1 kernel did not, for
fewer input channels than its register block (benchmarks/results/cpu-2core/README.md, "What limits the
JAX and torch backends"): a wrong gradient trains on silently, so this compares the two kernel sets
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
    env.pop("ZOO_ONEDNN_DEFAULTED", None)
    out = tmp_path / f"onednn{onednn}{''.join(extra)}.npz"
    result = subprocess.run([sys.executable, str(HERE / "kernel_gradients.py"), str(out), *extra], env=env,
                            capture_output=True, text=True, cwd=HERE.parent)
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(np.load(out))


@pytest.mark.slow
@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's kernel sets")
def test_onednn_gradients_are_as_close_to_float64_as_eigens(tmp_path):
    """Each float32 kernel set against a float64 reference: some deep random nets are ill-conditioned
    enough that both miss it by percents, so oneDNN fails only where it is far worse than Eigen."""
    reference = _gradients(tmp_path, "0", "float64")
    eigen, onednn = _gradients(tmp_path, "0"), _gradients(tmp_path, "1")
    assert reference.keys() == eigen.keys() == onednn.keys() and len(reference) > 50
    wrong = []
    for key, exact in reference.items():
        scale = max(float(np.abs(exact).max()), 1e-12)
        off_eigen = float(np.abs(eigen[key] - exact).max()) / scale
        off_onednn = float(np.abs(onednn[key] - exact).max()) / scale
        if off_onednn > 10 * off_eigen + 1e-3:
            wrong.append(f"{key}: oneDNN {off_onednn:.3g}, Eigen {off_eigen:.3g} of its largest value")
    assert not wrong, "oneDNN's gradients are off: " + "; ".join(wrong)
