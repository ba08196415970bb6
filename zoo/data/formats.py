"""Readers for the standard on-disk dataset formats. Each returns uint8 NHWC images and int64 labels.

- IDX (MNIST, Fashion-MNIST), gzipped or raw: `read_idx`.
- CIFAR-10/100 python pickles, as a `*-python` folder or its `.tar.gz`: `read_cifar`.
- Image folders `root/{train,test}/<class>/*.png|jpg`, as a directory or a `.zip`/`.tar*` archive:
  `read_image_folder`.

Every reader raises `DatasetError` (with the file name) for truncated or corrupt input.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import lzma
import os
import pickle
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from zoo.errors import DatasetError, first_line

IDX_IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
IDX_LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
SPLITS = ("train", "test")


# -- IDX --------------------------------------------------------------------------------------

def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Array stored in an IDX file (`.gz` or raw). Images come back as (N, H, W), labels as (N,)."""
    path = Path(path)
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
            data = f.read()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DatasetError(f"cannot read IDX file {path}: {exc}") from None
    if len(data) < 4:
        raise DatasetError(f"{path} is not an IDX file: only {len(data)} bytes")
    magic = struct.unpack(">I", data[:4])[0]
    if magic not in (IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC):
        raise DatasetError(
            f"{path} has IDX magic 0x{magic:08x}; expected 0x{IDX_IMAGES_MAGIC:08x} (images) "
            f"or 0x{IDX_LABELS_MAGIC:08x} (labels)"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{path} is truncated: its header needs {header} bytes, the file has {len(data)}")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise DatasetError(
            f"{path} is truncated or padded: header says shape {shape} ({expected} bytes), file has {len(data)}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def read_idx_pair(images_path, labels_path) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, H, W, 1) uint8, labels (N,) int64) from an IDX image file and its label file."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1:
        raise DatasetError(f"{images_path} / {labels_path}: expected 3-D images and 1-D labels, "
                           f"got shapes {images.shape} and {labels.shape}")
    if len(images) != len(labels):
        raise DatasetError(f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels")
    return images[..., None], labels.astype(np.int64)


# -- CIFAR pickles ----------------------------------------------------------------------------

CIFAR_LAYOUT = {  # dataset -> (folder name, train files, test files, meta file, label key, names key)
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"],
                "batches.meta", "labels", "label_names"),
    "cifar100": ("cifar-100-python", ["train"], ["test"], "meta", "fine_labels", "fine_label_names"),
}


# Everything a CIFAR pickle constructs: numpy arrays (and their dtypes), and bytes written by Python 3.
CIFAR_PICKLE_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
})


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles only what CIFAR files hold: a pickle that names any other callable or class (the way a
    malicious pickle runs code) is refused before anything is called."""

    def __init__(self, raw: bytes, where: str):
        super().__init__(io.BytesIO(raw), encoding="latin1")
        self.where = where

    def find_class(self, module: str, name: str):
        if (module, name) not in CIFAR_PICKLE_GLOBALS:
            raise DatasetError(f"{self.where} is not a CIFAR pickle: it asks to load {module}.{name}, which CIFAR "
                               f"files never do (refused; nothing in it was run)")
        return super().find_class(module, name)


def _unpickle(raw: bytes, where: str) -> dict:
    try:
        obj = _CifarUnpickler(raw, where).load()
    except DatasetError:
        raise
    except Exception as exc:  # pickle raises many types on corrupt input
        raise DatasetError(f"{where} is not a readable CIFAR pickle: {exc}") from None
    if not isinstance(obj, dict):
        raise DatasetError(f"{where} is not a CIFAR pickle (holds {type(obj).__name__}, not a dict)")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def read_cifar(path: str | os.PathLike, dataset: str) -> dict[str, object]:
    """CIFAR-10/100 from its python-pickle folder or `.tar.gz`: x/y for train and test, class names."""
    folder, train_files, test_files, meta_file, label_key, names_key = CIFAR_LAYOUT[dataset]
    path = Path(path)
    if path.is_dir():
        def fetch(name):
            member = path / name
            try:
                return member.read_bytes()
            except OSError as exc:
                raise DatasetError(f"CIFAR folder {path} lacks {name}: {exc.strerror}") from None
    else:
        with _archive_errors(f"CIFAR archive {path}"):  # read every member once, closing it before parsing
            with tarfile.open(path) as tar:
                contents = {m.name.split("/", 1)[-1]: tar.extractfile(m).read()
                            for m in _safe_members(tar, path) if m.isfile()}
                _check_complete(tar, path)

        def fetch(name):
            if name not in contents:
                raise DatasetError(f"CIFAR archive {path} lacks {folder}/{name}")
            return contents[name]

    out: dict[str, object] = {}
    for split, files in (("train", train_files), ("test", test_files)):
        xs, ys = [], []
        for name in files:
            batch = _unpickle(fetch(name), f"{path}/{name}")
            try:
                data = np.asarray(batch["data"], dtype=np.uint8)
                xs.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
                ys.append(np.asarray(batch[label_key], dtype=np.int64))
            except (KeyError, ValueError) as exc:
                raise DatasetError(f"{path}/{name} is not a {dataset} batch: {exc}") from None
        out[f"x_{split}"], out[f"y_{split}"] = np.concatenate(xs), np.concatenate(ys)
    meta = _unpickle(fetch(meta_file), f"{path}/{meta_file}")
    out["class_names"] = [n.decode() if isinstance(n, bytes) else str(n) for n in meta[names_key]]
    return out


# -- image folders ----------------------------------------------------------------------------

ARCHIVE_ERRORS = (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError, ValueError, lzma.LZMAError, zlib.error)


@contextlib.contextmanager
def _archive_errors(what: str):
    """What the archive modules raise for a truncated or corrupt file, as one `DatasetError` naming `what`."""
    try:
        yield
    except DatasetError:
        raise
    except ARCHIVE_ERRORS as exc:
        raise DatasetError(f"cannot read {what} (truncated or corrupt?): {exc}") from None


def _outside(name: str) -> bool:
    return name.startswith(("/", "\\")) or Path(name).is_absolute() or ".." in Path(name.replace("\\", "/")).parts


def _safe_members(tar: tarfile.TarFile, path: Path):
    """The archive's members, streamed; a link, a device or a name reaching outside the archive is refused
    (a dataset archive holds folders and regular files only)."""
    for member in tar:
        if member.issym() or member.islnk():
            raise DatasetError(f"archive {path}: member {member.name!r} is a link; refused")
        if _outside(member.name):
            raise DatasetError(f"archive {path}: member {member.name!r} points outside the archive; refused")
        if not (member.isfile() or member.isdir()):
            raise DatasetError(f"archive {path}: member {member.name!r} is not a regular file or folder; refused")
        yield member


def _check_complete(tar: tarfile.TarFile, path: Path) -> None:
    """Fail unless the tar stream really ended: `tarfile` stops quietly at a header it cannot read, so a
    damaged archive would otherwise load as a shorter one. Reading the rest of the (decompressed) stream
    also runs the compressor's own end-of-stream and checksum tests."""
    rest = tar.fileobj
    while chunk := rest.read(1 << 20):
        if chunk.strip(b"\0"):
            raise DatasetError(f"archive {path} is damaged: its members stop at an unreadable header near byte "
                               f"{tar.offset:,} of the tar stream, with data after it (truncated or corrupt copy)")


