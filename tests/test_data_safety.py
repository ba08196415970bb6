"""Untrusted dataset files: pickles that would run code, archives with links or escaping names, damaged
archives that would load as shorter ones. Each is refused with a one-line `DatasetError`."""

import io
import os
import pickle
import random
import signal
import subprocess
import sys
import tarfile
import time

import numpy as np
import pandas as pd
import pytest
from datafiles import tar_folder, write_cifar, write_image_folder

from zoo.data import load_dataset
from zoo.errors import DatasetError


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)


class Payload:
    """Unpickling this would call os.system (how a malicious pickle runs code)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("packed", [False, True])
def test_a_cifar_pickle_that_would_run_code_is_refused_before_it_runs(tmp_path, packed):
    folder = write_cifar(tmp_path / "data", "cifar10")
    marker = tmp_path / "payload-ran"
    (folder / "data_batch_2").write_bytes(pickle.dumps({b"data": Payload(marker), b"labels": [0]}, protocol=2))
    data_dir = tmp_path / "data"
    if packed:
        data_dir = tmp_path / "packed"
        data_dir.mkdir()
        tar_folder(folder, data_dir / "cifar-10-python.tar.gz")
    with pytest.raises(DatasetError, match=r"data_batch_2 is not a CIFAR pickle: it asks to load (posix|os)\.system, "
                                           r"which CIFAR files never do \(refused; nothing in it was run\)"):
        load_dataset("cifar10", data_dir=data_dir)
    assert not marker.exists()


def test_real_layout_cifar_pickles_still_load(tmp_path):
    write_cifar(tmp_path / "data", "cifar10")  # numpy arrays and bytes, as the real files hold
    assert load_dataset("cifar10", data_dir=tmp_path / "data").images.shape == (60, 32, 32, 3)


def _tar_with(tmp_path, add) -> str:
    root = write_image_folder(tmp_path / "pets")
    archive = tmp_path / "pets.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(root, arcname="pets")
        add(tar)
    return str(archive)


def test_links_and_escaping_names_in_an_archive_are_refused(tmp_path):
    def link(tar):
        info = tarfile.TarInfo("pets/train/cat/9999.png")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)

    with pytest.raises(DatasetError, match=r"member 'pets/train/cat/9999.png' is a link; refused"):
        load_dataset(_tar_with(tmp_path / "a", link))

    def escape(tar):
        data = (tmp_path / "a" / "pets" / "train" / "cat" / "0000.png").read_bytes()
        info = tarfile.TarInfo("pets/../../evil.png")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))

    with pytest.raises(DatasetError, match=r"member 'pets/../../evil.png' points outside the archive; refused"):
        load_dataset(_tar_with(tmp_path / "b", escape))


def test_an_archive_damaged_mid_stream_is_an_error_not_a_shorter_dataset(tmp_path):
    root = write_image_folder(tmp_path / "pets", per_class=12)
    archive = tar_folder(root, tmp_path / "pets.tar", "w")
    raw = bytearray(archive.read_bytes())
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
    victim = members[len(members) // 2].offset  # a header in the middle: tarfile would stop there quietly
    raw[victim + 148: victim + 156] = b"garbage!"  # its checksum field
    archive.write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match=r"pets.tar is damaged: its members stop at an unreadable header"):
        load_dataset(str(archive))

    xz = tar_folder(root, tmp_path / "pets.tar.xz", "w:xz")
    raw = bytearray(xz.read_bytes())
    middle = len(raw) // 2
    raw[middle: middle + 256] = bytes(b ^ 0xFF for b in raw[middle: middle + 256])
    xz.write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match=r"pets.tar.xz"):
        load_dataset(str(xz))


def test_tables_and_the_cache_are_written_with_the_user_s_umask(tmp_path):
    from zoo.experiments.results import append_rows

    previous = os.umask(0o022)
    try:
        append_rows(tmp_path / "table", [{"run_id": "a", "variant": "resnet20", "status": "ok"}])
        write_cifar(tmp_path / "data", "cifar10")
        load_dataset("cifar10", data_dir=tmp_path / "data")
    finally:
        os.umask(previous)
    written = [*(tmp_path / "table").glob("results.*"), *(tmp_path / "cache").glob("*.npz")]
    assert len(written) == 4 and {oct(p.stat().st_mode & 0o777) for p in written} == {oct(0o644)}


def test_a_damaged_or_missing_parquet_table_is_recovered_from_its_csv_or_named(tmp_path):
    from zoo.errors import ZooError
    from zoo.experiments.results import append_rows, read_table

    folder = tmp_path / "table"
    append_rows(folder, [{"run_id": f"r{i}", "variant": "resnet20", "status": "ok"} for i in range(4)])
    parquet = folder / "results.parquet"
    parquet.write_bytes(parquet.read_bytes()[:100])  # truncated
    assert read_table(folder)["run_id"].tolist() == ["r0", "r1", "r2", "r3"]  # from the CSV copy
    with pytest.raises(ZooError, match=r"cannot read table .*results.parquet \(truncated or corrupt\?\)"):
        read_table(parquet)
    parquet.unlink()  # lost: the CSV's rows are kept, never overwritten by the next append
    table = append_rows(folder, [{"run_id": "r4", "variant": "resnet20", "status": "ok"}])
    assert table["run_id"].tolist() == ["r0", "r1", "r2", "r3", "r4"]
    (folder / "results.csv").write_bytes(b"\x00\xff garbage")
    parquet.write_bytes(b"PAR1 not really")
    with pytest.raises(ZooError, match=r"cannot read table .*results.csv"):
        read_table(folder)


def test_an_unwritable_table_folder_fails_before_any_run_trains(tmp_path):
    from zoo.experiments.bench import run_sweep
    from zoo.errors import ZooError
    from zoo.experiments.sweeps import parse_sweep

    calls = []
    sweep = parse_sweep('[[group]]\nvariants = ["resnet_tiny"]\nrecipes = ["fast"]\ndatasets = ["digits"]', name="w")
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ZooError, match=r"cannot write the table folder .*file/table: "):
        run_sweep(sweep, out=tmp_path / "file" / "table", log=lambda line: None, train_fn=calls.append)
    assert calls == []


def test_an_idx_label_outside_the_classes_is_an_error_not_an_extra_class(tmp_path):
    from datafiles import write_idx, write_mnist

    write_mnist(tmp_path / "mnist")
    labels = np.zeros(40, np.uint8)
    labels[7] = 200
    write_idx(tmp_path / "mnist" / "train-labels-idx1-ubyte.gz", labels)
    with pytest.raises(DatasetError, match=r"train labels span 0..200, but mnist has 10 classes \(0..9\)"):
        load_dataset("mnist", data_dir=tmp_path)


def test_a_damaged_cache_file_is_rebuilt(tmp_path):
    write_cifar(tmp_path / "data", "cifar10")
    first = load_dataset("cifar10", data_dir=tmp_path / "data")
    (cached,) = (tmp_path / "cache").glob("*.npz")
    cached.write_bytes(cached.read_bytes()[:200])
    again = load_dataset("cifar10", data_dir=tmp_path / "data")
    np.testing.assert_array_equal(first.images, again.images)


def test_a_single_class_dataset_and_the_unknown_name_message(tmp_path):
    root = write_image_folder(tmp_path / "one", classes=("cat",))
    with pytest.raises(DatasetError, match=r"one has 1 class \(cat\); a classifier needs at least two"):
        load_dataset(str(root))
    with pytest.raises(DatasetError, match=r"image folder or archive \(<root>/\{train,test\}/<class>/<image>\)"):
        load_dataset("no-such-set")


WRITER = """
import sys
from zoo.experiments.results import append_rows
print("ready", flush=True)
for i in range(10_000):
    append_rows(sys.argv[1], [{"run_id": f"{sys.argv[2]}-{i}", "variant": "v" * 2000, "status": "ok"}])
