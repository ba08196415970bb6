"""`zoo throughput`: timed rows with TFLOP/s and MFU (a CPU's measured peak), written as Parquet/CSV/Markdown;
PyTorch rows when torch is installed; backends and rounds in processes of their own."""

import keras
import numpy as np
import pandas as pd
import pytest
from dataclasses import replace

from zoo.cli import main
from zoo.experiments.throughput import (_row, cpu_peak_tflops, measure_torch, median_over_rounds, peak_tflops,
                                        torch_available)
from zoo.models.builder import build as zoo_build
from zoo.runtime import cpu_has_bfloat16

pytestmark = pytest.mark.portable  # also runs under every other installed backend (test_backends)


def test_cli_measures_train_and_inference(tmp_path, capsys):
    code = main(["throughput", "resnet_tiny", "--input-size", "32", "--batch-size", "4", "--steps", "2",
                 "--warmup", "1", "--frameworks", "zoo", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and "| resnet_tiny | train" in out and "MFU %" in out
    table = pd.read_parquet(tmp_path / "throughput.parquet")
    from zoo.training.policy import resolve_loop

    jax = resolve_loop("auto") == "device"  # the device loop's train row comes first there (JAX, accelerator)
    assert table["mode"].tolist() == ["train"] * (2 if jax else 1) + ["inference"]
    assert table["loop"].tolist()[:-1] == (["device", "keras"] if jax else ["keras"])
    assert table["status"].eq("ok").all() and (table["images_per_second"] > 0).all()
    assert table["images_per_second"].tolist() == pytest.approx((4 * 1000 / table["step_ms"]).tolist())
    dtype = "bfloat16" if table["precision"][0] == "mixed_bfloat16" and cpu_has_bfloat16() else "float32"
    assert table["peak_tflops"].tolist() == pytest.approx([cpu_peak_tflops(dtype=dtype)] * len(table))
    macs = table["macs_per_image"][0]
    for row in table.to_dict("records"):
        flops = (6 if row["mode"] == "train" else 2) * macs
        assert row["tflops"] == pytest.approx(row["images_per_second"] * flops / 1e12)
    assert table["mfu"].tolist() == pytest.approx((table["tflops"] / table["peak_tflops"]).tolist())
    assert table["backend"].notna().all() and table["git_sha"].notna().all()
    assert len(pd.read_csv(tmp_path / "throughput.csv")) == len(table)


def test_mfu_uses_the_device_peak():
    assert peak_tflops("NVIDIA H100 80GB HBM3", "mixed_bfloat16") == 989.0
    row = _row("zoo", "resnet50", "train", input_size=224, batch_size=256, precision="mixed_bfloat16",
               macs=4_089_184_256, step_seconds=0.1, steps=10, device="NVIDIA H100 80GB HBM3")
    assert row["images_per_second"] == 2560 and row["step_ms"] == 100
    assert row["tflops"] == pytest.approx(2560 * 6 * 4_089_184_256 / 1e12)
    assert row["mfu"] == pytest.approx(row["tflops"] / 989.0)


@pytest.mark.parametrize("flags, precision, dtype", [
    ({"avx2", "fma"}, "mixed_bfloat16", "float32"),  # no bfloat16 path: float32's peak
    ({"avx2", "avx512f", "avx512_bf16"}, "mixed_bfloat16", "bfloat16"),
    ({"avx2", "avx512f", "avx512_bf16"}, "float32", "float32"),
    ({"avx512_bf16", "amx_bf16"}, "mixed_float16", "float32"),
])
def test_a_cpu_is_divided_by_its_peak_in_the_precision_it_computes(monkeypatch, flags, precision, dtype):
    """MFU over a float32 peak put bfloat16 rows of a CPU with AVX512_BF16 at 98-156%: such a CPU's bfloat16
    rows are divided by its bfloat16 matrix-product rate."""
    from zoo import runtime
    from zoo.experiments import peaks

    asked = []
    monkeypatch.setattr(runtime, "_cpu_flags", lambda: flags)
    monkeypatch.setattr(peaks, "cpu_peak_tflops", lambda **kw: asked.append(kw["dtype"]) or 1.0)
    assert peaks.peak_tflops("cpu: AMD EPYC", precision) == 1.0 and asked == [dtype]


def test_the_bfloat16_peak_is_measured_and_kept_apart(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path))
    bf16 = cpu_peak_tflops(size=128, repeats=2, dtype="bfloat16")
    fp32 = cpu_peak_tflops(size=128, repeats=2)
    assert bf16 > 0 and fp32 > 0 and len(list(tmp_path.glob("peak-*.json"))) == 2
    assert cpu_peak_tflops(size=128, repeats=2, dtype="bfloat16") == bf16  # read back


def test_unknown_variant_is_refused_before_measuring(tmp_path, capsys):
    assert main(["throughput", "resnet19", "--out", str(tmp_path)]) == 2
    assert "did you mean" in capsys.readouterr().err


def test_cpu_peak_is_measured_once_per_host(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path))
    first = cpu_peak_tflops(size=256, repeats=2)
    assert first > 0 and len(list(tmp_path.glob("peak-*.json"))) == 1
    assert cpu_peak_tflops(size=256, repeats=2) == first  # read back, not measured again


