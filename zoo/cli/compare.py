"""`zoo compare`: join result tables, differences with 95% intervals, ties, ratios, plots."""

from __future__ import annotations

import sys
from pathlib import Path

from zoo.cli.args import names


def add_parser(sub) -> None:
    p = sub.add_parser("compare", help="compare result tables: differences with 95% intervals and ties, "
                                       "speed ratios, missing rows",
                       description="The first table is the baseline. Tables are bench/tune folders or "
                                   ".parquet/.csv files (benchmarks/reference/published.csv included).")
    p.add_argument("tables", nargs="+", metavar="TABLE", help="two or more tables")
    p.add_argument("--on", type=names("join key"), default="variant,dataset,recipe",
                   help="join keys (default: variant,dataset,recipe)")
    p.add_argument("--metric", default="top1", help="column to compare (default: top1)")
    p.add_argument("--format", choices=["md", "csv", "html"], default="md")
    p.add_argument("--output", metavar="FILE", help="write the comparison here instead of printing it")
    p.add_argument("--allow-mismatch", action="store_true",
                   help="compare rows whose dataset source, precision or device differ")
    p.add_argument("--plots", metavar="DIR", help="write pareto.png and bars.png here")
    p.set_defaults(func=run)


def run(args) -> int:
    from zoo.experiments.compare import compare, labels_for, load, render

    labels = labels_for(args.tables)
    def note(line: str) -> None:
        print(f"zoo compare: {line}", file=sys.stderr)

    tables = {label: load(path, log=note) for label, path in zip(labels, args.tables)}
    keys = args.on
    result = compare(tables, on=keys, metric=args.metric, allow_mismatch=args.allow_mismatch)
    text = render(result, args.format)
    if args.output:
        Path(args.output).write_text(text)
    else:
        print(text, end="")
    if args.plots:
        from zoo.experiments.plots import comparison_bars, pareto_plot

        for path in (pareto_plot(tables, Path(args.plots) / "pareto.png", metric=args.metric),
                     comparison_bars(tables, Path(args.plots) / "bars.png", keys=keys, metric=args.metric)):
            if path:
                print(f"plot: {path}", file=sys.stderr)
    return 0
