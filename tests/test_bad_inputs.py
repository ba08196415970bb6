"""A standing guard: every command of the CLI, fed generated bad inputs (unknown names, wrong types, empty,
huge, binary, truncated files, folders), answers with one `zoo: error: ...` line and exit status 2, never
a traceback. The cases are generated from the parser itself, so a new command or option is covered as
soon as it exists (a new command only needs a BASE entry: arguments that are valid up to the bad one)."""

import zipfile

import pytest

from zoo.cli import make_parser, main

NAMES = {"unknown": "nosuch_thing", "empty": "", "huge": "a" * 10_000, "binary": "\x00\xff\x01",
         "glob": "*?[", "path-like": "../../etc/passwd"}
FILES = {"binary": bytes(range(256)) * 64, "empty": b"", "truncated-zip": b"PK\x03\x04\x14\x00\x00\x00",
         "truncated-json": b'{"name": "x", "depths": [2, 2', "text": b"hello\n", "utf16": "é".encode("utf-16")}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    made = {}
    for label, content in FILES.items():
        for suffix in ("", ".json", ".toml", ".keras", ".csv", ".parquet", ".png"):
            path = root / f"{label}{suffix}"
            path.write_bytes(content)
            made[label, suffix] = path
    (root / "folder.keras").mkdir()
    made["folder", ""] = root / "folder.keras"
    zipped = root / "notamodel.keras"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("readme.txt", "no model here")
    made["zip", ".keras"] = zipped
    made["out"] = root / "out"
    return made


def base(command: str, files) -> list[str]:
    """Arguments valid up to the bad one, chosen so that nothing trains if a case is accepted by mistake."""
    out = str(files["out"])
    return {"list": [], "show": ["resnet_tiny"], "recipes": [], "train": ["resnet_tiny", "--dataset", "nosuch_data"],
            "bench": ["quick", "--dry-run", "--out", out], "tune": ["--base", "resnet_tiny", "--dataset", "nosuch_data"],
            "throughput": ["nosuch_variant"], "compare": [str(files["binary", ".csv"]), str(files["empty", ".csv"])],
            "predict": [str(files["binary", ".keras"]), str(files["binary", ".png"])],
            "export": [str(files["binary", ".keras"]), "--format", "onnx"]}[command]


def commands() -> dict:
    parser = make_parser()
    return next(a for a in parser._actions if a.dest == "command").choices


def option_cases(files) -> list[list[str]]:
    """Every typed or choice option of every command, given a value no type accepts."""
    cases = []
    for command, sub in commands().items():
        cases.append([command, *base(command, files), "--no-such-option"])
        for action in sub._actions:
            if not action.option_strings or action.nargs == 0 or (action.type is None and not action.choices):
                continue
            for value in ("x!", ""):
                cases.append([command, *base(command, files), action.option_strings[-1], value])
    return cases


def name_cases(files) -> list[list[str]]:
    """Every name a command takes, replaced by an unknown, empty, huge, binary or glob-like one."""
    cases = []
    for name in NAMES.values():
        cases += [["list", name] if name else ["list", "nosuch*"], ["show", name], ["train", name],
                  ["bench", name, "--dry-run", "--out", str(files["out"])], ["tune", "--base", name],
                  ["throughput", name], ["show", "resnet_tiny", "--set", f"{name or 'x'}=1"],
                  ["train", "resnet_tiny", "--recipe", name], ["train", "resnet_tiny", "--knob", f"{name or 'x'}=1"]]
    return cases


def file_cases(files) -> list[list[str]]:
    """Every file a command reads, replaced by a binary, empty, truncated or misnamed one, or a folder."""
    cases = []
    out = str(files["out"])
    for label in FILES:
        cases += [["show", "--spec", str(files[label, ".json"])], ["train", "--spec", str(files[label, ".json"])],
                  ["bench", str(files[label, ".toml"]), "--dry-run", "--out", out],
                  ["compare", str(files[label, ".csv"]), str(files["binary", ".parquet"])],
                  ["compare", str(files[label, ".parquet"]), str(files[label, ".csv"])],
                  ["predict", str(files[label, ".keras"]), str(files["binary", ".png"])],
                  ["predict", str(files["zip", ".keras"]), str(files[label, ".png"])]]
    folder = str(files["folder", ""])
    cases += [["predict", folder, "x.png"], ["show", "--spec", folder], ["bench", folder, "--dry-run"],
              ["compare", folder, folder], ["bench", "quick", "--dry-run", "--out", str(files["binary", ""])]]
    return cases


def problem(argv: list[str], capsys) -> str | None:
    """What is wrong with the answer to `argv` (None: one error line, exit status 2, no traceback)."""
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    except Exception as exc:  # escaped the CLI: the worst answer
        return f"{argv[:4]}: raised {type(exc).__name__}: {exc}"[:300]
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    if "Traceback" in captured.err + captured.out:
        return f"{argv[:4]}: traceback"
    if code != 2 or len(lines) != 1 or not lines[0].startswith("zoo") or ": error: " not in lines[0]:
        return f"{argv[:4]}: exit {code}, {len(lines)} stderr line(s): {captured.err[-300:]!r}"
    return None


def check_all(cases, capsys) -> None:
    problems = [p for p in (problem(argv, capsys) for argv in cases) if p]
    assert not problems, f"{len(problems)} of {len(cases)} cases:\n" + "\n".join(problems)


def test_every_command_has_a_base(files):
    assert set(commands()) <= {"list", "show", "recipes", "train", "bench", "tune", "throughput", "compare", "predict",
                               "export"}, \
        "a new command: add its valid leading arguments to base() so the guard covers it"


def test_bad_options_get_one_line(files, capsys, offline, monkeypatch):
    monkeypatch.setenv("ZOO_DATA_DIR", str(files["out"]))
    check_all(option_cases(files), capsys)


def test_bad_names_get_one_line(files, capsys, offline):
    check_all(name_cases(files), capsys)


def test_bad_files_get_one_line(files, capsys, offline):
    check_all(file_cases(files), capsys)


def test_the_guard_generates_enough_cases(files):
    assert len(option_cases(files)) >= 75 and len(name_cases(files)) >= 50 and len(file_cases(files)) >= 45
