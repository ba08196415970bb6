"""What a results table says, in short: time to a target accuracy with its intervals, where the runs'
time went, and the Markdown summary (`results.md`) written beside every table.

>>> import pandas as pd
>>> from zoo.experiments.results import conform
>>> table = conform(pd.DataFrame([{"run_id": "a", "variant": "resnet20", "top1": 0.9, "status": "ok"}]))
>>> "resnet20" in summary_markdown(table, title="demo")
True
"""

from __future__ import annotations

import math

import pandas as pd

from zoo.experiments.results import ok_rows


def time_to_accuracy(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (variant, data, recipe, overrides, target) with a time-to-accuracy target: seeds run,
    seeds that reached it, medians of the seconds and epochs to it and of the final top-1, and the means
    with their 95% intervals over seeds (`zoo.experiments.stats`; the seconds' only when every seed
    reached the target: a mean over the seeds that did would flatter the configuration).

    >>> rows = [{"run_id": str(s), "variant": "v", "recipe": "fast", "seed": s, "target_top1": 0.9,
    ...          "seconds_to_target": t, "epochs_to_target": e, "top1": 0.91, "status": "ok"}
    ...         for s, t, e in ((0, 10.0, 5), (1, 12.0, 6), (2, None, None))]
    >>> from zoo.experiments.results import conform
    >>> time_to_accuracy(conform(pd.DataFrame(rows)))[["variant", "seeds", "reached", "median s"]].values.tolist()
    [['v', 3, 2, 12.0]]
    >>> summary = time_to_accuracy(conform(pd.DataFrame(rows[:2])))   # both seeds reached it
    >>> summary[["mean s ± 95%", "mean top-1 % ± 95%"]].values.tolist()
    [['11.0 ± 12.7 (n=2)', '91.00 ± 0.00 (n=2)']]
    """
    import numpy as np

    from zoo.experiments.stats import interval

    def spread(values, scale: float = 1.0, digits: int = 1) -> str | None:
        found = interval(values)
        if not found.n:
            return None
        half = "n/a" if not math.isfinite(found.half) else f"{scale * found.half:.{digits}f}"
        return f"{scale * found.mean:.{digits}f} ± {half} (n={found.n})"

    runs = table[table["target_top1"].notna()]
    if not len(runs):
        return pd.DataFrame()
    keys = ["variant", "spec_overrides", "dataset_source", "recipe", "overrides", "target_top1"]
    out = []
    for key, group in runs.groupby(keys, dropna=False, sort=False):
        ok = group["status"].eq("ok")
        seconds = group["seconds_to_target"].astype("float64").where(ok).fillna(np.inf)
        epochs = group["epochs_to_target"].astype("float64").where(ok).fillna(np.inf)
        median_s, median_epochs = float(np.median(seconds)), float(np.median(epochs))
        values = dict(zip(keys, key))
        spec = {"spec": values["spec_overrides"]} if runs["spec_overrides"].notna().any() else {}
        out.append({"variant": values["variant"], **spec, "data": values["dataset_source"], "recipe": values["recipe"],
                    "overrides": values["overrides"], "target %": f"{100 * values['target_top1']:.2f}",
                    "seeds": len(group), "reached": int(group["seconds_to_target"].notna().sum()),
                    "median s": round(median_s, 1) if np.isfinite(median_s) else None,
                    "median epochs": median_epochs if np.isfinite(median_epochs) else None,
                    "median top-1 %": round(100 * float(group["top1"].astype("float64").median()), 2),
                    "mean s ± 95%": spread(group["seconds_to_target"]) if ok.all() and np.isfinite(seconds).all()
                    else None,
                    "mean top-1 % ± 95%": spread(group["top1"].where(ok), scale=100, digits=2)})
    return pd.DataFrame(out)


#: Where the runs' time went, in the order a run spends it: (label, how to get its seconds from the table).
#: `compile_seconds` is inside `build_seconds`; apart here, as the first train steps.
_PHASES = (("data", lambda t: t["data_seconds"]),
           ("building", lambda t: t["build_seconds"] - t["compile_seconds"].fillna(0.0)),
           ("first (compiling) steps", lambda t: t["compile_seconds"]),
           ("training steps", lambda t: t["train_seconds"]),
           ("validation", lambda t: t["validation_seconds"]),
           ("BN re-estimation", lambda t: t["precise_bn_seconds"]),
           ("test scoring", lambda t: t["test_seconds"]),
           ("inference timing", lambda t: t["inference_seconds"]),
           ("other", lambda t: t["other_seconds"]))


def _seconds(values) -> float:
    """A time column's (or phase's) seconds added up, missing values as zero."""
    return float(pd.to_numeric(values, errors="coerce").fillna(0.0).sum())


def time_split(table: pd.DataFrame) -> dict[str, float]:
    """Seconds per phase over the ok runs (they add up to their `wall_seconds`, data to other), the first,
    compiling steps apart from the later training steps.

    >>> row = {"run_id": "a", "status": "ok", "data_seconds": 1.0, "build_seconds": 9.0, "compile_seconds": 6.0,
    ...        "train_seconds": 40.0, "test_seconds": 3.0, "other_seconds": 1.0, "wall_seconds": 54.0}
    >>> from zoo.experiments.results import conform
    >>> split = time_split(conform(pd.DataFrame([row])))
    >>> split["training steps"], split["first (compiling) steps"], sum(split.values())
    (40.0, 6.0, 54.0)
    """
    runs = ok_rows(table)
    return {label: _seconds(seconds(runs)) for label, seconds in _PHASES}


def training_shares(table: pd.DataFrame) -> tuple[float, float] | None:
    """The ok runs' share of their wall time in training steps, without and with the first, compiling steps
    (in Keras' loop the first step trains a batch like the others; the device loop compiles without running
    one, so its compile time never counts as training). None when no ok run has a wall time.

    >>> row = {"run_id": "a", "status": "ok", "loop": "keras", "build_seconds": 9.0, "compile_seconds": 6.0,
    ...        "train_seconds": 40.0, "wall_seconds": 50.0}
    >>> from zoo.experiments.results import conform
    >>> training_shares(conform(pd.DataFrame([row])))
    (0.8, 0.92)
    """
    runs = ok_rows(table)
    wall = _seconds(runs["wall_seconds"])
    if wall <= 0:
        return None
    steps = _seconds(runs["train_seconds"])
    first = _seconds(runs["compile_seconds"].where(runs["loop"].fillna("keras").eq("keras")))
    return steps / wall, (steps + first) / wall


def time_split_line(table: pd.DataFrame) -> str:
    """One sentence: the ok runs' wall time and where it went, training steps first (`training_shares`).

    >>> row = {"run_id": "a", "status": "ok", "loop": "keras", "data_seconds": 1.0, "build_seconds": 9.0,
    ...        "compile_seconds": 6.0, "train_seconds": 40.0, "test_seconds": 3.0, "other_seconds": 1.0,
    ...        "wall_seconds": 54.0}
    >>> from zoo.experiments.results import conform
    >>> print(time_split_line(conform(pd.DataFrame([row]))))
    The 1 ok run took 54.0 s: training steps 40.0 s (74.1%; 85.2% with the first, compiling steps, which train a batch too), first (compiling) steps 6.0 s (11.1%), building 3.0 s (5.6%), test scoring 3.0 s (5.6%), data 1.0 s (1.9%), other 1.0 s (1.9%).
    """
    runs = ok_rows(table)
    shares = training_shares(runs)
    if shares is None:
        return ""
    split, wall = time_split(runs), _seconds(runs["wall_seconds"])
    rest = sorted(((label, s) for label, s in split.items() if label != "training steps" and s > 0.05),
                  key=lambda item: -item[1])
    parts = [f"training steps {split['training steps']:.1f} s ({100 * shares[0]:.1f}%; {100 * shares[1]:.1f}% "
             f"with the first, compiling steps, which train a batch too)"]
    parts += [f"{label} {s:.1f} s ({100 * s / wall:.1f}%)" for label, s in rest]
    return f"The {len(runs)} ok run{'' if len(runs) == 1 else 's'} took {wall:.1f} s: {', '.join(parts)}."


# -- the Markdown summary ---------------------------------------------------------------------------

SUMMARY = (("variant", "variant"), ("dataset_source", "data"), ("recipe", "recipe"), ("seed", "seed"),
           ("epochs", "epochs"), ("batch_size", "batch"), ("precision", "precision"), ("params", "params"),
           ("macs_per_image", "MACs"), ("top1", "top-1 %"), ("top5", "top-5 %"),
           ("budget_seconds", "budget s"), ("images_seen", "images"), ("compile_seconds", "compile s"),
           ("train_seconds", "train s"), ("wall_seconds", "wall s"),
           ("seconds_per_epoch", "s/epoch"), ("train_images_per_second", "train img/s"),
           ("inference_images_per_second", "infer img/s"), ("status", "status"))
SHARED = ("backend", "backend_version", "keras_version", "device", "host", "git_sha")


def summary_cell(key: str, value):
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    if key in ("top1", "top5"):
        return f"{100 * value:.2f}"
    if key == "macs_per_image":
        from zoo.models.macs import format_count

        return format_count(int(value))
    if key in ("train_seconds", "seconds_per_epoch", "compile_seconds", "wall_seconds", "budget_seconds"):
        return f"{value:.1f}"
    if key.endswith("per_second"):
        return f"{value:,.0f}"
    if hasattr(value, "item"):
        return value.item()
    return value


def summary_markdown(table: pd.DataFrame, *, title: str | None = None) -> str:
    """A readable Markdown summary: environment shared by every row once, one line per run, then each
    configuration over its seeds with intervals and ties (`zoo.experiments.stats.seed_summary`)."""
    from zoo.experiments.stats import MIN_SEEDS, seed_summary
    from zoo.markdown import format_table

    lines = [f"# {title}", ""] if title else []
    if not len(table):
        return "\n".join(lines + ["(no runs yet)", ""])
    shared = [(key, table[key].iloc[0]) for key in SHARED if table[key].nunique(dropna=False) == 1]
    if shared:
        lines += [", ".join(f"{key}: {'' if pd.isna(v) else v}" for key, v in shared), ""]
    columns = list(SUMMARY) + [(key, key) for key in SHARED if key not in dict(shared)]
    rows = [{key: summary_cell(key, row[key]) for key, _ in columns} for _, row in table.iterrows()]
    lines.append(format_table(rows, columns))
    by_config = seed_summary(table)
    if len(by_config) > 1 or (len(by_config) and by_config["n"].max() > 1):
        lines += ["", "By configuration (top-1 mean ± its 95% interval over seeds; one seed: the test set's "
                      f"sampling interval alone). A ranking needs {MIN_SEEDS} seeds a side; `tie`: the "
                      "difference from the best is inside its interval:", ""]
        lines.append(format_table(by_config.to_dict("records"), [(c, c) for c in by_config.columns]))
    targets = time_to_accuracy(table)
    if len(targets):
        lines += ["", "Time to accuracy (medians over seeds; a seed that never reached the target counts as "
                      "infinitely slow, so the median is empty when half or more missed):", ""]
        lines.append(format_table(targets.to_dict("records"), [(c, c) for c in targets.columns]))
    split = time_split_line(table)
    if split:
        lines += ["", split]
    problems = table[table["status"] != "ok"]
    if len(problems):
        lines += ["", "Runs that did not finish ok:", ""]
        lines += [f"- {r.variant} / {r.dataset} / {r.recipe} / seed {r.seed}: {r.status}: {r.error}"
                  for r in problems.itertuples()]
    return "\n".join(lines) + "\n"