def _archive_entries(path: Path):
    """Yield (relative path parts, bytes) for every image file in a zip or tar archive."""
    with _archive_errors(f"archive {path}"):
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                for info in zf.infolist():
                    if _outside(info.filename):
                        raise DatasetError(f"archive {path}: member {info.filename!r} points outside the archive; "
                                           f"refused")
                    if not info.is_dir() and info.filename.lower().endswith(IMAGE_SUFFIXES):
                        yield tuple(Path(info.filename).parts), zf.read(info)
        else:
            with tarfile.open(path) as tf:
                for member in _safe_members(tf, path):  # streaming: works for .tar.xz without random access
                    if member.isfile() and member.name.lower().endswith(IMAGE_SUFFIXES):
                        yield tuple(Path(member.name).parts), tf.extractfile(member).read()
                _check_complete(tf, path)


def _directory_entries(path: Path):
    for file in sorted(path.rglob("*")):
        if file.is_file() and file.suffix.lower() in IMAGE_SUFFIXES:
            yield file.relative_to(path).parts, file.read_bytes()


def to_uint8(image, mode: str | None = None) -> np.ndarray:
    """A Pillow image as uint8 pixels (H, W) or (H, W, 3), whatever its depth: 16- and 32-bit integer
    images are scaled from 0..65535 (or their maximum, when larger) and float images from 0..1 (or 0..255,
    or their maximum), never clipped or truncated. `mode` ("L" or "RGB") fixes the channels; None keeps
    grayscale and makes every other mode RGB.

    >>> from PIL import Image
    >>> wide = Image.fromarray(np.array([[0, 32768, 65535]], dtype=np.uint16))
    >>> to_uint8(wide).tolist()
    [[0, 128, 255]]
    >>> to_uint8(Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32))).tolist()
    [[0, 128, 255]]
    """
    from PIL import Image

    if image.mode.startswith("I") or image.mode == "F":
        wide = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        peak = float(wide.max(initial=0.0))
        full = (1.0 if peak <= 1.0 else 255.0 if peak <= 255.0 else max(65535.0, peak)) if image.mode == "F" \
            else max(65535.0, peak)
        image = Image.fromarray(np.round(np.clip(wide, 0.0, None) * (255.0 / full)).astype(np.uint8))
    target = mode or ("L" if image.mode == "L" else "RGB")
    if image.mode != target:
        image = image.convert(target)
    return np.asarray(image, dtype=np.uint8)


