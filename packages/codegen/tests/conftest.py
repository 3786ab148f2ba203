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
from lamina.dtype import DType, dtypes, to_numpy_dtype
from lamina.uop import AxisKind, Ops, UOp, run_kernel, toposort

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


def openmp_flags(compiler: str, directory: Path) -> tuple[str, ...]:
    """("-fopenmp",) where `compiler` links it; else () (clang without libomp), the pragmas then plain loops."""
    probe = directory / "probe.c"
    probe.write_text("int main(void) { return 0; }\n")
    result = subprocess.run([compiler, "-fopenmp", str(probe), "-o", str(directory / "probe")], check=False)
    return ("-fopenmp",) if result.returncode == 0 else ()


def matmul(n: int, k: int, m: int, dtype: DType = dtypes.float32) -> UOp:
    rows, columns, inner = loop(n, 0), loop(m, 1), reduce_range(k, 2)
    product = load(1, dtype, rows * k + inner) * load(2, dtype, inner * m + columns)
    return kernel(rows * m + columns, reduce(Ops.ADD, product, inner))


def matmul_transposed(n: int, k: int, m: int) -> UOp:
    rows, columns, inner = loop(n, 0), loop(m, 1), reduce_range(k, 2)
    product = load(1, dtypes.float32, rows * k + inner) * load(2, dtypes.float32, columns * k + inner)
    return kernel(rows * m + columns, reduce(Ops.ADD, product, inner))


def panel_matmul(n: int, k: int, m: int, panel: int) -> UOp:
    # B stored as (m / panel, k, panel): each panel of columns contiguous over all k rows.
    rows, columns, inner = loop(n, 0), loop(m, 1), reduce_range(k, 2)
    b_address = (columns // panel) * (k * panel) + inner * panel + columns % panel
    product = load(1, dtypes.float32, rows * k + inner) * load(2, dtypes.float32, b_address)
    return kernel(rows * m + columns, reduce(Ops.ADD, product, inner))


def panel_copy(depth: int, columns: int, panel: int) -> UOp:
    # out[p, k, c] = b[k, p * panel + c]: a (depth, columns) matrix copied into panels of `panel` columns.
    panels, row, column = loop(columns // panel, 0), loop(depth, 1), loop(panel, 2)
    value = load(1, dtypes.float32, row * columns + panels * panel + column)
    return kernel((panels * depth + row) * panel + column, value)


def row_reduce(op: Ops, n: int, k: int, dtype: DType = dtypes.float32) -> UOp:
    rows, inner = loop(n, 0), reduce_range(k, 1)
    value = load(1, dtype, rows * k + inner)
    return kernel(rows, reduce(op, value.alu(Ops.EXP) if op is Ops.ADD and dtype.is_float else value, inner))


def column_sum(n: int, m: int) -> UOp:
    columns, inner = loop(m, 0), reduce_range(n, 1)
    return kernel(columns, reduce(Ops.ADD, load(1, dtypes.float32, inner * m + columns), inner))


def elementwise(n: int, m: int) -> UOp:
    rows, columns = loop(n, 0), loop(m, 1)
    address = rows * m + columns
    value = (load(1, dtypes.float32, address) * 2.0).alu(Ops.EXP2).maximum(load(2, dtypes.float32, address))
    return kernel(address, value)


def convolution(channels_out: int, channels: int, width: int, taps: int) -> UOp:
    out, column = loop(channels_out, 0), loop(width, 1)
    channel, tap = reduce_range(channels, 2), reduce_range(taps, 3)
    padded = width + taps - 1
    pixel = load(1, dtypes.float32, channel * padded + column + tap)
    weight = load(2, dtypes.float32, (out * channels + channel) * taps + tap)
    return kernel(out * width + column, reduce(Ops.ADD, pixel * weight, channel, tap))


def padded_convolution(channels_out: int, channels: int, width: int, taps: int) -> UOp:
    """out[o, w] = sum over (c, t) of x[c, w + t - taps // 2] * weight[o, c, t], x zero outside its row."""
    out, column = loop(channels_out, 0), loop(width, 1)
    channel, tap = reduce_range(channels, 2), reduce_range(taps, 3)
    position = column + tap - taps // 2
    valid = position.lt(0).alu(Ops.NOT) & position.lt(width)
    pixel = load(1, dtypes.float32, channel * width + position, valid)
    weight = load(2, dtypes.float32, (out * channels + channel) * taps + tap)
    return kernel(out * width + column, reduce(Ops.ADD, pixel * weight, channel, tap))


def weight_gradient(channels_out: int, channels: int, width: int, taps: int, rows: int = 1) -> UOp:
    """A convolution's weight gradient as the scheduler writes it: out[o, c, t] = sum over (row, w) of g[o, row, w]
    times window t of x at (row, w), each window a stack (a sum) of one masked load per tap, valid only at its
    own tap. With `rows` > 1 the reduction runs over rows and columns, which are contiguous together."""
    out, channel, tap = loop(channels_out, 0), loop(channels, 1), loop(taps, 2)
    column = reduce_range(width, 4)
    row = reduce_range(rows, 3) if rows > 1 else None
    pixel = column if row is None else row * width + column
    grad = load(1, dtypes.float32, out * rows * width + pixel)
    window: UOp | None = None
    for each in range(taps):
        position = column + (each - taps // 2)
        valid = tap.eq(each) & (position.lt(0)).alu(Ops.NOT) & position.lt(width)
        term = load(2, dtypes.float32, channel * rows * width + pixel + (each - taps // 2), valid)
        window = term if window is None else window + term
    assert window is not None
    loops = (column,) if row is None else (row, column)
    return kernel((out * channels + channel) * taps + tap, reduce(Ops.ADD, grad * window, *loops))


def random_buffers(ast: UOp, rng: np.random.Generator) -> list[Array]:
    """Zeroed outputs and random inputs sized to cover every address the kernel touches."""
    arrays: list[Array] = []
    parameters = sorted((node for node in toposort(ast) if node.op is Ops.DEFINE_GLOBAL), key=lambda p: p.arg)
    for parameter in parameters:
        dtype = parameter.scalar_dtype
        size = 1 << 16
        if parameter.arg == 0:
            arrays.append(np.zeros(size, to_numpy_dtype(dtype)))
        elif dtype.is_float:
            arrays.append(rng.uniform(-1.0, 1.0, size).astype(to_numpy_dtype(dtype)))
        else:
            arrays.append(rng.integers(-5, 6, size).astype(to_numpy_dtype(dtype)))
    return arrays


def interpret(ast: UOp) -> Array:
    """The kernel run by the reference interpreter on `random_buffers`; its output buffer."""
    buffers = random_buffers(ast, np.random.default_rng(0))
    run_kernel(ast, buffers)
    return buffers[0]


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
    openmp_flags = staticmethod(openmp_flags)
    matmul = staticmethod(matmul)
    matmul_transposed = staticmethod(matmul_transposed)
    panel_matmul = staticmethod(panel_matmul)
    panel_copy = staticmethod(panel_copy)
    row_reduce = staticmethod(row_reduce)
    column_sum = staticmethod(column_sum)
    elementwise = staticmethod(elementwise)
    convolution = staticmethod(convolution)
    padded_convolution = staticmethod(padded_convolution)
    weight_gradient = staticmethod(weight_gradient)
    random_buffers = staticmethod(random_buffers)
    interpret = staticmethod(interpret)


@pytest.fixture
def kit() -> KernelKit:
    return KernelKit()
