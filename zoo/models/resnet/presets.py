"""The ResNet family's named variants: one name -> one `ResNetSpec`, each with its source. Adding a variant
is one entry here (and its published counts in the tests).

>>> PRESETS["resnet20"].depths
(3, 3, 3)
"""

from __future__ import annotations

from dataclasses import replace

from zoo.models.resnet.spec import ResNetSpec

# The source articles' models are plain Keras layers with Keras defaults: biased convs,
# Glorot-uniform kernels, BatchNormalization(momentum=0.99, epsilon=1e-3).
_KERAS_DEFAULTS = dict(conv_bias=True, kernel_initializer="glorot_uniform", bn_momentum=0.99, bn_epsilon=1e-3)

_TF2_CIFAR10 = ResNetSpec(
    input_shape=(32, 32, 3), num_classes=10,
    stem_kernel=3, stem_stride=1, stem_padding="valid",
    stem_pool="max", stem_pool_size=2, stem_pool_stride=2, stem_pool_padding="same",
    shortcut="conv", shortcut_when="stride", head="gap", head_activation="linear",
    **_KERAS_DEFAULTS,
    source="seed 000 (TF2 subclassed ResNet, CIFAR-10)",
)
_TF2_CIFAR100 = replace(
    _TF2_CIFAR10, num_classes=100, stem_pool_stride=1, shortcut_padding="valid",
    source="seed 001 (TF2 subclassed ResNet, CIFAR-100)",
)
# torchvision / He et al. 2015 ImageNet layout is the ResNetSpec default.
_IMAGENET = ResNetSpec(source="He et al. 2015, torchvision layout")
_IMAGENET_BOTTLENECK = replace(_IMAGENET, block="bottleneck")
# The common CIFAR adaptation (3x3/1 stem, no pool), as in kuangliu/pytorch-cifar.
_CIFAR = ResNetSpec(
    input_shape=(32, 32, 3), num_classes=10, stem_kernel=3, stem_stride=1, stem_pool="none",
    source="common CIFAR layout (3x3/1 stem, no pool)",
)
# He et al. 2015, section 4.2: 6n+2 layers, 16/32/64 channels, option-A shortcuts.
_HE_CIFAR = replace(
    _CIFAR, stem_filters=16, depths=(3, 3, 3), widths=(16, 32, 64), strides=(1, 2, 2), shortcut="identity_pad",
    source="He et al. 2015, CIFAR-10 networks (option A)",
)


def _he_cifar(depth: int) -> ResNetSpec:
    n = (depth - 2) // 6
    return replace(_HE_CIFAR, depths=(n, n, n))


