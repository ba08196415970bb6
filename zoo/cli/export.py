"""`zoo export`: a trained model as a SavedModel, ONNX or LiteRT artifact, checked against Keras."""

from __future__ import annotations

from zoo.cli.args import count
from zoo.errors import ZooError, first_line


def add_parser(sub) -> None:
    from zoo.training.export import FORMATS

    p = sub.add_parser("export", help="export a trained model (SavedModel, ONNX, LiteRT) and check it against Keras",
                       description="Export RUN (a run folder of `zoo train`, or a .keras file) with Keras' "
                                   "Model.export, then run the artifact and the Keras model on the same images: "
                                   "their outputs must agree within the stated tolerance (exit 1 otherwise).")
    p.add_argument("run", metavar="RUN", help="a run folder (runs/<run>/) or a .keras file")
    p.add_argument("--format", required=True, choices=list(FORMATS), help="the artifact's format")
    p.add_argument("--output", metavar="PATH",
                   help="where to write it (default beside the model: saved_model/, model.onnx, model.tflite)")
    p.add_argument("--images", type=count, default=256, metavar="N",
                   help="test images the check runs on (default 256): the run's own test split when its "
                        "dataset is found (--data-dir), else random pixels, said in the output")
    p.add_argument("--data-dir", metavar="DIR", help="where the run's dataset is (else ZOO_DATA_DIR)")
    p.add_argument("--latency", action="store_true",
                   help="also time batch-1 inference (median and 99th percentile) in Keras and in the artifact")
    p.set_defaults(func=run)


def run(args) -> int:
    import numpy as np

    from zoo.training.export import (Runtime, check, export, float32_copy, latency, mixed_precision, model_file,
                                     target_path)
    from zoo.training.predict import load_model

    path = model_file(args.run)
    model = load_model(path)
    policy, reference, whose = mixed_precision(model), model, "Keras'"
    if policy and args.format != "saved_model":  # exported as the float32 copy: compare like with like
        reference, whose = float32_copy(model), "Keras' (its float32 copy)"
        print(f"{path} computes in {policy}: exported in float32 (the same float32 weights), which "
              f"{args.format} runtimes run")
    target = export(reference, args.format, output=target_path(path, args.format, args.output))
    images, where = _check_images(path, model, args.images, args.data_dir)
    try:
        runtime = Runtime(target, args.format)  # loaded once: checked, then timed
    except ZooError:
        raise
    except Exception as exc:  # runtimes raise their own types for artifacts they cannot load
        raise ZooError(f"{target} does not load in {args.format}'s runtime: {type(exc).__name__}: "
                       f"{first_line(exc)}") from None
    found = check(reference, target, args.format, images, runtime=runtime)
    verdict = "within" if found["ok"] else "OUTSIDE"
    print(f"{target}: outputs {verdict} {found['tolerance']:g} of {whose} on {len(images)} {where} "
          f"(largest difference {found['max_abs_diff']:.2e}; same top-1 class on {100 * found['same_top1']:.1f}%)")
    if args.latency:
        for name, predict in (("keras", model.predict_on_batch), (args.format, runtime.predict)):
            timing = latency(lambda batch: np.asarray(predict(batch)), images[0])
            print(f"batch-1 latency, {name}: median {timing['median_ms']:.2f} ms, p99 {timing['p99_ms']:.2f} ms "
                  f"({timing['runs']} runs)")
    return 0 if found["ok"] else 1


def _check_images(path, model, count_: int, data_dir) -> tuple:
    """Up to `count_` test images of the run's own dataset (named in its result.json), else random pixels."""
    import json

    import numpy as np

    shape = tuple(model.input_shape[1:])
    record = path.parent / "result.json"
    try:
        info = json.loads(record.read_text()) if record.is_file() else {}
        from zoo.data import load_dataset

        pad_to = (info.get("recipe_knobs") or {}).get("pad_to")
        test = load_dataset(info["dataset"], data_dir=data_dir, split="test", pad_to=pad_to)
        if tuple(test.images.shape[1:]) == shape:
            return test.images[:count_], f"{test.name} test images"
    except Exception:  # no record, no dataset here, another shape: random pixels still check the graph
        pass
    rng = np.random.default_rng(0)
    where = "random images (the run's dataset was not found)"
    if "int" in str(model.input.dtype):
        return rng.integers(0, 256, (count_, *shape)).astype(str(model.input.dtype)), where
    return rng.random((count_, *shape)).astype("float32"), where
