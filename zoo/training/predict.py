"""`zoo predict MODEL.keras IMAGE...`: top-k classes of image files with a saved model.

Images are read with Pillow, converted to the model's channels (grayscale or RGB), then fitted to its
input size: smaller images are zero-padded around the centre (28x28 MNIST digits into a 32x32 model, as
in training), larger ones or other aspect ratios are resized (bilinear). Models saved by `zoo train`
take raw uint8 pixels (their preprocessing is inside); other models get float pixels scaled to [0, 1].
Class names come from `--classes`, else from the `result.json` that `zoo train` writes beside the model,
else class indices are printed.
"""

from __future__ import annotations

import importlib
import json
import zipfile
from pathlib import Path

import numpy as np

from zoo.data.formats import to_uint8
from zoo.errors import ZooError, first_line


def fit_image(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """(h, w, c) uint8 -> (height, width, c): zero-pad when it fits, else bilinear resize."""
    h, w = image.shape[:2]
    if h <= height and w <= width:
        top, left = (height - h) // 2, (width - w) // 2
        return np.pad(image, ((top, height - h - top), (left, width - w - left), (0, 0)))
    from PIL import Image

    channels = image.shape[2]
    pil = Image.fromarray(image[..., 0] if channels == 1 else image)
    resized = np.asarray(pil.resize((width, height), Image.BILINEAR))
    return resized.reshape(height, width, channels)


def read_image(path: str | Path, input_shape: tuple[int, int, int]) -> np.ndarray:
    """One image file as uint8 (H, W, C) fitted to `input_shape`."""
    from PIL import Image, UnidentifiedImageError

    height, width, channels = input_shape
    try:
        with Image.open(path) as img:
            array = to_uint8(img, "L" if channels == 1 else "RGB")  # the dataset reader's decoding
    except FileNotFoundError:
        raise ZooError(f"no such image: {path}") from None
    except IsADirectoryError:
        raise ZooError(f"{path} is a folder, not an image file") from None
    except Image.DecompressionBombError as exc:
        raise ZooError(f"refusing {path}: {exc}") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ZooError(f"cannot read {path} as an image: {exc}") from None
    if channels not in (1, 3):
        raise ZooError(f"the model takes {channels}-channel images; only 1 (grayscale) and 3 (RGB) are supported")
    return fit_image(array.reshape(array.shape[0], array.shape[1], channels), height, width)


def class_names_for(model_path: Path, num_classes: int, given: list[str] | None) -> list[str]:
    if given:
        if len(given) != num_classes:
            raise ZooError(f"--classes names {len(given)} classes but the model predicts {num_classes}")
        return given
    record = model_path.parent / "result.json"
    try:  # the names `zoo train` recorded beside the model; a damaged or foreign record is not used
        names = json.loads(record.read_text()).get("class_names") if record.is_file() else None
    except (OSError, ValueError, RecursionError, AttributeError):
        names = None
    if isinstance(names, list) and len(names) == num_classes:
        return [str(n) for n in names]
    return [str(i) for i in range(num_classes)]


def probabilities(outputs: np.ndarray) -> np.ndarray:
    """Class probabilities from a model's outputs: kept when they already are (a softmax head), else softmax."""
    outputs = outputs.astype(np.float64)
    if (outputs >= 0).all() and np.allclose(outputs.sum(axis=-1), 1.0, atol=1e-3):
        return outputs  # the model ends in a softmax
    shifted = np.exp(outputs - outputs.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def load_model(model_path: str | Path):
    """A saved `.keras` (or legacy `.h5`) model, loaded with Keras' safe mode on (no arbitrary code)."""
    model_path = Path(model_path)
    if not model_path.exists():
        raise ZooError(f"no such model file: {model_path}")
    if model_path.is_dir():
        raise ZooError(f"{model_path} is a folder; give its model.keras file")
    if model_path.suffix != ".h5" and not zipfile.is_zipfile(model_path):
        raise ZooError(f"{model_path} is not a Keras model file (a .keras file is a zip archive; this one is not)")
    import keras  # after the checks: a wrong path answers at once

    # A model file names the zoo's own classes (its Conv2D, the input layers, the optimizer, the schedule);
    # Keras finds them only once their modules have registered them, which a fresh process has not done.
    for module in ("zoo.data.preprocess", "zoo.models.layers", "zoo.training.budget"):
        importlib.import_module(module)
    from zoo.training.optimizers import CUSTOM_OBJECTS  # the optimizers a zoo model file's compile config names

    try:
        return keras.saving.load_model(model_path, custom_objects=CUSTOM_OBJECTS)
    except Exception as exc:  # Keras raises ValueError, TypeError, KeyError... for files it cannot rebuild
        raise ZooError(f"cannot load {model_path} as a Keras model: {first_line(exc)}") from None


def predict_files(model_path: str | Path, images: list[str], *, top_k: int = 3,
                  class_names: list[str] | None = None) -> list[dict]:
    """[{"image": path, "top": [(class name, probability), ...]}] for each image file."""
    for path in images:  # before the model loads: a wrong path answers at once
        if Path(path).is_dir():
            raise ZooError(f"{path} is a folder, not an image file")
        if not Path(path).exists():
            raise ZooError(f"no such image: {path}")
    model = load_model(model_path)
    model_path = Path(model_path)
    input_shape = tuple(model.input_shape[1:])
    if len(input_shape) != 3 or None in input_shape:
        raise ZooError(f"the model's input shape {input_shape} is not a fixed (H, W, C) image shape")
    output_shape = model.output_shape
    if not isinstance(output_shape, tuple) or len(output_shape) != 2 or not output_shape[-1]:
        raise ZooError(f"{model_path}: the model's output shape {output_shape} is not one (batch, classes) "
                       "vector of class scores, so it is not a classifier zoo predict can read")
    num_classes = int(output_shape[-1])
    names = class_names_for(model_path, num_classes, class_names)
    batch = np.stack([read_image(p, input_shape) for p in images])
    if model.input.dtype != "uint8":
        batch = batch.astype("float32") / 255.0
    scores = probabilities(np.asarray(model.predict(batch, verbose=0)))
    k = max(1, min(top_k, num_classes))
    results = []
    for path, p in zip(images, scores):
        best = np.argsort(-p, kind="stable")[:k]
        results.append({"image": str(path), "top": [(names[i], float(p[i])) for i in best]})
    return results
