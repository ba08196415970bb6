"""PNG plots of result tables: accuracy against training time with the Pareto front, per-key bars with
seed error bars (for `zoo compare`), and each run's training curves (for `zoo bench`).

Uses matplotlib's Agg backend (no display needed). `write_plots(folder, table)` returns the files written:
`plots/top1_vs_train_seconds.png` (a panel per dataset, a colour per variant) and
`plots/curves/<variant>-<dataset>-<recipe>-seed<seed>-<run_id>.png` (loss and accuracy per epoch, train
and validation).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from zoo.experiments.results import ok_rows, read_history


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _ok(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    return ok_rows(table, metric, "train_seconds").astype({metric: float, "train_seconds": float})


def pareto_front(points: pd.DataFrame, *, x: str, y: str) -> pd.DataFrame:
    """Rows not beaten by another on both axes (less `x` and more `y`), sorted by `x`.

    >>> pts = pd.DataFrame({"t": [1, 2, 3, 4], "acc": [0.5, 0.4, 0.7, 0.6]})
    >>> pareto_front(pts, x="t", y="acc")["t"].tolist()
    [1, 3]
    """
    ordered = points.sort_values([x, y], ascending=[True, False])
    best, keep = -float("inf"), []
    for index, value in ordered[y].items():
        if value > best:
            keep.append(index)
            best = value
    return ordered.loc[keep]


def _points(tables: dict[str, pd.DataFrame], metric: str) -> pd.DataFrame:
    """Mean metric (%) and training seconds over seeds per (table, dataset, variant, recipe)."""
    groups = []
    for label, table in tables.items():
        ok = _ok(table, metric)
        if len(ok):
            keys = ["dataset", "variant", "recipe"] if "dataset" in ok else ["variant", "recipe"]
            mean = ok.groupby(keys, as_index=False)[[metric, "train_seconds"]].mean()
            groups.append(mean.assign(table=label))
    if not groups:
        return pd.DataFrame()
    points = pd.concat(groups, ignore_index=True)
    if "dataset" not in points:
        points["dataset"] = "?"
    points[metric] = 100 * points[metric]
    return points


def _seconds_axis(ax, seconds: pd.Series) -> None:
    """Training seconds on x: log scale whose ticks read 20, 50, 100 (not 2x10^1) when the times span a
    factor of 3 or more; linear with a few plain ticks when they are about equal (an equal-budget sweep)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter, ScalarFormatter

    if seconds.max() >= 3 * max(seconds.min(), 1e-9):
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("training seconds (log scale)")
    else:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
        ax.xaxis.set_major_formatter(ScalarFormatter(useOffset=False))
        ax.set_xlabel("training seconds")


#: Training times within this factor of each other are one budget: no Pareto front is drawn through them.
EQUAL_TIMES = 1.05


def pareto_figure(tables: dict[str, pd.DataFrame], *, metric: str = "top1"):
    """The accuracy-against-training-time figure (None without a finished run): one panel per dataset with
    its own Pareto front (nothing both faster and more accurate; none when the runs had one equal budget),
    one colour per variant (a legend names each), one marker per table, means over seeds per (variant,
    recipe)."""
    points = _points(tables, metric)
    if points.empty:
        return None, None
    plt = _pyplot()
    datasets = sorted(points["dataset"].astype(str).unique())
    variants = sorted(points["variant"].astype(str).unique())
    palette = plt.get_cmap("tab10" if len(variants) <= 10 else "tab20")
    colours = {v: palette(i % palette.N) for i, v in enumerate(variants)}
    markers = dict(zip(tables, "osD^v<>p*h"))
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.2 * len(datasets) + 2.6, 4.6), dpi=110, squeeze=False)
    fronts = 0
    for ax, dataset in zip(axes[0], datasets):
        rows = points[points["dataset"].astype(str) == dataset]
        for row in rows.itertuples():
            ax.scatter(row.train_seconds, getattr(row, metric), s=42, color=colours[str(row.variant)],
                       marker=markers[row.table], edgecolor="black", linewidth=0.4, zorder=3)
        if rows["train_seconds"].max() > EQUAL_TIMES * rows["train_seconds"].min():  # else the front is noise
            fronts += 1
            front = pareto_front(rows, x="train_seconds", y=metric)
            ax.plot(front["train_seconds"], front[metric], "-", color="black", linewidth=0.8, zorder=2,
                    drawstyle="steps-post")
        _seconds_axis(ax, rows["train_seconds"])
        ax.set_title(dataset, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel(f"test {metric} (%), mean over seeds")
    handles = [plt.Line2D([], [], linestyle="", marker="o", color=colours[v], label=v) for v in variants]
    if fronts:
        handles.append(plt.Line2D([], [], color="black", linewidth=0.8, label="Pareto front"))
    if len(tables) > 1:
        handles += [plt.Line2D([], [], linestyle="", marker=m, color="grey", label=t) for t, m in markers.items()]
    fig.legend(handles=handles, loc="center right", fontsize=7, frameon=False)
    devices = ", ".join(sorted(set().union(*(set(t["device"].dropna().astype(str)) for t in tables.values()
                                             if "device" in t))))
    fig.suptitle(f"{metric} vs training time{' — ' + devices if devices else ''}", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1 - 2.4 / fig.get_figwidth(), 1))
    return fig, plt


