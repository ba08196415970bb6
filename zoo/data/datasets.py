"""`load_dataset`: named datasets from local files (or a download), decoded once and cached as `.npz`.

>>> from zoo.data import load_dataset
>>> train = load_dataset("digits", split="train")
>>> train.images.shape, train.images.dtype, train.num_classes, train.source
((1438, 32, 32, 1), dtype('uint8'), 10, 'digits')

Where a named dataset is looked for, in order:
1. `data_dir` (or the `ZOO_DATA_DIR` environment variable), then Keras' download cache
   `~/.keras/datasets`, for the standard formats: CIFAR `cifar-10-batches-py/` / `cifar-10-python.tar.gz`
   (and the CIFAR-100 equivalents), CIFAR-10 as a JPEG image folder `cifar10-jpeg/` or
   `cifar10-jpeg.tar.xz`, MNIST / Fashion-MNIST IDX files in `mnist/`, `fashion-mnist/`;
2. Debian's `dataset-fashion-mnist` at /usr/share/datasets/fashion-mnist;
3. `keras.datasets` download, unless `ZOO_OFFLINE=1`.
Any other `name` that is a path to an image folder or archive loads as an image-folder dataset.
Decoded arrays are cached in `ZOO_CACHE_DIR` (default `~/.cache/zoo`), keyed by the source file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from zoo.data import formats
from zoo.errors import DatasetError
from zoo.files import atomic_write

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@dataclasses.dataclass(frozen=True)
class Dataset:
    """One split of a dataset: uint8 images (N, H, W, C), int64 labels (N,), and where it came from.

    `source` names the exact data: `cifar10` only for the original CIFAR files, `cifar10-jpeg` for the
    JPEG re-encoded copy, and so on. Result tables record it.
    """

    name: str
    split: str
    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    source: str
    location: str

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def __len__(self) -> int:
        return len(self.labels)


# -- local sources ----------------------------------------------------------------------------

def _idx_reader(prefix_dir: Path) -> Callable[[], dict]:
    def read():
        out = {}
        for split, stem in (("train", "train"), ("test", "t10k")):
            paths = []
            for kind in ("images-idx3", "labels-idx1"):
                base = prefix_dir / f"{stem}-{kind}-ubyte"
                gz = base.with_name(base.name + ".gz")
                paths.append(gz if gz.exists() else base)
            out[f"x_{split}"], out[f"y_{split}"] = formats.read_idx_pair(*paths)
        return out
    return read


def _has_idx(folder: Path) -> bool:
    return any((folder / f"train-images-idx3-ubyte{ext}").exists() for ext in (".gz", ""))


def _cifar_candidates(name: str, root: Path):
    folder = formats.CIFAR_LAYOUT[name][0]
    archive = folder.replace("-batches-py", "-python") + ".tar.gz"
    for rel in (folder, archive):
        yield name, root / rel, (lambda p=root / rel: formats.read_cifar(p, name))
    if name == "cifar10":
        for rel in ("cifar10-jpeg", "cifar10-jpeg.tar.xz"):
            yield "cifar10-jpeg", root / rel, (lambda p=root / rel: formats.read_image_folder(p))


def _idx_candidates(name: str, root: Path):
    folders = {"mnist": ["mnist"], "fashion_mnist": ["fashion-mnist", "fashion_mnist"]}[name]
    for folder in [root / rel for rel in folders] + [root]:  # root itself: --data-dir .../mnist
        yield name, folder, _idx_reader(folder) if _has_idx(folder) else None


@dataclasses.dataclass(frozen=True)
class Source:
    """A named dataset, in one place: its other spellings, class count and names, the image counts of a
    complete copy, the standard layouts to look for under a data folder, and fixed system folders.
    A new dataset is one entry of `SOURCES`."""

    name: str
    aliases: tuple[str, ...] = ()
    classes: int | None = None
    class_names: tuple[str, ...] | None = None
    counts: tuple[int, int] | None = None  # (train, test) images of a complete copy
    candidates: Callable | None = None      # (name, root) -> (source label, path, reader or None), ...
    system_folder: str | None = None        # module global naming an IDX folder installed by the system


SOURCES = {source.name: source for source in (
    Source("cifar10", ("cifar-10", "cifar10-jpeg"), 10, CIFAR10_CLASSES, (50_000, 10_000), _cifar_candidates),
    Source("cifar100", ("cifar-100",), 100, None, (50_000, 10_000), _cifar_candidates),
    Source("mnist", (), 10, None, (60_000, 10_000), _idx_candidates),
    Source("fashion_mnist", ("fashion-mnist",), 10, FASHION_CLASSES, (60_000, 10_000), _idx_candidates,
           system_folder="DEBIAN_FASHION_MNIST"),
    Source("digits"),  # scikit-learn's, read by `_digits`
)}
NAMED = tuple(SOURCES)
ALIASES = {alias: source.name for source in SOURCES.values() for alias in source.aliases}
CLASS_COUNTS = {source.name: source.classes for source in SOURCES.values() if source.classes and source.candidates}
FULL_COUNTS = {source.name: source.counts for source in SOURCES.values() if source.counts}


def _local_candidates(name: str, root: Path):
    """Yield (source label, path, reader or None) for every standard layout of `name` under `root`."""
    candidates = SOURCES[name].candidates
    yield from candidates(name, root) if candidates else ()


def _class_names(name: str, arrays: dict) -> tuple[str, ...]:
    if "class_names" in arrays:
        return tuple(str(c) for c in arrays["class_names"])
    known = SOURCES[name].class_names if name in SOURCES else None
    return known or tuple(str(i) for i in range(int(arrays["y_train"].max()) + 1))


# -- cache ------------------------------------------------------------------------------------

def cache_dir() -> Path:
    return Path(os.environ.get("ZOO_CACHE_DIR") or Path.home() / ".cache" / "zoo")


CONTENT_HASH_LIMIT = 1 << 30
"""Sources up to this many bytes in all are keyed by their contents (hashing 1 GiB takes a few seconds;
the shared CIFAR-10 archive, 18 MB, 0.07 s): a copied or re-downloaded file with the same bytes keeps its
cache. Larger ones (image folders) are keyed by their files' names, sizes and modification times."""


