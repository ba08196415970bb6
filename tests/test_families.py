"""The family contract (zoo.models.family): a family is a folder that registers itself; nothing outside it
imports its spec type; specs round-trip through JSON by their `family` tag; the RegNet family follows the
paper's width rule and torchvision's counts (the counts themselves: tests/test_build.py's conformance)."""

import ast
import json
from pathlib import Path

import pytest

import zoo
from zoo.cli import main
from zoo.errors import SpecError
from zoo.experiments.tuning import ZooHyperModel
from zoo.models.registry import FAMILIES, VARIANTS, family_of, get_spec, spec_from_dict, spec_from_json
from zoo.models.regnet.spec import RegNetSpec, design

PACKAGE = Path(zoo.__file__).parent


def _spec_importers(family: str):
    """Modules outside `zoo/models/<family>/` (and the package facade) that import the family's modules."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        if "__pycache__" in path.parts or path.is_relative_to(PACKAGE / "models" / family) or path == PACKAGE / "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(f"zoo.models.{family}"):
                found.append(f"{path.relative_to(PACKAGE)}: from {node.module} import ...")
    return found


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_nothing_outside_a_family_folder_imports_its_modules(family):
    assert _spec_importers(family) == []  # the registry's list names the package itself: `from zoo.models import x`


def test_every_variant_belongs_to_one_family_and_round_trips_by_its_tag():
    for name, spec in VARIANTS.items():
        data = json.loads(spec.to_json())
        assert data["family"] == family_of(spec).name and spec_from_dict(data) == spec, name
    old = json.loads(get_spec("resnet20").to_json())
    del old["family"]  # spec files written before the tag are ResNets
    assert spec_from_dict(old) == get_spec("resnet20")


@pytest.mark.parametrize("data, message", [
    ({"family": "vgg", "name": "x"}, "spec family 'vgg' is not one of resnet, regnet"),
    ({"family": "regnet", "group_wdith": 8}, r"unknown RegNetSpec field\(s\): 'group_wdith' \(did you mean group_width\?\)"),
    ([1, 2], "a spec must be a JSON object, got list"),
])
def test_foreign_or_misspelt_spec_json_is_one_clear_error(data, message):
    with pytest.raises(SpecError, match=message):
        spec_from_json(json.dumps(data))


@pytest.mark.parametrize("preset, args", [
    ("regnetx_800mf", dict(depth=16, w_0=56, w_a=35.73, w_m=2.28, group_width=16)),
    ("regnety_400mf", dict(depth=16, w_0=48, w_a=27.89, w_m=2.09, group_width=8)),
    ("regnety_800mf", dict(depth=14, w_0=56, w_a=38.84, w_m=2.4, group_width=16)),
])
def test_presets_follow_the_papers_width_rule(preset, args):
    spec = get_spec(preset)
    assert design(**args) == (spec.depths, spec.widths, spec.group_width)


@pytest.mark.parametrize("changes, message", [
    (dict(group_width=24), "group_width 24 does not divide stage1's inner width 32"),
    (dict(depths=(1, 2)), "depths, widths and strides must have the same length"),
    (dict(se_ratio=1.5), r"se_ratio must be in \[0.0, 1.0\), got 1.5"),
    (dict(input_shape=(32, 32)), "input_shape must be 3-D"),
    (dict(activation="tanhh"), "activation must be one of"),
])
def test_regnet_fields_are_validated_by_name(changes, message):
    with pytest.raises(SpecError, match=message):
        RegNetSpec(**changes)


def test_the_cli_lists_shows_and_builds_a_regnet(capsys):
    assert main(["list", "regnet*"]) == 0
    out = capsys.readouterr().out
    assert "regnety_400mf_cifar" in out and "group width 8, SE 0.25" in out
    assert main(["show", "regnety_400mf_cifar"]) == 0
    out = capsys.readouterr().out
    assert "3x3/1 same + BN + relu" in out and "trainable params:     3,907,554" in out
    assert main(["show", "regnetx_400mf", "--set", "group_width=24"]) == 2
    assert "does not divide" in capsys.readouterr().err


def test_a_regnet_is_tuned_over_its_own_knobs():
    hm = ZooHyperModel("regnety_400mf_cifar", dataset_shape=((32, 32, 3), 10))
    assert set(hm.search_space) == {"width", "depth", "group_width", "se", "lr", "weight_decay", "batch_size"}
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    hp.values.update(width=0.5, group_width=16, se=0.0)
    spec = hm.spec_for(hp)
    assert isinstance(spec, RegNetSpec) and spec.widths == (32, 64, 112, 224) and spec.se_ratio == 0
    assert zoo.build(spec).output_shape == (None, 10)
