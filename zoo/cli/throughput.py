"""`zoo throughput`: training and inference images/s, TFLOP/s and MFU per variant."""

from __future__ import annotations

import sys

from zoo.registry import get_spec


def add_parser(sub) -> None:
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
    p.set_defaults(func=run)


def run(args) -> int:
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
