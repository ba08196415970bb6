"""One-line descriptions of a `RegNetSpec`'s stem, body, shortcut and head (no Keras needed).

>>> from zoo.models.registry import get_spec
>>> parts(get_spec("regnety_400mf"))["body"]
'bottleneck 1-3-6-6 x 48-104-208-440, group width 8, SE 0.25'
"""

from __future__ import annotations

from zoo.models.regnet.spec import RegNetSpec


def parts(spec: RegNetSpec) -> dict[str, str]:
    """The family contract's description (`zoo.models.family`)."""
    body = f"bottleneck {'-'.join(map(str, spec.depths))} x {'-'.join(map(str, spec.widths))}, " \
           f"group width {spec.group_width}"
    if spec.bottleneck_ratio != 1:
        body += f", bottleneck ratio {spec.bottleneck_ratio:g}"
    if spec.se_ratio:
        body += f", SE {spec.se_ratio:g}"
    head = ["GAP", *([f"dropout {spec.head_dropout:g}"] if spec.head_dropout else []),
            f"{spec.num_classes} {'logits' if spec.head_activation == 'linear' else spec.head_activation}"]
    return {"stem": f"3x3/{spec.stem_stride} same + BN + {spec.activation}", "body": body,
            "shortcut": "1x1 conv + BN, on stride or channel change", "head": " -> ".join(head)}
