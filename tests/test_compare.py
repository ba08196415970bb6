"""`zoo compare` (joins, seed aggregation, intervals and ties, mismatches, formats, plots), the reference table,
and `zoo predict`."""

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import zoo
from zoo.cli import main
from zoo.errors import ZooError
from zoo.experiments.compare import compare, load, render
from zoo.experiments.plots import pareto_front
from zoo.experiments.results import append_rows

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "benchmarks" / "reference" / "published.csv"


def runs(top1s, *, variant="resnet20", recipe="fast", device="gpu", speed=1000.0, seconds=10.0, **extra):
    return [dict(run_id=f"{variant}-{recipe}-{device}-{i}-{t}", variant=variant, dataset="cifar10",
                 dataset_source="cifar10-jpeg", recipe=recipe, seed=i, top1=t, status="ok", device=device,
                 precision="float32", train_images_per_second=speed, train_seconds=seconds, **extra)
            for i, t in enumerate(top1s)]


def frame(*groups):
    return pd.DataFrame([row for group in groups for row in group])


def test_seeds_are_aggregated_and_differences_inside_their_interval_are_ties():
    a = frame(runs([0.90, 0.92, 0.91]), runs([0.80, 0.81], variant="resnet32"))
    b = frame(runs([0.905, 0.915, 0.91], speed=1500.0, seconds=5.0), runs([0.86, 0.87], variant="resnet32"))
    result = compare({"A": a, "B": b})
    t = result.table.set_index("variant")
    assert t.loc["resnet20", "n [A]"] == 3 and t.loc["resnet20", "top1 mean [A]"] == pytest.approx(0.91)
    assert t.loc["resnet20", "top1 std [A]"] == pytest.approx(0.01)
    # Student's t, 2 degrees of freedom: 4.303 x 0.01 / sqrt(3)
    assert t.loc["resnet20", "top1 ci95 [A]"] == pytest.approx(4.3027 * 0.01 / 3 ** 0.5, rel=1e-4)
    assert t.loc["resnet20", "tie [B-A]"] is True            # +0.0 points: a tie
    assert t.loc["resnet32", "tie [B-A]"] is False           # +6 points, Welch's interval +-3.04 (2 df)
    assert t.loc["resnet32", "top1 diff [B-A]"] == pytest.approx(0.06)
    assert t.loc["resnet32", "top1 diff ci95 [B-A]"] == pytest.approx(4.3027 * 0.005 ** 0.5 * 0.1, rel=1e-3)
    assert t.loc["resnet20", "speed [B/A]"] == pytest.approx(1.5) and t.loc["resnet20", "time [B/A]"] == 0.5
    text = render(result, "md")
    assert "| 91.00 ± 2.48 (sd 1.00, n=3)" in text and "+0.00 ± 2.08 (tie)" in text  # Welch: 2.94 df
    assert "+6.00 ± 3.04 " in text and "+6.00 ± 3.04 (tie)" not in text
    assert "1.50x" in text and "tie: the interval holds zero" in text


def test_a_difference_larger_than_the_spread_but_inside_the_interval_is_a_tie():
    """Two seeds each: +2 points against a 1-point spread was 'not noise' under the old spread rule; its
    95% interval (Welch, 2 df: +-4.3 points) holds zero, so it is a tie."""
    result = compare({"A": frame(runs([0.90, 0.91])), "B": frame(runs([0.92, 0.93]))})
    assert result.table["tie [B-A]"].iloc[0] is True


def test_single_seed_leaves_the_tie_flag_empty():
    result = compare({"A": frame(runs([0.9])), "B": frame(runs([0.95]))})
    assert result.table["tie [B-A]"].iloc[0] is None
    assert "+5.00 |" in render(result, "md")


def test_rows_in_only_one_table_are_listed_not_compared():
    a = frame(runs([0.9]), runs([0.8], variant="resnet32"))
    b = frame(runs([0.9]), runs([0.7], variant="resnet44"))
    result = compare({"A": a, "B": b})
    assert result.table["variant"].tolist() == ["resnet20"]
    assert result.only_in == {"A": [("resnet32", "cifar10", "fast")], "B": [("resnet44", "cifar10", "fast")]}
    text = render(result, "md")
    assert "only in A: resnet32, cifar10, fast" in text and "only in B: resnet44, cifar10, fast" in text


