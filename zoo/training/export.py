"""`zoo export`: a trained model as a serving artifact, through Keras' own `Model.export`, checked against
Keras on images before it is trusted.

Formats: `saved_model` (TensorFlow Serving; a folder), `onnx` (ONNX Runtime; the `export` extra:
tf2onnx and onnxruntime) and `litert` (LiteRT / TensorFlow Lite; a `.tflite` file). The
artifact takes what the `.keras` model takes: raw uint8 pixels for models `zoo train` saved (their
preprocessing is inside), and returns the same class scores. `check` runs both on the same images and
reports the largest difference of their class probabilities, which must stay within `TOLERANCE` (float32 models) or
`BF16_TOLERANCE` (models whose layers compute in bfloat16, where rounding differs between runtimes).

>>> FORMATS["onnx"].suffix
'.onnx'
"""

from __future__ import annotations

import importlib.util
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.errors import ZooError, first_line

TOLERANCE = 1e-4       # float32: largest absolute difference of the output scores
BF16_TOLERANCE = 3e-2  # bfloat16 layers: 8 bits of mantissa, rounded differently by each runtime


@dataclass(frozen=True)
class Format:
    keras_name: str        # Model.export's `format`
    suffix: str            # "" for a folder
    needs: tuple[str, ...]  # modules the export and its check import (pip names in `install`)
    install: str


FORMATS = {
    "saved_model": Format("tf_saved_model", "", ("tensorflow",), "pip install tensorflow"),
    "onnx": Format("onnx", ".onnx", ("tf2onnx", "onnxruntime"), 'pip install -e ".[export]": tf2onnx, onnxruntime'),
    "litert": Format("litert", ".tflite", ("tensorflow",), "pip install tensorflow"),
}


def model_file(path: str | Path) -> Path:
    """The `.keras` file of a run folder (`runs/<run>/model.keras`) or the file itself."""
    path = Path(path)
    if path.is_dir():
        if not (path / "model.keras").is_file():
            raise ZooError(f"{path} holds no model.keras: give a run folder written by `zoo train` or a .keras file")
        return path / "model.keras"
    if not path.exists():
        raise ZooError(f"no such run folder or model file: {path}")
    return path


def target_path(model_path: Path, fmt: str, output: str | Path | None) -> Path:
    """Where the artifact goes: `output`, else beside the model (`model.onnx`, `model.tflite`,
    `saved_model/`)."""
    if output is not None:
        return Path(output)
    spec = FORMATS[fmt]
    return model_path.parent / ("saved_model" if not spec.suffix else f"model{spec.suffix}")


def check_format(fmt: str) -> Format:
    if fmt not in FORMATS:
        raise ZooError(f"unknown export format {fmt!r}; formats: {', '.join(FORMATS)}")
    spec = FORMATS[fmt]
    missing = [name for name in spec.needs if importlib.util.find_spec(name) is None]
    if missing:
        raise ZooError(f"exporting to {fmt} needs {', '.join(missing)} ({spec.install})")
    return spec


def mixed_precision(model) -> str | None:
    """The mixed-precision policy a model computes in (`mixed_bfloat16`, `mixed_float16`), None for float32."""
    for layer in model.layers:
        name = getattr(getattr(layer, "dtype_policy", None), "name", "")
        if name.startswith("mixed_"):
            return name
    return None


def float32_copy(model):
    """The same network computing in float32, with the same weights (mixed precision keeps its variables in
    float32 already, so nothing is lost): what portable runtimes can run. ONNX Runtime refuses the bf16 /
    fp16 casts a mixed-precision graph converts to, and LiteRT's built-in ops have no bf16 subtraction."""
    def plain(config):
        if isinstance(config, dict):
            if config.get("class_name") == "DTypePolicy" and str(config.get("config", {}).get("name", "")).startswith(
                    "mixed_"):
                return {**config, "config": {**config["config"], "name": "float32"}}
            return {key: plain(value) for key, value in config.items()}
        if isinstance(config, list):
            return [plain(value) for value in config]
        return config

    copy = model.__class__.from_config(plain(model.get_config()))
    copy.set_weights(model.get_weights())
    return copy


