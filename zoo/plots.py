"""PNG plots of a results table: top-1 against training time, and each run's training curves.

Uses matplotlib's Agg backend (no display needed). `write_plots(folder, table)` returns the files written:
`plots/top1_vs_train_seconds.png` and `plots/curves/<run_id>.png` (loss and accuracy per epoch, train
and validation).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from zoo.results import read_history


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def accuracy_vs_time(table: pd.DataFrame, path: Path, *, metric: str = "top1") -> Path | None:
    """Scatter of test accuracy (%) against training seconds, one colour per variant, seeds as points."""
    ok = table[(table["status"] == "ok") & table[metric].notna() & table["train_seconds"].notna()]
    if not len(ok):
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=110)
    for (variant, recipe), runs in ok.groupby(["variant", "recipe"], sort=True):
        x, y = runs["train_seconds"].astype(float), 100 * runs[metric].astype(float)
        ax.scatter(x, y, s=36, label=f"{variant} ({recipe})")
        ax.annotate(variant, (x.mean(), y.mean()), fontsize=7, xytext=(4, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("training seconds (compilation excluded, log scale)")
    ax.set_ylabel(f"test {metric} (%)")
    devices = ", ".join(sorted(set(ok["device"].dropna().astype(str))))
    ax.set_title(f"{metric} vs training time — {devices}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def training_curves(history: dict, path: Path, *, title: str) -> Path | None:
    """Loss (left) and top-1 (right) per epoch; validation curves when the run had a validation split."""
    if not history.get("loss"):
        return None
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6), dpi=100)
    epochs = range(1, len(history["loss"]) + 1)
    for ax, key, label in ((left, "loss", "loss"), (right, "top1", "top-1")):
        for prefix, style in (("", "-o"), ("val_", "--s")):
            values = history.get(prefix + key)
            if values:
                ax.plot(list(epochs)[: len(values)], values, style, markersize=3,
                        label=("validation " if prefix else "train ") + label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def write_plots(folder: str | Path, table: pd.DataFrame) -> list[Path]:
    """Every plot of a table folder; returns the paths written."""
    folder = Path(folder)
    written = [accuracy_vs_time(table, folder / "plots" / "top1_vs_train_seconds.png")]
    for _, row in table.iterrows():
        title = f"{row['variant']} · {row['dataset_source']} · {row['recipe']} · seed {row['seed']} ({row['status']})"
        written.append(training_curves(read_history(folder, row), folder / "plots" / "curves" / f"{row['run_id']}.png",
                                       title=title))
    return [p for p in written if p is not None]
