"""The dtype layer is the bottom of lamina: its sources import no other lamina package."""

from __future__ import annotations

import ast
from pathlib import Path

_SOURCES = Path(__file__).resolve().parent.parent / "src" / "lamina" / "dtype"


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            names.add(node.module)
    return names


def test_dtype_imports_no_other_lamina_layer() -> None:
    sources = sorted(_SOURCES.glob("*.py"))
    assert sources
    for path in sources:
        foreign = {m for m in _imported_modules(path) if m.startswith("lamina") and not m.startswith("lamina.dtype")}
        assert not foreign, f"{path.name} imports {sorted(foreign)}"