PRESETS: dict[str, ResNetSpec] = {
    # the source articles
    "resnet18_cifar10_tf2": _TF2_CIFAR10,
    "resnet34_cifar10_tf2": replace(_TF2_CIFAR10, depths=(3, 4, 6, 3)),
    "resnet18_cifar100_tf2": _TF2_CIFAR100,
    "resnet34_cifar100_tf2": replace(_TF2_CIFAR100, depths=(3, 4, 6, 3)),
    "resnet18_mnist_functional": ResNetSpec(
        input_shape=(32, 32, 1), num_classes=10,
        stem_kernel=7, stem_stride=2, stem_bn=False, stem_pool="max", stem_pool_size=3, stem_pool_stride=2,
        shortcut="conv_bn", shortcut_when="stride_or_channels",
        head="flatten", head_hidden=1000, head_activation="softmax",
        **_KERAS_DEFAULTS,
        source="seed 002 (Keras functional ResNet18, MNIST padded to 32x32)",
    ),
    "resnet18_cifar10_d2l": ResNetSpec(
        input_shape=(32, 32, 3), num_classes=10,
        stem_kernel=3, stem_stride=1, stem_pool="max", stem_pool_size=2, stem_pool_stride=1,
        shortcut="conv", shortcut_when="stride", head="gap", head_activation="softmax",
        **_KERAS_DEFAULTS,
        source="seed 004 (d2l-style ResNet18, CIFAR-10)",
    ),
    # He et al. 2015 ImageNet networks
    "resnet18": _IMAGENET,
    "resnet34": replace(_IMAGENET, depths=(3, 4, 6, 3)),
    "resnet50": replace(_IMAGENET_BOTTLENECK, depths=(3, 4, 6, 3)),
    "resnet101": replace(_IMAGENET_BOTTLENECK, depths=(3, 4, 23, 3)),
    "resnet152": replace(_IMAGENET_BOTTLENECK, depths=(3, 8, 36, 3)),
    # keras.applications.ResNet50's layout ("v1": the stride on the block's first 1x1, biased convolutions,
    # Keras' initializer and BN constants), for like-for-like speed comparisons with it (`zoo throughput`)
    "resnet50_keras": replace(
        _IMAGENET_BOTTLENECK, depths=(3, 4, 6, 3), stride_in_1x1=True, conv_bias=True,
        kernel_initializer="glorot_uniform", bn_momentum=0.99, bn_epsilon=1.001e-5,
        source="keras.applications.ResNet50 layout (stride in the first 1x1, biased convolutions)",
    ),
    # composed block options (zoo.models.resnet.spec: groups / base_width, attention, preact), torchvision and timm layouts
    "resnext50_32x4d": replace(
        _IMAGENET_BOTTLENECK, depths=(3, 4, 6, 3), groups=32, base_width=4,
        source="Xie et al. 2017 (ResNeXt-50 32x4d), torchvision layout",
    ),
    "resnext101_32x8d": replace(
        _IMAGENET_BOTTLENECK, depths=(3, 4, 23, 3), groups=32, base_width=8,
        source="Xie et al. 2017 (ResNeXt-101 32x8d), torchvision layout",
    ),
    "wide_resnet50_2": replace(
        _IMAGENET_BOTTLENECK, depths=(3, 4, 6, 3), base_width=128,
        source="Zagoruyko & Komodakis 2016 (bottlenecks twice as wide), torchvision layout",
    ),
    "seresnet50": replace(
        _IMAGENET_BOTTLENECK, depths=(3, 4, 6, 3), attention="se",
        source="Hu et al. 2018 (SE-ResNet-50, reduction 16), timm layout",
    ),
    "seresnext50_32x4d": replace(
        _IMAGENET_BOTTLENECK, depths=(3, 4, 6, 3), groups=32, base_width=4, attention="se",
        source="Hu et al. 2018 on Xie et al. 2017 (SE-ResNeXt-50 32x4d), timm layout",
    ),
    # the common CIFAR adaptation of the ImageNet widths
    "resnet18_cifar": _CIFAR,
    "resnet34_cifar": replace(_CIFAR, depths=(3, 4, 6, 3)),
    "resnet50_cifar": replace(_CIFAR, block="bottleneck", depths=(3, 4, 6, 3)),
    # He et al. 2015 CIFAR networks
    "resnet20": _he_cifar(20),
    "resnet32": _he_cifar(32),
    "resnet44": _he_cifar(44),
    "resnet56": _he_cifar(56),
    "resnet110": _he_cifar(110),
    # later refinements
    "preact_resnet18": replace(
        _CIFAR, preact=True, stem_bn=False, stem_activation="linear", shortcut="conv",
        source="He et al. 2016 (identity mappings), CIFAR layout",
    ),
    "resnet18d": replace(
        _IMAGENET, stem_deep=True, stem_kernel=3, shortcut="avg_down",
        source="He et al. 2019 (bag of tricks) ResNet-D: deep stem + avg-down shortcut",
    ),
    "wide_resnet28_10": replace(
        _CIFAR, preact=True, stem_filters=16, stem_bn=False, stem_activation="linear",
        depths=(4, 4, 4), widths=(160, 320, 640), strides=(1, 2, 2), shortcut="conv",
        source="Zagoruyko & Komodakis 2016, WRN-28-10",
    ),
    "resnext29_8x64d": replace(
        _CIFAR, block="bottleneck", depths=(3, 3, 3), widths=(64, 128, 256), strides=(1, 2, 2),
        groups=8, base_width=64, source="Xie et al. 2017, section 5.3: ResNeXt-29 (8x64d) for CIFAR",
    ),
    "resnext29_32x4d": replace(
        _CIFAR, block="bottleneck", depths=(3, 3, 3), widths=(64, 128, 256), strides=(1, 2, 2),
        groups=32, base_width=4, source="Xie et al. 2017 ResNeXt-29 (32x4d) for CIFAR, as osmr/imgclsmob",
    ),
    "seresnet20": replace(
        _HE_CIFAR, depths=(3, 3, 3), shortcut="conv_bn", attention="se",
        source="Hu et al. 2018 on He et al.'s ResNet-20 (1x1 conv + BN shortcuts), as osmr/imgclsmob",
    ),
    # fast CIFAR-10 nets: stages that enter through conv + max-pool (`stage_entry`)
    "resnet9": replace(
        _CIFAR, depths=(1, 0, 1), widths=(128, 256, 512), strides=(2, 2, 2), stage_entry="conv_bn_pool",
        act_before_add=True, head="gmp", head_bias=False, head_scale=0.125,
        source="Page 2018 (Myrtle's DAWNBench ResNet-9): prep conv 64; conv-BN-ReLU-pool to 128, 256, 512, "
               "residual pairs after the first and last; global max-pool; linear x 0.125",
    ),
    "airbench94": replace(
        _CIFAR, stem_filters=24, stem_kernel=2, stem_padding="valid", stem_bn=False, stem_activation="gelu",
        block="plain", depths=(1, 1, 1), widths=(64, 256, 256), strides=(2, 2, 2), stage_entry="conv_pool_bn",
        activation="gelu", kernel_initializer="dirac", bn_momentum=0.4, bn_epsilon=1e-12, bn_scale=False,
        head="gmp", head_bias=False, head_scale=1 / 9,
        source="Jordan 2024 (airbench94's net): 2x2 stem of 24 (whitened by the recipe knob `whiten`), three "
               "stages of conv-pool-BN-GELU + conv-BN-GELU (64, 256, 256), BN without scale (momentum 0.6 in "
               "torch's terms), identity-initialized convs, global max-pool, linear / 9",
    ),
    # a few thousand parameters: for tests, smoke runs and tuner demos
    "resnet_tiny": replace(
        _CIFAR, stem_filters=8, depths=(1, 1, 1), widths=(8, 16, 32), strides=(1, 2, 2),
        source="zoo: tiny 3-stage basic ResNet for tests",
    ),
}
PRESETS = {name: replace(spec, name=name) for name, spec in PRESETS.items()}
