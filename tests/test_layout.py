"""The package layout is the architecture: `zoo/models` <- `zoo/data` <- `zoo/training` <-
`zoo/experiments` <- `zoo/cli`, with imports one way. A module may import its own layer and the layers
below it, never one above; the base modules under `zoo/` (errors, files, runtime, ...) sit below them all.
No Keras needed: the imports are read from the source."""

import ast
from pathlib import Path

import pytest

import zoo

PACKAGE = Path(zoo.__file__).parent
LAYERS = ("models", "data", "training", "experiments", "cli")  # bottom to top, above the base
BASE = {"__init__", "__main__", "backends", "environment", "errors", "files", "markdown", "quiet", "runtime"}


def layer(module: str) -> int:
    """0 for the base (and `zoo` itself), then 1.. for the layers in `LAYERS` order."""
    parts = module.split(".")
    return LAYERS.index(parts[1]) + 1 if len(parts) > 1 and parts[1] in LAYERS else 0


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    return ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)


def imported(tree: ast.AST):
    """(line, module) of every zoo import in a module, function-local ones included."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "zoo")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "zoo":
            for alias in node.names:  # `from zoo.models import blocks` imports zoo.models.resnet.blocks
                candidate = f"{node.module}.{alias.name}"
                known = (PACKAGE.parent / Path(*candidate.split("."))).with_suffix(".py").exists()
                yield node.lineno, candidate if known else node.module


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_imports_go_one_way(path):
    source = module_name(path)
    if source in ("zoo", "zoo.__main__"):
        return  # the facade and the entry point stand above every layer
    wrong = [f"line {line}: {source} imports {target} ({LAYERS[layer(target) - 1]} is above "
             f"{LAYERS[layer(source) - 1] if layer(source) else 'the base'})"
             for line, target in imported(ast.parse(path.read_text())) if layer(target) > layer(source)]
    assert not wrong, "\n".join(wrong)


def test_every_module_sits_in_a_layer():
    flat = {p.stem for p in PACKAGE.glob("*.py")}
    assert flat == BASE, f"modules outside the layer packages: {sorted(flat - BASE)}"
    assert {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()} == set(LAYERS)


def test_the_checker_sees_a_wrong_way_import():
    tree = ast.parse("def f():\n    from zoo.training.trainer import train\n")
    assert [layer(t) for _, t in imported(tree)] == [3]
    assert layer("zoo.models.resnet.spec") < layer("zoo.data.datasets") < layer("zoo.cli.bench")
