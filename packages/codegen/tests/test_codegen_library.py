"""Kernels joined into one library compile warning-free under gcc and clang and each computes what it computes alone.

The kernels are chosen to collide: two share a function name and a helper (float max), a third
uses another helper, so the library needs both the renaming and the helpers' include guards.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pytest

from lamina.codegen import generate_c, join_kernels, library_symbol
from lamina.dtype import dtypes
from lamina.uop import Ops, UOp

if TYPE_CHECKING:
    from packages.codegen.tests.conftest import KernelKit

Array = npt.NDArray[Any]


def _elementwise(kit: KernelKit, op: Ops, constant: float) -> UOp:
    """out[i] = op(a[i], constant) over 16 floats, named E_16."""
    index = kit.loop(16, 0)
    value = kit.load(1, dtypes.float32, index)
    return kit.kernel(index, value.alu(op, value.const_like(constant)))


def _exp(kit: KernelKit) -> UOp:
    """out[i] = exp(a[i]) over 16 floats, through the prelude's exp helpers."""
    index = kit.loop(16, 0)
    return kit.kernel(index, kit.load(1, dtypes.float32, index).alu(Ops.EXP))


def _row_max(kit: KernelKit) -> UOp:
    """out[i] = max over j of a[i, j], 4 rows of 4."""
    row, column = kit.loop(4, 0), kit.reduce_range(4, 1)
    value = kit.load(1, dtypes.float32, row * 4 + column)
    return kit.kernel(row, kit.reduce(Ops.MAX, value, column))


def test_join_renames_every_kernel_and_keeps_sources_whole() -> None:
    library = join_kernels([("E_16", "void E_16(void) {}\n"), ("E_16", "void E_16(void) {}\n")])
    assert library.symbols == (library_symbol("E_16", 0), library_symbol("E_16", 1))
    assert len(set(library.symbols)) == 2
    assert library.source.count("void E_16(void) {}") == 2


def test_join_refuses_a_name_that_is_not_an_identifier() -> None:
    with pytest.raises(ValueError, match="not a C identifier"):
        join_kernels([("E 16", "void f(void) {}")])


def test_joined_kernels_compute_what_each_computes_alone(kit: KernelKit, compiler: str, tmp_path: Path) -> None:
    asts = [_elementwise(kit, Ops.MAX, 0.5), _elementwise(kit, Ops.MAX, -1.0), _row_max(kit), _exp(kit)]
    generated = [generate_c(ast) for ast in asts]
    assert generated[0].name == generated[1].name  # the collision the renaming must resolve
    library = join_kernels([(kernel.name, kernel.source) for kernel in generated])
    assert library.source.count("static inline float lm_max_float32") == 3  # defined once, by the guards
    loaded = ctypes.CDLL(str(kit.build_library(compiler, library.source, tmp_path)))
    rng = np.random.default_rng(0)
    for ast, kernel, symbol in zip(asts, generated, library.symbols, strict=True):
        size = 4 if kernel.name.startswith("r") else 16
        inputs = rng.standard_normal(16).astype(np.float32)
        joined, alone = np.zeros(size, np.float32), np.zeros(size, np.float32)
        function = getattr(loaded, symbol)
        function.argtypes = [ctypes.c_void_p] * 2
        function(joined.ctypes.data, inputs.ctypes.data)
        kit.compile_and_run(compiler, ast, [alone, inputs], tmp_path)
        np.testing.assert_array_equal(joined, alone)
