"""`zoo bench`: run a sweep (a process per run, or a Ray cluster with --ray) into one results table."""

from __future__ import annotations

from pathlib import Path

from zoo.cli.args import at_least_zero, budget, count, override, positive, whole_number
from zoo.errors import ZooError


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="run a sweep: train every run, write one results table and plots",
                       description="Run a sweep (built-in name or .toml file). Rows are appended to OUT/results."
                                   "{parquet,csv,md} as each run finishes; rerunning skips finished runs.")
    p.add_argument("sweep", nargs="?", help="quick, articles, all-variants (see --list) or a sweep .toml file")
    p.add_argument("--list", action="store_true", help="list the built-in sweeps and stop")
    p.add_argument("--out", metavar="DIR", help="table folder (default: bench/<sweep>)")
    p.add_argument("--data-dir", metavar="DIR", help="where the dataset files are (else ZOO_DATA_DIR)")
    p.add_argument("--set", type=override, action="append", metavar="FIELD=VALUE", dest="spec_set",
                   help="fix an architecture (ResNetSpec) field in every run, e.g. --set stem_kernel=7 "
                        "(changes the run ids)")
    p.add_argument("--knob", type=override, action="append", metavar="KNOB=VALUE",
                   help="override a recipe knob in every run, e.g. --knob epochs=2 (changes the run ids)")
    p.add_argument("--budget", type=budget, metavar="BUDGET",
                   help="one training budget for every run, replacing the sweep's: 90s, 10m, 1.5h or 50000img "
                        "(changes the run ids)")
    p.add_argument("--max-epochs", type=count, metavar="N",
                   help="cap runs whose recipe asks for more than N epochs (the cap shows in their overrides)")
    p.add_argument("--variants", metavar="GLOB", help="only runs whose variant matches this glob")
    p.add_argument("--retry-failed", action="store_true", help="rerun runs whose row is not ok")
    p.add_argument("--dry-run", action="store_true", help="print the planned runs (done / to run) and stop")
    p.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
    p.add_argument("--in-process", action="store_true",
                   help="run every run in this process instead of a fresh process per run (later runs get slower)")
    p.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                   help="run the sweep on a Ray cluster, one task per run: no ADDRESS starts a local Ray; 'auto' "
                        "or HOST:PORT joins a running cluster (pip install -e '.[ray]')")
    p.add_argument("--cpus-per-run", type=positive, default=1, metavar="N", help="with --ray: CPUs per run (default 1)")
    p.add_argument("--gpus-per-run", type=at_least_zero, metavar="N",
                   help="with --ray: GPUs per run (default: 1 when the cluster has GPUs, else 0)")
    p.add_argument("--retries", type=whole_number, default=2, metavar="N",
                   help="with --ray: restarts of a run whose worker died before it is a failed row (default 2)")
    p.add_argument("--tensorboard", metavar="DIR", help="write each run's TensorBoard logs to DIR/<run_id>-<variant>")
    p.add_argument("--quiet", action="store_true", help="no per-epoch progress (the sweep's progress still shown)")
    p.set_defaults(func=run)


def run(args) -> int:
    from zoo.experiments.sweeps import builtin_sweeps, load_sweep, pending_runs

    if args.list:
        for name, path in builtin_sweeps().items():
            sweep = load_sweep(str(path))
            print(f"{name:14s} {len(sweep.runs):4d} runs  {sweep.description}")
        return 0
    if not args.sweep and args.ray and args.ray != "auto" and ":" not in args.ray:
        args.sweep, args.ray = args.ray, ""  # `zoo bench --ray quick`: the name is the sweep, Ray is local
    if not args.sweep:
        raise ZooError("give a sweep name (`zoo bench --list`) or a .toml file")
    sweep = load_sweep(args.sweep, extra_overrides={**dict(args.knob or []), **(args.budget or {})},
                       max_epochs=args.max_epochs, spec_overrides=dict(args.spec_set or []))
    if args.variants:
        from fnmatch import fnmatchcase

        kept = tuple(r for r in sweep.runs if fnmatchcase(r.variant, args.variants))
        if not kept:
            raise ZooError(f"--variants {args.variants!r} matches none of sweep {sweep.name}'s variants "
                           f"({', '.join(sorted({r.variant for r in sweep.runs}))})")
        sweep = type(sweep)(sweep.name, sweep.description, kept)
    out = Path(args.out or Path("bench") / sweep.name)
    if out.exists() and not out.is_dir():
        raise ZooError(f"--out {out} is a file; give a folder for the sweep's table")
    if args.dry_run:
        from zoo.experiments.results import read_table

        todo = {r.run_id for r in pending_runs(sweep, read_table(out), retry_failed=args.retry_failed)}
        for run in sweep.runs:
            print(f"{run.run_id}  {'to run ' if run.run_id in todo else 'done   '} {run.label}")
        return 0
    if args.ray is not None:
        return _bench_on_ray(args, sweep, out)
    if not args.in_process:
        from zoo.experiments.isolate import start_server

        start_server()  # imports Keras in the background while this process does the same
    from zoo.experiments.bench import run_sweep
    from zoo.training.progress import Display

    with Display(indent="    ") as display:
        table = run_sweep(sweep, out=out, data_dir=args.data_dir, verbose=0 if args.quiet else 1,
                          retry_failed=args.retry_failed, plots=not args.no_plots, display=display,
                          isolate=not args.in_process, tensorboard=args.tensorboard)
    return _report(out, table, sweep)


def _bench_on_ray(args, sweep, out: Path) -> int:
    if args.in_process:
        raise ZooError("--ray runs every run in a Ray worker; it does not combine with --in-process")
    from zoo.training.progress import Display
    from zoo.experiments.ray_sweep import run_sweep_on_ray

    with Display() as display:
        table = run_sweep_on_ray(sweep, out=out, address=args.ray or None, data_dir=args.data_dir,
                                 cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run, retries=args.retries,
                                 retry_failed=args.retry_failed, tensorboard=args.tensorboard,
                                 plots=not args.no_plots, display=display)
    return _report(out, table, sweep)


def _report(out: Path, table, sweep) -> int:
    """Print the sweep's Markdown table; exit status 0 when every run of `sweep` has a row and every row is
    ok, else 1 (a run still claimed by another process, or interrupted, has no row yet: said on stderr)."""
    import sys

    from zoo.experiments.claims import holder
    from zoo.experiments.results import MARKDOWN
    from zoo.experiments.sweeps import pending_runs

    print((out / MARKDOWN).read_text() if (out / MARKDOWN).exists() else "(no runs)")
    missing = pending_runs(sweep, table)
    for run in missing:
        who = holder(out, run.run_id)
        where = f"still running in {who['host']} pid {who['pid']}" if who else "not run"
        print(f"zoo bench: {run.run_id} {run.label}: no row yet ({where}); rerun to finish it", file=sys.stderr)
    return 0 if not missing and (table["status"] == "ok").all() else 1