def test_failed_runs_do_not_count():
    b = frame(runs([0.9, 0.1]))
    b.loc[1, "status"] = "diverged"
    result = compare({"A": frame(runs([0.9])), "B": b})
    assert result.table["n [B]"].iloc[0] == 1 and result.table["top1 mean [B]"].iloc[0] == pytest.approx(0.9)


@pytest.mark.parametrize("column, value", [("device", "cpu: AMD EPYC"), ("precision", "mixed_bfloat16"),
                                           ("dataset_source", "cifar10")])
def test_different_measurement_conditions_are_refused_unless_allowed(column, value):
    a, b = frame(runs([0.9])), frame(runs([0.92]))
    b[column] = value
    with pytest.raises(ZooError, match=f"(?s)refusing to compare.*resnet20, cifar10, fast: {column}"):
        compare({"A": a, "B": b})
    result = compare({"A": a, "B": b}, allow_mismatch=True)
    assert result.table["mismatch"].tolist() == [True]
    assert "compared despite different measurement conditions" in render(result, "md")


def test_missing_key_column_and_single_table_are_errors():
    with pytest.raises(ZooError, match="table B has no values in column\\(s\\) recipe"):
        compare({"A": frame(runs([0.9])), "B": frame(runs([0.9])).drop(columns=["recipe"])})
    with pytest.raises(ZooError, match="at least two tables"):
        compare({"A": frame(runs([0.9]))})


def test_every_output_format():
    result = compare({"A": frame(runs([0.9, 0.92])), "B": frame(runs([0.95, 0.97]))})
    csv = pd.read_csv(io.StringIO(render(result, "csv")))
    assert csv["top1 diff [B-A]"].iloc[0] == pytest.approx(0.05) and csv["n [A]"].iloc[0] == 2
    html = render(result, "html")
    assert html.startswith("<table") and "91.00 ± 12.71 (sd 1.41, n=2)" in html
    md = render(result, "md")
    assert md.splitlines()[2].startswith("| variant")
    with pytest.raises(ZooError, match="format must be md, csv or html"):
        render(result, "xlsx")


def test_reference_table_rows_name_registry_variants_and_sources():
    table = load(REFERENCE)
    assert len(table) >= 15 and table["reference"].notna().all()
    assert set(table["variant"]) <= set(zoo.list_variants())
    assert table["top1"].between(0, 1).all()
    seeds = table.set_index("run_id")
    assert seeds.loc["ref-seed002", "top1"] == 0.9808 and seeds.loc["ref-seed002", "train_seconds"] == 148.23
    assert seeds.loc["ref-seed004", "top1"] == 0.8123 and seeds.loc["ref-seed004", "top5"] == 0.9864


def test_cli_compares_tables_with_the_reference_and_writes_plots(tmp_path, capsys):
    for name, top1s, device in (("before", [0.97, 0.975], "gpu"), ("after", [0.98, 0.985], "gpu")):
        rows = runs(top1s, variant="resnet18_mnist_functional", recipe="mnist_functional", device=device)
        for row in rows:
            row.update(dataset="mnist", dataset_source="mnist")
        append_rows(tmp_path / name, rows)
    code = main(["compare", str(tmp_path / "before"), str(tmp_path / "after"), str(REFERENCE),
                 "--on", "variant,dataset", "--plots", str(tmp_path / "plots")])
    captured = capsys.readouterr()
    assert code == 0
    assert "| resnet18_mnist_functional | mnist" in captured.out and "98.08 (n=1)" in captured.out
    assert "only in published:" in captured.out and "resnet110, cifar10" in captured.out
    for name in ("pareto.png", "bars.png"):
        assert (tmp_path / "plots" / name).stat().st_size > 10_000
    assert main(["compare", str(tmp_path / "before"), str(tmp_path / "after"), "--format", "csv",
                 "--output", str(tmp_path / "c.csv")]) == 0
    assert pd.read_csv(tmp_path / "c.csv")["top1 diff [after-before]"].iloc[0] == pytest.approx(0.01)
    assert main(["compare", str(tmp_path / "before"), str(tmp_path / "nowhere")]) == 2
    assert "no such table" in capsys.readouterr().err


