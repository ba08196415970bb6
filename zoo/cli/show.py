"""`zoo show`: one variant's stem, body, shortcut and head in words, per-stage shapes, params and MACs."""

from __future__ import annotations

from zoo.cli.args import add_spec_args, spec_from_args


def add_parser(sub) -> None:
    p = sub.add_parser("show", help="per-stage output shapes, params and MACs of one variant")
    add_spec_args(p)
    p.add_argument("--json", action="store_true", help="print the resolved spec as JSON and stop")
    p.add_argument("--layers", action="store_true", help="also print Keras' layer-by-layer summary")
    p.set_defaults(func=run)


def run(args) -> int:
    spec = spec_from_args(args)
    if args.json:
        print(spec.to_json())
        return 0
    from zoo.models.builder import build
    from zoo.models.registry import family_of
    from zoo.models.summary import describe

    model = build(spec)
    print(f"{spec.name}: input {'x'.join(map(str, spec.input_shape))}, {spec.num_classes} classes"
          + (f"  [{spec.source}]" if spec.source else ""))
    for label, text in family_of(spec).describe(spec).items():
        print(f"  {label:9s}{text}")
    print()
    if args.layers:
        model.summary(line_length=110)
        print()
    print(describe(model))
    return 0