def pareto_plot(tables: dict[str, pd.DataFrame], path: Path, *, metric: str = "top1") -> Path | None:
    """`pareto_figure` saved as a PNG at `path` (None when no run finished)."""
    fig, plt = pareto_figure(tables, metric=metric)
    return None if fig is None else _save(fig, path, plt, layout=False)


def comparison_bars(tables: dict[str, pd.DataFrame], path: Path, *, keys=("variant", "dataset", "recipe"),
                    metric: str = "top1") -> Path | None:
    """Grouped bars of the metric per key found in two tables or more (mean over seeds), one bar per
    table, error bars = seed std."""
    frames = []
    for label, table in tables.items():
        ok = ok_rows(table, metric)
        if len(ok):
            stats = ok.astype({metric: float}).groupby(list(keys))[metric].agg(["mean", "std"]).reset_index()
            frames.append(stats.assign(table=label))
    if not frames:
        return None
    stats = pd.concat(frames, ignore_index=True)
    stats["key"] = stats[list(keys)].astype(str).agg(" · ".join, axis=1)
    shared = stats.groupby("key")["table"].nunique()
    if len(tables) > 1 and (shared > 1).any():  # keys only one table has are listed by `zoo compare`, not drawn
        stats = stats[stats["key"].isin(shared[shared > 1].index)]
    order = sorted(stats["key"].unique())
    labels = list(dict.fromkeys(stats["table"]))
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(order) * max(1, len(labels)) / 2 + 2), 5), dpi=110)
    width = 0.8 / len(labels)
    for i, label in enumerate(labels):
        rows = stats[stats["table"] == label].set_index("key").reindex(order)
        positions = [k + (i - (len(labels) - 1) / 2) * width for k in range(len(order))]
        ax.bar(positions, 100 * rows["mean"], width, yerr=100 * rows["std"].fillna(0), capsize=3, label=label)
    ax.set_xticks(range(len(order)))
    ax.set_xticklabels(order, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel(f"test {metric} (%), mean ± std over seeds")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, path, plt)


def _save(fig, path: Path, plt, layout: bool = True) -> Path:
    if layout:
        fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def accuracy_vs_time(table: pd.DataFrame, path: Path, *, metric: str = "top1") -> Path | None:
    """One table's accuracy against training time, with its Pareto front."""
    return pareto_plot({"runs": table}, path, metric=metric)


def training_curves(history: dict, path: Path, *, title: str, target: float | None = None) -> Path | None:
    """Loss (left) and top-1 (right) per epoch; validation curves when the run had a validation split, test
    curves when the test split was measured every epoch, and the time-to-accuracy `target` as a line."""
    if not history.get("loss"):
        return None
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6), dpi=100)
    epochs = range(1, len(history["loss"]) + 1)
    for ax, key, label in ((left, "loss", "loss"), (right, "top1", "top-1")):
        for prefix, style, name in (("", "-o", "train"), ("val_", "--s", "validation"), ("test_", ":^", "test")):
            values = history.get(prefix + key)
            if values:
                ax.plot(list(epochs)[: len(values)], values, style, markersize=3, label=f"{name} {label}")
        if key == "top1" and target is not None:
            ax.axhline(target, color="grey", linewidth=0.8, label=f"target {100 * target:.2f}%")
        ax.set_xlabel("epoch")
        if len(epochs) <= 20:
            ax.set_xticks(list(epochs))
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path, plt)


def curve_file(row) -> str:
    """`<variant>-<dataset>-<recipe>-seed<seed>-<run_id>.png`: findable by name, unique by run id.

    >>> curve_file({"variant": "resnet20", "dataset": "cifar10", "recipe": "fast", "seed": 1, "run_id": "ab12"})
    'resnet20-cifar10-fast-seed1-ab12.png'
    """
    return f"{row['variant']}-{row['dataset']}-{row['recipe']}-seed{row['seed']}-{row['run_id']}.png"


def write_plots(folder: str | Path, table: pd.DataFrame) -> list[Path]:
    """Every plot of a table folder; returns the paths written."""
    folder = Path(folder)
    written = [accuracy_vs_time(table, folder / "plots" / "top1_vs_train_seconds.png")]
    for _, row in table.iterrows():
        title = f"{row['variant']} · {row['dataset_source']} · {row['recipe']} · seed {row['seed']} ({row['status']})"
        target = None if pd.isna(row["target_top1"]) else float(row["target_top1"])
        written.append(training_curves(read_history(folder, row), folder / "plots" / "curves" / curve_file(row),
                                       title=title, target=target))
    return [p for p in written if p is not None]
