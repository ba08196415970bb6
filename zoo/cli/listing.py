"""`zoo list`: the registry as a table (params and MACs with --params, which builds each model)."""

from __future__ import annotations

from zoo.errors import ZooError
from zoo.markdown import format_table
from zoo.models.registry import family_of, get_spec, list_variants


def add_parser(sub) -> None:
    p = sub.add_parser("list", help="list variant names (optionally matching a glob)")
    p.add_argument("pattern", nargs="?", help="glob such as 'resnet*_cifar'")
    p.add_argument("--params", action="store_true", help="build each model and add params and MACs")
    p.add_argument("--source", action="store_true", help="add where each variant comes from")
    p.add_argument("--names-only", action="store_true", help="print only the names, one per line")
    p.set_defaults(func=run)


def run(args) -> int:
    names = list_variants(args.pattern)
    if not names:
        raise ZooError(f"no variant matches {args.pattern!r} (`zoo list` shows all)")
    rows = [variant_row(get_spec(n)) for n in names]
    columns = [("name", "name"), ("input", "input"), ("stem", "stem"), ("body", "body"),
               ("shortcut", "shortcut"), ("head", "head")]
    if args.params:
        from zoo.models.builder import build
        from zoo.models.macs import count_macs
        from zoo.models.summary import param_counts

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


def variant_row(spec) -> dict:
    """The columns `zoo list` shows for one spec: its name, input, its family's one-line descriptions, source."""
    return {"name": spec.name, "input": spec.input_shape, **family_of(spec).describe(spec), "source": spec.source}
