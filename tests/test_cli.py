"""`zoo list` / `zoo show` through `zoo.cli.main`, `python -m zoo` and the `zoo` console script."""

import json
import shutil
import os
import subprocess
import sys

import pytest

import zoo
from zoo.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_all(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0
    for name in zoo.list_variants():
        assert f"| {name} " in out
    assert "3x3/1 valid + BN + relu + maxpool 2/2 same" in out


def test_list_pattern_and_names_only(capsys):
    code, out, _ = run(capsys, "list", "resnet*_cifar", "--names-only")
    assert (code, out.split()) == (0, ["resnet18_cifar", "resnet34_cifar", "resnet50_cifar"])


def test_list_params(capsys):
    code, out, _ = run(capsys, "list", "resnet2*", "--params", "--source")
    assert code == 0 and "269,722" in out and "40,551,040" in out and "He et al. 2015" in out


def test_list_no_match_is_an_error(capsys):
    code, _, err = run(capsys, "list", "vgg*")
    assert code == 2 and "no variant matches 'vgg*'" in err


def test_show_prints_stage_table_and_totals(capsys):
    code, out, _ = run(capsys, "show", "resnet18_cifar10_d2l")
    assert code == 0
    assert "| stage4 | 4x4x512" in out
    assert "total params:         11,184,778" in out
    assert "trainable params:     11,176,970" in out
    assert "non-trainable params: 7,808" in out
    assert "MACs per image:       555,422,720" in out


def test_show_with_overrides(capsys):
    code, out, _ = run(capsys, "show", "resnet18", "--input-shape", "64,64,1", "--num-classes", "5",
                       "--set", "block=bottleneck", "--set", "depths=[1,1,1,1]")
    assert code == 0
    assert "input 64x64x1, 5 classes" in out and "bottleneck 1-1-1-1" in out and "| head   | 5" in out


def test_show_json_and_spec_file(capsys, tmp_path):
    code, out, _ = run(capsys, "show", "resnet20", "--json", "--num-classes", "100")
    assert code == 0 and json.loads(out)["num_classes"] == 100
    path = tmp_path / "spec.json"
    path.write_text(out)
    code, out, _ = run(capsys, "show", "--spec", str(path))
    assert code == 0 and "| head   | 100" in out


def test_show_layers(capsys):
    code, out, _ = run(capsys, "show", "resnet_tiny", "--layers")
    assert code == 0 and "stage2_block1_shortcut_conv" in out


@pytest.mark.parametrize("argv, message", [
    (["show", "resnet18_cifra"], "unknown variant 'resnet18_cifra'; did you mean resnet18_cifar"),
    (["show", "resnet18", "--input-shape", "8,8,3"], "too small for this network: stage3"),
    (["show", "resnet18", "--set", "widths=[64,0,256,512]"], "widths[1] must be an integer >= 1, got 0"),
    (["show", "resnet18", "--set", "head=mlp"], "head must be one of"),
    (["show", "resnet18", "--set", "shortcut=proj"], "shortcut must be one of"),
    (["show", "resnet18", "--num-classes", "0"], "num_classes must be >= 1, got 0"),
    (["show", "resnet18", "--input-shape", "32,32"], "input_shape must be 3-D"),
    (["show", "resnet18", "--set", "stem_kernel=4"], "stem_kernel must be odd"),
    (["show", "resnet18", "--set", "depth=[1,1]"], "did you mean depths"),
    (["show", "--spec", "/no/such/spec.json"], "cannot read spec file"),
    (["show"], "give a variant NAME or --spec FILE"),
])
def test_show_bad_input_exits_2_with_one_line(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("zoo: error: ") and message in err and "Traceback" not in err


def test_python_dash_m_and_console_script():
    result = subprocess.run([sys.executable, "-m", "zoo", "show", "resnet18_cifra"], capture_output=True,
                            text=True)
    assert result.returncode == 2 and "did you mean resnet18_cifar" in result.stderr
    assert "Traceback" not in result.stderr
    script = shutil.which("zoo")
    assert script, "the `zoo` console script is not installed (pip install -e .)"
    result = subprocess.run([script, "list", "resnet1*", "--names-only"], capture_output=True, text=True)
    assert result.returncode == 0 and "resnet110" in result.stdout.split()


def test_train_refuses_flags_that_do_not_apply(capsys):
    code, out, err = run(capsys, "train", "resnet_tiny", "--num-classes", "3", "--input-shape", "64,64,1")
    assert code == 2 and out == "" and "Traceback" not in err
    assert "--input-shape and --num-classes do not apply to zoo train: the dataset sets" in err


def test_the_backend_s_import_time_log_lines_are_hidden_unless_verbose():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # conftest sets it: the user's wins
    result = subprocess.run([sys.executable, "-m", "zoo", "list", "resnet20", "--params"], capture_output=True,
                            text=True, env=env)
    assert result.returncode == 0 and "resnet20" in result.stdout
    assert "cudart_stub" not in result.stderr and "absl::InitializeLog" not in result.stderr
    assert "cuda" not in result.stderr.lower(), result.stderr
