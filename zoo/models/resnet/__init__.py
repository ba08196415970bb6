"""The ResNet family: ResNet, ResNet-D, pre-activation ResNet, ResNeXt, Wide ResNet and SE-ResNet, as one
`ResNetSpec` whose options compose (`spec`), one residual block (`blocks`), one builder (`builder`) and the
named variants (`presets`); `describe` says a spec in one line, `search` is its tuner space,
`torch_reference` is the same network in PyTorch, for comparisons."""

from zoo.models.family import Family
from zoo.models.resnet.presets import PRESETS
from zoo.models.resnet.spec import ResNetSpec

FAMILY = Family(name="resnet", spec_type=ResNetSpec, presets=PRESETS, builder="zoo.models.resnet.builder:assemble",
                describer="zoo.models.resnet.describe:parts", search="zoo.models.resnet.search",
                torch_reference="zoo.models.resnet.torch_reference:reference_model")
