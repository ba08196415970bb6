"""The family contract: what the zoo knows of a family of networks, as data.

A family is a folder `zoo/models/<family>/` (keras-hub's `models/<family>/`) whose `__init__.py` defines
`FAMILY = Family(...)`, importing no Keras: its spec type, its named presets, and where its builder, its
one-line descriptions and its search space live (modules imported on first use). The registry's
`FAMILIES` lists the folders; nothing outside a family's folder imports its spec type: `zoo.build` builds
through `family_of(spec)`, the registry reads spec JSON by its `family` tag, `zoo list` / `zoo show`
describe through `describe`, `zoo tune` searches through `search_space`.

A spec type is a frozen dataclass, validated in `__post_init__` (a `SpecError` naming the field and the
value), with the fields `name`, `input_shape`, `num_classes` and `source`, and:

- `to_dict()` (every field, plus `"family": <tag>`), `to_json()`, `from_dict()` and `from_json()`;
- `approx_params()`: the weights counted without building (`zoo.build` refuses nets too big for memory);
- `depths` (blocks per stage), `stage_channels` and `spatial_plan()` (`(part, height, width)` after the
  stem and each stage): what the shared conformance harness (tests/conformance.py) checks a build against.

A family's search module (`search`) defines `KNOBS` (the names it can search), `DEFAULT_OFF` (searched only
when named), `default_space(base, *, grid)` ({name: {"kind": ..., ...}}), `check_space(base, names)` and
`spec_for(base, values)` (the spec a trial's values stand for).

>>> from zoo.models.registry import family_of, get_spec
>>> family_of(get_spec("resnet20")).name, family_of(get_spec("regnetx_400mf")).name
('resnet', 'regnet')
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Mapping


def _attribute(path: str):
    module, _, name = path.partition(":")
    found = importlib.import_module(module)
    return getattr(found, name) if name else found


@dataclass(frozen=True)
class Family:
    name: str                     # the `family` tag of its spec JSON
    spec_type: type               # its frozen spec dataclass
    presets: Mapping[str, Any]    # registry name -> spec
    builder: str                  # "module:function": spec -> functional keras.Model
    describer: str                # "module:function": spec -> {"stem", "body", "shortcut", "head"} texts
    search: str                   # module with the family's search space (see the module docstring)
    torch_reference: str = ""     # "module:function": spec -> the same network in torch.nn (`zoo throughput`)

    def build(self, spec):
        """The functional Keras model of `spec` (its builder's module imports Keras on first use)."""
        return _attribute(self.builder)(spec)

    def describe(self, spec) -> dict[str, str]:
        """One line each for the spec's stem, body, shortcut and head (`zoo list`, `zoo show`)."""
        return _attribute(self.describer)(spec)

    def torch_model(self, spec):
        """The same network in PyTorch (`zoo throughput`'s PyTorch rows); `SpecError` where the family has none."""
        if not self.torch_reference:
            from zoo.errors import SpecError

            raise SpecError(f"the {self.name} family has no PyTorch reference network")
        return _attribute(self.torch_reference)(spec)

    def search_space(self):
        """The family's search module (`KNOBS`, `DEFAULT_OFF`, `default_space`, `check_space`, `spec_for`)."""
        return _attribute(self.search)
