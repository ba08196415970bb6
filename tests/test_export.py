"""`zoo export`: SavedModel, ONNX and LiteRT artifacts through Keras' Model.export, checked against Keras on
the run's own test images; bad folders and formats are one-line errors."""

import importlib.util

import keras
import pytest

import zoo
from zoo.cli import main
from zoo.training.export import FORMATS, check, export


def installed(fmt: str) -> bool:
    return all(importlib.util.find_spec(name) for name in FORMATS[fmt].needs)


@pytest.fixture(scope="module", params=["float32", "mixed_bfloat16"])
def run_dir(tmp_path_factory, request):
    """A trained run folder with per-channel standardization inside the model, in each precision."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the export checks load artifacts with TensorFlow's runtimes")
    out = tmp_path_factory.mktemp("runs")
    result = zoo.train("resnet_tiny", "mnist_functional", dataset="digits", epochs=1, limit=128, batch_size=32,
                       verbose=0, out_dir=out, precision=request.param, preprocessing="standardize")
    return result["run_dir"], request.param


@pytest.mark.slow
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_each_format_matches_keras_on_the_runs_test_images(run_dir, fmt, capsys):
    if not installed(fmt):
        pytest.skip(f"{fmt} needs {FORMATS[fmt].install}")
    folder, precision = run_dir
    assert main(["export", str(folder), "--format", fmt, "--images", "64", "--latency"]) == 0
    out = capsys.readouterr().out
    tolerance = "0.03" if precision != "float32" and fmt == "saved_model" else "0.0001"
    assert f"outputs within {tolerance} of Keras'" in out and "on 64 digits test images" in out, out
    assert "same top-1 class on 100.0%" in out
    assert out.count("batch-1 latency") == 2
    assert ("exported in float32" in out) == (precision != "float32" and fmt != "saved_model")


@pytest.mark.slow
def test_a_bf16_model_is_held_to_the_bf16_tolerance(tmp_path):
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = zoo.build("resnet_tiny", input_shape=(16, 16, 3), num_classes=4)
    finally:
        keras.config.set_dtype_policy("float32")
    path = export(model, "saved_model", tmp_path / "sm")
    images = keras.random.uniform((8, 16, 16, 3), seed=0)
    found = check(model, path, "saved_model", keras.ops.convert_to_numpy(images))
    assert found["tolerance"] == 3e-2 and found["ok"], found


@pytest.mark.parametrize("argv, message", [
    (["export", "/no/such/run", "--format", "saved_model"], "no such run folder or model file"),
    (["export", "{tmp}", "--format", "saved_model"], "holds no model.keras"),
])
def test_bad_run_folders_are_one_line(capsys, tmp_path, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_a_bad_format_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["export", "run", "--format", "pickle"])
    assert exit_.value.code == 2 and "invalid choice: 'pickle'" in capsys.readouterr().err
