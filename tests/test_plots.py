"""The plots as a person sees them: rendered, non-trivial, one labelled colour per variant, one panel per
dataset, readable log ticks; made from the committed result tables."""

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.colors import to_rgb
from PIL import Image

from zoo.experiments.plots import comparison_bars, pareto_figure, pareto_plot, training_curves, write_plots
from zoo.experiments.results import read_table

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "cpu-2core"


def colours_in(path: Path) -> set[tuple[int, int, int]]:
    image = np.asarray(Image.open(path).convert("RGB"))
    return {tuple(c) for c in image.reshape(-1, 3)}


def near(colours: set, rgb: tuple[float, float, float], tolerance: int = 8) -> bool:
    target = np.array([round(255 * c) for c in rgb])
    return any(np.abs(np.array(c) - target).max() <= tolerance for c in colours)


def test_the_committed_quick_table_plots_one_labelled_colour_per_variant(tmp_path):
    table = read_table(RESULTS / "quick")
    fig, _ = pareto_figure({"quick": table})
    variants = sorted(table["variant"].unique())
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == variants  # one equal budget: no Pareto front through timing noise
    assert [ax.get_title() for ax in fig.axes] == sorted(table["dataset"].unique())  # cifar10, mnist
    ticks = [t.get_text() for ax in fig.axes for t in ax.get_xticklabels()]
    assert ticks and not any("^" in t or "times" in t for t in ticks)  # 20, 50, not 2x10^1
    colours = [h.get_color() for h in fig.legends[0].legend_handles[: len(variants)]]
    assert len({tuple(to_rgb(c)) for c in colours}) == len(variants)
    path = pareto_plot({"quick": table}, tmp_path / "pareto.png")
    width, height = Image.open(path).size
    assert width >= 800 and height >= 400
    found = colours_in(path)
    assert all(near(found, to_rgb(c)) for c in colours)  # every variant's colour is drawn


def test_write_plots_names_curves_by_variant_recipe_and_seed(tmp_path):
    table = read_table(RESULTS / "quick")
    folder = tmp_path / "quick"
    for sub in ("histories",):
        (folder / sub).mkdir(parents=True)
        for file in (RESULTS / "quick" / sub).iterdir():
            (folder / sub / file.name).write_bytes(file.read_bytes())
    written = write_plots(folder, table)
    curves = sorted(p.name for p in written if p.parent.name == "curves")
    assert len(curves) == len(table)
    assert "resnet18_mnist_functional-mnist-mnist_functional-seed0-" in " ".join(curves)
    for path in written:
        assert Image.open(path).size[0] >= 600 and len(colours_in(path)) > 20, path


def test_bars_and_curves_render(tmp_path):
    rows = [{"variant": v, "dataset": "d", "recipe": "r", "seed": s, "top1": 0.5 + 0.1 * i + 0.01 * s,
             "train_seconds": 10.0 * (i + 1), "status": "ok"} for i, v in enumerate(["a", "b"]) for s in (0, 1)]
    table = pd.DataFrame(rows)
    fig, _ = pareto_figure({"x": table, "y": table.assign(train_seconds=table["train_seconds"] * 2)})
    assert "Pareto front" in [t.get_text() for t in fig.legends[0].get_texts()]
    bars = comparison_bars({"x": table, "y": table.assign(top1=table["top1"] - 0.05)}, tmp_path / "bars.png")
    assert len(colours_in(bars)) > 20
    history = {"loss": [2.0, 1.0, 0.5], "top1": [0.3, 0.6, 0.8], "val_loss": [2.1, 1.2, 0.9], "val_top1": [0.3, 0.5, 0.7]}
    curves = training_curves(history, tmp_path / "curves.png", title="t", target=0.75)
    assert Image.open(curves).size == (900, 360)
