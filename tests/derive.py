"""Parameter counts derived by hand from a spec, independently of Keras (closed-form per layer).

Used to check the builders: for every registered variant, the count Keras reports must equal this
derivation; for the published variants it must also equal the published number.
"""

from zoo.models.regnet.spec import RegNetSpec
from zoo.models.resnet.spec import ResNetSpec


def derived_params(spec) -> tuple[int, int]:
    """(trainable, non_trainable) parameters of a spec of any family, derived by hand."""
    return _regnet(spec) if isinstance(spec, RegNetSpec) else _resnet(spec)


def _regnet(spec: RegNetSpec) -> tuple[int, int]:
    """torchvision's RegNet: stem 3x3 conv + BN; per block 1x1, grouped 3x3 (+ SE: two 1x1 convs with biases
    through round(se_ratio x block input) units), 1x1, each + BN, a 1x1 conv + BN shortcut on a shape
    change; a biased linear head. BN: gamma and beta trainable, the moving mean and variance not."""
    bn_channels = spec.stem_width
    trainable = 9 * spec.input_shape[2] * spec.stem_width
    for stage, _, c_in, c_out, _, project in spec.block_plan():
        inner = round(spec.widths[stage - 1] * spec.bottleneck_ratio)
        groups = inner // min(spec.group_width, inner)
        trainable += c_in * inner + 9 * inner * inner // groups + inner * c_out
        bn_channels += 2 * inner + c_out
        if spec.se_ratio:
            hidden = round(spec.se_ratio * c_in)
            trainable += inner * hidden + hidden + hidden * inner + inner
        if project:
            trainable += c_in * c_out
            bn_channels += c_out
    trainable += 2 * bn_channels + spec.widths[-1] * spec.num_classes + spec.num_classes
    return trainable, 2 * bn_channels


def _resnet(spec: ResNetSpec) -> tuple[int, int]:
    """(trainable, non_trainable) parameters of `spec`'s model.

    conv k x k, c_in -> c_out: k*k*c_in*c_out (+ c_out bias); BN: gamma+beta trainable, moving
    mean+variance not; dense n -> m: n*m + m.
    """
    bias = spec.conv_bias
    trainable = 0
    bn_channels = 0

    def conv(k, c_in, c_out):
        return k * k * c_in * c_out + (c_out if bias else 0)

    def grouped(width):  # the bottleneck's 3x3, in spec.groups groups
        return 9 * width * width // spec.groups + (width if bias else 0)

    def bn(c):  # beta, and gamma unless the spec's BN has no scale
        nonlocal bn_channels
        bn_channels += c
        return 2 * c if spec.bn_scale else c

    c = spec.input_shape[2]
    stem_widths = [spec.stem_filters // 2, spec.stem_filters // 2, spec.stem_filters] if spec.stem_deep else [
        spec.stem_filters]
    for f in stem_widths:
        trainable += conv(spec.stem_kernel, c, f) + (bn(f) if spec.stem_bn else 0)
        c = f

    if spec.stage_entry != "block":  # each stage enters through a 3x3 conv + BN
        for c_out in spec.stage_channels:
            trainable += conv(3, c, c_out) + bn(c_out)
            c = c_out
    for _, _, c_in, c_out, _, project in spec.block_plan():
        if spec.block == "plain":  # one 3x3 conv + BN, no shortcut
            trainable += conv(3, c_in, c_out) + bn(c_out)
            c = c_out
            continue
        # torchvision: width = int(planes * base_width / 64) * groups, the 3x3 conv grouped
        w = c_out // spec.bottleneck_expansion * spec.base_width // 64 * spec.groups
        trainable += {
            ("basic", False): lambda: conv(3, c_in, c_out) + bn(c_out) + conv(3, c_out, c_out) + bn(c_out),
            ("bottleneck", False): lambda: conv(1, c_in, w) + bn(w) + grouped(w) + bn(w) + conv(1, w, c_out)
            + bn(c_out),
            ("basic", True): lambda: bn(c_in) + conv(3, c_in, c_out) + bn(c_out) + conv(3, c_out, c_out),
            ("bottleneck", True): lambda: bn(c_in) + conv(1, c_in, w) + bn(w) + grouped(w) + bn(w)
            + conv(1, w, c_out),
        }[spec.block, spec.preact]()
        if spec.attention == "se":  # two dense layers with biases through max(1, c // reduction) units
            hidden = max(1, c_out // spec.se_reduction)
            trainable += c_out * hidden + hidden + hidden * c_out + c_out
        if project:
            trainable += {
                "conv": lambda: conv(1, c_in, c_out),
                "conv_bn": lambda: conv(1, c_in, c_out) + bn(c_out),
                "avg_down": lambda: conv(1, c_in, c_out) + bn(c_out),
                "identity_pad": lambda: 0,
            }[spec.shortcut]()
        c = c_out
    if spec.is_preact:
        trainable += bn(c)

    _, h, w_ = spec.spatial_plan()[-1]
    features = c if spec.head in ("gap", "gmp") else h * w_ * c
    if spec.head_hidden:
        trainable += features * spec.head_hidden + spec.head_hidden
        features = spec.head_hidden
    trainable += features * spec.num_classes + (spec.num_classes if spec.head_bias else 0)
    return trainable, 2 * bn_channels
