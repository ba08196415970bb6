"""`zoo tune`: a keras-tuner search over a variant's knobs (alone, or chief and workers)."""

from __future__ import annotations

import os
from pathlib import Path

from zoo.cli.args import budget, count, duration, image_limit, names, override
from zoo.errors import ZooError
from zoo.models.registry import get_spec
from zoo.training.recipes import get_recipe


def add_parser(sub) -> None:
    p = sub.add_parser("tune", help="keras-tuner search over a variant's knobs; trials table + best spec",
                       description="Search stem, stem BN, stem pool, shortcut, head, depth, width and lr, weight "
                                   "decay, batch size around a base variant. Distributed: one --chief and any "
                                   "number of --worker NAME processes sharing --oracle HOST:PORT and --directory.")
    p.add_argument("--base", required=True, help="the variant to start from (see `zoo list`)")
    p.add_argument("--dataset", help="dataset (default: the recipe's)")
    p.add_argument("--recipe", default="fast", help="training recipe (default: fast)")
    p.add_argument("--tuner", choices=["random", "bayesian", "hyperband", "grid"], default="random")
    p.add_argument("--max-trials", type=count, default=10, metavar="N", help="stop after N trials (>= 1)")
    p.add_argument("--search-budget", type=duration, metavar="DURATION",
                   help="start no trial once the trials have taken this long, e.g. 2h (wall clock, counted "
                        "across --resume; the running trial finishes)")
    p.add_argument("--trial-budget", type=budget, metavar="BUDGET",
                   help="train every trial for this long, e.g. 60s or 50000img: the search then maximizes the "
                        "accuracy reached in that budget (not with --tuner hyperband)")
    p.add_argument("--seeds", type=count, default=1, metavar="N",
                   help="train every trial N times (seeds recipe seed, +1, ...) and score the mean validation "
                        "top-1, with its 95%% interval in the trials table (default 1)")
    p.add_argument("--directory", default="tune", help="keras-tuner directory (default: tune)")
    p.add_argument("--project", help="project name inside the directory (default: base-dataset-recipe-tuner)")
    p.add_argument("--knobs", type=names("search knob"),
                   help="comma-separated knobs to search, e.g. stem,shortcut,lr (default: the articles' architecture "
                        "knobs and lr, weight_decay, batch_size; the block options preact, attention, cardinality, "
                        "drop_path only when named)")
    p.add_argument("--knob", type=override, action="append", metavar="KNOB=VALUE",
                   help="fixed recipe knob for every trial, e.g. --knob epochs=3")
    p.add_argument("--limit", type=image_limit, metavar="N", help="use at most N train and N test images")
    p.add_argument("--data-dir", metavar="DIR")
    p.add_argument("--seed", type=int, default=0, help="the tuner's random seed")
    p.add_argument("--resume", action="store_true", help="continue the search already in the directory")
    p.add_argument("--overwrite", action="store_true", help="delete the search in the directory and start again")
    p.add_argument("--chief", action="store_true", help="run the distributed search's oracle (no training)")
    p.add_argument("--worker", metavar="NAME", help="run trials for the chief as worker NAME (e.g. tuner0)")
    p.add_argument("--oracle", metavar="HOST:PORT", help="where the chief listens (with --chief/--worker)")
    p.add_argument("--quiet", action="store_true", help="no Keras progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    get_spec(args.base)  # bad names and knobs fail before Keras loads
    recipe_overrides = {**dict(args.knob or []), **(args.trial_budget or {})}
    get_recipe(args.recipe, **recipe_overrides, **({"dataset": args.dataset} if args.dataset else {}))
    from zoo.experiments.tuning import ZooHyperModel, make_tuner, run_search, trials_folder

    if (args.chief or args.worker) and args.search_budget:
        raise ZooError("--search-budget bounds a search in one process; a distributed search's chief hands "
                       "out trials to workers that each count only their own (bound them with --max-trials)")
    if args.chief or args.worker:
        if not args.oracle:
            raise ZooError("--chief/--worker need --oracle HOST:PORT (where the chief listens)")
        host, _, port = args.oracle.rpartition(":")
        if not host or not port.isdigit():
            raise ZooError(f"--oracle must be HOST:PORT, got {args.oracle!r}")
        os.environ.update(KERASTUNER_ORACLE_IP=host, KERASTUNER_ORACLE_PORT=port,
                          KERASTUNER_TUNER_ID="chief" if args.chief else args.worker)
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID", "tuner0")
    knobs = args.knobs
    project = args.project or f"{args.base}-{args.dataset or 'data'}-{args.recipe}-{args.tuner}"
    state = Path(args.directory) / project / f"{tuner_id}.json"
    if state.exists() and not (args.resume or args.overwrite):
        raise ZooError(f"{state.parent} already holds a search; pass --resume to continue it or --overwrite "
                       "to start again")
    hypermodel = ZooHyperModel(args.base, knobs, args.recipe, dataset=args.dataset, data_dir=args.data_dir,
                               limit=args.limit, overrides=recipe_overrides, grid=args.tuner == "grid",
                               verbose=0 if args.quiet else 1, seeds=args.seeds)
    tuner = make_tuner(args.tuner, hypermodel, max_trials=args.max_trials, directory=args.directory,
                       project=project, overwrite=args.overwrite, seed=args.seed, budget_seconds=args.search_budget)
    from zoo.training.progress import Display

    with Display(indent="    ") as display:
        best = run_search(tuner, display=display)
    folder = trials_folder(args.directory, project)
    if (folder / "results.md").exists():
        print((folder / "results.md").read_text(), end="")
    if best:
        print(f"\nbest trial {best['trial_id']}: val top-1 {100 * float(best['score']):.2f}%; "
              f"spec {best['spec_file']} (zoo show --spec {best['spec_file']})")
    if tuner.budget_spent():
        print(f"search budget spent: its trials took {tuner.spent_seconds():.0f} s of {args.search_budget:g} s "
              f"({len(tuner.oracle.trials)} trials); --resume with a larger --search-budget continues it")
    print(f"trials table: {folder / 'results.parquet'}")
    return 0
