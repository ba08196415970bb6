"""The variant table: names, ordering, globbing, suggestions, provenance. No Keras needed."""

import pytest

import zoo
from zoo.models.registry import SPEC_TYPES, VARIANTS, family_of, natural_key, resolve_spec, suggest

SOURCE_ARTICLE_VARIANTS = [
    "resnet18_cifar10_tf2", "resnet34_cifar10_tf2", "resnet18_cifar100_tf2", "resnet34_cifar100_tf2",
    "resnet18_mnist_functional", "resnet18_cifar10_d2l",
]
REQUIRED = SOURCE_ARTICLE_VARIANTS + [
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "resnet18_cifar", "resnet34_cifar", "resnet50_cifar",
    "resnet20", "resnet32", "resnet44", "resnet56", "resnet110",
    "preact_resnet18", "resnet18d", "wide_resnet28_10",
    "resnext50_32x4d", "resnext101_32x8d", "wide_resnet50_2", "seresnet50", "seresnext50_32x4d",
    "resnext29_8x64d", "resnext29_32x4d", "seresnet20",
]


@pytest.mark.parametrize("name", REQUIRED)
def test_required_names_are_registered(name):
    assert name in VARIANTS


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_registry_entries_are_named_specs_with_a_source(name):
    spec = VARIANTS[name]
    assert isinstance(spec, SPEC_TYPES) and spec in family_of(spec).presets.values()
    assert spec.name == name
    assert spec.source, f"{name} has no source"


def test_list_is_natural_sorted_and_complete():
    names = zoo.list_variants()
    assert sorted(names) == sorted(VARIANTS)
    he = [n for n in names if n in ("resnet20", "resnet32", "resnet44", "resnet56", "resnet110")]
    assert he == ["resnet20", "resnet32", "resnet44", "resnet56", "resnet110"]
    assert natural_key("resnet9") < natural_key("resnet10")


def test_list_glob():
    assert zoo.list_variants("resnet*_cifar") == ["resnet18_cifar", "resnet34_cifar", "resnet50_cifar"]
    assert zoo.list_variants("*tf2") == [
        "resnet18_cifar10_tf2", "resnet18_cifar100_tf2", "resnet34_cifar10_tf2", "resnet34_cifar100_tf2"]
    assert zoo.list_variants("nothing*") == []


def test_unknown_name_suggests_close_names():
    with pytest.raises(zoo.UnknownVariantError, match=r"unknown variant 'resnet18_cifra'.*resnet18_cifar"):
        zoo.get_spec("resnet18_cifra")
    assert {"resnet50", "resnet56"} <= set(suggest("resnet5"))
    assert "wide_resnet28_10" in suggest("wide")


def test_unknown_name_is_a_value_error():
    with pytest.raises(ValueError):
        zoo.get_spec("nope")


def test_resolve_spec_applies_overrides():
    spec = resolve_spec("resnet18", input_shape=(64, 64, 3), num_classes=7, block="bottleneck")
    assert (spec.input_shape, spec.num_classes, spec.block) == ((64, 64, 3), 7, "bottleneck")
    assert spec.name == "resnet18"
    assert VARIANTS["resnet18"].block == "basic"  # registry untouched


def test_resolve_spec_rejects_unknown_override():
    with pytest.raises(zoo.SpecError, match=r"'blok' \(did you mean block\?\)"):
        resolve_spec("resnet18", blok="basic")


def test_resolve_spec_rejects_non_spec():
    with pytest.raises(zoo.SpecError, match=r"variant name or a spec \(ResNetSpec, RegNetSpec\), got int"):
        resolve_spec(3)


def test_public_functions_are_not_shadowed_by_submodules():
    import importlib
    import pkgutil

    for module in pkgutil.walk_packages(zoo.__path__, "zoo."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    for name in ("build", "train", "load_dataset", "count_macs", "get_spec", "list_variants", "resolve_spec"):
        assert callable(getattr(zoo, name)), name
