"""One-line, human-readable descriptions of a spec's stem, body, shortcut and head (no Keras needed).

>>> from zoo.models.registry import get_spec
>>> stem_text(get_spec("resnet18_cifar10_tf2"))
'3x3/1 valid + BN + relu + maxpool 2/2 same'
>>> head_text(get_spec("resnet18_mnist_functional"))
'flatten -> dense 1000 relu -> 10 softmax'
"""

from __future__ import annotations

from zoo.models.resnet.spec import ResNetSpec


def stem_text(spec: ResNetSpec) -> str:
    k, s = spec.stem_kernel, spec.stem_stride
    if spec.stem_deep:
        half = spec.stem_filters // 2
        conv = f"deep {k}x{k}/{s} x3 ({half}-{half}-{spec.stem_filters})"
    else:
        conv = f"{k}x{k}/{s}"
    parts = [f"{conv} {spec.stem_padding}"]
    if spec.stem_bn:
        parts.append("BN")
    if spec.stem_activation != "linear":
        parts.append(spec.stem_activation)
    if spec.stem_pool != "none":
        parts.append(f"{spec.stem_pool}pool {spec.stem_pool_size}/{spec.stem_pool_stride} {spec.stem_pool_padding}")
    return " + ".join(parts)


def body_text(spec: ResNetSpec) -> str:
    """`basic 2-2-2-2 x 64-128-256-512`, then the block options in use (`preact`, `32x4d`, `SE 1/16`, ...).

    >>> from zoo.models.registry import get_spec
    >>> body_text(get_spec("seresnext50_32x4d"))
    'bottleneck 3-4-6-3 x 256-512-1024-2048, 32x4d, SE 1/16'
    """
    depths = "-".join(map(str, spec.depths))
    widths = "-".join(map(str, spec.stage_channels))
    options = ["preact"] if spec.preact else []
    if spec.is_bottleneck and (spec.groups, spec.base_width) != (1, 64):
        options.append(f"{spec.groups}x{spec.base_width}d")
    if spec.attention == "se":
        options.append(f"SE 1/{spec.se_reduction}")
    if spec.drop_path:
        options.append(f"drop path {spec.drop_path:g}")
    if spec.stage_entry != "block":
        options.append({"conv_bn_pool": "stages enter by conv-BN-act-pool",
                        "conv_pool_bn": "stages enter by conv-pool-BN-act"}[spec.stage_entry])
    if spec.act_before_add:
        options.append("act before add")
    if not spec.bn_scale:
        options.append("BN without scale")
    return ", ".join([f"{spec.block} {depths} x {widths}", *options])


_SHORTCUTS = {
    "conv": "1x1 conv",
    "conv_bn": "1x1 conv + BN",
    "identity_pad": "identity + zero-pad (option A)",
    "avg_down": "avgpool + 1x1 conv + BN (ResNet-D)",
}
_WHEN = {"stride": "on stride", "stride_or_channels": "on stride or channel change"}


def shortcut_text(spec: ResNetSpec) -> str:
    if spec.block == "plain":
        return "none (plain blocks)"
    return f"{_SHORTCUTS[spec.shortcut]}, {_WHEN[spec.shortcut_when]}"


def head_text(spec: ResNetSpec) -> str:
    parts = [{"gap": "GAP", "gmp": "global maxpool", "flatten": "flatten"}[spec.head]]
    if spec.head_hidden:
        parts.append(f"dense {spec.head_hidden} {spec.activation}")
    if spec.head_dropout:
        parts.append(f"dropout {spec.head_dropout:g}")
    out = "logits" if spec.head_activation == "linear" else spec.head_activation
    parts.append(f"{spec.num_classes} {out}" + (f" x {spec.head_scale:.4g}" if spec.head_scale != 1 else ""))
    return " -> ".join(parts)


def parts(spec: ResNetSpec) -> dict[str, str]:
    """The family contract's description (`zoo.models.family`): stem, body, shortcut and head in words."""
    return {"stem": stem_text(spec), "body": body_text(spec), "shortcut": shortcut_text(spec), "head": head_text(spec)}
