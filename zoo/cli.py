"""The `zoo` command line: `zoo list`, `zoo show` (and `python -m zoo ...`).

Bad input (unknown names, invalid knobs) prints one `zoo: error: ...` line and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from zoo.errors import SpecError, ZooError
from zoo.markdown import format_table
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


def _spec_from_args(args) -> ResNetSpec:
    if args.spec:
        path = Path(args.spec)
        try:
            base = ResNetSpec.from_json(path.read_text())
        except OSError as exc:
            raise SpecError(f"cannot read spec file {path}: {exc.strerror}") from None
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
             "schedule": r.schedule, "preprocessing": r.preprocessing, "precision": r.precision,
             "source": r.source} for r in RECIPES.values()]
    print(format_table(rows, [(k, k) for k in rows[0]]))
    return 0


def cmd_train(args) -> int:
    from zoo.training import train

    target = _spec_from_args(args)
    knobs = dict(args.knob or [])
    for key in ("dataset", "epochs", "batch_size", "lr", "precision", "seed"):
        if getattr(args, key) is not None:
            knobs[key] = getattr(args, key)
    result = train(target, args.recipe, data_dir=args.data_dir, limit=args.limit, out_dir=args.out_dir,
                   verbose=0 if args.quiet else 1, **knobs)
    shown = {k: v for k, v in result.items() if k not in ("history", "spec", "recipe_knobs", "epoch_seconds")}
    print(json.dumps(shown, indent=2))
    return 0 if result["status"] == "ok" else 1


def _add_spec_args(p) -> None:
    p.add_argument("name", nargs="?", help="variant name (see `zoo list`)")
    p.add_argument("--spec", metavar="FILE", help="a spec JSON file (as written by --json or `zoo tune`)")
    p.add_argument("--input-shape", type=_shape, metavar="H,W,C", help="override the input shape")
    p.add_argument("--num-classes", type=int, metavar="N", help="override the number of classes")
    p.add_argument("--set", type=_override, action="append", metavar="FIELD=VALUE",
                   help="override any spec field, e.g. --set block=bottleneck --set 'depths=[1,1,1,1]'")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoo", description="Residual networks as data, built with Keras 3.")
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
    p.add_argument("--knob", type=_override, action="append", metavar="KNOB=VALUE",
                   help="override any recipe knob, e.g. --knob label_smoothing=0.1 --knob flip=true")
    p.add_argument("--limit", type=int, metavar="N", help="use at most N train and N test images")
    p.add_argument("--out-dir", default="runs", help="where the run folder goes (default: runs)")
    p.add_argument("--quiet", action="store_true", help="no Keras progress bars")
    p.set_defaults(func=cmd_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = make_parser().parse_args(argv)
    try:
        return args.func(args)
    except ZooError as exc:
        print(f"zoo: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
