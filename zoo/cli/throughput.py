"""`zoo throughput`: training and inference images/s, TFLOP/s and MFU per variant, beside keras.applications
and PyTorch, on one backend or several."""

from __future__ import annotations

import sys

from zoo.backends import BACKEND_PACKAGES
from zoo.cli.args import count, names, override, whole_number
from zoo.errors import ZooError
from zoo.models.registry import resolve_spec


def add_parser(sub) -> None:
    from zoo.experiments.throughput import DEFAULT_FRAMEWORKS, FRAMEWORKS, LATENCY_RUNTIMES

    p = sub.add_parser("throughput", help="training and inference images/s, TFLOP/s and MFU beside "
                                          "keras.applications and PyTorch (when installed)")
    p.add_argument("variants", nargs="+", help="variant names, e.g. resnet18 resnet50")
    p.add_argument("--set", type=override, action="append", metavar="FIELD=VALUE", dest="spec_set",
                   help="override an architecture (ResNetSpec) field of every variant, e.g. --set 'depths=[1,1,1]' "
                        "(PyTorch rows build the same spec; keras.applications rows are left out)")
    p.add_argument("--input-size", type=count, default=224)
    p.add_argument("--batch-size", type=count, default=256)
    p.add_argument("--precision", choices=["float32", "mixed_bfloat16", "mixed_float16"], default="mixed_bfloat16")
    p.add_argument("--steps", type=count, default=20, help="timed steps; a row keeps their median (default 20)")
    p.add_argument("--warmup", type=whole_number, default=3, help="untimed steps first (default 3)")
    p.add_argument("--backends", type=names("backend", tuple(BACKEND_PACKAGES)),
                   help="comma-separated Keras backends, each measured in its own process (e.g. tensorflow,jax,torch)")
    p.add_argument("--frameworks", type=names("framework", FRAMEWORKS), default=list(DEFAULT_FRAMEWORKS),
                   help=f"comma-separated, from {', '.join(FRAMEWORKS)} (default {','.join(DEFAULT_FRAMEWORKS)}; "
                        "keras-applications only for resnet50/101/152, PyTorch only when torch is installed)")
    p.add_argument("--rounds", type=count, default=1,
                   help="measure everything this many times, interleaved, one process per job; keep medians")
    p.add_argument("--latency", type=names("latency runtime", LATENCY_RUNTIMES), metavar="RUNTIMES",
                   help=f"add batch-1 serving latency rows (median and p99 ms) of the zoo model in these runtimes, "
                        f"from {', '.join(LATENCY_RUNTIMES)} (exported with Keras' Model.export; onnx needs the "
                        "export extra), e.g. --latency keras,onnx,litert")
    p.add_argument("--out", default="bench/throughput", help="folder for throughput.{parquet,csv,md}")
    p.set_defaults(func=run)


def run(args) -> int:
    spec = dict(args.spec_set or [])
    for name in args.variants:  # unknown names and bad fields fail before Keras loads and anything is measured
        resolve_spec(name, input_shape=(args.input_size, args.input_size, 3), **spec)
    if "zoo" not in args.frameworks:
        raise ZooError("--frameworks must include zoo: every other row is compared with it")
    from zoo.experiments.throughput import throughput_table, write_throughput

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    table = throughput_table(args.variants, input_size=args.input_size, batch_size=args.batch_size,
                             precision=args.precision, steps=args.steps, warmup=args.warmup, backends=args.backends,
                             frameworks=args.frameworks, rounds=args.rounds, latency=args.latency or (),
                             spec=spec or None, log=log)
    paths = write_throughput(table, args.out)
    print(paths[-1].read_text(), end="")
    return 0 if (table["status"] == "ok").all() else 1