def test_a_cpu_peak_below_a_rate_just_reached_is_measured_again(tmp_path, monkeypatch):
    """A peak kept from a busy moment (here: written far too low) is measured again once a measurement
    beats it, and the file keeps the higher value; a lower new measurement never replaces a higher one."""
    import json

    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path))
    measured = cpu_peak_tflops(size=256, repeats=2)
    path = next(tmp_path.glob("peak-*.json"))
    saved = json.loads(path.read_text())
    path.write_text(json.dumps({**saved, "tflops": 1e-9}))
    assert cpu_peak_tflops(size=256, repeats=2) == 1e-9  # no faster rate seen: kept
    again = cpu_peak_tflops(size=256, repeats=2, at_least=2e-9)
    assert again > 2e-9 and json.loads(path.read_text())["tflops"] == again
    path.write_text(json.dumps({**saved, "tflops": 1e6}))  # higher than anything measurable here
    assert cpu_peak_tflops(size=256, repeats=2, at_least=2e6) == 1e6 and measured < 1e6


def test_one_table_divides_every_row_of_a_device_by_one_peak():
    import pandas as pd

    from zoo.experiments.throughput import one_peak

    table = one_peak(pd.DataFrame({"device": ["cpu", "cpu", "gpu"], "tflops": [0.1, 0.2, 50.0],
                                   "peak_tflops": [0.2, 0.4, 100.0], "mfu": [0.5, 0.5, 0.5]}))
    assert table["peak_tflops"].tolist() == [0.4, 0.4, 100.0]
    assert table["mfu"].tolist() == pytest.approx([0.25, 0.5, 0.5])


def test_rounds_keep_the_median_and_list_every_round():
    def row(round_, speed):
        return {"framework": "zoo", "backend": "jax", "variant": "m", "mode": "train", "loop": "keras",
                "status": "ok", "images_per_second": speed, "step_ms": 1000 / speed, "tflops": speed,
                "peak_tflops": 10.0, "mfu": speed / 10, "round": round_}
    table = median_over_rounds(pd.DataFrame([row(1, 3.0), row(2, 1.0), row(3, 2.0)]))
    assert len(table) == 1 and "round" not in table
    assert table["images_per_second"][0] == 2.0 and table["rounds_images_per_second"][0] == "3.0 1.0 2.0"
    assert table["mfu"][0] == pytest.approx(0.2)