def _decode(raw: bytes, where: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(raw)) as image:
            array = to_uint8(image)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DatasetError(f"cannot decode image {where}: {first_line(exc)}") from None
    return array[..., None] if array.ndim == 2 else array


def read_image_folder(path: str | os.PathLike) -> dict[str, object]:
    """An image-classification folder `<root>/{train,test}/<class>/<image>` as arrays.

    `path` is the folder, or a `.zip`/`.tar`/`.tar.gz`/`.tar.xz` archive holding it (at any depth: the
    first `train`/`test` level found). Class names are the sorted `train` subfolder names; labels index
    into them. All images must share one size and channel count.
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"image folder or archive {path} does not exist")
    entries = _directory_entries(path) if path.is_dir() else _archive_entries(path)
    found: dict[str, list[tuple[str, str, bytes]]] = {s: [] for s in SPLITS}
    for parts, raw in entries:
        for i, part in enumerate(parts[:-2]):
            if part in SPLITS and len(parts) - i == 3:
                found[part].append((parts[i + 1], "/".join(parts), raw))
                break
    if not found["train"] or not found["test"]:
        raise DatasetError(
            f"{path} is not an image folder: expected <root>/train/<class>/<image> and "
            f"<root>/test/<class>/<image>, found {len(found['train'])} train and {len(found['test'])} test images"
        )
    class_names = sorted({cls for cls, _, _ in found["train"]})
    index = {name: i for i, name in enumerate(class_names)}
    out: dict[str, object] = {"class_names": class_names}
    first_shape, first_file = None, None
    for split in SPLITS:
        items = sorted(found[split], key=lambda item: item[1])
        images, labels = [], []
        for cls, where, raw in items:
            if cls not in index:
                raise DatasetError(f"{where}: class {cls!r} appears in {split} but not in train "
                                   f"(train classes: {', '.join(class_names)})")
            image = _decode(raw, where)
            if first_shape is None:
                first_shape, first_file = image.shape, where
            elif image.shape != first_shape:
                raise DatasetError(
                    f"images of mixed sizes in {path}: {where} is {_hwc(image.shape)} but {first_file} is "
                    f"{_hwc(first_shape)}; resize them to one size first"
                )
            images.append(image)
            labels.append(index[cls])
        out[f"x_{split}"] = np.stack(images)
        out[f"y_{split}"] = np.asarray(labels, dtype=np.int64)
    return out


def _hwc(shape) -> str:
    return "x".join(map(str, shape))