def _source_files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def _fingerprint(path: Path) -> str:
    """Changes when the source file (or any file of a source folder) changes."""
    stats = [(file, file.stat()) for file in _source_files(path)]
    by_content = sum(stat.st_size for _, stat in stats) <= CONTENT_HASH_LIMIT
    digest = hashlib.sha1()
    for file, stat in stats:
        name = file.relative_to(path).as_posix() if path.is_dir() else ""
        digest.update(f"{name}:{stat.st_size}:".encode())
        if by_content:
            with open(file, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        else:
            digest.update(str(stat.st_mtime_ns).encode())
    return digest.hexdigest()[:16]


def _cache_file(name: str, source: str, path: Path) -> Path:
    """`<name>-<source>-<where>-<fingerprint>.npz`: one cache per source location, its contents' key last."""
    where = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
    return cache_dir() / f"{name}-{source}-{where}-{_fingerprint(path)}.npz"


def _prune_stale(target: Path, name: str, source: str) -> None:
    """Remove the caches of earlier versions of `target`'s source (same name, source and location), and
    those named the way zoo named them before locations (`<name>-<source>-<16 hex>.npz`, keyed by
    modification times), so that a dataset that changes does not leave a full decoded copy behind each time."""
    prefix = target.name.rsplit("-", 1)[0]
    stale = [old for old in target.parent.glob(f"{prefix}-*.npz") if old.name.rsplit("-", 1)[0] == prefix]
    stale += target.parent.glob(f"{name}-{source}-{'?' * 16}.npz")
    for old in stale:
        if old != target:
            old.unlink(missing_ok=True)


def _checked(name: str, path: Path, arrays: dict) -> dict:
    """Labels inside the format's class range: a stray label must not become an extra class."""
    classes = CLASS_COUNTS.get(name)
    for split in ("train", "test") if classes else ():
        labels = arrays[f"y_{split}"]
        if labels.size and (labels.min() < 0 or labels.max() >= classes):
            raise DatasetError(f"{path}: {split} labels span {labels.min()}..{labels.max()}, but {name} has "
                               f"{classes} classes (0..{classes - 1}); the label file is corrupt")
    return arrays


def _cached(name: str, source: str, path: Path, read: Callable[[], dict], use_cache: bool) -> dict:
    if not use_cache:
        return _checked(name, path, read())
    target = _cache_file(name, source, path)
    if target.exists():
        try:
            with np.load(target, allow_pickle=False) as npz:
                cached = {key: npz[key] for key in npz.files}
            if _well_formed(cached):
                return _checked(name, path, cached)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, DatasetError):
            pass
        try:  # a damaged or altered cache file: decode the source again
            target.unlink(missing_ok=True)
        except OSError:
            pass
    arrays = _checked(name, path, read())
    arrays["class_names"] = np.asarray(_class_names(name, arrays))
    if _atomic_savez(target, arrays):
        _prune_stale(target, name, source)
    return arrays


