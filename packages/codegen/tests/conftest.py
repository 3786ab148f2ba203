"""Helpers for the codegen tests: hand-built kernel ASTs, and compiling their C with gcc or clang.

Codegen may not import the scheduler, so kernels are written here as UOps directly: `param`,
`load` and `kernel` build the DEFINE_GLOBAL/INDEX/LOAD/STORE/SINK scaffolding, `loop` and
`reduce_range` the RANGEs. `compile_and_run` compiles a kernel's C with `-Wall -Werror` into a shared
library and calls it through ctypes on numpy arrays; `compilers` lists the C compilers installed.
"""

from __future__ import annotations

import ctypes
import itertools
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pytest

from lamina.codegen import generate_c
from lamina.dtype import DType, dtypes
from lamina.uop import AxisKind, Ops, UOp

Array = npt.NDArray[Any]

COMPILERS: Final = ("gcc", "clang")
_builds = itertools.count()
FLAGS: Final = ("-O2", "-std=c11", "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror")


def param(position: int, dtype: DType) -> UOp:
    return UOp(Ops.DEFINE_GLOBAL, dtype.ptr(), (), position)


def load(position: int, dtype: DType, address: UOp, valid: UOp | None = None) -> UOp:
    """The value of element `address` of parameter `position` (zero where `valid` is false)."""
    pointer = param(position, dtype)
    sources = (pointer, address) if valid is None else (pointer, address, valid)
    return UOp(Ops.LOAD, dtype, (UOp(Ops.INDEX, pointer.dtype, sources),))


def kernel(address: UOp, value: UOp, name: str | None = None) -> UOp:
    """A SINK storing `value` at `address` of parameter 0 (whose dtype is the value's)."""
    pointer = param(0, value.scalar_dtype)
    store = UOp(Ops.STORE, dtypes.void, (UOp(Ops.INDEX, pointer.dtype, (pointer, address)), value))
    return UOp(Ops.SINK, dtypes.void, (store,), name)


def loop(size: int, axis: int) -> UOp:
    return UOp.range(size, axis, AxisKind.LOOP)


def reduce_range(size: int, axis: int) -> UOp:
    return UOp.range(size, axis, AxisKind.REDUCE)


def reduce(op: Ops, value: UOp, *ranges: UOp) -> UOp:
    return UOp(Ops.REDUCE, value.scalar_dtype, (value, *ranges), op)


def full_sum(n: int, m: int) -> UOp:
    """A kernel summing all n x m float32 elements of parameter 1 into element 0 of parameter 0."""
    outer, inner = reduce_range(n, 0), reduce_range(m, 1)
    total = reduce(Ops.ADD, load(1, dtypes.float32, outer * m + inner), outer, inner)
    return kernel(UOp.const(dtypes.index, 0), total)


def build_library(compiler: str, source: str, directory: Path) -> Path:
    """`source` compiled with `compiler` and FLAGS into a shared library; warnings fail the compile."""
    # A fresh path per build: dlopen hands back an already loaded library for a path it has seen.
    number = next(_builds)
    source_path = directory / f"kernel_{number}.c"
    library = directory / f"kernel_{number}_{compiler}.so"
    source_path.write_text(source)
    result = subprocess.run(
        [compiler, *FLAGS, str(source_path), "-o", str(library), "-lm"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"{compiler} rejected the kernel:\n{result.stderr}\n{source}")
    return library


def compile_and_run(compiler: str, ast: UOp, buffers: Sequence[Array], directory: Path) -> None:
    """Compile `ast`'s C with `compiler` and run it on `buffers` (numbered by DEFINE_GLOBAL arg, written in place)."""
    generated = generate_c(ast)
    library = ctypes.CDLL(str(build_library(compiler, generated.source, directory)))
    function = getattr(library, generated.name)
    function.argtypes = [ctypes.c_void_p] * generated.buffer_count
    function.restype = None
    # The C function takes only the parameters the kernel uses, in DEFINE_GLOBAL order.
    function(*(buffers[parameter.arg].ctypes.data for parameter in generated.program.parameters))


@pytest.fixture(params=COMPILERS)
def compiler(request: pytest.FixtureRequest) -> str:
    """Each C compiler in turn; a missing one is skipped, not failed."""
    name = str(request.param)
    if shutil.which(name) is None:
        pytest.skip(f"{name} is not installed")
    return name


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


class KernelKit:
    """The helpers above as one fixture: test files cannot import conftest, but may type against it."""

    param = staticmethod(param)
    load = staticmethod(load)
    kernel = staticmethod(kernel)
    loop = staticmethod(loop)
    reduce_range = staticmethod(reduce_range)
    reduce = staticmethod(reduce)
    full_sum = staticmethod(full_sum)
    compile_and_run = staticmethod(compile_and_run)
    build_library = staticmethod(build_library)


@pytest.fixture
def kit() -> KernelKit:
    return KernelKit()