def export(model_or_path, fmt: str, output: str | Path | None = None) -> Path:
    """Export a model (a `keras.Model`, a `.keras` file or a run folder) to `fmt`; return the artifact's path.
    A mixed-precision model is exported as its float32 copy (`float32_copy`) for ONNX and LiteRT. An
    existing artifact at that path is replaced only once the new one is complete."""
    spec = check_format(fmt)
    if isinstance(model_or_path, (str, Path)):
        from zoo.training.predict import load_model

        path = model_file(model_or_path)
        model, target = load_model(path), target_path(path, fmt, output)
    else:
        if output is None:
            raise ZooError("give an output path to export a model that is not a file")
        model, target = model_or_path, Path(output)
    if target.exists() and target.is_dir() != (not spec.suffix):
        raise ZooError(f"{target} exists and is a {'folder' if target.is_dir() else 'file'}; "
                       f"{fmt} writes a {'folder' if not spec.suffix else 'file'}")
    target.parent.mkdir(parents=True, exist_ok=True)
    if fmt != "saved_model" and mixed_precision(model):
        model = float32_copy(model)
    # a model loaded from a file has not been called yet, and Keras' ONNX exporter needs one call to trace
    model(np.zeros((1, *model.input_shape[1:]), dtype=str(model.input.dtype)), training=False)
    partial = target.with_name(f".{target.stem}.partial{target.suffix}")  # converters may read the suffix
    _remove(partial)
    try:
        model.export(str(partial), format=spec.keras_name, verbose=False)
    except Exception as exc:  # converters raise many types; the message names what failed
        _remove(partial)
        raise ZooError(f"export to {fmt} failed: {type(exc).__name__}: {first_line(exc)}") from None
    _remove(target)
    partial.rename(target)
    return target


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


class Runtime:
    """An exported artifact loaded in its own runtime: `predict(images)` -> output scores (numpy)."""

    def __init__(self, path: Path, fmt: str):
        self.fmt = fmt
        if fmt == "saved_model":
            import keras

            self._serve = keras.layers.TFSMLayer(str(path), call_endpoint="serve")  # Keras' SavedModel reader
        elif fmt == "onnx":
            import onnxruntime

            self._session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            self._input = self._session.get_inputs()[0].name
        else:
            try:  # LiteRT's own interpreter; else the deprecated one of the TensorFlow Keras runs on
                from ai_edge_litert.interpreter import Interpreter
            except ImportError:
                from zoo.environment import backend_module

                lite = getattr(backend_module(), "lite", None)  # LiteRT export itself needs that backend
                if lite is None:
                    raise ZooError("checking a LiteRT artifact needs ai-edge-litert (pip install ai-edge-litert) "
                                   "or the TensorFlow backend") from None
                Interpreter = lite.Interpreter
            self._interpreter = Interpreter(model_path=str(path))
            self._in = self._interpreter.get_input_details()[0]
            self._out = self._interpreter.get_output_details()[0]

    def predict(self, images: np.ndarray) -> np.ndarray:
        if self.fmt == "saved_model":
            import keras

            return keras.ops.convert_to_numpy(self._serve(images))
        if self.fmt == "onnx":
            return np.asarray(self._session.run(None, {self._input: images})[0])
        interpreter = self._interpreter
        interpreter.resize_tensor_input(self._in["index"], images.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(self._in["index"], images.astype(self._in["dtype"]))
        interpreter.invoke()
        return np.asarray(interpreter.get_tensor(self._out["index"]))


def check(model, path: Path, fmt: str, images: np.ndarray, runtime: Runtime | None = None) -> dict:
    """Run the Keras model and the exported artifact (in `runtime`, else loaded here) on `images` and compare
    their class probabilities (the softmax of logits: what a served model's callers read): {"max_abs_diff",
    "tolerance", "ok", "same_top1" (fraction of images whose best class agrees)}."""
    from zoo.training.predict import probabilities

    expected = probabilities(np.asarray(model.predict(images, verbose=0)))
    try:
        got = probabilities(np.asarray((runtime or Runtime(path, fmt)).predict(images)).reshape(expected.shape))
    except Exception as exc:  # runtimes raise their own types for graphs they cannot load or run
        raise ZooError(f"{path} does not run in {fmt}'s runtime: {type(exc).__name__}: {first_line(exc)}") from None
    diff = float(np.max(np.abs(got - expected))) if expected.size else 0.0
    bf16 = any("bfloat16" in str(getattr(layer, "compute_dtype", "")) for layer in model.layers)
    tolerance = BF16_TOLERANCE if bf16 else TOLERANCE
    same = float(np.mean(got.argmax(-1) == expected.argmax(-1))) if expected.size else 1.0
    return {"max_abs_diff": diff, "tolerance": tolerance, "ok": diff <= tolerance, "same_top1": same}


def latency(predict, image: np.ndarray, *, runs: int = 50, warmup: int = 5) -> dict:
    """Batch-1 latency of `predict` on one image: median and 99th percentile in milliseconds."""
    batch = image[None]
    for _ in range(warmup):
        predict(batch)
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        predict(batch)
        times.append(1000 * (time.perf_counter() - began))
    return {"median_ms": float(np.median(times)), "p99_ms": float(np.percentile(times, 99)), "runs": runs}
