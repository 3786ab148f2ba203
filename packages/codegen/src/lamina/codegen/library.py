"""Libraries: several rendered kernels joined into one C translation unit, compiled with one compiler run.

Starting the C compiler costs more than compiling a small kernel (about 40 ms for clang, before any
code), and linking each kernel into its own shared object costs as much again, so a schedule's new
kernels are compiled together. Each rendered kernel is a complete translation unit whose helpers sit
behind include guards (see render_c), so the sources join by concatenation; kernels of one schedule
often share a name (`E_256_10` twice), so each function is renamed to its own symbol by the
preprocessor, leaving its source untouched.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

_C_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class CLibrary:
    """One translation unit; `symbols[i]` is the exported name of the i-th kernel joined into it."""

    source: str
    symbols: tuple[str, ...]


def library_symbol(name: str, position: int) -> str:
    """The exported name of kernel `name`, joined `position`-th into a library."""
    return f"{name}_k{position}"


def join_kernels(kernels: Sequence[tuple[str, str]]) -> CLibrary:
    """The library of `kernels`, each a (function name, rendered source) pair as `render_c` writes them."""
    parts: list[str] = []
    symbols: list[str] = []
    for position, (name, source) in enumerate(kernels):
        if not _C_IDENTIFIER.fullmatch(name):
            raise ValueError(f"kernel name {name!r} is not a C identifier")
        symbol = library_symbol(name, position)
        parts.extend((f"#define {name} {symbol}", source.rstrip("\n"), f"#undef {name}"))
        symbols.append(symbol)
    return CLibrary("\n".join(parts) + "\n", tuple(symbols))
