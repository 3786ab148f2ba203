"""The rewrite layer imports only the layers below it: lamina.uop, lamina.dtype and lamina.shape."""

from __future__ import annotations

import ast
from pathlib import Path

_SOURCES = Path(__file__).resolve().parent.parent / "src" / "lamina" / "rewrite"
_ALLOWED = ("lamina.rewrite", "lamina.uop", "lamina.dtype", "lamina.shape")


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            names.add(node.module)
    return names


def test_rewrite_imports_only_lower_layers() -> None:
    sources = sorted(_SOURCES.glob("*.py"))
    assert sources
    for path in sources:
        lamina = {m for m in _imported_modules(path) if m.startswith("lamina")}
        foreign = {m for m in lamina if not m.startswith(_ALLOWED)}
        assert not foreign, f"{path.name} imports {sorted(foreign)}"


def test_no_namespace_init_hides_other_packages() -> None:
    assert not (_SOURCES.parent / "__init__.py").exists()
