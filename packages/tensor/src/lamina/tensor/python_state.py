"""What a jitted function can read from Python, as a value to compare: the JIT's guard against stale replays.

A replay runs no Python, so every Python number the function read when it was captured (a learning
rate on an optimizer, a scale in a global dict, a closure's variable) is frozen into its kernels. This
module snapshots the plain data the function can reach: the globals its code names, its closure cells
and defaults, the object a bound method belongs to, and from those, containers and objects' attributes,
down to numbers and strings. Tensors count by identity and by the buffer they hold (a tensor the
function assigns each call is left out: the JIT itself moves it). The JIT compares the snapshot on every
replay and captures again when it differs.

Classes and modules are not walked (their attributes are code, not data), nor the functions and the
objects of libraries (the standard library, installed packages, lamina's own layers: their globals are
caches and bookkeeping, not the user's settings), though instances of lamina's classes are (an
optimizer's learning rate is one). The walk stops at a fixed depth and size, so its cost stays small.
"""

from __future__ import annotations

import functools
import sys
import sysconfig
import types
from collections.abc import Callable
from typing import Any, Final

import numpy as np

from lamina.tensor.core import TensorCore

MAX_DEPTH: Final = 6
MAX_VALUES: Final = 4096  # values snapshotted per function; what lies beyond is not compared
SMALL_ARRAY: Final = 256  # numpy arrays up to this many elements are compared by their bytes

_PLAIN_TYPES: Final = frozenset({int, float, complex, str, bytes, bool, type(None)})
_OPAQUE: Final = (type, types.ModuleType, types.BuiltinFunctionType, types.MethodWrapperType)


class _Walk:
    """One snapshot, as a flat list: each value's type, then the value (or a marker); each object visited once."""

    def __init__(self, skip_tensors: frozenset[int]) -> None:
        self.skip_tensors = skip_tensors
        self.seen: set[int] = set()
        self.out: list[object] = []

    def value(self, item: object, depth: int) -> None:
        kind = type(item)
        if kind in _PLAIN_TYPES:
            # With its type: 1, 1.0 and True differ as weak scalars. NaN equals itself here, and -0.0 differs
            # from 0.0 (by their bits).
            if kind is float and (item != item or item == 0.0):
                item = item.hex()  # type: ignore[attr-defined]
            self.out.append((kind, item))
        elif isinstance(item, TensorCore):
            self.out.append(None if id(item) in self.skip_tensors else (id(item), id(item.uop)))
        elif depth >= MAX_DEPTH or len(self.out) > MAX_VALUES or isinstance(item, _OPAQUE):
            self.out.append(id(item))
        elif id(item) in self.seen:
            self.out.append(("seen", id(item)))
        else:
            self.seen.add(id(item))
            self.out.append(kind)
            self._composite(item, depth + 1)

    def _composite(self, item: object, depth: int) -> None:
        out = self.out
        if isinstance(item, (list, tuple, set, frozenset)):
            out.append(len(item))
            for each in sorted(item, key=repr) if isinstance(item, (set, frozenset)) else item:
                self.value(each, depth)
        elif isinstance(item, dict):
            out.append(len(item))
            for key, each in item.items():
                self.value(key, depth)
                self.value(each, depth)
        elif isinstance(item, np.ndarray):
            out.append((item.dtype.str, item.shape, item.tobytes()) if item.size <= SMALL_ARRAY else id(item))
        elif isinstance(item, np.generic):
            out.append((item.dtype.str, item.tobytes()))
        elif isinstance(item, (types.FunctionType, types.MethodType, functools.partial)):
            self.function(item, depth)
        else:
            attributes = getattr(item, "__dict__", None)
            if isinstance(attributes, dict) and not _is_library(type(item).__module__, lamina_included=False):
                self.value(attributes, depth)
            else:
                out.append(id(item))

    def function(self, function: Callable[..., Any], depth: int) -> None:
        """What `function` can read: its bound object, closure, defaults and the globals its code names."""
        if isinstance(function, types.MethodType):
            self.value(function.__self__, depth)
            self.value(function.__func__, depth)
        elif isinstance(function, functools.partial):
            for each in (function.func, function.args, function.keywords):
                self.value(each, depth)
        elif not isinstance(function, types.FunctionType):
            self.value(getattr(function, "__dict__", None), depth)
        elif _is_library(function.__module__ or "", lamina_included=True):
            self.out.append(id(function))
        else:
            for cell in function.__closure__ or ():
                self.value(_cell_contents(cell), depth)
            self.value(function.__defaults__, depth)
            self.value(function.__kwdefaults__, depth)
            known = function.__globals__
            for name in _global_names(function.__code__):
                if name in known:
                    self.out.append(name)
                    self.value(known[name], depth)


# lamina's own programs are user code, and the objects of its user-facing layers (models, optimizers) hold a
# user's settings; its other layers' objects are the engine's bookkeeping.
_LAMINA_APPLICATIONS: Final = ("lamina.cli",)
_LAMINA_USER_OBJECTS: Final = ("lamina.cli", "lamina.nn", "lamina.llm")


@functools.cache
def _is_library(module: str, lamina_included: bool) -> bool:
    """Whether `module` belongs to the standard library or an installed package, or to lamina's layers: for
    functions (`lamina_included`) all but its programs, for objects all but its user-facing layers."""
    if module.startswith("lamina."):
        return not module.startswith(_LAMINA_APPLICATIONS if lamina_included else _LAMINA_USER_OBJECTS)
    root = module.partition(".")[0]
    if root in sys.stdlib_module_names or root == "builtins":
        return True
    loaded = sys.modules.get(module)
    path = getattr(loaded, "__file__", None) or ""
    return any(path.startswith(prefix) for prefix in _LIBRARY_PATHS)


_LIBRARY_PATHS: Final = tuple(
    {path for key in ("stdlib", "platstdlib", "purelib", "platlib") if (path := sysconfig.get_paths().get(key))}
)


def _cell_contents(cell: types.CellType) -> object:
    try:
        return cell.cell_contents
    except ValueError:  # a cell not yet filled
        return None


@functools.cache
def _global_names(code: types.CodeType) -> tuple[str, ...]:
    """Every name the code and the code nested in it (lambdas, comprehensions) may look up as a global."""
    names = dict.fromkeys(code.co_names)
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            names.update(dict.fromkeys(_global_names(constant)))
    return tuple(names)


def python_state(function: Callable[..., Any], skip_tensors: frozenset[int] = frozenset()) -> list[object]:
    """A snapshot of the plain Python data `function` can read (see the module); equal snapshots, equal data."""
    walk = _Walk(skip_tensors)
    walk.value(function, 0)
    return walk.out
