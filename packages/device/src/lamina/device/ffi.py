"""The cffi boundary: the only module that handles untyped cffi objects.

cffi's ABI mode loads a shared object with `dlopen` and calls its functions without compiling
any glue, which is all a kernel needs. Everything cffi returns is `Any`; it is held inside
`NativeFunction` and reached only through typed methods, so the rest of the package stays strict.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import cffi

_C_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class NativeFunction:
    """`void name(void*, ..., int, ...)` from a shared object, callable with addresses and ints."""

    def __init__(self, library_path: Path, name: str, n_pointers: int, n_ints: int) -> None:
        if not _C_IDENTIFIER.fullmatch(name):
            raise ValueError(f"kernel name {name!r} is not a C identifier")
        parameters = ["void*"] * n_pointers + ["int"] * n_ints
        self._ffi: Final[Any] = cffi.FFI()
        self._ffi.cdef(f"void {name}({', '.join(parameters) or 'void'});")
        # The library object keeps the dlopen handle, and with it the function's code, alive.
        self._library: Final[Any] = self._ffi.dlopen(str(library_path))
        try:
            self._function: Final[Any] = getattr(self._library, name)
        except AttributeError as error:
            raise ValueError(f"shared object {library_path} has no function {name!r}") from error
        self.n_pointers: Final = n_pointers
        self.n_ints: Final = n_ints

    @property
    def address(self) -> int:
        """Where the function's code starts, for native code that calls it (see graph.py)."""
        return int(self._ffi.cast("uintptr_t", self._function))

    def __call__(self, addresses: Sequence[int], ints: Sequence[int]) -> None:
        """Call the function with `addresses` as its pointer arguments followed by `ints`."""
        pointers = [self._ffi.cast("void*", address) for address in addresses]
        self._function(*pointers, *ints)
