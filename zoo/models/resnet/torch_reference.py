"""The same network in plain PyTorch (`torch.nn`), built from a `ResNetSpec`, for timing the zoo against
PyTorch itself: same layers, shapes and trainable parameter count (asserted by `reference_model`).

Why not timm or torchvision: both are optional, and torchvision only loads against the torch build it was
compiled for (PyPI's torchvision 0.28 fails against the CPU-only torch 2.13.0+cpu with "operator
torchvision::nms does not exist", which also breaks timm). `zoo throughput` uses timm when it imports and
this reference otherwise; it covers the published layouts: one-conv stems, basic and bottleneck blocks
(grouped or widened bottlenecks too: ResNeXt, Wide ResNet), 1x1 (+BN) or ResNet-D shortcuts, global pooling
heads.

>>> from zoo.models.registry import resolve_spec
>>> net = reference_model(resolve_spec("resnet_tiny", num_classes=10))  # doctest: +SKIP
"""

from __future__ import annotations

from zoo.models.layers import subsamples_strided_1x1
from zoo.models.resnet.spec import BLOCK_KERNEL, ResNetSpec

#: Spec values the reference reproduces; anything else is refused with the field named.
SUPPORTED = {"block": ("basic", "bottleneck", "plain"), "shortcut": ("conv", "conv_bn", "avg_down"),
             "stem_deep": (False,), "head": ("gap", "gmp"), "activation": ("relu", "gelu"),
             "stem_activation": ("relu", "gelu", "linear"), "head_hidden": (0,), "head_activation": ("linear",),
             "block_dropout": (0.0,), "preact": (False,), "attention": ("none",), "drop_path": (0.0,)}


def unsupported(spec: ResNetSpec) -> str | None:
    """Why `spec` has no PyTorch reference (the first knob out of reach), or None."""
    for field, allowed in SUPPORTED.items():
        if getattr(spec, field) not in allowed:
            return f"no PyTorch reference for {field}={getattr(spec, field)!r} (it covers {list(allowed)})"
    return None


def _modules(spec: ResNetSpec):
    """(nn, conv, bn, act, Block, Scale, entry) for this spec: the torch layer constructors with its bias, BN and
    activation settings, its blocks and its stage entries."""
    from torch import nn

    class Subsample(nn.Module):
        """Every `stride`-th pixel: what a strided 1x1 convolution reads."""

        def __init__(self, stride):
            super().__init__()
            self.stride = stride

        def forward(self, x):
            return x[:, :, ::self.stride, ::self.stride]

    def conv(cin, cout, kernel, stride=1, groups=1):
        if subsamples_strided_1x1((kernel, kernel), (stride, stride), groups, cin):
            # as the zoo's Conv2D computes it: oneDNN's strided 1x1 kernel hangs on so few channels
            return nn.Sequential(Subsample(stride), conv(cin, cout, 1))
        return nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, groups=groups, bias=spec.conv_bias)

    def bn(channels):
        norm = nn.BatchNorm2d(channels, eps=spec.bn_epsilon, momentum=1 - spec.bn_momentum)
        norm.weight.requires_grad_(spec.bn_scale)  # airbench's frozen scale
        return norm

    def act(name=None):
        return {"relu": lambda: nn.ReLU(inplace=True), "gelu": nn.GELU}[name or spec.activation]()

    class Block(nn.Module):
        def __init__(self, cin, cout, stride, project):
            super().__init__()
            self.last = act()
            if spec.block == "plain":
                self.branch = nn.Sequential(conv(cin, cout, BLOCK_KERNEL, stride), bn(cout))
            elif spec.block == "basic":
                self.branch = nn.Sequential(conv(cin, cout, BLOCK_KERNEL, stride), bn(cout), act(),
                                            conv(cout, cout, BLOCK_KERNEL), bn(cout))
                if spec.act_before_add:
                    self.branch.append(act())
            else:
                width = spec.branch_width(cout)
                s1, s2 = (stride, 1) if spec.stride_in_1x1 else (1, stride)
                self.branch = nn.Sequential(conv(cin, width, 1, s1), bn(width), act(),
                                            conv(width, width, BLOCK_KERNEL, s2, spec.groups), bn(width), act(),
                                            conv(width, cout, 1), bn(cout))
            self.skip = nn.Identity()
            if project:
                layers = [conv(cin, cout, 1, 1 if spec.shortcut == "avg_down" else stride)]
                if spec.shortcut == "avg_down" and stride > 1:
                    layers.insert(0, nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False))
                if spec.shortcut != "conv":
                    layers.append(bn(cout))
                self.skip = nn.Sequential(*layers)

        def forward(self, x):
            if spec.block == "plain":
                return self.last(self.branch(x))
            if spec.act_before_add:
                return self.branch(x) + self.skip(x)
            return self.last(self.branch(x) + self.skip(x))

    class Scale(nn.Module):
        def __init__(self, factor):
            super().__init__()
            self.factor = factor

        def forward(self, x):
            return x * self.factor

    def entry(cin, cout, stride):
        """A stage's conv + max-pool way in (`stage_entry`), the pool before or after the BN-act."""
        pool = [nn.MaxPool2d(stride)] if stride > 1 else []
        if spec.stage_entry == "conv_pool_bn":
            return [conv(cin, cout, BLOCK_KERNEL), *pool, bn(cout), act()]
        return [conv(cin, cout, BLOCK_KERNEL), bn(cout), act(), *pool]

    return nn, conv, bn, act, Block, Scale, entry


def reference_model(spec: ResNetSpec):
    """`spec` as a `torch.nn.Sequential`, channels first (call `.to(memory_format=torch.channels_last)` for
    oneDNN's preferred layout); raises ValueError naming the knob when the spec is out of reach."""
    why = unsupported(spec)
    if why:
        raise ValueError(why)
    nn, conv, bn, act, Block, Scale, entry = _modules(spec)
    layers = [nn.Conv2d(spec.input_shape[-1], spec.stem_filters, spec.stem_kernel, spec.stem_stride,
                        padding=spec.stem_kernel // 2 if spec.stem_padding == "same" else 0, bias=spec.conv_bias)]
    if spec.stem_bn:
        layers.append(bn(spec.stem_filters))
    if spec.stem_activation != "linear":
        layers.append(act(spec.stem_activation))
    pool = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}.get(spec.stem_pool)
    if pool:
        layers.append(pool(spec.stem_pool_size, spec.stem_pool_stride,
                           padding=spec.stem_pool_size // 2 if spec.stem_pool_padding == "same" else 0))
    plan, channels = list(spec.block_plan()), spec.stem_filters
    for stage, (width, stride) in enumerate(zip(spec.stage_channels, spec.strides), start=1):
        if spec.stage_entry != "block":
            layers += entry(channels, width, stride)
        layers += [Block(cin, cout, s, project) for at, _, cin, cout, s, project in plan if at == stage]
        channels = width
    layers += [nn.AdaptiveAvgPool2d(1) if spec.head == "gap" else nn.AdaptiveMaxPool2d(1), nn.Flatten()]
    if spec.head_dropout:
        layers.append(nn.Dropout(spec.head_dropout))
    layers.append(nn.Linear(spec.stage_channels[-1], spec.num_classes, bias=spec.head_bias))
    if spec.head_scale != 1:
        layers.append(Scale(spec.head_scale))
    return nn.Sequential(*layers)


def trainable_parameters(module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
