"""lamina.dataset stands alone: its modules import the standard library, numpy, tqdm and themselves, nothing else."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

_SOURCE_DIR = Path(__file__).resolve().parents[1] / "src" / "lamina" / "dataset"
_ALLOWED_THIRD_PARTY = frozenset({"numpy", "tqdm"})


def _imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            modules.add(node.module)
    return modules


def test_dataset_imports_only_the_standard_library_numpy_tqdm_and_itself() -> None:
    sources = sorted(_SOURCE_DIR.glob("*.py"))
    assert sources
    for path in sources:
        for module in _imported_modules(path):
            top = module.partition(".")[0]
            allowed = (
                module == "lamina.dataset"
                or module.startswith("lamina.dataset.")
                or top in _ALLOWED_THIRD_PARTY
                or (top in sys.stdlib_module_names and top != "lamina")
            )
            assert allowed, f"{path.name} imports {module}"


def test_no_namespace_package_init_hides_the_other_layers() -> None:
    assert not (_SOURCE_DIR.parent / "__init__.py").exists()
