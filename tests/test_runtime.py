"""TensorFlow's CPU kernels: zoo asks for oneDNN on x86 before TensorFlow loads, unless told otherwise."""

import os
import platform
import subprocess
import sys

import pytest

CHECK = ("import zoo, os, zoo.runtime as r; import keras; "
         "from tensorflow.python.util import _pywrap_util_port as port; "
         "print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'), r.onednn_enabled(), port.IsMklEnabled())")


def _ask(env_value):
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    env.update({"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"})
    if env_value is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = env_value
    done = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()


@pytest.mark.slow
@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="oneDNN is asked for on x86")
def test_importing_zoo_first_turns_onednn_on_and_tensorflow_agrees():
    pytest.importorskip("tensorflow")
    assert _ask(None) == ["1", "True", "True"]
    assert _ask("0") == ["0", "False", "False"]  # the user's choice stands


def test_a_process_that_loaded_tensorflow_first_is_warned(monkeypatch):
    from zoo import runtime

    monkeypatch.setitem(sys.modules, "tensorflow", sys.modules.get("tensorflow", object()))
    monkeypatch.setattr(runtime.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(runtime, "_cpu_flags", lambda: {"avx2", "fma"})
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    with pytest.warns(RuntimeWarning, match="import zoo first, or set TF_ENABLE_ONEDNN_OPTS=1"):
        runtime.warn_if_eigen_by_accident()
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")  # chosen, not an accident
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        runtime.warn_if_eigen_by_accident()


def test_other_backends_leave_tensorflow_alone_even_when_a_parent_chose_onednn():
    """A torch process that imports TensorFlow too (keras-tuner does) hung with TF's oneDNN kernels on."""
    code = ("import os, zoo; print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'), "
            "os.environ.get('ZOO_ONEDNN_DEFAULTED'))")
    base = {k: v for k, v in os.environ.items() if k not in ("TF_ENABLE_ONEDNN_OPTS", "ZOO_ONEDNN_DEFAULTED")}
    cases = [({"KERAS_BACKEND": "torch"}, "None None"),
             ({"KERAS_BACKEND": "jax", "TF_ENABLE_ONEDNN_OPTS": "1", "ZOO_ONEDNN_DEFAULTED": "1"}, "None None"),
             ({"KERAS_BACKEND": "jax", "TF_ENABLE_ONEDNN_OPTS": "1"}, "1 None")]  # the user's own choice stays
    for extra, expected in cases:
        done = subprocess.run([sys.executable, "-c", code], env={**base, **extra}, capture_output=True, text=True,
                              timeout=120)
        assert done.stdout.strip() == expected, (extra, done.stdout, done.stderr[-500:])