def test_pareto_front():
    points = pd.DataFrame({"t": [10, 20, 5, 40, 30], "acc": [0.90, 0.93, 0.80, 0.95, 0.92]})
    assert pareto_front(points, x="t", y="acc")["t"].tolist() == [5, 10, 20, 40]


# -- zoo predict ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import os

    os.environ["ZOO_OFFLINE"] = "1"
    out = tmp_path_factory.mktemp("runs")
    result = zoo.train("resnet_tiny", "mnist_functional", dataset="digits", epochs=3, batch_size=32, limit=600,
                       verbose=0, out_dir=out)
    return Path(result["run_dir"])


def _png(path, array):
    from PIL import Image

    Image.fromarray(array).save(path)
    return str(path)


def test_predict_prints_top_k_with_class_names(trained, tmp_path, capsys):
    digits = zoo.load_dataset("digits", split="test")
    same = _png(tmp_path / "a.png", digits.images[0][..., 0])                   # 32x32 grayscale
    small = _png(tmp_path / "b.png", digits.images[1][2:30, 2:30, 0])           # 28x28: zero-padded
    large = _png(tmp_path / "c.png", np.repeat(np.repeat(digits.images[2], 2, 0), 2, 1).repeat(3, -1))  # 64x64 RGB
    assert main(["predict", str(trained / "model.keras"), same, small, large, "--top-k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[0].startswith(f"{same}: ")
    for line in lines:
        pairs = line.split(": ", 1)[1].split(", ")
        names, probs = zip(*(p.rsplit(" ", 1) for p in pairs))
        assert len(pairs) == 2 and set(names) <= {str(i) for i in range(10)}
        assert 0 <= float(probs[1]) <= float(probs[0]) <= 1


def test_predict_agrees_with_the_model(trained, tmp_path):
    import keras

    from zoo.training.predict import predict_files

    digits = zoo.load_dataset("digits", split="test")
    paths = [_png(tmp_path / f"{i}.png", digits.images[i][..., 0]) for i in range(4)]
    got = predict_files(trained / "model.keras", paths, top_k=1, class_names=list("abcdefghij"))
    model = keras.saving.load_model(trained / "model.keras")
    expected = np.argmax(model.predict(digits.images[:4], verbose=0), axis=-1)
    assert [g["top"][0][0] for g in got] == ["abcdefghij"[i] for i in expected]


def test_predict_bad_input(trained, tmp_path, capsys):
    model = str(trained / "model.keras")
    (tmp_path / "x.png").write_text("not an image")
    assert main(["predict", model, str(tmp_path / "x.png")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["predict", model, str(tmp_path / "missing.png")]) == 2
    assert "no such image" in capsys.readouterr().err
    ok = _png(tmp_path / "ok.png", np.zeros((32, 32), np.uint8))
    assert main(["predict", model, ok, "--classes", "a,b"]) == 2
    assert "--classes names 2 classes but the model predicts 10" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "none.keras"), ok]) == 2


