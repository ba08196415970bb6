"""Writers for small dataset files in the exact real formats (CIFAR pickles, IDX, image folders)."""

import gzip
import io
import pickle
import struct
import tarfile
import zipfile
from pathlib import Path

import numpy as np


def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> Path:
    magic = 0x0800 | array.ndim  # unsigned byte
    data = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_mnist(folder: Path, n_train=40, n_test=20, size=28, seed=0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n_train + n_test, size, size), dtype=np.uint8)
    labels = np.arange(n_train + n_test, dtype=np.uint8) % 10
    write_idx(folder / "train-images-idx3-ubyte.gz", images[:n_train])
    write_idx(folder / "train-labels-idx1-ubyte.gz", labels[:n_train])
    write_idx(folder / "t10k-images-idx3-ubyte.gz", images[n_train:])
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", labels[n_train:])
    return images, labels


def _cifar_batch(rng, n, classes, label_key):
    return {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            label_key.encode(): list(rng.integers(0, classes, n)), b"batch_label": b"synthetic"}


def write_cifar(folder: Path, dataset: str, n=12, seed=0) -> Path:
    """A `cifar-10-batches-py` or `cifar-100-python` folder with `n` images per batch file."""
    rng = np.random.default_rng(seed)
    if dataset == "cifar10":
        root = folder / "cifar-10-batches-py"
        files = {f"data_batch_{i}": _cifar_batch(rng, n, 10, "labels") for i in range(1, 6)}
        files["test_batch"] = _cifar_batch(rng, n, 10, "labels")
        files["batches.meta"] = {b"label_names": [f"c{i}".encode() for i in range(10)]}
    else:
        root = folder / "cifar-100-python"
        files = {"train": _cifar_batch(rng, n, 100, "fine_labels"), "test": _cifar_batch(rng, n, 100, "fine_labels")}
        files["meta"] = {b"fine_label_names": [f"f{i}".encode() for i in range(100)]}
    root.mkdir(parents=True, exist_ok=True)
    for name, obj in files.items():
        (root / name).write_bytes(pickle.dumps(obj, protocol=2))
    return root


def tar_folder(folder: Path, target: Path, mode="w:gz") -> Path:
    with tarfile.open(target, mode) as tar:
        tar.add(folder, arcname=folder.name)
    return target


def png_bytes(array: np.ndarray, fmt="PNG") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array.squeeze() if array.shape[-1] == 1 else array).save(buffer, format=fmt)
    return buffer.getvalue()


def write_image_folder(root: Path, classes=("cat", "dog"), per_class=3, size=8, seed=0) -> Path:
    rng = np.random.default_rng(seed)
    for split in ("train", "test"):
        for cls in classes:
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                (root / split / cls / f"{i:04d}.png").write_bytes(png_bytes(image))
    return root


def zip_folder(folder: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w") as zf:
        for file in sorted(folder.rglob("*")):
            zf.write(file, Path(folder.name) / file.relative_to(folder))
    return target


def tiny_sweep(seeds=(0,)) -> str:
    """A sweep file's text: resnet_tiny on 64 digits images for 2 epochs, one run per seed (seconds each)."""
    return f"""
[defaults]
limit = 64
inference_batch = 0
overrides = {{ epochs = 2, batch_size = 32, validation_split = 0.0 }}
[[group]]
variants = ["resnet_tiny"]
recipes = ["mnist_functional"]
datasets = ["digits"]
seeds = {list(seeds)}
"""
