"""Generated C compiles with -Wall -Wextra -Werror under gcc and clang, and computes what `run_kernel` computes.

Each case is one kernel with one STORE per op (outputs are parameters 3 onwards; inputs a, b and a
bool condition are parameters 0, 1, 2), so a compile covers a whole dtype's ops at once. Inputs stay
where C and the reference agree by definition: no signed overflow, no shifts of negative values
or by the type's width, no float-to-int casts out of range.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt
import pytest

from lamina.dtype import DType, bfloat16_bits_to_float32, dtypes, float32_to_bfloat16_bits, to_numpy_dtype
from lamina.uop import Ops, UOp, run_kernel

if TYPE_CHECKING:
    from packages.codegen.tests.conftest import KernelKit

Array = npt.NDArray[Any]
SIZE: Final = 16

FLOAT_UNARY: Final = (
    Ops.NEG, Ops.RECIPROCAL, Ops.SQRT, Ops.EXP, Ops.LOG, Ops.EXP2, Ops.LOG2, Ops.SIN, Ops.COS, Ops.ERF, Ops.EXPM1,
    Ops.LOG1P, Ops.TRUNC, Ops.FLOOR, Ops.CEIL, Ops.ROUND,
)  # fmt: skip
FLOAT_BINARY: Final = (Ops.ADD, Ops.SUB, Ops.MUL, Ops.DIV, Ops.MOD, Ops.MAX, Ops.POW, Ops.CMPLT, Ops.CMPNE, Ops.CMPEQ)
INT_UNARY: Final = (Ops.NEG, Ops.TRUNC, Ops.FLOOR, Ops.CEIL, Ops.ROUND)
INT_BINARY: Final = (
    Ops.ADD, Ops.SUB, Ops.MUL, Ops.IDIV, Ops.MOD, Ops.MAX, Ops.CMPLT, Ops.CMPNE, Ops.CMPEQ, Ops.AND, Ops.OR,
    Ops.XOR, Ops.SHL, Ops.SHR,
)  # fmt: skip
BOOL_OPS: Final = (Ops.NOT, Ops.AND, Ops.OR, Ops.XOR, Ops.CMPNE, Ops.CMPEQ, Ops.CMPLT, Ops.MAX)

FLOATS: Final = (dtypes.float32, dtypes.float64, dtypes.float16, dtypes.bfloat16)
INTS: Final = (dtypes.int8, dtypes.uint8, dtypes.int16, dtypes.int32, dtypes.uint32, dtypes.int64, dtypes.uint64)


def _inputs(dtype: DType, rng: np.random.Generator) -> tuple[Array, Array, Array]:
    """a, b and a bool condition; b holds zeros and negatives (division) and small shift counts last."""
    condition = rng.integers(0, 2, SIZE).astype(np.bool_)
    if dtype.is_bool:
        return rng.integers(0, 2, SIZE).astype(np.bool_), rng.integers(0, 2, SIZE).astype(np.bool_), condition
    if dtype.is_int:
        low = 0 if dtype.is_unsigned else -9
        a = rng.integers(low, 10, SIZE)
        b = np.concatenate([[0, 3, 7], rng.integers(low, 10, SIZE - 3)])
        return a.astype(to_numpy_dtype(dtype)), b.astype(to_numpy_dtype(dtype)), condition
    values = rng.uniform(-3.0, 3.0, SIZE)
    others = np.concatenate([[0.0, np.nan, 2.0, -2.5], rng.uniform(-3.0, 3.0, SIZE - 4)])
    if dtype == dtypes.bfloat16:
        as_bits = float32_to_bfloat16_bits
        return as_bits(values.astype(np.float32)), as_bits(others.astype(np.float32)), condition
    return values.astype(to_numpy_dtype(dtype)), others.astype(to_numpy_dtype(dtype)), condition


def _values(dtype: DType, kit: KernelKit, index: UOp) -> list[UOp]:
    """One expression per op `dtype` supports, over a = data0[i], b = data1[i] and condition = data2[i]."""
    a, b = kit.load(0, dtype, index), kit.load(1, dtype, index)
    condition = kit.load(2, dtypes.bool, index)
    if dtype.is_bool:
        binary = [a.alu(op, b) for op in BOOL_OPS if op is not Ops.NOT]
        return [a.alu(Ops.NOT), *binary, condition.where(a, b)]
    if dtype.is_int:
        # Shifts by 0..bits-1 of a non-negative value are the only ones C defines.
        count = b.alu(Ops.AND, UOp.const(dtype, min(dtype.bits, 8) - 1))
        positive = a.alu(Ops.AND, UOp.const(dtype, 0x7F))
        binary = [positive.alu(op, count) if op in (Ops.SHL, Ops.SHR) else a.alu(op, b) for op in INT_BINARY]
        return [*(a.alu(op) for op in INT_UNARY), *binary, condition.where(a, b)]
    base = a.alu(Ops.MAX, UOp.const(dtype, 0.0)) + UOp.const(dtype, 0.5)
    binary = [base.alu(op, b) if op is Ops.POW else a.alu(op, b) for op in FLOAT_BINARY]
    return [*(a.alu(op) for op in FLOAT_UNARY), *binary, condition.where(a, b)]


def _kernel(values: list[UOp], name: str, kit: KernelKit, index: UOp) -> UOp:
    stores = []
    for position, value in enumerate(values, start=3):
        pointer = kit.param(position, value.scalar_dtype)
        stores.append(UOp(Ops.STORE, dtypes.void, (UOp(Ops.INDEX, pointer.dtype, (pointer, index)), value)))
    return UOp(Ops.SINK, dtypes.void, tuple(stores), name)


def _outputs(values: list[UOp]) -> list[Array]:
    return [np.zeros(SIZE, to_numpy_dtype(value.scalar_dtype)) for value in values]


def _readable(array: Array, dtype: DType) -> Array:
    return bfloat16_bits_to_float32(array) if dtype == dtypes.bfloat16 else array


def _assert_same(compiled: list[Array], expected: list[Array], values: list[UOp]) -> None:
    for got, want, value in zip(compiled, expected, values, strict=True):
        dtype = value.scalar_dtype
        # libm and numpy may differ in the last bit of a transcendental; 16-bit results round that bit away or not.
        rtol = {dtypes.float16: 2e-3, dtypes.bfloat16: 1e-2, dtypes.float32: 1e-5}.get(dtype, 1e-12)
        np.testing.assert_allclose(
            _readable(got, dtype), _readable(want, dtype), rtol=rtol, atol=rtol, err_msg=f"{value.op} on {dtype}"
        )


def _check(compiler: str, ast: UOp, inputs: list[Array], values: list[UOp], tmp_path: Path, kit: KernelKit) -> None:
    expected, compiled = _outputs(values), _outputs(values)
    run_kernel(ast, [*inputs, *expected])
    kit.compile_and_run(compiler, ast, [*inputs, *compiled], tmp_path)
    _assert_same(compiled, expected, values)


@pytest.mark.parametrize("dtype", [*FLOATS, *INTS, dtypes.bool], ids=lambda dtype: dtype.name)
def test_every_op_compiles_cleanly_and_matches_run_kernel(
    dtype: DType, compiler: str, kit: KernelKit, rng: np.random.Generator, tmp_path: Path
) -> None:
    index = kit.loop(SIZE, 0)
    values = _values(dtype, kit, index)
    ast = _kernel(values, f"ops_{dtype.name}", kit, index)
    _check(compiler, ast, list(_inputs(dtype, rng)), values, tmp_path, kit)


CAST_SOURCES: Final = (dtypes.float32, dtypes.float16, dtypes.bfloat16, dtypes.int32, dtypes.uint8, dtypes.bool)
CAST_TARGETS: Final = (*FLOATS, *INTS, dtypes.bool)


@pytest.mark.parametrize("source", CAST_SOURCES, ids=lambda dtype: dtype.name)
def test_casts_compile_cleanly_and_match_run_kernel(
    source: DType, compiler: str, kit: KernelKit, rng: np.random.Generator, tmp_path: Path
) -> None:
    index = kit.loop(SIZE, 0)
    a = kit.load(0, source, index)
    # A non-negative source: C leaves negative float-to-unsigned conversions undefined.
    magnitude = a if source.is_bool or source.is_unsigned else a.alu(Ops.MAX, UOp.const(source, 0))
    values = [magnitude.cast(target) for target in CAST_TARGETS if target != source]
    ast = _kernel(values, f"casts_{source.name}", kit, index)
    first, second, condition = _inputs(source, rng)
    _check(compiler, ast, [first, second, condition], values, tmp_path, kit)


BITCASTS: Final = (
    (dtypes.float32, dtypes.int32),
    (dtypes.int32, dtypes.float32),
    (dtypes.float64, dtypes.uint64),
    (dtypes.float16, dtypes.int16),
    (dtypes.bfloat16, dtypes.uint16),
    (dtypes.int16, dtypes.float16),
)


@pytest.mark.parametrize(("source", "target"), BITCASTS, ids=lambda dtype: dtype.name)
def test_bitcast_keeps_the_bits(
    source: DType, target: DType, compiler: str, kit: KernelKit, rng: np.random.Generator, tmp_path: Path
) -> None:
    index = kit.loop(SIZE, 0)
    value = UOp(Ops.BITCAST, target, (kit.load(0, source, index),))
    first, second, condition = _inputs(source, rng)
    # Integer bits that read as NaN floats would compare unequal to themselves: keep them small and finite.
    _check(compiler, _kernel([value], "bitcast", kit, index), [first, second, condition], [value], tmp_path, kit)


REDUCE_DTYPES: Final = (dtypes.float32, dtypes.float16, dtypes.bfloat16, dtypes.int32, dtypes.int64, dtypes.uint8)


@pytest.mark.parametrize("dtype", REDUCE_DTYPES, ids=lambda dtype: dtype.name)
def test_reductions_compile_cleanly_and_match_run_kernel(
    dtype: DType, compiler: str, kit: KernelKit, rng: np.random.Generator, tmp_path: Path
) -> None:
    rows = kit.loop(4, 0)
    # Each REDUCE owns its ranges (the linearizer rejects shared ones).
    values = []
    for axis, op in enumerate((Ops.ADD, Ops.MAX, Ops.MUL), start=1):
        inner = kit.reduce_range(4, axis)
        values.append(kit.reduce(op, kit.load(0, dtype, rows * 4 + inner), inner))
    # A reduce the row loop does not touch, and a reduce of a reduce (sum of row maxima over everything).
    alone = kit.reduce_range(4, 4)
    values.append(kit.reduce(Ops.ADD, kit.load(1, dtype, alone), alone) + kit.load(1, dtype, rows))
    outer, deeper = kit.reduce_range(4, 5), kit.reduce_range(4, 6)
    values.append(kit.reduce(Ops.ADD, kit.reduce(Ops.MAX, kit.load(0, dtype, outer * 4 + deeper), deeper), outer))
    stores = []
    for position, value in enumerate(values, start=3):
        pointer = kit.param(position, dtype)
        stores.append(UOp(Ops.STORE, dtypes.void, (UOp(Ops.INDEX, pointer.dtype, (pointer, rows)), value)))
    ast = UOp(Ops.SINK, dtypes.void, tuple(stores), f"reduce_{dtype.name}")
    first, second, condition = _inputs(dtype, rng)
    if dtype.is_float:
        first = first if dtype == dtypes.bfloat16 else np.nan_to_num(first)
    expected, compiled = (
        [np.zeros(4, to_numpy_dtype(dtype)) for _ in values],
        [np.zeros(4, to_numpy_dtype(dtype)) for _ in values],
    )
    run_kernel(ast, [first, second[:SIZE], condition, *expected])
    kit.compile_and_run(compiler, ast, [first, second, condition, *compiled], tmp_path)
    _assert_same(compiled, expected, values)


def test_padded_and_scalar_kernels_compile_and_match(
    compiler: str, kit: KernelKit, rng: np.random.Generator, tmp_path: Path
) -> None:
    index = kit.loop(6, 0)
    # A pad of one on each side of a 4-element buffer: the address i-1 is out of bounds where invalid.
    valid = UOp.const(dtypes.index, 0).lt(index) & index.lt(5)
    padded = kit.kernel(index, kit.load(1, dtypes.float32, index - 1, valid).alu(Ops.EXP), name="padded")
    source = rng.uniform(-1, 1, 4).astype(np.float32)
    expected, compiled = np.zeros(6, np.float32), np.zeros(6, np.float32)
    run_kernel(padded, [expected, source])
    kit.compile_and_run(compiler, padded, [compiled, source], tmp_path)
    np.testing.assert_allclose(compiled, expected, rtol=1e-6)
    zero = UOp.const(dtypes.index, 0)
    scalar = kit.kernel(zero, kit.load(1, dtypes.float32, zero) * UOp.const(dtypes.float32, -2.0))
    out = np.zeros(1, np.float32)
    kit.compile_and_run(compiler, scalar, [out, source], tmp_path)
    assert out[0] == source[0] * -2.0


def test_extreme_constants_compile_cleanly_and_keep_their_value(compiler: str, kit: KernelKit, tmp_path: Path) -> None:
    constants = [
        UOp.const(dtypes.int32, -(2**31)),
        UOp.const(dtypes.int64, -(2**63)),
        UOp.const(dtypes.int8, -128),
        UOp.const(dtypes.uint64, 2**64 - 1),
        UOp.const(dtypes.uint32, 2**32 - 1),
        UOp.const(dtypes.float32, float("inf")),
        UOp.const(dtypes.float64, float("-inf")),
        UOp.const(dtypes.float32, float("nan")),
        UOp.const(dtypes.float16, 65504.0),
        UOp.const(dtypes.bfloat16, -1e30),
        UOp.const(dtypes.float64, 1e-300),
        UOp.const(dtypes.float32, -0.0),
        UOp.const(dtypes.bool, True),
    ]
    unused = [np.zeros(1, np.float32)] * 3
    _check(compiler, _kernel(constants, "constants", kit, kit.loop(SIZE, 0)), unused, constants, tmp_path, kit)