@pytest.mark.parametrize("content, message", [
    ("variant;dataset;recipe;top1\nresnet20;cifar10;fast;0.9\n", "has no values in column\\(s\\) variant, dataset, recipe, "
     "top1 \\(a CSV must be comma-separated with a header row\\)"),
    ("", "cannot read table .*bad.csv \\(truncated or corrupt\\?\\): No columns to parse"),
    ("variant,dataset,recipe,top1\nresnet20,cifar10,fast,0.9,7,8\n", "cannot read table .*bad.csv"),
    ("variant,dataset,recipe,top1\nresnet20,cifar10,fast,abc\n", "cannot read table .*bad.csv"),
    ("variant,dataset,recipe,top1,status\nresnet20,cifar10,fast,inf,ok\n", "table bad: 1 ok row\\(s\\) have a "
     "non-numeric or non-finite top1 \\(first: inf\\)"),
])
def test_malformed_tables_are_one_line_errors(tmp_path, capsys, content, message):
    good = tmp_path / "good.csv"
    frame(runs([0.9])).to_csv(good, index=False)
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    assert main(["compare", str(good), str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert __import__("re").search(message, err), err


def test_predict_refuses_what_is_not_a_model_with_one_line(tmp_path, capsys):
    import zipfile

    text = tmp_path / "notes.keras"
    text.write_text("hello")
    junk = tmp_path / "junk.keras"
    with zipfile.ZipFile(junk, "w") as archive:
        archive.writestr("readme.txt", "not a model")
    for model, message in ((text, r"is not a Keras model file \(a \.keras file is a zip archive"),
                           (tmp_path, "is a folder; give its model.keras file"),
                           (junk, "cannot load .*junk.keras as a Keras model: ")):
        assert main(["predict", str(model), str(text)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err and __import__("re").search(message, err), err


def test_sixteen_bit_and_palette_images_are_scaled_not_clipped(tmp_path):
    from PIL import Image

    from zoo.training.predict import read_image

    wide = np.array([[0, 32896, 65535]], dtype=np.uint16)
    Image.fromarray(wide).save(tmp_path / "deep.png")
    assert read_image(tmp_path / "deep.png", (1, 3, 1))[..., 0].tolist() == [[0, 128, 255]]
    palette = Image.new("P", (2, 1))
    palette.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    palette.putdata([0, 1])
    palette.save(tmp_path / "palette.png")
    assert read_image(tmp_path / "palette.png", (1, 2, 3)).tolist() == [[[255, 0, 0], [0, 0, 255]]]


def test_rows_trained_differently_are_compared_and_flagged():
    base = pd.DataFrame({"variant": ["resnet20"], "dataset": "cifar10", "recipe": "fast", "seed": 0, "status": "ok",
                         "top1": [0.5], "epochs": [1], "train_images": [500], "budget_seconds": [40.0]})
    other = base.assign(top1=[0.9], epochs=[100], train_images=[50000], budget_seconds=[40.0])
    result = compare({"quick": base, "paper": other})
    assert result.setup == {("resnet20", "cifar10", "fast"): ["epochs 100 in paper vs 1",
                                                                "train images 50000 in paper vs 500"]}
    text = render(result)
    assert "setup differs from baseline" in text and "epochs 100 in paper vs 1; train images 50000" in text
    same = compare({"a": base, "b": base.assign(top1=[0.6])})
    assert same.setup == {} and "setup differs" not in render(same)


def test_predict_in_a_fresh_process_loads_what_train_saved(trained, tmp_path):
    """`zoo predict` runs in a process that has not built a model: the zoo's layers, optimizer and schedule
    named in the file must be registered by loading it (they were not: every saved model failed)."""
    import subprocess
    import sys

    digits = zoo.load_dataset("digits", split="test")
    image = _png(tmp_path / "a.png", digits.images[0][..., 0])
    done = subprocess.run([sys.executable, "-m", "zoo", "predict", str(trained / "model.keras"), image],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.startswith(f"{image}: ")


def test_seed_summary_ranks_only_with_three_seeds_and_ignores_missing_values():
    """The results.md section: one seed is shown with its test set's sampling interval and never ranked
    beyond it; a row whose top-1 is missing (a failed run written as ok by an older zoo) is left out."""
    from zoo.experiments.stats import seed_summary

    table = frame(runs([0.90, 0.91, 0.92]), runs([0.60], variant="resnet32"), runs([0.895], variant="resnet44"),
                  runs([0.80, 0.81], variant="resnet56"), runs([pd.NA, pd.NA], variant="resnet110"))
    table["test_images"] = 500
    table["overrides"] = "{}"
    table["top1"] = table["top1"].astype("Float64")
    summary = seed_summary(table).set_index("variant")
    assert summary.loc["resnet20", "vs best"] == "best" and summary.loc["resnet20", "n"] == 3
    assert summary.loc["resnet44", "vs best"] == "tie"  # -0.5 points, inside 500 images' sampling noise
    assert summary.loc["resnet44", "top-1 %"] == "89.50 ± 2.69 (test set only)"
    assert summary.loc["resnet32", "vs best"] == "no claim (n < 3)"  # far below, but one seed
    assert summary.loc["resnet56", "vs best"] == "no claim (n < 3)"
    assert summary.loc["resnet110", "n"] == 0
