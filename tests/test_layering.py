"""The workspace's layering, enforced: each package imports only the layers below it.

Reads every member's pyproject (its declared lamina dependencies) and every Python file it ships
or tests, and fails on an import of a layer that is not below it, an import that is not declared,
a declared dependency that points upward, or a cycle.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path
from typing import Final

import pytest

ROOT: Final = Path(__file__).resolve().parents[1]
PACKAGES: Final = ROOT / "packages"

# DEVELOPERS.md's table: the layers each package may import directly; lower layers come transitively.
DIRECT_LAYERS: Final[dict[str, set[str]]] = {
    "dtype": set(),
    "shape": {"dtype"},
    "uop": {"dtype", "shape"},
    "rewrite": {"uop"},
    "schedule": {"uop", "rewrite", "shape"},
    "codegen": {"uop", "rewrite"},
    "device": {"dtype"},
    "gradient": {"uop", "rewrite"},
    "engine": {"dtype", "uop", "rewrite", "schedule", "codegen", "device"},
    "tensor": {"dtype", "shape", "uop", "rewrite", "schedule", "codegen", "device", "gradient", "engine"},
    "nn": {"tensor"},
    "llm": {"nn", "tensor"},
    "dataset": set(),
}


def allowed_layers(layer: str) -> set[str]:
    """Every layer `layer` may import: its direct layers and everything below them."""
    allowed: set[str] = set()
    pending = list(DIRECT_LAYERS[layer])
    while pending:
        lower = pending.pop()
        if lower not in allowed:
            allowed.add(lower)
            pending.extend(DIRECT_LAYERS[lower])
    return allowed


def declared_layers(package_dir: Path) -> set[str]:
    project = tomllib.loads((package_dir / "pyproject.toml").read_text())["project"]
    names = (requirement.split(">")[0].split("<")[0].split("=")[0].strip() for requirement in project["dependencies"])
    return {name.removeprefix("lamina-") for name in names if name.startswith("lamina-")}


def imported_layers(path: Path) -> set[str]:
    layers: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            modules = [node.module]
        layers.update(module.split(".")[1] for module in modules if module.startswith("lamina."))
    return layers


def member_names() -> list[str]:
    return sorted(path.name for path in PACKAGES.iterdir() if (path / "pyproject.toml").exists())


def test_every_member_is_a_known_layer() -> None:
    assert set(member_names()) == set(DIRECT_LAYERS)


def test_allowed_layers_form_no_cycle() -> None:
    for layer in DIRECT_LAYERS:
        assert layer not in allowed_layers(layer), f"{layer} may (transitively) import itself"


@pytest.mark.parametrize("layer", sorted(DIRECT_LAYERS))
def test_declared_dependencies_point_downward(layer: str) -> None:
    upward = declared_layers(PACKAGES / layer) - allowed_layers(layer)
    assert not upward, f"lamina-{layer} declares dependencies on layers above or beside it: {sorted(upward)}"


@pytest.mark.parametrize("layer", sorted(DIRECT_LAYERS))
def test_imports_are_declared_and_downward(layer: str) -> None:
    package_dir = PACKAGES / layer
    declared = declared_layers(package_dir)
    for path in sorted(package_dir.rglob("*.py")):
        imported = imported_layers(path) - {layer}
        upward = imported - allowed_layers(layer)
        assert not upward, f"{path.relative_to(ROOT)} imports layers above or beside {layer}: {sorted(upward)}"
        undeclared = imported - declared
        assert not undeclared, f"{path.relative_to(ROOT)} imports {sorted(undeclared)}, undeclared in its pyproject"


def test_no_namespace_init_hides_other_packages() -> None:
    strays = [path for path in ROOT.glob("**/src/lamina/__init__.py") if ".venv" not in path.parts]
    assert not strays, f"lamina is a PEP 420 namespace; remove {strays}"


def test_checker_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "module.py"
    module.write_text("from lamina.tensor import Tensor\nimport lamina.uop.ops\n")
    assert imported_layers(module) == {"tensor", "uop"}
    assert "tensor" not in allowed_layers("uop")