def _well_formed(arrays: dict) -> bool:
    """Whether cached arrays are what `_cached` wrote: uint8 (N, H, W, C) images of one size per split,
    int64 labels, one per image, class names."""
    try:
        shapes = [arrays[f"x_{split}"].shape for split in ("train", "test")]
        return ("class_names" in arrays and all(len(shape) == 4 for shape in shapes)
                and shapes[0][1:] == shapes[1][1:]
                and all(arrays[f"x_{split}"].dtype == np.uint8 and arrays[f"y_{split}"].dtype == np.int64
                        and arrays[f"y_{split}"].shape == (len(arrays[f"x_{split}"]),) for split in ("train", "test")))
    except KeyError:
        return False


def _atomic_savez(target: Path, arrays: dict) -> bool:
    """Write `target` whole or not at all (`zoo.files.atomic_write`); False when the cache is not writable."""
    def savez(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, savez)
    except OSError:
        return False  # no writable cache: loading still works, only slower next time
    return True


# -- the public loader ------------------------------------------------------------------------

def _digits() -> dict:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.round(bunch.images * (255 / 16)).astype(np.uint8)
    images = images.repeat(4, axis=1).repeat(4, axis=2)[..., None]  # 8x8 -> 32x32, nearest neighbour
    order = np.random.default_rng(0).permutation(len(images))
    cut = int(round(0.8 * len(images)))
    train, test = order[:cut], order[cut:]
    return {"x_train": images[train], "y_train": bunch.target[train].astype(np.int64),
            "x_test": images[test], "y_test": bunch.target[test].astype(np.int64),
            "class_names": np.asarray([str(i) for i in range(10)])}


def _download(name: str) -> dict:
    import keras

    module = getattr(keras.datasets, name)
    (x_train, y_train), (x_test, y_test) = module.load_data()
    out = {"x_train": x_train, "y_train": y_train.reshape(-1).astype(np.int64),
           "x_test": x_test, "y_test": y_test.reshape(-1).astype(np.int64)}
    for key in ("x_train", "x_test"):
        if out[key].ndim == 3:
            out[key] = out[key][..., None]
    return out


def _roots(data_dir) -> list[Path]:
    roots = []
    for root in (data_dir, os.environ.get("ZOO_DATA_DIR"), Path.home() / ".keras" / "datasets"):
        if root:
            roots.append(Path(root).expanduser())
    return roots


