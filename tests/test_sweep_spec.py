"""Architecture fields as sweep axes: `spec = {...}` in a group and `zoo bench --set`, planned, validated,
run and recorded."""

import json

import pytest
from test_bench import DIGITS, sweep_text

from zoo.cli import main
from zoo.errors import ZooError
from zoo.experiments.bench import run_sweep
from zoo.experiments.sweeps import parse_sweep


def test_spec_axes_multiply_the_runs_and_fixed_values_do_not():
    sweep = parse_sweep(sweep_text(DIGITS + '\nspec = { stem_kernel = [3, 5], head = ["gap", "gmp"], '
                                            'shortcut = "conv" }'), name="s")
    assert len(sweep.runs) == 4 and len({r.run_id for r in sweep.runs}) == 4
    assert sorted((r.spec["stem_kernel"], r.spec["head"]) for r in sweep.runs) == [
        (3, "gap"), (3, "gmp"), (5, "gap"), (5, "gmp")]
    assert all(r.spec["shortcut"] == "conv" for r in sweep.runs)
    assert "spec head=gap shortcut=conv stem_kernel=3" in sweep.runs[0].label
    plain = parse_sweep(sweep_text(DIGITS), name="p").runs[0]
    assert plain.spec == {} and plain.model() == "resnet_tiny"  # the registered variant keeps its run id
    assert sweep.runs[0].model().head == "gap" and sweep.runs[0].model().name == "resnet_tiny"


def test_list_valued_fields_are_axes_only_as_lists_of_lists():
    fixed = parse_sweep(sweep_text(DIGITS + "\nspec = { depths = [1, 1, 2] }"), name="f")
    assert [r.spec["depths"] for r in fixed.runs] == [[1, 1, 2]]
    axis = parse_sweep(sweep_text(DIGITS + "\nspec = { depths = [[1, 1, 1], [1, 1, 2]] }"), name="a")
    assert sorted(r.spec["depths"] for r in axis.runs) == [[1, 1, 1], [1, 1, 2]]


@pytest.mark.parametrize("spec, message", [
    ("{ stem_kernel = [3, 4] }", r"resnet_tiny with spec \{\"stem_kernel\": 4\}: stem_kernel must be odd"),
    ("{ stem_kernal = 3 }", r"unknown ResNetSpec field\(s\): 'stem_kernal' \(did you mean stem_kernel"),
    ("{ head = [] }", "spec head must be a value or a non-empty list of values"),
    ("5", "spec must be a table of FIELD = value"),
])
def test_bad_spec_axes_are_refused_at_planning(spec, message):
    with pytest.raises(ZooError, match=message):
        parse_sweep(sweep_text(DIGITS + f"\nspec = {spec}"), name="bad")


def test_set_fixes_a_field_over_the_files_axis():
    sweep = parse_sweep(sweep_text(DIGITS + '\nspec = { head = ["gap", "flatten"] }'), name="s",
                        spec_overrides={"head": "gmp"})
    assert [r.spec for r in sweep.runs] == [{"head": "gmp"}]


def test_spec_runs_record_their_fields_and_whole_spec(offline, tmp_path, capsys):
    sweep = parse_sweep(sweep_text(DIGITS + '\nspec = { head = ["gap", "gmp"] }'), name="s")
    table = run_sweep(sweep, out=tmp_path / "t", verbose=0, log=lambda line: None)
    assert table["status"].tolist() == ["ok", "ok"]
    assert sorted(json.loads(v)["head"] for v in table["spec_overrides"]) == ["gap", "gmp"]
    for run_id, text in zip(table["run_id"], table["spec_overrides"]):
        whole = json.loads((tmp_path / "t" / "histories" / f"{run_id}.spec.json").read_text())
        assert whole["head"] == json.loads(text)["head"] and whole["name"] == "resnet_tiny"
    assert "spec_overrides" in (tmp_path / "t" / "results.md").read_text()
    path = tmp_path / "s.toml"
    path.write_text(sweep_text(DIGITS))
    assert main(["bench", str(path), "--set", "head=gmp", "--dry-run", "--out", str(tmp_path / "u")]) == 0
    assert "spec head=gmp" in capsys.readouterr().out
    assert main(["bench", str(path), "--set", "head=pool", "--dry-run", "--out", str(tmp_path / "u")]) == 2
    assert "head must be one of 'gap', 'gmp', 'flatten', got 'pool'" in capsys.readouterr().err


def test_compare_tells_a_changed_architecture_from_the_variant():
    import pandas as pd

    from zoo.experiments.compare import compare

    rows = pd.DataFrame({"variant": ["v"] * 4, "dataset": "d", "recipe": "r", "seed": [0, 1, 0, 1],
                         "top1": [0.90, 0.91, 0.80, 0.81],
                         "spec_overrides": [None, None, '{"head": "gmp"}', '{"head": "gmp"}']})
    result = compare({"A": rows, "B": rows.assign(top1=rows["top1"] + 0.01)})
    assert result.keys == ["variant", "spec_overrides", "dataset", "recipe"] and len(result.table) == 2
    plain = compare({"A": rows.iloc[:2].drop(columns="spec_overrides"), "B": rows.iloc[:2]})
    assert plain.keys == ["variant", "dataset", "recipe"] and len(plain.table) == 1
