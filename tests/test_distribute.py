"""Data-parallel training of one run (`devices=N`, keras.distribution.DataParallel on JAX), checked on a CPU
with two XLA host devices in a subprocess: the same per-epoch losses as one device on the same global batch."""

import json
import os
import subprocess
import sys

import pytest

import zoo
from zoo.errors import ZooError

SCRIPT = """
import json, os
os.environ["KERAS_BACKEND"] = "jax"
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
import zoo
from zoo.errors import ZooError
kw = dict(dataset="digits", limit=128, epochs=3, batch_size=32, seed=0, out_dir=None, verbose=0, validation_split=0.0)
one = zoo.train("resnet_tiny", "mnist_functional", **kw)
two = zoo.train("resnet_tiny", "mnist_functional", devices=2, **kw)
odd = zoo.train("resnet_tiny", "mnist_functional", devices=2, **{**kw, "limit": 51, "epochs": 1,
                                                                   "validation_split": 0.2})
errors = []
for bad in (dict(devices=3), dict(devices=2, batch_size=33), dict(devices=2, loop="device")):
    try:
        zoo.train("resnet_tiny", "mnist_functional", **{**kw, "epochs": 1, **bad})
    except ZooError as exc:
        errors.append(str(exc))
print(json.dumps({"one": one["history"]["loss"], "two": two["history"]["loss"], "devices": [one["devices"],
                  two["devices"]], "top1": [one["top1"], two["top1"]], "errors": errors,
                  "odd": [odd["status"], odd["train_images"], odd["test_images"]]}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not __import__("importlib").util.find_spec("jax"), reason="needs JAX")
def test_two_devices_follow_one_device_on_the_same_global_batch(tmp_path):
    env = {**os.environ, "ZOO_OFFLINE": "1", "ZOO_CACHE_DIR": str(tmp_path / "cache"), "HOME": str(tmp_path)}
    env.pop("XLA_FLAGS", None)
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["devices"] == [1, 2]
    # 51 images, 10 to validation: 41 train and 51 test images, each cut to a multiple of the 2 devices
    assert result["odd"] == ["ok", 40, 50]
    assert result["two"] == pytest.approx(result["one"], rel=1e-4)  # stated tolerance: 1e-4 relative, per epoch
    assert result["top1"][1] == pytest.approx(result["top1"][0], abs=1 / 64)
    assert [e.split(":")[0] for e in result["errors"]] == [
        "devices=3 but this process has 2 device(s)", "batch_size 33 does not split over 2 devices; use a multiple of 2",
        'devices=2 trains through Keras\' fit; the device loop runs on one device (loop="keras")']


def test_more_than_one_device_needs_jax(offline):
    import keras

    if keras.backend.backend() == "jax":
        pytest.skip("the JAX backend has the distribution API")
    with pytest.raises(ZooError, match="devices=2: Keras' data-parallel distribution runs on the JAX backend"):
        zoo.train("resnet_tiny", "mnist_functional", dataset="digits", limit=64, epochs=1, devices=2, out_dir=None,
                  verbose=0)
