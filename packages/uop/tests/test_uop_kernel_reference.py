"""The kernel interpreter runs hand-built kernel ASTs with loop, reduce, padding and C integer semantics."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from lamina.dtype import DType, dtypes, float32_to_bfloat16_bits
from lamina.uop import AxisKind, Ops, UOp, run_kernel

Array = npt.NDArray[Any]


def _param(position: int, dtype: DType) -> UOp:
    return UOp(Ops.DEFINE_GLOBAL, dtype.ptr(), (), position)


def _load(position: int, dtype: DType, address: UOp, valid: UOp | None = None) -> UOp:
    pointer = _param(position, dtype)
    sources = (pointer, address) if valid is None else (pointer, address, valid)
    return UOp(Ops.LOAD, dtype, (UOp(Ops.INDEX, pointer.dtype, sources),))


def _kernel(dtype: DType, address: UOp, value: UOp, valid: UOp | None = None) -> UOp:
    pointer = _param(0, dtype)
    sources = (pointer, address) if valid is None else (pointer, address, valid)
    store = UOp(Ops.STORE, dtypes.void, (UOp(Ops.INDEX, pointer.dtype, sources), value))
    return UOp(Ops.SINK, dtypes.void, (store,))


def _loop(size: int, axis: int) -> UOp:
    return UOp.range(size, axis, AxisKind.LOOP)


def _reduce_range(size: int, axis: int) -> UOp:
    return UOp.range(size, axis, AxisKind.REDUCE)


def test_elementwise_kernel_adds_two_buffers() -> None:
    i = _loop(5, 0)
    ast = _kernel(dtypes.float32, i, _load(1, dtypes.float32, i) + _load(2, dtypes.float32, i))
    a, b, out = np.arange(5, dtype=np.float32), np.full(5, 0.5, np.float32), np.zeros(5, np.float32)
    run_kernel(ast, [out, a, b])
    np.testing.assert_array_equal(out, a + b)


def test_reduce_sums_rows_of_a_matrix() -> None:
    i, j = _loop(3, 0), _reduce_range(4, 1)
    total = UOp(Ops.REDUCE, dtypes.float32, (_load(1, dtypes.float32, i * 4 + j), j), Ops.ADD)
    a, out = np.arange(12, dtype=np.float32), np.zeros(3, np.float32)
    run_kernel(_kernel(dtypes.float32, i, total), [out, a])
    np.testing.assert_array_equal(out, a.reshape(3, 4).sum(axis=1))


def test_reduce_independent_of_outer_loop_is_added_to_each_element() -> None:
    i, j = _loop(3, 0), _reduce_range(4, 1)
    total = UOp(Ops.REDUCE, dtypes.float32, (_load(2, dtypes.float32, j), j), Ops.ADD)
    a, b, out = np.arange(3, dtype=np.float32), np.arange(4, dtype=np.float32), np.zeros(3, np.float32)
    run_kernel(_kernel(dtypes.float32, i, _load(1, dtypes.float32, i) + total), [out, a, b])
    np.testing.assert_array_equal(out, a + b.sum())


def test_reduce_of_a_constant_counts_each_iteration() -> None:
    j = _reduce_range(7, 0)
    count = UOp(Ops.REDUCE, dtypes.int32, (UOp.const(dtypes.int32, 1), j), Ops.ADD)
    out = np.zeros(1, np.int32)
    run_kernel(_kernel(dtypes.int32, UOp.const(dtypes.index, 0), count), [out])
    assert out[0] == 7


def test_nested_reduce_matches_numpy() -> None:
    i, j, k = _loop(2, 0), _reduce_range(3, 1), _reduce_range(4, 2)
    inner = UOp(Ops.REDUCE, dtypes.float32, (_load(1, dtypes.float32, i * 12 + j * 4 + k), k), Ops.MAX)
    outer = UOp(Ops.REDUCE, dtypes.float32, (inner, j), Ops.ADD)
    a, out = np.random.default_rng(0).standard_normal(24).astype(np.float32), np.zeros(2, np.float32)
    run_kernel(_kernel(dtypes.float32, i, outer), [out, a])
    np.testing.assert_allclose(out, a.reshape(2, 3, 4).max(axis=2).sum(axis=1), rtol=1e-6)


def test_max_over_an_empty_range_is_minus_infinity() -> None:
    j = _reduce_range(0, 0)
    empty = UOp(Ops.REDUCE, dtypes.float32, (_load(1, dtypes.float32, j), j), Ops.MAX)
    out = np.zeros(1, np.float32)
    run_kernel(_kernel(dtypes.float32, UOp.const(dtypes.index, 0), empty), [out, np.zeros(0, np.float32)])
    assert out[0] == -np.inf


def test_idiv_and_mod_truncate_toward_zero_like_c() -> None:
    i = _loop(4, 0)
    a = np.array([7, -7, 7, -7], np.int32)
    b = np.array([2, 2, -2, -2], np.int32)
    for op, expected in ((Ops.IDIV, [3, -3, -3, 3]), (Ops.MOD, [1, -1, 1, -1])):
        value = _load(1, dtypes.int32, i).alu(op, _load(2, dtypes.int32, i))
        out = np.zeros(4, np.int32)
        run_kernel(_kernel(dtypes.int32, i, value), [out, a, b])
        np.testing.assert_array_equal(out, expected)


def test_integer_overflow_wraps() -> None:
    i = _loop(2, 0)
    value = _load(1, dtypes.int8, i) + UOp.const(dtypes.int8, 100)
    out = np.zeros(2, np.int8)
    run_kernel(_kernel(dtypes.int8, i, value), [out, np.array([100, -100], np.int8)])
    np.testing.assert_array_equal(out, [-56, 0])


def test_invalid_load_reads_zero_without_touching_memory() -> None:
    i = _loop(5, 0)
    # A pad of one element on each side of a 3-element buffer: address i-1, valid for 1 <= i < 4.
    valid = UOp.const(dtypes.index, 0).lt(i) & i.lt(4)
    out = np.full(5, 9.0, np.float32)
    run_kernel(
        _kernel(dtypes.float32, i, _load(1, dtypes.float32, i - 1, valid)), [out, np.array([1, 2, 3], np.float32)]
    )
    np.testing.assert_array_equal(out, [0, 1, 2, 3, 0])


def test_store_validity_skips_writes() -> None:
    i = _loop(4, 0)
    out = np.full(4, -1.0, np.float32)
    run_kernel(_kernel(dtypes.float32, i, UOp.const(dtypes.float32, 2.0), i.lt(2)), [out])
    np.testing.assert_array_equal(out, [2, 2, -1, -1])


def test_valid_out_of_bounds_address_raises_index_error() -> None:
    i = _loop(4, 0)
    with pytest.raises(IndexError, match="outside a buffer of 3"):
        run_kernel(
            _kernel(dtypes.float32, i, _load(1, dtypes.float32, i)), [np.zeros(4, np.float32), np.zeros(3, np.float32)]
        )


def test_scalar_kernel_without_ranges_writes_one_element() -> None:
    zero = UOp.const(dtypes.index, 0)
    out = np.zeros(1, np.float32)
    run_kernel(_kernel(dtypes.float32, zero, _load(1, dtypes.float32, zero) * 2.0), [out, np.array([1.5], np.float32)])
    assert out[0] == 3.0


def test_where_cast_and_comparison_compose() -> None:
    i = _loop(4, 0)
    x = _load(1, dtypes.float32, i)
    relu = UOp.const(dtypes.float32, 0.0).lt(x).where(x, 0.0)
    out = np.zeros(4, np.int32)
    run_kernel(_kernel(dtypes.int32, i, relu.cast(dtypes.int32)), [out, np.array([-2.5, 0.5, 1.9, 3.2], np.float32)])
    np.testing.assert_array_equal(out, [0, 0, 1, 3])


def test_float16_store_rounds_and_bfloat16_travels_as_bits() -> None:
    i = _loop(3, 0)
    source = np.array([1.0, 2.5, -3.25], np.float32)
    half = np.zeros(3, np.float16)
    run_kernel(_kernel(dtypes.float16, i, _load(1, dtypes.float32, i).cast(dtypes.float16)), [half, source])
    np.testing.assert_array_equal(half, source.astype(np.float16))
    brain = np.zeros(3, np.uint16)
    run_kernel(_kernel(dtypes.bfloat16, i, _load(1, dtypes.float32, i).cast(dtypes.bfloat16)), [brain, source])
    np.testing.assert_array_equal(brain, float32_to_bfloat16_bits(source))


def test_two_dimensional_loops_write_a_transpose() -> None:
    i, j = _loop(2, 0), _loop(3, 1)
    a, out = np.arange(6, dtype=np.float32), np.zeros(6, np.float32)
    run_kernel(_kernel(dtypes.float32, i * 3 + j, _load(1, dtypes.float32, j * 2 + i)), [out, a])
    np.testing.assert_array_equal(out, a.reshape(3, 2).T.ravel())


def test_non_sink_root_is_rejected() -> None:
    with pytest.raises(ValueError, match="SINK"):
        run_kernel(UOp.const(dtypes.float32, 1.0), [])
