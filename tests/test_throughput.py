"""`zoo throughput`: timed rows with TFLOP/s and MFU, written as Parquet/CSV/Markdown; timm when installed."""

import keras
import pandas as pd
import pytest

from zoo.cli import main
from zoo.throughput import _row, measure_timm, peak_tflops, timm_available

pytestmark = pytest.mark.portable  # also runs under every other installed backend (test_backends)


def test_cli_measures_train_and_inference(tmp_path, capsys):
    code = main(["throughput", "resnet_tiny", "--input-size", "32", "--batch-size", "4", "--steps", "2",
                 "--warmup", "1", "--no-timm", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and "| zoo       | resnet_tiny | train" in out and "MFU %" in out
    table = pd.read_parquet(tmp_path / "throughput.parquet")
    jax = keras.backend.backend() == "jax"  # the device loop's train row comes first there
    assert table["mode"].tolist() == ["train"] * (2 if jax else 1) + ["inference"]
    assert table["loop"].tolist()[:-1] == (["device", "keras"] if jax else ["keras"])
    assert table["status"].eq("ok").all() and (table["images_per_second"] > 0).all()
    assert table["images_per_second"].tolist() == pytest.approx((4 * 1000 / table["step_ms"]).tolist())
    macs = table["macs_per_image"][0]
    for row in table.to_dict("records"):
        flops = (6 if row["mode"] == "train" else 2) * macs
        assert row["tflops"] == pytest.approx(row["images_per_second"] * flops / 1e12)
    assert table["mfu"].isna().all()  # no known peak for a CPU
    assert table["backend"].notna().all() and table["git_sha"].notna().all()
    assert len(pd.read_csv(tmp_path / "throughput.csv")) == len(table)


def test_mfu_uses_the_device_peak():
    assert peak_tflops("NVIDIA H100 80GB HBM3", "mixed_bfloat16") == 989.0
    assert peak_tflops("cpu: AMD EPYC", "mixed_bfloat16") is None
    row = _row("zoo", "resnet50", "train", input_size=224, batch_size=256, precision="mixed_bfloat16",
               macs=4_089_184_256, seconds=1.0, steps=10, device="NVIDIA H100 80GB HBM3")
    assert row["images_per_second"] == 2560 and row["step_ms"] == 100
    assert row["tflops"] == pytest.approx(2560 * 6 * 4_089_184_256 / 1e12)
    assert row["mfu"] == pytest.approx(row["tflops"] / 989.0)


def test_unknown_variant_is_refused_before_measuring(tmp_path, capsys):
    assert main(["throughput", "resnet19", "--out", str(tmp_path)]) == 2
    assert "did you mean" in capsys.readouterr().err


@pytest.mark.skipif(not timm_available(), reason="torch and timm are not installed here (they are on the GPU machine)")
def test_timm_rows():
    rows = measure_timm("resnet18", input_size=32, batch_size=2, precision="float32", steps=1, warmup=1,
                        macs=1, compiled=False)
    assert [r["mode"] for r in rows] == ["train", "inference"] and all(r["status"] == "ok" for r in rows)
