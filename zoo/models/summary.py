"""Per-stage summary of a built model: output shape, parameters and MACs of stem, each stage and head.

>>> import zoo
>>> rows = stage_rows(zoo.build("resnet_tiny"))
>>> [r["part"] for r in rows]
['stem', 'stage1', 'stage2', 'stage3', 'head']
"""

from __future__ import annotations

import keras

from zoo.markdown import format_table
from zoo.models.macs import count_macs, format_count, layer_macs


def part_of(layer_name: str) -> str:
    """The part a layer belongs to: `stage2_block1_conv1` -> `stage2`, `head_fc` -> `head`."""
    return layer_name.split("_", 1)[0]


def _size(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def param_counts(model: keras.Model) -> dict[str, int]:
    """Total, trainable and non-trainable parameter counts."""
    total = sum(_size(v.shape) for v in model.weights)
    trainable = sum(_size(v.shape) for v in model.trainable_weights)
    return {"total": total, "trainable": trainable, "non_trainable": total - trainable}


def stage_rows(model: keras.Model) -> list[dict]:
    """One row per part (stem, stage1.., post, head): output shape, params, trainable params, MACs."""
    rows: dict[str, dict] = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        part = part_of(layer.name)
        row = rows.setdefault(part, {"part": part, "output_shape": None, "params": 0,
                                     "trainable_params": 0, "macs": 0})
        row["output_shape"] = tuple(layer.output.shape[1:])  # layers are in topological order
        row["params"] += sum(_size(v.shape) for v in layer.weights)
        row["trainable_params"] += sum(_size(v.shape) for v in layer.trainable_weights)
        row["macs"] += layer_macs(layer)
    return list(rows.values())


def describe(model: keras.Model) -> str:
    """The text `zoo show` prints: per-part table, then parameter and MAC totals."""
    rows = stage_rows(model)
    table = format_table(rows, [("part", "part"), ("output_shape", "output"), ("params", "params"),
                                ("trainable_params", "trainable"), ("macs", "MACs")])
    counts = param_counts(model)
    macs = count_macs(model)
    return "\n".join([
        table,
        "",
        f"total params:         {counts['total']:,}",
        f"trainable params:     {counts['trainable']:,}",
        f"non-trainable params: {counts['non_trainable']:,}",
        f"MACs per image:       {macs:,} ({format_count(macs)}MACs)",
    ])
