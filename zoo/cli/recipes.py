"""`zoo recipes`: the named training recipes as a table."""

from __future__ import annotations

from zoo.markdown import format_table


def add_parser(sub) -> None:
    p = sub.add_parser("recipes", help="list the named training recipes")
    p.set_defaults(func=run)


def run(args) -> int:
    from zoo.training.recipes import RECIPES

    rows = [{"name": r.name, "dataset": r.dataset, "epochs": r.epochs, "batch": r.batch_size,
             "optimizer": f"{r.optimizer} {r.lr:g}" + (" nesterov" if r.nesterov else ""),
             "schedule": r.schedule, "preprocessing": r.preprocessing, "precision": r.precision, "loop": r.loop,
             "source": r.source} for r in RECIPES.values()]
    print(format_table(rows, [(k, k) for k in rows[0]]))
    return 0
