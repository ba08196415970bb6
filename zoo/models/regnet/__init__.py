"""The RegNet family (Radosavovic et al. 2020): `RegNetSpec` (`spec`, with the paper's width rule `design`),
its builder (`builder`), named variants (`presets`: torchvision's RegNetX/Y 400MF and 800MF with their exact
parameter counts, and a CIFAR layout), one-line descriptions (`describe`) and its tuner space (`search`).
The folder is the whole family: the registry's `FAMILIES` lists it (`zoo.models.family`)."""

from zoo.models.family import Family
from zoo.models.regnet.presets import PRESETS
from zoo.models.regnet.spec import RegNetSpec

FAMILY = Family(name="regnet", spec_type=RegNetSpec, presets=PRESETS, builder="zoo.models.regnet.builder:assemble",
                describer="zoo.models.regnet.describe:parts", search="zoo.models.regnet.search")
