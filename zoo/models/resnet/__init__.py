"""The ResNet family: ResNet, ResNet-D, pre-activation ResNet, ResNeXt, Wide ResNet and SE-ResNet, as one
`ResNetSpec` whose options compose (`spec`), one residual block (`blocks`), one builder (`builder`) and the
named variants (`presets`); `describe` says a spec in one line, `torch_reference` is the same network in
PyTorch, for comparisons."""