def _resolve(name: str, data_dir, use_cache: bool) -> tuple[dict, str, str]:
    """(arrays, source, location) for a named dataset, trying each source in order."""
    if name == "digits":
        return _digits(), "digits", "sklearn.datasets.load_digits"
    looked = []
    for root in _roots(data_dir):
        for source, path, read in _local_candidates(name, root):
            looked.append(str(path))
            if read is not None and path.exists():
                return _cached(name, source, path, read, use_cache), source, str(path)
    if SOURCES[name].system_folder:
        folder = globals()[SOURCES[name].system_folder]  # a module global, so tests can point it elsewhere
        looked.append(str(folder))
        if _has_idx(folder):
            return _cached(name, name, folder, _idx_reader(folder), use_cache), name, str(folder)
    if os.environ.get("ZOO_OFFLINE", "") in ("", "0"):
        try:
            return _download(name), name, f"keras.datasets.{name} download"
        except Exception as exc:  # no network, blocked host, partial download...
            looked.append(f"keras.datasets.{name} download ({type(exc).__name__}: {exc})")
    else:
        looked.append("download skipped: ZOO_OFFLINE is set")
    raise DatasetError(
        f"dataset {name!r} not found. Looked in: {'; '.join(looked)}. Provide it with --data-dir DIR or "
        f"ZOO_DATA_DIR=DIR, where DIR holds one of the standard layouts listed in `zoo.data.datasets`' docs "
        f"(e.g. cifar-10-batches-py/, cifar10-jpeg.tar.xz, mnist/train-images-idx3-ubyte.gz)"
    )


#: A local copy whose splits do not hold its `Source.counts` is an incomplete (or altered) copy, refused
#: unless ZOO_PARTIAL_DATA=1 (tests use tiny copies in the real formats).
PARTIAL_ENV = "ZOO_PARTIAL_DATA"


def _check_counts(name: str, arrays: dict, location: str) -> None:
    """Refuse a copy of a named dataset whose splits do not hold the dataset's image counts."""
    want = FULL_COUNTS.get(name)
    have = (len(arrays["y_train"]), len(arrays["y_test"]))
    if want is None or have == want or os.environ.get(PARTIAL_ENV) == "1":
        return
    raise DatasetError(f"{location} holds {have[0]:,} training and {have[1]:,} test images, but {name} has "
                       f"{want[0]:,} and {want[1]:,}: an incomplete copy ({PARTIAL_ENV}=1 uses it anyway)")


def load_dataset(name: str, *, data_dir: str | os.PathLike | None = None, split: str = "train",
                 pad_to: int | None = None, cache: bool = True) -> Dataset:
    """One split (`"train"` or `"test"`) of a named dataset or of an image folder/archive path.

    `pad_to` zero-pads smaller images symmetrically to `pad_to` x `pad_to` (MNIST 28 -> 32).
    """
    if split not in formats.SPLITS:
        raise DatasetError(f"split must be 'train' or 'test', got {split!r}")
    key = ALIASES.get(name, name)
    if key in NAMED:
        arrays, source, location = _resolve(key, data_dir, cache)
        _check_counts(key, arrays, location)
    elif Path(name).expanduser().exists():
        path = Path(name).expanduser()
        source = path.name.split(".")[0]
        arrays = _cached("folder", source, path, lambda: formats.read_image_folder(path), cache)
        key, location = source, str(path)
    else:
        raise DatasetError(f"unknown dataset {name!r}: use one of {', '.join(NAMED)} or a path to an image "
                           "folder or archive (<root>/{train,test}/<class>/<image>)")
    images, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
    class_names = _class_names(key, arrays)
    if len(class_names) < 2:
        raise DatasetError(f"{location} has {len(class_names)} class ({', '.join(class_names) or 'none'}); "
                           "a classifier needs at least two")
    if pad_to is not None:
        images = pad_images(images, pad_to)
    return Dataset(name=key, split=split, images=images, labels=labels.astype(np.int64),
                   class_names=class_names, source=source, location=location)


def pad_images(images: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad (N, H, W, C) images symmetrically to (N, size, size, C)."""
    h, w = images.shape[1:3]
    if h > size or w > size:
        raise DatasetError(f"cannot pad {h}x{w} images to {size}x{size}: they are larger")
    top, left = (size - h) // 2, (size - w) // 2
    return np.pad(images, ((0, 0), (top, size - h - top), (left, size - w - left), (0, 0)))
