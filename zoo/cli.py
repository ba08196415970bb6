"""The `zoo` command line: `zoo list`, `show`, `recipes`, `train`, `bench`, `compare`, `predict`
(and `python -m zoo ...`).

Bad input (unknown names, invalid knobs) prints one `zoo: error: ...` line and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

from zoo.backends import configured_backend
from zoo.errors import SpecError, ZooError
from zoo.markdown import format_table
from zoo.recipes import get_recipe
from zoo.registry import get_spec, list_variants, resolve_spec
from zoo.spec import ResNetSpec


def _shape(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected H,W,C integers such as 32,32,3, got {text!r}") from None


def _override(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected FIELD=VALUE such as block=bottleneck, got {text!r}")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value  # bare strings need no quotes: block=bottleneck
    return key.strip(), parsed


BUDGET_UNITS = {"": 1, "s": 1, "m": 60, "min": 60, "h": 3600, "img": None, "images": None}


def _count(text: str) -> int:
    """A whole number >= 1 (`--max-trials`)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _budget(text: str) -> dict:
    """`--budget 10m` / `90s` / `1.5h` -> {"budget_seconds": ...}; `50000img` -> {"budget_images": 50000}."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-z]*)\s*", text.lower())
    unit = match.group(2) if match else None
    if not match or unit not in BUDGET_UNITS:
        raise argparse.ArgumentTypeError(f"expected a training budget such as 90s, 10m, 1.5h or 50000img, got {text!r}")
    value = float(match.group(1))
    if unit in ("img", "images"):
        if not value.is_integer() or value < 1:
            raise argparse.ArgumentTypeError(f"an images budget must be a whole number >= 1, got {text!r}")
        return {"budget_images": int(value)}
    seconds = value * BUDGET_UNITS[unit]
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"a time budget must be above zero, got {text!r}")
    return {"budget_seconds": seconds}


def version_text() -> str:
    """`zoo 0.1.0 (Keras 3.15.1, backend tensorflow 2.21.0)`: installed versions, nothing imported."""
    from importlib.metadata import PackageNotFoundError, version

    from zoo import __version__

    def installed(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
            return "not installed"

    backend = configured_backend()
    return f"zoo {__version__} (Keras {installed('keras')}, backend {backend} {installed(backend)})"


class _Version(argparse.Action):
    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help="print zoo's, Keras' and the backend's versions")

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_text())
        parser.exit()


def _spec_from_args(args) -> ResNetSpec:
    if args.spec:
        path = Path(args.spec)
        try:
            base = ResNetSpec.from_json(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SpecError(f"cannot read spec file {path}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise SpecError(f"spec file {path} is not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    elif args.name:
        base = get_spec(args.name)
    else:
        raise SpecError("give a variant NAME or --spec FILE")
    overrides = dict(args.set or [])
    if args.input_shape is not None:
        overrides["input_shape"] = args.input_shape
    if args.num_classes is not None:
        overrides["num_classes"] = args.num_classes
    return resolve_spec(base, **overrides)


def cmd_list(args) -> int:
    from zoo.describe import variant_row

    names = list_variants(args.pattern)
    if not names:
        raise ZooError(f"no variant matches {args.pattern!r} (`zoo list` shows all)")
    rows = [variant_row(get_spec(n)) for n in names]
    columns = [("name", "name"), ("input", "input"), ("stem", "stem"), ("body", "body"),
               ("shortcut", "shortcut"), ("head", "head")]
    if args.params:
        from zoo.builder import build
        from zoo.macs import count_macs
        from zoo.summary import param_counts

        for row in rows:
            model = build(row["name"])
            row["params"] = param_counts(model)["trainable"]
            row["macs"] = count_macs(model)
        columns += [("params", "trainable params"), ("macs", "MACs")]
    if args.source:
        columns.append(("source", "source"))
    if args.names_only:
        print("\n".join(names))
    else:
        print(format_table(rows, columns))
    return 0


def cmd_show(args) -> int:
    spec = _spec_from_args(args)
    if args.json:
        print(spec.to_json())
        return 0
    from zoo.builder import build
    from zoo.describe import body_text, head_text, shortcut_text, stem_text
    from zoo.summary import describe

    model = build(spec)
    print(f"{spec.name}: input {'x'.join(map(str, spec.input_shape))}, {spec.num_classes} classes"
          + (f"  [{spec.source}]" if spec.source else ""))
    for label, text in (("stem", stem_text(spec)), ("body", body_text(spec)),
                        ("shortcut", shortcut_text(spec)), ("head", head_text(spec))):
        print(f"  {label:9s}{text}")
    print()
    if args.layers:
        model.summary(line_length=110)
        print()
    print(describe(model))
    return 0


def cmd_recipes(args) -> int:
    from zoo.recipes import RECIPES

    rows = [{"name": r.name, "dataset": r.dataset, "epochs": r.epochs, "batch": r.batch_size,
             "optimizer": f"{r.optimizer} {r.lr:g}" + (" nesterov" if r.nesterov else ""),
             "schedule": r.schedule, "preprocessing": r.preprocessing, "precision": r.precision, "loop": r.loop,
             "source": r.source} for r in RECIPES.values()]
    print(format_table(rows, [(k, k) for k in rows[0]]))
    return 0


def cmd_train(args) -> int:
    given = [flag for flag, value in (("--input-shape", args.input_shape), ("--num-classes", args.num_classes))
             if value is not None]
    if given:
        raise ZooError(f"{' and '.join(given)} do not apply to zoo train: the dataset sets the input shape and the "
                       "classes and the network is built for them (--knob pad_to=N pads the images)")
    target = _spec_from_args(args)
    knobs = dict(args.knob or [])
    for key in ("dataset", "epochs", "batch_size", "lr", "precision", "seed", "loop", "devices"):
        if getattr(args, key) is not None:
            knobs[key] = getattr(args, key)
    knobs.update(args.budget or {})
    get_recipe(args.recipe, **knobs)  # a bad name or knob fails before Keras loads
    from zoo.training import train

    stamp = time.strftime("%Y%m%d-%H%M%S")
    tensorboard = Path(args.tensorboard) / f"{target.name}-{args.recipe}-{stamp}" if args.tensorboard else None
    result = train(target, args.recipe, data_dir=args.data_dir, limit=args.limit, out_dir=args.out_dir,
                   verbose=0 if args.quiet else 1, track_test=args.track_test, target_top1=args.target_top1,
                   tensorboard=tensorboard, **knobs)
    if result.get("run_dir"):
        from zoo.plots import training_curves

        training_curves(result["history"], Path(result["run_dir"]) / "curves.png",
                        title=f"{result['model']} · {result['dataset']} · {result['recipe']}", target=args.target_top1)
    if args.json:
        shown = {k: v for k, v in result.items() if k not in ("history", "spec", "recipe_knobs", "epoch_seconds")}
        print(json.dumps(shown, indent=2))
    else:
        print(train_summary(result))
    return 0 if result["status"] == "ok" else 1


def train_summary(result: dict) -> str:
    """A finished `zoo train` run in a few lines: what was trained, its test score, its time, its files.

    >>> print(train_summary({"model": "resnet20", "dataset": "digits", "recipe": "fast", "epochs": 2,
    ...     "train_images": 1437, "test_images": 360, "status": "ok", "top1": 0.9125, "top5": 0.99,
    ...     "train_seconds": 12.25, "compile_seconds": 4.0, "train_images_per_second": 234.6, "wall_seconds": 20.0,
    ...     "budget_seconds": None, "budget_images": None}))
    resnet20 on digits, recipe fast: 2 epochs on 1,437 images
    test top-1 91.25%, top-5 99.00% (360 images)
    training 12.2 s (235 images/s) + 4.0 s compiling; 20.0 s in all
    """
    budget = [f"{result['budget_seconds']:g} s" if result.get("budget_seconds") else "",
              f"{result['budget_images']:,} images" if result.get("budget_images") else ""]
    budget_text = f" (budget {', '.join(filter(None, budget))})" if any(budget) else ""
    lines = [f"{result['model']} on {result['dataset']}, recipe {result['recipe']}: {result['epochs']} epochs on "
             f"{result['train_images']:,} images{budget_text}"]
    if result["status"] != "ok":
        lines.append(f"{result['status']}: {result.get('error')}")
    else:
        top5 = f", top-5 {100 * result['top5']:.2f}%" if result.get("top5") is not None else ""
        lines.append(f"test top-1 {100 * result['top1']:.2f}%{top5} ({result['test_images']:,} images)")
    speed = result.get("train_images_per_second")
    lines.append(f"training {result['train_seconds']:.1f} s" + (f" ({speed:.0f} images/s)" if speed else "")
                 + f" + {result['compile_seconds'] or 0:.1f} s compiling; {result['wall_seconds']:.1f} s in all")
    if result.get("run_dir"):
        lines.append(f"files: {result['run_dir']}/ (model.keras, result.json, history.json, log.csv, curves.png)")
    return "\n".join(lines)


def cmd_bench(args) -> int:
    from zoo.sweeps import builtin_sweeps, load_sweep, pending_runs

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
                       max_epochs=args.max_epochs)
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
        from zoo.results import read_table

        todo = {r.run_id for r in pending_runs(sweep, read_table(out), retry_failed=args.retry_failed)}
        for run in sweep.runs:
            print(f"{run.run_id}  {'to run ' if run.run_id in todo else 'done   '} {run.label}")
        return 0
    if args.ray is not None:
        return _bench_on_ray(args, sweep, out)
    if not args.in_process:
        from zoo.isolate import start_server

        start_server()  # imports Keras in the background while this process does the same
    from zoo.bench import run_sweep
    from zoo.progress import Display
    from zoo.results import MARKDOWN

    with Display(indent="    ") as display:
        table = run_sweep(sweep, out=out, data_dir=args.data_dir, verbose=0 if args.quiet else 1,
                          retry_failed=args.retry_failed, plots=not args.no_plots, display=display,
                          isolate=not args.in_process, tensorboard=args.tensorboard)
    print((out / MARKDOWN).read_text() if (out / MARKDOWN).exists() else "(no runs)")
    return 0 if (table["status"] == "ok").all() else 1


def _bench_on_ray(args, sweep, out: Path) -> int:
    if args.in_process:
        raise ZooError("--ray runs every run in a Ray worker; it does not combine with --in-process")
    from zoo.progress import Display
    from zoo.ray_sweep import run_sweep_on_ray
    from zoo.results import MARKDOWN

    with Display() as display:
        table = run_sweep_on_ray(sweep, out=out, address=args.ray or None, data_dir=args.data_dir,
                                 cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run, retries=args.retries,
                                 retry_failed=args.retry_failed, tensorboard=args.tensorboard, display=display)
    if len(table) and not args.no_plots:
        from zoo.plots import write_plots

        for path in write_plots(out, table):
            print(f"plot: {path}", file=sys.stderr)
    print((out / MARKDOWN).read_text() if (out / MARKDOWN).exists() else "(no runs)")
    return 0 if (table["status"] == "ok").all() else 1


def _positive(text: str) -> float:
    """A number > 0 (`--cpus-per-run 0.5`)."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number above zero, got {text!r}")
    return value


