"""Loaders on small files in the exact real formats, the shared real datasets, the cache, bad input."""

from pathlib import Path

import numpy as np
import pytest
from datafiles import tar_folder, write_cifar, write_idx, write_image_folder, write_mnist, zip_folder

from zoo.data import load_dataset
from zoo.data import datasets as ds
from zoo.data.formats import read_idx
from zoo.errors import DatasetError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Every test gets its own cache, no ZOO_DATA_DIR and no downloads."""
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.keras/datasets from the machine
    monkeypatch.setattr(ds, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")


def test_mnist_idx(tmp_path):
    images, labels = write_mnist(tmp_path / "mnist")
    train = load_dataset("mnist", data_dir=tmp_path, split="train")
    test = load_dataset("mnist", data_dir=tmp_path, split="test")
    assert train.images.shape == (40, 28, 28, 1) and train.images.dtype == np.uint8
    np.testing.assert_array_equal(train.images[..., 0], images[:40])
    np.testing.assert_array_equal(test.labels, labels[40:])
    assert train.class_names == tuple("0123456789") and train.source == "mnist"


def test_mnist_pad_to_32_and_data_dir_pointing_at_the_folder(tmp_path):
    images, _ = write_mnist(tmp_path / "mnist")
    padded = load_dataset("mnist", data_dir=tmp_path / "mnist", split="train", pad_to=32)
    assert padded.images.shape == (40, 32, 32, 1)
    np.testing.assert_array_equal(padded.images[:, 2:30, 2:30, 0], images[:40])
    assert not padded.images[:, :2].any() and not padded.images[:, 30:].any()


def test_fashion_mnist_from_env_var_and_raw_idx(tmp_path, monkeypatch):
    write_mnist(tmp_path / "fashion-mnist")
    for f in (tmp_path / "fashion-mnist").iterdir():  # also accept un-gzipped IDX files
        raw = __import__("gzip").decompress(f.read_bytes())
        f.with_name(f.name[:-3]).write_bytes(raw)
        f.unlink()
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path))
    train = load_dataset("fashion-mnist")
    assert train.name == "fashion_mnist" and train.class_names[0] == "T-shirt/top" and len(train) == 40


def test_fashion_mnist_from_the_debian_location(tmp_path, monkeypatch):
    write_mnist(tmp_path / "debian")
    monkeypatch.setattr(ds, "DEBIAN_FASHION_MNIST", tmp_path / "debian")
    test = load_dataset("fashion_mnist", split="test")
    assert len(test) == 20 and test.location == str(tmp_path / "debian")


@pytest.mark.parametrize("dataset, classes, names", [("cifar10", 10, "c0"), ("cifar100", 100, "f0")])
@pytest.mark.parametrize("packed", [False, True])
def test_cifar_pickles(tmp_path, dataset, classes, names, packed):
    folder = write_cifar(tmp_path / "src", dataset)
    if packed:
        data_dir = tmp_path / "data"
        data_dir.mkdir()
        tar_folder(folder, data_dir / (folder.name.replace("-batches-py", "-python") + ".tar.gz"))
    else:
        data_dir = tmp_path / "src"
    train = load_dataset(dataset, data_dir=data_dir)
    test = load_dataset(dataset, data_dir=data_dir, split="test")
    n_train = 60 if dataset == "cifar10" else 12
    assert train.images.shape == (n_train, 32, 32, 3) and test.images.shape == (12, 32, 32, 3)
    assert train.num_classes == classes and train.class_names[0] == names and train.source == dataset
    # pixel layout: CIFAR rows are 1024 R, then G, then B values
    import pickle
    batch = pickle.loads((folder / ("test_batch" if dataset == "cifar10" else "test")).read_bytes())
    np.testing.assert_array_equal(test.images[3, :, :, 1].reshape(-1), batch[b"data"][3][1024:2048])


@pytest.mark.parametrize("packing", ["dir", "zip", "tar.xz", "tar.gz"])
def test_image_folder(tmp_path, packing):
    root = write_image_folder(tmp_path / "pets")
    path = {"dir": lambda: root, "zip": lambda: zip_folder(root, tmp_path / "pets.zip"),
            "tar.xz": lambda: tar_folder(root, tmp_path / "pets.tar.xz", "w:xz"),
            "tar.gz": lambda: tar_folder(root, tmp_path / "pets.tar.gz", "w:gz")}[packing]()
    train = load_dataset(str(path))
    test = load_dataset(str(path), split="test")
    assert train.images.shape == (6, 8, 8, 3) and train.class_names == ("cat", "dog")
    assert list(test.labels) == [0, 0, 0, 1, 1, 1] and train.source == "pets"
    from PIL import Image
    np.testing.assert_array_equal(train.images[4], np.asarray(Image.open(root / "train/dog/0001.png")))


def test_cifar10_jpeg_folder_name_is_the_source(tmp_path):
    root = write_image_folder(tmp_path / "cifar10-jpeg", classes=[f"k{i}" for i in range(10)], per_class=1, size=32)
    tar_folder(root, tmp_path / "cifar10-jpeg.tar.xz", "w:xz")
    (tmp_path / "data").mkdir()
    (tmp_path / "cifar10-jpeg.tar.xz").rename(tmp_path / "data" / "cifar10-jpeg.tar.xz")
    train = load_dataset("cifar10", data_dir=tmp_path / "data")
    assert train.source == "cifar10-jpeg" and train.images.shape == (10, 32, 32, 3)


def test_second_load_comes_from_the_cache(tmp_path, monkeypatch):
    root = write_image_folder(tmp_path / "pets")
    load_dataset(str(root))
    cached = list((tmp_path / "cache").glob("*.npz"))
    assert len(cached) == 1
    monkeypatch.setattr("zoo.data.formats.read_image_folder", lambda p: pytest.fail("decoded twice"))
    assert load_dataset(str(root)).images.shape == (6, 8, 8, 3)


def test_a_copied_source_keeps_its_cache_and_a_changed_one_replaces_it(tmp_path, monkeypatch):
    """Keyed by contents: new modification times (a copy, a re-download) reuse the decoded arrays; new
    contents decode again and the stale cache of that location is removed, not left behind."""
    import os

    root = write_image_folder(tmp_path / "cifar10-jpeg", classes=[f"k{i}" for i in range(10)], per_class=1, size=32)
    archive = tmp_path / "data" / "cifar10-jpeg.tar.xz"
    archive.parent.mkdir()
    tar_folder(root, archive, "w:xz")
    legacy = tmp_path / "cache" / "cifar10-cifar10-jpeg-0123456789abcdef.npz"   # how zoo named caches before
    legacy.parent.mkdir()
    legacy.write_bytes(b"old")
    load_dataset("cifar10", data_dir=archive.parent)
    (first,) = (tmp_path / "cache").glob("*.npz")
    os.utime(archive, ns=(1, 1))
    monkeypatch.setattr("zoo.data.formats.read_image_folder", lambda p: pytest.fail("decoded again"))
    load_dataset("cifar10", data_dir=archive.parent)
    assert list((tmp_path / "cache").glob("*.npz")) == [first]
    monkeypatch.undo()
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    root = write_image_folder(tmp_path / "other", classes=[f"k{i}" for i in range(10)], per_class=2, size=32)
    tar_folder(root, archive, "w:xz")
    assert load_dataset("cifar10", data_dir=archive.parent).images.shape == (20, 32, 32, 3)
    (second,) = (tmp_path / "cache").glob("*.npz")
    assert second != first


def test_digits():
    train, test = load_dataset("digits"), load_dataset("digits", split="test")
    assert train.images.shape[1:] == (32, 32, 1) and len(train) + len(test) == 1797
    assert train.images.max() == 255 and train.num_classes == 10


# -- bad input --------------------------------------------------------------------------------

def test_missing_dataset_says_where_it_looked(tmp_path):
    with pytest.raises(DatasetError, match=r"dataset 'cifar100' not found. Looked in: .*cifar-100-python.*"
                                           r"download skipped: ZOO_OFFLINE is set.*--data-dir"):
        load_dataset("cifar100", data_dir=tmp_path)


def test_unknown_dataset_name():
    with pytest.raises(DatasetError, match="unknown dataset 'imagenet'"):
        load_dataset("imagenet")


def test_wrong_idx_magic(tmp_path):
    path = tmp_path / "bad.gz"
    write_idx(path, np.zeros((2, 3, 3)))
    import gzip
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[2] = 0x0C  # float instead of ubyte
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DatasetError, match=r"IDX magic 0x00000c03; expected 0x00000803"):
        read_idx(path)


def test_truncated_idx(tmp_path):
    write_mnist(tmp_path / "mnist")
    path = tmp_path / "mnist" / "train-images-idx3-ubyte.gz"
    import gzip
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-100]))
    with pytest.raises(DatasetError, match="truncated"):
        load_dataset("mnist", data_dir=tmp_path)
    assert not list((tmp_path / "cache").glob("*")) or not list((tmp_path / "cache").glob("*.npz"))


def test_truncated_archive_leaves_no_cache_file(tmp_path):
    root = write_image_folder(tmp_path / "pets", per_class=20, size=16)
    archive = tar_folder(root, tmp_path / "pets.tar.xz", "w:xz")
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(DatasetError, match=r"cannot read archive .*pets.tar.xz \(truncated or corrupt\?\)"):
        load_dataset(str(archive))
    cache = tmp_path / "cache"
    assert not cache.exists() or list(cache.iterdir()) == []


def test_corrupt_cifar_pickle(tmp_path):
    folder = write_cifar(tmp_path, "cifar10")
    (folder / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(DatasetError, match="data_batch_3 is not a readable CIFAR pickle"):
        load_dataset("cifar10", data_dir=tmp_path)


def test_mixed_image_sizes(tmp_path):
    root = write_image_folder(tmp_path / "pets")
    from datafiles import png_bytes
    (root / "train" / "dog" / "big.png").write_bytes(png_bytes(np.zeros((9, 8, 3), np.uint8)))
    with pytest.raises(DatasetError, match=r"images of mixed sizes .*train/dog/big.png is 9x8x3 but .* is 8x8x3"):
        load_dataset(str(root))


def test_not_an_image_folder(tmp_path):
    (tmp_path / "flat").mkdir()
    with pytest.raises(DatasetError, match="is not an image folder"):
        load_dataset(str(tmp_path / "flat"))


# -- the shared real files (present on the development machine, not necessarily in CI) ---------

needs_shared = pytest.mark.skipif(not SHARED.exists(), reason=f"{SHARED} is not on this machine")


@needs_shared
@pytest.mark.parametrize("name, train_n, test_n, shape, counts", [
    ("mnist", 60000, 10000, (28, 28, 1), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]),
    ("fashion_mnist", 60000, 10000, (28, 28, 1), [6000] * 10),
    ("cifar10", 50000, 10000, (32, 32, 3), [5000] * 10),
])
@pytest.mark.slow
def test_shared_real_datasets(name, train_n, test_n, shape, counts):
    train = load_dataset(name, data_dir=SHARED)
    test = load_dataset(name, data_dir=SHARED, split="test")
    assert (len(train), len(test), train.image_shape) == (train_n, test_n, shape)
    assert np.bincount(train.labels).tolist() == counts
    assert train.source == {"cifar10": "cifar10-jpeg"}.get(name, name)


@pytest.mark.slow
@needs_shared
def test_shared_cifar10_loads_from_the_cache_ten_times_faster_than_decoding(tmp_path):
    """A ratio in one run, not seconds: it holds on a slow or busy CPU as on a fast one (cold 15.5 s and
    cached under 1 s on a 2-core AMD EPYC)."""
    import time
    start = time.perf_counter()
    load_dataset("cifar10", data_dir=SHARED)  # this test's own empty cache (isolated): decodes the archive
    cold = time.perf_counter() - start
    start = time.perf_counter()
    load_dataset("cifar10", data_dir=SHARED)
    load_dataset("cifar10", data_dir=SHARED, split="test")
    cached = time.perf_counter() - start
    assert cached < cold / 10, f"cached {cached:.2f} s, decoded {cold:.2f} s"
