"""The numpy reference evaluator agrees with direct numpy expressions and with the C semantics in ops.py."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from lamina.dtype import DType, bfloat16_bits_to_float32, dtypes, float32_to_bfloat16_bits, from_numpy_dtype
from lamina.uop import BufferRef, Ops, UOp
from lamina.uop.reference import evaluate

Array = npt.NDArray[Any]

_uids = itertools.count(10_000)


def _buffer(dtype: DType, size: int) -> UOp:
    return UOp(Ops.BUFFER, dtype, (), BufferRef(next(_uids), "CPU", size))


def _run(build: Any, *arrays: Array) -> Array:
    """Evaluate `build(*tensors)` where each tensor is a BUFFER, reshaped, holding one of `arrays`."""
    buffers = [_buffer(from_numpy_dtype(array.dtype), array.size) for array in arrays]
    tensors = [buf.reshape(array.shape) for buf, array in zip(buffers, arrays, strict=True)]
    inputs = {buf: array.ravel() for buf, array in zip(buffers, arrays, strict=True)}
    (result,) = evaluate([build(*tensors)], inputs)
    return result


def _random(shape: tuple[int, ...], dtype: npt.DTypeLike = np.float32, seed: int = 0) -> Array:
    return np.random.default_rng(seed).uniform(-3, 3, shape).astype(dtype)


def test_const_is_a_0d_array_of_its_dtype() -> None:
    (value,) = evaluate([UOp.const(dtypes.int8, 7)])
    assert value.shape == ()
    assert value.dtype == np.int8
    assert value == 7


def test_full_broadcasts_a_constant() -> None:
    (value,) = evaluate([UOp.full((2, 3), dtypes.float32, 1.5)])
    np.testing.assert_array_equal(value, np.full((2, 3), 1.5, np.float32))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.int8, np.uint32, np.int64, np.bool_])
def test_buffer_values_come_back_unchanged(dtype: type[np.generic]) -> None:
    data = _random((2, 3), dtype)
    result = _run(lambda x: x, data)
    assert result.dtype == data.dtype
    np.testing.assert_array_equal(result, data)


_BINARY: list[tuple[Ops, Any]] = [
    (Ops.ADD, np.add),
    (Ops.SUB, np.subtract),
    (Ops.MUL, np.multiply),
    (Ops.DIV, np.true_divide),
    (Ops.MAX, np.maximum),
    (Ops.POW, lambda a, b: np.power(np.abs(a), b)),
    (Ops.CMPLT, np.less),
    (Ops.CMPNE, np.not_equal),
    (Ops.CMPEQ, np.equal),
]


@pytest.mark.parametrize(("op", "expected"), _BINARY, ids=[op.name for op, _ in _BINARY])
def test_binary_float_ops_match_numpy(op: Ops, expected: Any) -> None:
    a, b = _random((3, 4), seed=1), _random((3, 4), seed=2)
    b[0, 0] = a[0, 0]  # a tie, so comparisons see equal values too
    if op is Ops.POW:
        a = np.abs(a)
    result = _run(lambda x, y: x.alu(op, y), a, b)
    np.testing.assert_allclose(result, expected(a, b), rtol=1e-6)
    assert result.dtype == (np.bool_ if op in (Ops.CMPLT, Ops.CMPNE, Ops.CMPEQ) else np.float32)


_UNARY: list[tuple[Ops, Any]] = [
    (Ops.NEG, np.negative),
    (Ops.RECIPROCAL, np.reciprocal),
    (Ops.SQRT, np.sqrt),
    (Ops.EXP, np.exp),
    (Ops.LOG, np.log),
    (Ops.EXP2, np.exp2),
    (Ops.LOG2, np.log2),
    (Ops.SIN, np.sin),
    (Ops.COS, np.cos),
    (Ops.TRUNC, np.trunc),
    (Ops.FLOOR, np.floor),
    (Ops.CEIL, np.ceil),
    (Ops.ROUND, np.rint),
]


@pytest.mark.parametrize(("op", "expected"), _UNARY, ids=[op.name for op, _ in _UNARY])
def test_unary_float_ops_match_numpy(op: Ops, expected: Any) -> None:
    data = np.abs(_random((5,), np.float64)) + 0.25
    data[-1] = 2.5  # ROUND takes halves to even
    np.testing.assert_allclose(_run(lambda x: x.alu(op), data), expected(data), rtol=1e-12)


def test_integer_idiv_and_mod_truncate_toward_zero() -> None:
    a = np.array([7, -7, 7, -7, 6, -6], np.int32)
    b = np.array([2, 2, -2, -2, 3, 3], np.int32)
    np.testing.assert_array_equal(_run(lambda x, y: x.alu(Ops.IDIV, y), a, b), [3, -3, -3, 3, 2, -2])
    np.testing.assert_array_equal(_run(lambda x, y: x.alu(Ops.MOD, y), a, b), [1, -1, 1, -1, 0, 0])


def test_float_mod_is_fmod() -> None:
    a = np.array([5.5, -5.5, 5.5, -5.5])
    b = np.array([2.0, 2.0, -2.0, -2.0])
    np.testing.assert_array_equal(_run(lambda x, y: x.alu(Ops.MOD, y), a, b), [1.5, -1.5, 1.5, -1.5])


def test_integer_overflow_wraps() -> None:
    a = np.array([100, -100, 127], np.int8)
    np.testing.assert_array_equal(_run(lambda x: x + x, a), np.array([-56, 56, -2], np.int8))


def test_bitwise_and_shift_ops_match_numpy() -> None:
    a = np.array([0b1100, 5, 255], np.uint8)
    b = np.array([0b1010, 1, 3], np.uint8)
    for op, expected in [(Ops.AND, a & b), (Ops.OR, a | b), (Ops.XOR, a ^ b), (Ops.SHL, a << b), (Ops.SHR, a >> b)]:
        np.testing.assert_array_equal(_run(lambda x, y, op=op: x.alu(op, y), a, b), expected)


def test_bool_arithmetic_reads_nonzero_as_true() -> None:
    a = np.array([False, False, True, True])
    b = np.array([False, True, False, True])
    np.testing.assert_array_equal(_run(lambda x, y: x + y, a, b), a | b)
    np.testing.assert_array_equal(_run(lambda x, y: x * y, a, b), a & b)
    np.testing.assert_array_equal(_run(lambda x, y: x - y, a, b), a ^ b)
    np.testing.assert_array_equal(_run(lambda x: x.alu(Ops.NOT), a), ~a)


def test_integer_rounding_ops_keep_large_int64_exact() -> None:
    data = np.array([2**62 + 1, -(2**62) - 1], np.int64)
    np.testing.assert_array_equal(_run(lambda x: x.alu(Ops.FLOOR), data), data)


def test_cast_float_to_int_truncates_toward_zero() -> None:
    data = np.array([2.7, -2.7, 0.5, -0.5])
    np.testing.assert_array_equal(_run(lambda x: x.cast(dtypes.int32), data), [2, -2, 0, 0])


def test_cast_out_of_range_wraps_like_integer_casts() -> None:
    np.testing.assert_array_equal(_run(lambda x: x.cast(dtypes.int8), np.array([300, -129], np.int32)), [44, 127])
    np.testing.assert_array_equal(_run(lambda x: x.cast(dtypes.uint8), np.array([300.7, -1.5])), [44, 255])
    big = np.array([2.0**63 + 2048.0])
    np.testing.assert_array_equal(_run(lambda x: x.cast(dtypes.uint64), big), np.array([2**63 + 2048], np.uint64))


def test_cast_to_bool_is_nonzero() -> None:
    data = np.array([0.0, -0.0, 0.5, np.nan, -3.0])
    np.testing.assert_array_equal(_run(lambda x: x.cast(dtypes.bool), data), [False, False, True, True, True])


def test_cast_from_bool_gives_zero_and_one() -> None:
    data = np.array([True, False])
    result = _run(lambda x: x.cast(dtypes.float32), data)
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result, [1.0, 0.0])


def test_bitcast_reinterprets_bits() -> None:
    data = np.array([1.0, -2.5], np.float32)
    np.testing.assert_array_equal(_run(lambda x: UOp(Ops.BITCAST, dtypes.int32, (x,)), data), data.view(np.int32))


def test_bitcast_of_different_sizes_raises() -> None:
    with pytest.raises(TypeError, match="equal item sizes"):
        _run(lambda x: UOp(Ops.BITCAST, dtypes.int64, (x,)), np.array([1.0], np.float32))


def test_float16_ops_compute_in_float32_and_round_once() -> None:
    a, b = _random((64,), np.float16, seed=3), _random((64,), np.float16, seed=4)
    result = _run(lambda x, y: x * y + x, a, b)
    wide_a, wide_b = a.astype(np.float32), b.astype(np.float32)
    expected = ((wide_a * wide_b).astype(np.float16).astype(np.float32) + wide_a).astype(np.float16)
    assert result.dtype == np.float16
    np.testing.assert_array_equal(result, expected)


def test_bfloat16_values_enter_and_leave_as_bits() -> None:
    values = np.array([1.0, 3.0, -0.5, 256.0], np.float32)
    bits = float32_to_bfloat16_bits(values)
    buffer = _buffer(dtypes.bfloat16, 4)
    (result,) = evaluate([buffer * buffer.const_like(1.01)], {buffer: bits})
    assert result.dtype == np.uint16
    scale = bfloat16_bits_to_float32(float32_to_bfloat16_bits(np.array(1.01, np.float32)))
    expected = float32_to_bfloat16_bits(bfloat16_bits_to_float32(bits) * scale)
    np.testing.assert_array_equal(result, expected)


def test_where_selects_by_condition() -> None:
    a, b = _random((2, 3), seed=5), _random((2, 3), seed=6)
    np.testing.assert_array_equal(_run(lambda x, y: x.lt(y).where(x, y), a, b), np.where(a < b, a, b))


def test_movement_ops_match_numpy() -> None:
    data = _random((2, 3, 4), np.float64)
    cases: list[tuple[Any, Array]] = [
        (lambda x: x.permute((2, 0, 1)), data.transpose(2, 0, 1)),
        (lambda x: x.reshape((6, 4)), data.reshape(6, 4)),
        (lambda x: x.pad(((1, 0), (0, 2), (1, 1))), np.pad(data, ((1, 0), (0, 2), (1, 1)))),
        (lambda x: x.shrink(((1, 2), (0, 2), (1, 3))), data[1:2, 0:2, 1:3]),
        (lambda x: x.flip((True, False, True)), data[::-1, :, ::-1]),
        (lambda x: x.shrink(((0, 2), (0, 1), (0, 4))).expand((2, 5, 4)), np.broadcast_to(data[:, :1], (2, 5, 4))),
    ]
    for build, expected in cases:
        np.testing.assert_array_equal(_run(build, data), expected)


def test_expand_broadcasts_elementwise_operands() -> None:
    row, column = _random((1, 4), seed=7), _random((3, 1), seed=8)
    result = _run(lambda r, c: r.expand((3, 4)) + c.expand((3, 4)), row, column)
    np.testing.assert_array_equal(result, row + column)


def test_results_are_writable_copies() -> None:
    (result,) = evaluate([UOp.full((2, 2), dtypes.float32, 0.0)])
    result[0, 0] = 1.0
    assert result.flags.c_contiguous


_REDUCTIONS: list[tuple[Ops, Any]] = [(Ops.ADD, np.sum), (Ops.MAX, np.max), (Ops.MUL, np.prod)]


@pytest.mark.parametrize("axes", [(0,), (1,), (2,), (0, 2), (0, 1, 2)])
@pytest.mark.parametrize(("op", "expected"), _REDUCTIONS, ids=[op.name for op, _ in _REDUCTIONS])
def test_reductions_keep_reduced_dims(op: Ops, expected: Any, axes: tuple[int, ...]) -> None:
    data = _random((2, 3, 4), np.float64)
    result = _run(lambda x: x.reduce_axis(op, axes), data)
    np.testing.assert_allclose(result, expected(data, axis=axes, keepdims=True), rtol=1e-12)


def test_integer_sum_wraps_in_its_own_dtype() -> None:
    data = np.full((4,), 100, np.int8)
    np.testing.assert_array_equal(_run(lambda x: x.reduce_axis(Ops.ADD, (0,)), data), np.array([-112], np.int8))


def test_empty_reductions_give_the_identity() -> None:
    data = np.zeros((0, 3), np.float32)
    np.testing.assert_array_equal(_run(lambda x: x.reduce_axis(Ops.ADD, (0,)), data), np.zeros((1, 3)))
    np.testing.assert_array_equal(_run(lambda x: x.reduce_axis(Ops.MUL, (0,)), data), np.ones((1, 3)))
    np.testing.assert_array_equal(_run(lambda x: x.reduce_axis(Ops.MAX, (0,)), data), np.full((1, 3), -np.inf))


def test_zero_size_elementwise_gives_zero_size() -> None:
    data = np.zeros((2, 0), np.float32)
    result = _run(lambda x: (x * x).alu(Ops.SIN), data)
    assert result.shape == (2, 0)
    assert result.dtype == np.float32


def test_0d_graphs_give_0d_arrays() -> None:
    data = np.array(0.5)
    result = _run(lambda x: x.alu(Ops.EXP) * x, data)
    assert result.shape == ()
    np.testing.assert_allclose(result, np.exp(0.5) * 0.5)


def test_several_roots_are_evaluated_together() -> None:
    buffer = _buffer(dtypes.float64, 3)
    data = np.array([1.0, 2.0, 3.0])
    doubled = buffer + buffer
    first, second = evaluate([doubled, doubled.reduce_axis(Ops.ADD, (0,))], {buffer: data})
    np.testing.assert_array_equal(first, data * 2)
    np.testing.assert_array_equal(second, [12.0])


def test_contiguous_passes_values_through() -> None:
    data = _random((3, 2), np.float64)
    np.testing.assert_array_equal(_run(lambda x: x.permute((1, 0)).contiguous(), data), data.T)


def test_missing_input_raises() -> None:
    with pytest.raises(ValueError, match="no input array"):
        evaluate([_buffer(dtypes.float32, 2)])


def test_input_of_wrong_dtype_or_shape_raises() -> None:
    buffer = _buffer(dtypes.float32, 2)
    with pytest.raises(TypeError, match="float32"):
        evaluate([buffer], {buffer: np.zeros(2, np.float64)})
    with pytest.raises(ValueError, match="shape"):
        evaluate([buffer], {buffer: np.zeros((1, 2), np.float32)})


def test_kernel_ops_are_not_evaluated() -> None:
    with pytest.raises(NotImplementedError, match="DEFINE_VAR"):
        evaluate([UOp.variable("n", 0, 4)])


def test_negative_pad_removes_elements_like_a_shrink() -> None:
    data = np.arange(12, dtype=np.float32).reshape(3, 4)
    result = _run(lambda x: x.pad(((-1, 1), (2, -3))), data)
    np.testing.assert_array_equal(result, np.pad(data[1:, :1], ((0, 1), (2, 0))))


def test_write_stores_values_into_a_strided_region_of_a_copy() -> None:
    target = _buffer(dtypes.int32, 12)
    values = _buffer(dtypes.int32, 4)
    written = UOp(Ops.WRITE, dtypes.int32, (target, values.reshape((2, 2))), (5, (4, -2)))
    inputs = {target: np.zeros(12, np.int32), values: np.array([1, 2, 3, 4], np.int32)}
    (result,) = evaluate([written], inputs)
    expected = np.zeros(12, np.int32)
    expected[[5, 3, 9, 7]] = [1, 2, 3, 4]
    np.testing.assert_array_equal(result, expected)
    np.testing.assert_array_equal(inputs[target], np.zeros(12, np.int32))