def _at_least_zero(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _retries(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return int(text)


def cmd_compare(args) -> int:
    from zoo.compare import compare, labels_for, load, render

    labels = labels_for(args.tables)
    tables = {label: load(path) for label, path in zip(labels, args.tables)}
    keys = [k.strip() for k in args.on.split(",") if k.strip()]
    result = compare(tables, on=keys, metric=args.metric, allow_mismatch=args.allow_mismatch)
    text = render(result, args.format)
    if args.output:
        Path(args.output).write_text(text)
    else:
        print(text, end="")
    if args.plots:
        from zoo.plots import comparison_bars, pareto_plot

        for path in (pareto_plot(tables, Path(args.plots) / "pareto.png", metric=args.metric),
                     comparison_bars(tables, Path(args.plots) / "bars.png", keys=keys, metric=args.metric)):
            if path:
                print(f"plot: {path}", file=sys.stderr)
    return 0


def cmd_predict(args) -> int:
    from zoo.predict import predict_files

    classes = [c.strip() for c in args.classes.split(",")] if args.classes else None
    for item in predict_files(args.model, args.images, top_k=args.top_k, class_names=classes):
        print(f"{item['image']}: " + ", ".join(f"{name} {p:.3f}" for name, p in item["top"]))
    return 0


def cmd_tune(args) -> int:
    get_spec(args.base)  # bad names and knobs fail before Keras loads
    get_recipe(args.recipe, **dict(args.knob or []), **({"dataset": args.dataset} if args.dataset else {}))
    from zoo.tuning import ZooHyperModel, make_tuner, run_search, trials_folder

    if args.chief or args.worker:
        if not args.oracle:
            raise ZooError("--chief/--worker need --oracle HOST:PORT (where the chief listens)")
        host, _, port = args.oracle.rpartition(":")
        if not host or not port.isdigit():
            raise ZooError(f"--oracle must be HOST:PORT, got {args.oracle!r}")
        os.environ.update(KERASTUNER_ORACLE_IP=host, KERASTUNER_ORACLE_PORT=port,
                          KERASTUNER_TUNER_ID="chief" if args.chief else args.worker)
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID", "tuner0")
    knobs = [k.strip() for k in args.knobs.split(",")] if args.knobs else None
    recipe_overrides = dict(args.knob or [])
    project = args.project or f"{args.base}-{args.dataset or 'data'}-{args.recipe}-{args.tuner}"
    state = Path(args.directory) / project / f"{tuner_id}.json"
    if state.exists() and not (args.resume or args.overwrite):
        raise ZooError(f"{state.parent} already holds a search; pass --resume to continue it or --overwrite "
                       "to start again")
    hypermodel = ZooHyperModel(args.base, knobs, args.recipe, dataset=args.dataset, data_dir=args.data_dir,
                               limit=args.limit, overrides=recipe_overrides, grid=args.tuner == "grid",
                               verbose=0 if args.quiet else 1)
    tuner = make_tuner(args.tuner, hypermodel, max_trials=args.max_trials, directory=args.directory,
                       project=project, overwrite=args.overwrite, seed=args.seed)
    from zoo.progress import Display

    with Display(indent="    ") as display:
        best = run_search(tuner, display=display)
    folder = trials_folder(args.directory, project)
    if (folder / "results.md").exists():
        print((folder / "results.md").read_text(), end="")
    if best:
        print(f"\nbest trial {best['trial_id']}: val top-1 {100 * float(best['score']):.2f}%; "
              f"spec {best['spec_file']} (zoo show --spec {best['spec_file']})")
    print(f"trials table: {folder / 'results.parquet'}")
    return 0


def cmd_throughput(args) -> int:
    for name in args.variants:
        get_spec(name)  # unknown names fail before Keras loads and anything is measured
    from zoo.throughput import throughput_table, write_throughput

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    table = throughput_table(args.variants, input_size=args.input_size, batch_size=args.batch_size,
                             precision=args.precision, steps=args.steps, warmup=args.warmup,
                             with_timm=False if args.no_timm else None, log=log)
    paths = write_throughput(table, args.out)
    print(paths[-1].read_text(), end="")
    return 0 if (table["status"] == "ok").all() else 1


def _add_spec_args(p) -> None:
    p.add_argument("name", nargs="?", help="variant name (see `zoo list`)")
    p.add_argument("--spec", metavar="FILE", help="a spec JSON file (as written by --json or `zoo tune`)")
    p.add_argument("--input-shape", type=_shape, metavar="H,W,C", help="override the input shape")
    p.add_argument("--num-classes", type=int, metavar="N", help="override the number of classes")
    p.add_argument("--set", type=_override, action="append", metavar="FIELD=VALUE",
                   help="override any spec field, e.g. --set block=bottleneck --set 'depths=[1,1,1,1]'")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: `zoo train: error: argument --epochs: invalid int value: 'x' (zoo train
    --help)` and exit status 2, like every other bad input, instead of a usage block first."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="zoo", description="Residual networks as data, built with Keras 3.")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show the backend's own C++ log lines (hidden by default)")
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="list variant names (optionally matching a glob)")
    p.add_argument("pattern", nargs="?", help="glob such as 'resnet*_cifar'")
    p.add_argument("--params", action="store_true", help="build each model and add params and MACs")
    p.add_argument("--source", action="store_true", help="add where each variant comes from")
    p.add_argument("--names-only", action="store_true", help="print only the names, one per line")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("show", help="per-stage output shapes, params and MACs of one variant")
    _add_spec_args(p)
    p.add_argument("--json", action="store_true", help="print the resolved spec as JSON and stop")
    p.add_argument("--layers", action="store_true", help="also print Keras' layer-by-layer summary")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("recipes", help="list the named training recipes")
    p.set_defaults(func=cmd_recipes)

    p = sub.add_parser("train", help="train a variant with a recipe; print the result record")
    _add_spec_args(p)
    p.add_argument("--recipe", default="fast", help="recipe name (see `zoo recipes`); default: fast")
    p.add_argument("--dataset", help="dataset name or image-folder path (overrides the recipe's)")
    p.add_argument("--data-dir", metavar="DIR", help="where the dataset files are (else ZOO_DATA_DIR)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--precision", choices=["float32", "mixed_bfloat16", "mixed_float16", "auto"])
    p.add_argument("--seed", type=int)
    p.add_argument("--loop", choices=["auto", "keras", "device"],
                   help="training loop: device (JAX: data on the device, one compiled call per epoch), keras (fit); "
                        "default auto: device on JAX with a GPU/TPU")
    p.add_argument("--devices", type=int, metavar="N",
                   help="data parallel over N local devices (0: all), through keras.distribution (JAX backend); "
                        "the batch is the global batch, split over them")
    p.add_argument("--track-test", action="store_true",
                   help="evaluate the test split after every epoch (not timed; history test_top1/test_loss)")
    p.add_argument("--target-top1", type=float, metavar="FRACTION",
                   help="time-to-accuracy: report epochs_to_target and seconds_to_target for this test top-1 "
                        "(e.g. 0.94; implies --track-test)")
    p.add_argument("--knob", type=_override, action="append", metavar="KNOB=VALUE",
                   help="override any recipe knob, e.g. --knob label_smoothing=0.1 --knob flip=true")
    p.add_argument("--limit", type=int, metavar="N", help="use at most N train and N test images")
    p.add_argument("--budget", type=_budget, metavar="BUDGET",
                   help="train for a budget instead of epochs: 90s, 10m, 1.5h (training time) or 50000img "
                        "(images seen); the schedule reaches zero at its end")
    p.add_argument("--out-dir", default="runs", help="where the run folder goes (default: runs)")
    p.add_argument("--tensorboard", metavar="DIR", help="write TensorBoard logs to DIR/<variant>-<recipe>-<time>")
    p.add_argument("--json", action="store_true", help="print the whole result record as JSON instead of a summary")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("bench", help="run a sweep: train every run, write one results table and plots",
                       description="Run a sweep (built-in name or .toml file). Rows are appended to OUT/results."
                                   "{parquet,csv,md} as each run finishes; rerunning skips finished runs.")
    p.add_argument("sweep", nargs="?", help="quick, articles, all-variants (see --list) or a sweep .toml file")
    p.add_argument("--list", action="store_true", help="list the built-in sweeps and stop")
    p.add_argument("--out", metavar="DIR", help="table folder (default: bench/<sweep>)")
    p.add_argument("--data-dir", metavar="DIR", help="where the dataset files are (else ZOO_DATA_DIR)")
    p.add_argument("--knob", type=_override, action="append", metavar="KNOB=VALUE",
                   help="override a recipe knob in every run, e.g. --knob epochs=2 (changes the run ids)")
    p.add_argument("--budget", type=_budget, metavar="BUDGET",
                   help="one training budget for every run, replacing the sweep's: 90s, 10m, 1.5h or 50000img "
                        "(changes the run ids)")
    p.add_argument("--max-epochs", type=int, metavar="N",
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
    p.add_argument("--cpus-per-run", type=_positive, default=1, metavar="N", help="with --ray: CPUs per run (default 1)")
    p.add_argument("--gpus-per-run", type=_at_least_zero, metavar="N",
                   help="with --ray: GPUs per run (default: 1 when the cluster has GPUs, else 0)")
    p.add_argument("--retries", type=_retries, default=2, metavar="N",
                   help="with --ray: restarts of a run whose worker died before it is a failed row (default 2)")
    p.add_argument("--tensorboard", metavar="DIR", help="write each run's TensorBoard logs to DIR/<run_id>-<variant>")
    p.add_argument("--quiet", action="store_true", help="no per-epoch progress (the sweep's progress still shown)")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("tune", help="keras-tuner search over a variant's knobs; trials table + best spec",
                       description="Search stem, stem BN, stem pool, shortcut, head, depth, width and lr, weight "
                                   "decay, batch size around a base variant. Distributed: one --chief and any "
                                   "number of --worker NAME processes sharing --oracle HOST:PORT and --directory.")
    p.add_argument("--base", required=True, help="the variant to start from (see `zoo list`)")
    p.add_argument("--dataset", help="dataset (default: the recipe's)")
    p.add_argument("--recipe", default="fast", help="training recipe (default: fast)")
    p.add_argument("--tuner", choices=["random", "bayesian", "hyperband", "grid"], default="random")
    p.add_argument("--max-trials", type=_count, default=10, metavar="N", help="stop after N trials (>= 1)")
    p.add_argument("--directory", default="tune", help="keras-tuner directory (default: tune)")
    p.add_argument("--project", help="project name inside the directory (default: base-dataset-recipe-tuner)")
    p.add_argument("--knobs", help="comma-separated subset of the knobs to search, e.g. stem,shortcut,lr")
    p.add_argument("--knob", type=_override, action="append", metavar="KNOB=VALUE",
                   help="fixed recipe knob for every trial, e.g. --knob epochs=3")
    p.add_argument("--limit", type=int, metavar="N", help="use at most N train and N test images")
    p.add_argument("--data-dir", metavar="DIR")
    p.add_argument("--seed", type=int, default=0, help="the tuner's random seed")
    p.add_argument("--resume", action="store_true", help="continue the search already in the directory")
    p.add_argument("--overwrite", action="store_true", help="delete the search in the directory and start again")
    p.add_argument("--chief", action="store_true", help="run the distributed search's oracle (no training)")
    p.add_argument("--worker", metavar="NAME", help="run trials for the chief as worker NAME (e.g. tuner0)")
    p.add_argument("--oracle", metavar="HOST:PORT", help="where the chief listens (with --chief/--worker)")
    p.add_argument("--quiet", action="store_true", help="no Keras progress bars")
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("throughput", help="training and inference images/s, TFLOP/s and MFU (and timm's, "
                                          "when torch and timm are installed)")
    p.add_argument("variants", nargs="+", help="variant names, e.g. resnet18 resnet50")
    p.add_argument("--input-size", type=int, default=224)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--precision", choices=["float32", "mixed_bfloat16", "mixed_float16"], default="mixed_bfloat16")
    p.add_argument("--steps", type=int, default=20, help="timed steps (default 20)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    p.add_argument("--no-timm", action="store_true", help="do not measure timm even when it is installed")
    p.add_argument("--out", default="bench/throughput", help="folder for throughput.{parquet,csv,md}")
    p.set_defaults(func=cmd_throughput)

    p = sub.add_parser("compare", help="compare result tables: differences, speed ratios, noise, missing rows",
                       description="The first table is the baseline. Tables are bench/tune folders or "
                                   ".parquet/.csv files (benchmarks/reference/published.csv included).")
    p.add_argument("tables", nargs="+", metavar="TABLE", help="two or more tables")
    p.add_argument("--on", default="variant,dataset,recipe", help="join keys (default: variant,dataset,recipe)")
    p.add_argument("--metric", default="top1", help="column to compare (default: top1)")
    p.add_argument("--format", choices=["md", "csv", "html"], default="md")
    p.add_argument("--output", metavar="FILE", help="write the comparison here instead of printing it")
    p.add_argument("--allow-mismatch", action="store_true",
                   help="compare rows whose dataset source, precision or device differ")
    p.add_argument("--plots", metavar="DIR", help="write pareto.png and bars.png here")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("predict", help="top-k classes of image files with a saved .keras model")
    p.add_argument("model", help="a .keras file (zoo train writes runs/<run>/model.keras)")
    p.add_argument("images", nargs="+", help="image files (png, jpg, ...)")
    p.add_argument("--top-k", type=int, default=3)
    p.add_argument("--classes", help="comma-separated class names (default: from the run's result.json)")
    p.set_defaults(func=cmd_predict)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    # TensorFlow's C++ logging (CUDA probing on a CPU machine, oneDNN notices) unless -v; set before it loads
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if args.verbose else "3")
    if not args.verbose:
        from zoo.quiet import install

        install()
    try:
        return args.func(args)
    except ZooError as exc:
        print(f"zoo: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: what finished is saved; a rerun resumes
        print("zoo: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `zoo list | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