"""


def test_the_csv_never_lags_the_parquet_after_a_killed_writer(tmp_path):
    from zoo.experiments.results import read_table

    rng = random.Random(0)
    for kill in range(12):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(kill)], stdout=subprocess.PIPE,
                                  text=True)
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.02, 0.4))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        parquet = pd.read_parquet(tmp_path / "results.parquet") if (tmp_path / "results.parquet").exists() else None
        csv = pd.read_csv(tmp_path / "results.csv") if (tmp_path / "results.csv").exists() else None
        if parquet is not None or csv is not None:  # the CSV is never behind; the table is the newest rows
            assert len(csv) >= len(parquet), f"kill {kill}: parquet {len(parquet)} rows, csv {len(csv)}"
            assert read_table(tmp_path)["run_id"].tolist() == csv["run_id"].tolist(), f"kill {kill}"
    assert len(read_table(tmp_path)) > 0


def test_a_named_dataset_with_missing_images_is_refused(tmp_path, monkeypatch):
    from datafiles import write_mnist

    write_mnist(tmp_path / "mnist", n_train=12, n_test=4)
    monkeypatch.delenv("ZOO_PARTIAL_DATA")
    with pytest.raises(DatasetError, match=r"mnist holds 12 training and 4 test images, but mnist has 60,000 and "
                                           r"10,000: an incomplete copy \(ZOO_PARTIAL_DATA=1 uses it anyway\)"):
        load_dataset("mnist", data_dir=tmp_path)
    monkeypatch.setenv("ZOO_PARTIAL_DATA", "1")
    assert len(load_dataset("mnist", data_dir=tmp_path).labels) == 12


def test_a_write_cut_between_the_two_renames_reads_the_newer_csv(tmp_path):
    from zoo.experiments.results import append_rows, read_table

    table = append_rows(tmp_path, [{"run_id": "a", "status": "ok", "finished": "2026-01-01T00:00:00"}])
    newer = append_rows(tmp_path / "scratch", [{"run_id": "a", "status": "ok", "finished": "2026-01-01T00:00:00"},
                                               {"run_id": "b", "status": "ok", "finished": "2026-01-01T00:01:00"}])
    (tmp_path / "results.csv").write_bytes((tmp_path / "scratch" / "results.csv").read_bytes())  # CSV renamed...
    assert len(table) == 1 and read_table(tmp_path)["run_id"].tolist() == ["a", "b"]  # ...the Parquet file not yet
    assert read_table(tmp_path / "scratch").equals(newer)