@pytest.mark.slow
def test_backends_run_in_processes_of_their_own(tmp_path, capsys):
    """Each backend's rows come from a process that loaded that backend (backend_version says which)."""
    code = main(["throughput", "resnet_tiny", "--input-size", "16", "--batch-size", "2", "--steps", "1",
                 "--warmup", "1", "--frameworks", "zoo", "--backends", keras.backend.backend(), "--rounds", "2",
                 "--out", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    table = pd.read_parquet(tmp_path / "throughput.parquet")
    assert set(table["backend"]) == {keras.backend.backend()}
    assert table["rounds_images_per_second"].str.split().map(len).eq(2).all()


def test_unknown_backend_or_framework_is_one_line(capsys):
    for args in (["--backends", "tensorflow,theano"], ["--frameworks", "zoo,caffe"], ["--frameworks", "pytorch-eager"]):
        try:
            code = main(["throughput", "resnet_tiny", *args])
        except SystemExit as stop:  # argparse's own exit
            code = stop.code
        assert code == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and ("theano" in err or "caffe" in err or "include zoo" in err)


@pytest.mark.slow
@pytest.mark.skipif(not torch_available(), reason="torch is not installed")
def test_pytorch_rows_use_the_same_network():
    from zoo.models.registry import resolve_spec
    from zoo.models.resnet.torch_reference import reference_model, trainable_parameters

    from zoo.models.resnet.torch_reference import unsupported

    assert unsupported(resolve_spec("resnet18d")) == "no PyTorch reference for stem_deep=True (it covers [False])"
    for name in ("resnet18_cifar", "resnet50", "resnet34", "resnext50_32x4d"):
        spec = resolve_spec(name, num_classes=10)
        model = zoo_build(spec)
        keras_count = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        assert trainable_parameters(reference_model(spec)) == keras_count, name
    rows = measure_torch("resnet_tiny", input_size=32, batch_size=2, precision="float32", steps=1, warmup=1,
                         num_classes=10, macs=1)
    assert [r["mode"] for r in rows] == ["train", "inference"] and all(r["status"] == "ok" for r in rows)
    # 4-channel stride-2 1x1 shortcuts, where PyTorch's own strided 1x1 kernel hung: trains, same count
    import torch

    narrow = replace(resolve_spec("resnet_tiny", num_classes=10), stem_filters=4, widths=(4, 8, 16), shortcut="conv")
    keras_count = sum(int(np.prod(w.shape)) for w in zoo_build(narrow).trainable_weights)
    net = reference_model(narrow).to(memory_format=torch.channels_last)
    assert trainable_parameters(net) == keras_count
    x = torch.randn(32, 3, 32, 32).to(memory_format=torch.channels_last)
    torch.nn.functional.cross_entropy(net(x), torch.randint(0, 10, (32,))).backward()
    assert all(p.grad is not None for p in net.parameters())


def test_latency_rows_give_the_median_and_99th_percentile_at_batch_one(tmp_path, capsys):
    code = main(["throughput", "resnet_tiny", "--input-size", "32", "--batch-size", "4", "--steps", "2",
                 "--warmup", "1", "--frameworks", "zoo", "--latency", "keras", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and "| latency" in out and "p99 ms" in out and "runtime" in out
    table = pd.read_parquet(tmp_path / "throughput.parquet")
    latency = table[table["mode"] == "latency"].iloc[0]
    assert latency["runtime"] == "keras" and latency["batch_size"] == 1 and latency["status"] == "ok"
    assert 0 < latency["step_ms"] <= latency["latency_p99_ms"]
    assert latency["images_per_second"] == pytest.approx(1000 / latency["step_ms"])
    assert table[table["mode"] != "latency"]["runtime"].isna().all()


@pytest.mark.slow
@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the exporters run on TensorFlow here")
def test_latency_in_each_exported_runtime(tmp_path):
    from zoo.experiments.throughput import measure

    rows = measure("zoo", "resnet_tiny", input_size=32, batch_size=4, precision="float32", steps=2, warmup=1,
                   num_classes=10, latency=("keras", "saved_model", "onnx", "litert"))
    latency = {r["runtime"]: r for r in rows if r["mode"] == "latency"}
    assert list(latency) == ["keras", "saved_model", "onnx", "litert"]
    for runtime, row in latency.items():
        assert row["status"] == "ok", (runtime, row["error"])
        assert 0 < row["step_ms"] <= row["latency_p99_ms"]


def test_spec_fields_are_overridden_for_every_row(tmp_path, capsys):
    args = ["throughput", "resnet20", "--input-size", "32", "--batch-size", "2", "--steps", "1", "--warmup", "1",
            "--frameworks", "zoo", "--out", str(tmp_path)]
    assert main(args + ["--set", "depths=[1,1,1]"]) == 0
    table = pd.read_parquet(tmp_path / "throughput.parquet")
    assert table["spec_overrides"].eq('{"depths": [1, 1, 1]}').all()
    resnet8 = zoo_build("resnet20", input_shape=(32, 32, 3), num_classes=1000, depths=(1, 1, 1))
    from zoo.models.macs import count_macs

    assert table["macs_per_image"].eq(count_macs(resnet8)).all()
    capsys.readouterr()
    assert main(args + ["--set", "depths=[1,1]"]) == 2  # three stages need three depths: refused, nothing measured
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "depths" in err
