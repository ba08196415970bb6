"""`zoo predict`: top-k classes of image files with a saved model."""

from __future__ import annotations

from zoo.cli.args import count, names


def add_parser(sub) -> None:
    p = sub.add_parser("predict", help="top-k classes of image files with a saved .keras model")
    p.add_argument("model", help="a .keras file (zoo train writes runs/<run>/model.keras)")
    p.add_argument("images", nargs="+", help="image files (png, jpg, ...)")
    p.add_argument("--top-k", type=count, default=3)
    p.add_argument("--classes", type=names("class name"),
                   help="comma-separated class names (default: from the run's result.json)")
    p.set_defaults(func=run)


def run(args) -> int:
    from zoo.training.predict import predict_files

    for item in predict_files(args.model, args.images, top_k=args.top_k, class_names=args.classes):
        print(f"{item['image']}: " + ", ".join(f"{name} {p:.3f}" for name, p in item["top"]))
    return 0
