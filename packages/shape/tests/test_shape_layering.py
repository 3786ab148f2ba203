"""lamina.shape sits just above lamina.dtype: its sources import no other lamina package, and not numpy."""

from __future__ import annotations

import ast
from pathlib import Path

import lamina.shape

_SOURCES = Path(__file__).resolve().parent.parent / "src" / "lamina" / "shape"
_ALLOWED = ("lamina.shape", "lamina.dtype")


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            names.add(node.module)
    return names


def test_shape_imports_only_itself_and_dtype_from_lamina() -> None:
    sources = sorted(_SOURCES.glob("*.py"))
    assert sources
    for path in sources:
        imported = _imported_modules(path)
        foreign = {m for m in imported if m.split(".")[0] in ("lamina", "numpy") and not m.startswith(_ALLOWED)}
        assert not foreign, f"{path.name} imports {sorted(foreign)}"


def test_public_surface_is_exactly_all() -> None:
    public = {name for name in vars(lamina.shape) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(lamina.shape, name)).__name__ == "module"}
    assert public - modules == set(lamina.shape.__all__)
