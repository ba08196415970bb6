"""`zoo train`: train one variant with a recipe; a short summary, the run folder's files."""

from __future__ import annotations

import json
import time
from pathlib import Path

from zoo.cli.args import add_spec_args, budget, fraction, image_limit, override, spec_from_args
from zoo.errors import ZooError
from zoo.training.recipes import get_recipe


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a variant with a recipe; print a summary (--json: the whole record)")
    add_spec_args(p)
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
    p.add_argument("--target-top1", type=fraction, metavar="FRACTION",
                   help="time-to-accuracy: report epochs_to_target and seconds_to_target for this test top-1 "
                        "(e.g. 0.94; implies --track-test)")
    p.add_argument("--knob", type=override, action="append", metavar="KNOB=VALUE",
                   help="override any recipe knob, e.g. --knob label_smoothing=0.1 --knob flip=true")
    p.add_argument("--limit", type=image_limit, metavar="N", help="use at most N train and N test images")
    p.add_argument("--budget", type=budget, metavar="BUDGET",
                   help="train for a budget instead of epochs: 90s, 10m, 1.5h (training time) or 50000img "
                        "(images seen); the schedule reaches zero at its end")
    p.add_argument("--out-dir", default="runs", help="where the run folder goes (default: runs)")
    p.add_argument("--tensorboard", metavar="DIR", help="write TensorBoard logs to DIR/<variant>-<recipe>-<time>")
    p.add_argument("--json", action="store_true", help="print the whole result record as JSON instead of a summary")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=run)


def run(args) -> int:
    given = [flag for flag, value in (("--input-shape", args.input_shape), ("--num-classes", args.num_classes))
             if value is not None]
    if given:
        raise ZooError(f"{' and '.join(given)} do not apply to zoo train: the dataset sets the input shape and the "
                       "classes and the network is built for them (--knob pad_to=N pads the images)")
    target = spec_from_args(args)
    knobs = dict(args.knob or [])
    for key in ("dataset", "epochs", "batch_size", "lr", "precision", "seed", "loop", "devices"):
        if getattr(args, key) is not None:
            knobs[key] = getattr(args, key)
    knobs.update(args.budget or {})
    get_recipe(args.recipe, **knobs)  # a bad name or knob fails before Keras loads
    from zoo.training.trainer import train

    stamp = time.strftime("%Y%m%d-%H%M%S")
    tensorboard = Path(args.tensorboard) / f"{target.name}-{args.recipe}-{stamp}" if args.tensorboard else None
    result = train(target, args.recipe, data_dir=args.data_dir, limit=args.limit, out_dir=args.out_dir,
                   verbose=0 if args.quiet else 1, track_test=args.track_test, target_top1=args.target_top1,
                   tensorboard=tensorboard, **knobs)
    if result.get("run_dir"):
        from zoo.experiments.plots import training_curves

        training_curves(result["history"], Path(result["run_dir"]) / "curves.png",
                        title=f"{result['model']} · {result['dataset']} · {result['recipe']}", target=args.target_top1)
    if args.json:
        shown = {k: v for k, v in result.items() if k not in ("history", "spec", "recipe_knobs", "epoch_seconds")}
        print(json.dumps(json_safe(shown), indent=2, allow_nan=False))
    else:
        print(train_summary(result))
    return 0 if result["status"] == "ok" else 1


def json_safe(value):
    """`value` with every NaN or infinity as null (JSON has no NaN: a diverged run's loss must not make the
    record unreadable), numpy scalars as plain numbers.

    >>> json_safe({"loss": float("nan"), "top1": [0.5, float("inf")]})
    {'loss': None, 'top1': [0.5, None]}
    """
    import math

    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):  # a numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


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
