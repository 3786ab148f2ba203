"""Elementwise operations against numpy: arithmetic, comparisons, bitwise logic, math and activations.

Every case runs across the dtypes the op supports, with broadcasting, Python scalars on either
side, 0-d and 0-size tensors and non-contiguous views as inputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from lamina.dtype import DType, dtypes, to_numpy_dtype
from lamina.tensor import Tensor

Sampler = Callable[..., npt.NDArray[Any]]
Matcher = Callable[..., None]
Array = npt.NDArray[Any]

FLOATS = (dtypes.float32, dtypes.float64, dtypes.float16)
INTS = (dtypes.int32, dtypes.int64, dtypes.int8, dtypes.uint8)
NUMERIC = FLOATS + INTS


def _floor_divide(a: Array, b: Array) -> Array:
    return np.floor_divide(a, b)


# name, lamina op, numpy op, dtypes, whether the right operand must be nonzero
BINARY: list[tuple[str, Callable[[Any, Any], Any], Callable[[Any, Any], Any], tuple[DType, ...], bool]] = [
    ("add", lambda a, b: a + b, np.add, NUMERIC, False),
    ("sub", lambda a, b: a - b, np.subtract, NUMERIC, False),
    ("mul", lambda a, b: a * b, np.multiply, NUMERIC, False),
    ("truediv", lambda a, b: a / b, np.true_divide, FLOATS, True),
    ("floordiv", lambda a, b: a // b, _floor_divide, NUMERIC, True),
    ("mod", lambda a, b: a % b, np.mod, NUMERIC, True),
    ("maximum", lambda a, b: a.maximum(b) if isinstance(a, Tensor) else np.maximum(a, b), np.maximum, NUMERIC, False),
    ("minimum", lambda a, b: a.minimum(b) if isinstance(a, Tensor) else np.minimum(a, b), np.minimum, NUMERIC, False),
]
BINARY_CASES = [
    pytest.param(op, reference, dtype, nonzero, id=f"{name}-{dtype.name}")
    for name, op, reference, dtype_list, nonzero in BINARY
    for dtype in dtype_list
]


def _nonzero(values: Array) -> Array:
    return np.where(values == 0, values.dtype.type(1), values)


@pytest.mark.parametrize(("op", "reference", "dtype", "nonzero"), BINARY_CASES)
def test_binary_op_broadcasts_like_numpy(
    op: Callable[[Any, Any], Any],
    reference: Callable[[Any, Any], Any],
    dtype: DType,
    nonzero: bool,
    sample: Sampler,
    matches: Matcher,
) -> None:
    left = sample((2, 3), dtype, seed=1)
    right = sample((3,), dtype, seed=2)
    right = _nonzero(right) if nonzero else right
    result = op(Tensor(left), Tensor(right))
    matches(result, reference(left, right), dtype=dtype)


SCALAR_OPS = [
    ("add", lambda a, b: a + b),
    ("sub", lambda a, b: a - b),
    ("mul", lambda a, b: a * b),
    ("truediv", lambda a, b: a / b),
    ("floordiv", lambda a, b: a // b),
    ("mod", lambda a, b: a % b),
    ("pow", lambda a, b: a**b),
]


@pytest.mark.parametrize(("name", "op"), SCALAR_OPS, ids=[name for name, _ in SCALAR_OPS])
@pytest.mark.parametrize("scalar_first", [False, True], ids=["tensor-scalar", "scalar-tensor"])
def test_python_scalar_works_on_either_side(
    name: str, op: Callable[[Any, Any], Any], scalar_first: bool, matches: Matcher
) -> None:
    values = np.array([[0.5, 1.5, 2.0], [3.0, 1.25, 4.0]], dtype=np.float32)
    scalar = 2.0
    tensor = Tensor(values)
    result = op(scalar, tensor) if scalar_first else op(tensor, scalar)
    expected = op(np.float32(scalar), values) if scalar_first else op(values, np.float32(scalar))
    matches(result, expected, dtype=dtypes.float32)


@pytest.mark.parametrize("scalar_first", [False, True], ids=["tensor-scalar", "scalar-tensor"])
@pytest.mark.parametrize(("name", "op"), SCALAR_OPS, ids=[name for name, _ in SCALAR_OPS])
def test_integer_scalar_arithmetic_follows_python(
    name: str, op: Callable[[Any, Any], Any], scalar_first: bool, matches: Matcher
) -> None:
    values = [-7, -3, -1, 1, 2, 5]
    tensor = Tensor(values, dtype=dtypes.int32)
    scalar = 3 if name != "pow" or not scalar_first else 2
    if scalar_first:
        expected = [op(scalar, value) for value in values]
        result = op(scalar, tensor)
    else:
        expected = [op(value, scalar) for value in values]
        result = op(tensor, scalar)
    dtype = dtypes.float32 if name == "truediv" else dtypes.int32
    matches(result, np.array(expected, dtype=to_numpy_dtype(dtype)), dtype=dtype, rtol=1e-6)


@pytest.mark.parametrize(
    ("divisor", "dividend"),
    [(3, 7), (3, -7), (-3, 7), (-3, -7), (2, 6), (-2, -6), (5, 0)],
)
@pytest.mark.parametrize("dtype", [dtypes.int32, dtypes.float32], ids=["int32", "float32"])
def test_floordiv_and_mod_round_toward_negative_infinity(
    dividend: int, divisor: int, dtype: DType, matches: Matcher
) -> None:
    left = Tensor([dividend], dtype=dtype)
    right = Tensor([divisor], dtype=dtype)
    matches(left // right, np.array([dividend // divisor], dtype=to_numpy_dtype(dtype)))
    matches(left % right, np.array([dividend % divisor], dtype=to_numpy_dtype(dtype)))


# tensor dtype, other operand (a Python scalar or a tensor dtype), op, expected dtype
PROMOTION = [
    (dtypes.int32, 2.5, "add", dtypes.float32),
    (dtypes.int64, 2.5, "mul", dtypes.float32),
    (dtypes.int8, 1, "add", dtypes.int8),
    (dtypes.uint8, 2, "mul", dtypes.uint8),
    (dtypes.bool, 1, "add", dtypes.int64),
    (dtypes.bool, 1.5, "mul", dtypes.float32),
    (dtypes.float16, 2.5, "add", dtypes.float16),
    (dtypes.float16, 3, "mul", dtypes.float16),
    (dtypes.float64, 2, "mul", dtypes.float64),
    (dtypes.int32, 2, "truediv", dtypes.float32),
    (dtypes.int64, dtypes.int64, "truediv", dtypes.float32),
    (dtypes.int32, dtypes.float16, "add", dtypes.float16),
    (dtypes.int8, dtypes.uint8, "add", dtypes.int16),
    (dtypes.int32, dtypes.int64, "sub", dtypes.int64),
    (dtypes.float16, dtypes.float32, "add", dtypes.float32),
    (dtypes.float32, dtypes.float64, "mul", dtypes.float64),
    (dtypes.bool, dtypes.int8, "add", dtypes.int8),
    (dtypes.int32, 2.5, "lt", dtypes.bool),
]
OPS: dict[str, Callable[[Any, Any], Any]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "truediv": lambda a, b: a / b,
    "lt": lambda a, b: a < b,
}


@pytest.mark.parametrize(("dtype", "other", "name", "expected"), PROMOTION)
def test_result_dtype_follows_weak_scalar_promotion(
    dtype: DType, other: DType | float, name: str, expected: DType, matches: Matcher
) -> None:
    values = np.array([0, 1, 3], dtype=to_numpy_dtype(dtype))
    tensor = Tensor(values)
    if isinstance(other, DType):
        other_values = np.array([1, 2, 1], dtype=to_numpy_dtype(other))
        result = OPS[name](tensor, Tensor(other_values))
        reference = OPS[name](values.astype(np.float64), other_values.astype(np.float64))
    else:
        result = OPS[name](tensor, other)
        reference = OPS[name](values.astype(np.float64), other)
    assert result.dtype == expected
    matches(result, np.asarray(reference).astype(to_numpy_dtype(expected)))


def test_comparison_with_float_scalar_compares_in_float(matches: Matcher) -> None:
    tensor = Tensor([2, 3], dtype=dtypes.int32)
    matches(tensor < 2.5, np.array([True, False]))
    matches(tensor == 2.0, np.array([True, False]))


COMPARISONS = [
    ("lt", lambda a, b: a < b),
    ("gt", lambda a, b: a > b),
    ("le", lambda a, b: a <= b),
    ("ge", lambda a, b: a >= b),
    ("eq", lambda a, b: a == b),
    ("ne", lambda a, b: a != b),
]


@pytest.mark.parametrize(("name", "op"), COMPARISONS, ids=[name for name, _ in COMPARISONS])
@pytest.mark.parametrize("dtype", [dtypes.float32, dtypes.int32, dtypes.uint8, dtypes.bool], ids=lambda d: d.name)
def test_comparison_broadcasts_and_returns_bool(
    name: str, op: Callable[[Any, Any], Any], dtype: DType, sample: Sampler, matches: Matcher
) -> None:
    left = sample((3, 1), dtype, seed=3)
    right = sample((4,), dtype, seed=4)
    matches(op(Tensor(left), Tensor(right)), op(left, right), dtype=dtypes.bool)


@pytest.mark.parametrize(("name", "op"), COMPARISONS, ids=[name for name, _ in COMPARISONS])
def test_comparison_with_scalar_on_the_left(name: str, op: Callable[[Any, Any], Any], matches: Matcher) -> None:
    values = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    matches(op(2, Tensor(values)), op(2, values), dtype=dtypes.bool)


BITWISE = [
    ("and", lambda a, b: a & b),
    ("or", lambda a, b: a | b),
    ("xor", lambda a, b: a ^ b),
]


@pytest.mark.parametrize(("name", "op"), BITWISE, ids=[name for name, _ in BITWISE])
@pytest.mark.parametrize("dtype", [dtypes.int32, dtypes.int8, dtypes.uint8, dtypes.bool], ids=lambda d: d.name)
def test_bitwise_ops_match_numpy(
    name: str, op: Callable[[Any, Any], Any], dtype: DType, sample: Sampler, matches: Matcher
) -> None:
    left = sample((2, 3), dtype, low=-9, high=9, seed=5)
    right = sample((3,), dtype, low=-9, high=9, seed=6)
    matches(op(Tensor(left), Tensor(right)), op(left, right), dtype=dtype)
    matches(
        op(Tensor(left), 5 if not dtype.is_bool else True), op(left, left.dtype.type(5 if not dtype.is_bool else True))
    )
    matches(
        op(5 if not dtype.is_bool else True, Tensor(left)), op(left.dtype.type(5 if not dtype.is_bool else True), left)
    )


@pytest.mark.parametrize("dtype", [dtypes.int32, dtypes.int8, dtypes.uint8, dtypes.bool], ids=lambda d: d.name)
def test_invert_matches_numpy(dtype: DType, sample: Sampler, matches: Matcher) -> None:
    values = sample((5,), dtype, low=-9, high=9)
    matches(~Tensor(values), ~values, dtype=dtype)


@pytest.mark.parametrize(
    "op", [lambda a: ~a, lambda a: a & 1, lambda a: a | 1, lambda a: a ^ 1], ids=["invert", "and", "or", "xor"]
)
def test_bitwise_ops_reject_floats_when_built(op: Callable[[Any], Any]) -> None:
    with pytest.raises(TypeError, match="float32"):
        op(Tensor([1.0, 2.0]))


def _erf(values: Array) -> Array:
    return np.array([math.erf(value) for value in values.astype(np.float64).reshape(-1)]).reshape(values.shape)


def _sigmoid(values: Array) -> Array:
    return 1 / (1 + np.exp(-values.astype(np.float64)))


GELU: Callable[[Any], Any] = lambda t: t.gelu()  # noqa: E731 - compared by identity for its tolerance

# name, lamina op, numpy op, sample range (low, high)
UNARY: list[tuple[str, Callable[[Any], Any], Callable[[Array], Any], tuple[float, float]]] = [
    ("neg", lambda t: -t, np.negative, (-3, 3)),
    ("abs", lambda t: t.abs(), np.abs, (-3, 3)),
    ("sign", lambda t: t.sign(), np.sign, (-3, 3)),
    ("exp", lambda t: t.exp(), np.exp, (-3, 3)),
    ("exp2", lambda t: t.exp2(), np.exp2, (-3, 3)),
    ("log", lambda t: t.log(), np.log, (0.1, 5)),
    ("log2", lambda t: t.log2(), np.log2, (0.1, 5)),
    ("sqrt", lambda t: t.sqrt(), np.sqrt, (0.1, 5)),
    ("rsqrt", lambda t: t.rsqrt(), lambda v: 1 / np.sqrt(v), (0.1, 5)),
    ("reciprocal", lambda t: t.reciprocal(), np.reciprocal, (0.5, 5)),
    ("sin", lambda t: t.sin(), np.sin, (-3, 3)),
    ("cos", lambda t: t.cos(), np.cos, (-3, 3)),
    ("tan", lambda t: t.tan(), np.tan, (-1.2, 1.2)),
    ("floor", lambda t: t.floor(), np.floor, (-3, 3)),
    ("ceil", lambda t: t.ceil(), np.ceil, (-3, 3)),
    ("round", lambda t: t.round(), np.round, (-3, 3)),
    ("trunc", lambda t: t.trunc(), np.trunc, (-3, 3)),
    ("square", lambda t: t.square(), np.square, (-3, 3)),
    ("relu", lambda t: t.relu(), lambda v: np.maximum(v, 0), (-3, 3)),
    ("leaky_relu", lambda t: t.leaky_relu(0.1), lambda v: np.where(v > 0, v, v * 0.1), (-3, 3)),
    ("sigmoid", lambda t: t.sigmoid(), _sigmoid, (-6, 6)),
    ("tanh", lambda t: t.tanh(), np.tanh, (-3, 3)),
    ("erf", lambda t: t.erf(), _erf, (-4, 4)),
    ("gelu", GELU, lambda v: 0.5 * v * (1 + _erf(v / math.sqrt(2))), (-3, 3)),
    ("silu", lambda t: t.silu(), lambda v: v * _sigmoid(v), (-3, 3)),
    ("softplus", lambda t: t.softplus(), lambda v: np.log1p(np.exp(v.astype(np.float64))), (-30, 30)),
    ("elu", lambda t: t.elu(), lambda v: np.where(v > 0, v, np.expm1(v.astype(np.float64))), (-3, 3)),
    ("clip", lambda t: t.clip(-1, 1.5), lambda v: np.clip(v, -1, 1.5), (-3, 3)),
    ("clamp_min", lambda t: t.clamp(min_=0.5), lambda v: np.maximum(v, 0.5), (-3, 3)),
]
UNARY_CASES = [
    pytest.param(op, reference, bounds, dtype, id=f"{name}-{dtype.name}")
    for name, op, reference, bounds in UNARY
    for dtype in FLOATS
]


@pytest.mark.parametrize(("op", "reference", "bounds", "dtype"), UNARY_CASES)
def test_unary_float_op_matches_numpy(
    op: Callable[[Any], Any],
    reference: Callable[[Array], Any],
    bounds: tuple[float, float],
    dtype: DType,
    sample: Sampler,
    matches: Matcher,
) -> None:
    values = sample((7,), dtype, low=bounds[0], high=bounds[1])
    expected = np.asarray(reference(values.astype(np.float64)))
    loose = dtype == dtypes.float32
    matches(op(Tensor(values)), expected, dtype=dtype, rtol=2e-5 if loose else None, atol=2e-7 if loose else None)


def test_round_goes_half_to_even(matches: Matcher) -> None:
    values = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5], dtype=np.float32)
    matches(Tensor(values).round(), np.round(values))


# name, lamina op, numpy op on the integers (the result dtype is checked separately)
INT_UNARY: list[tuple[str, Callable[[Any], Any], Callable[[Array], Any]]] = [
    ("neg", lambda t: -t, np.negative),
    ("abs", lambda t: t.abs(), np.abs),
    ("sign", lambda t: t.sign(), np.sign),
    ("square", lambda t: t.square(), np.square),
    ("relu", lambda t: t.relu(), lambda v: np.maximum(v, 0)),
    ("floor", lambda t: t.floor(), np.floor),
    ("clip", lambda t: t.clip(-1, 2), lambda v: np.clip(v, -1, 2)),
    ("pow3", lambda t: t**3, lambda v: v**3),
]


@pytest.mark.parametrize(("name", "op", "reference"), INT_UNARY, ids=[name for name, _, _ in INT_UNARY])
@pytest.mark.parametrize("dtype", [dtypes.int32, dtypes.int64, dtypes.int8], ids=lambda d: d.name)
def test_integer_unary_op_keeps_the_dtype(
    name: str,
    op: Callable[[Any], Any],
    reference: Callable[[Array], Any],
    dtype: DType,
    sample: Sampler,
    matches: Matcher,
) -> None:
    values = sample((6,), dtype, low=-4, high=4)
    matches(op(Tensor(values)), np.asarray(reference(values)).astype(values.dtype), dtype=dtype)


@pytest.mark.parametrize(
    ("name", "op", "reference"),
    [
        ("exp", lambda t: t.exp(), np.exp),
        ("sqrt", lambda t: t.sqrt(), np.sqrt),
        ("sigmoid", lambda t: t.sigmoid(), _sigmoid),
    ],
    ids=["exp", "sqrt", "sigmoid"],
)
def test_float_function_of_integers_computes_in_default_float(
    name: str, op: Callable[[Any], Any], reference: Callable[[Array], Any], matches: Matcher
) -> None:
    values = np.array([0, 1, 2, 3], dtype=np.int32)
    matches(op(Tensor(values)), np.asarray(reference(values.astype(np.float64))), dtype=dtypes.float32)


def test_uint8_arithmetic_wraps_like_numpy(matches: Matcher) -> None:
    values = np.array([0, 1, 250], dtype=np.uint8)
    matches(Tensor(values) - 2, values - np.uint8(2), dtype=dtypes.uint8)
    matches(Tensor(values) + 10, values + np.uint8(10), dtype=dtypes.uint8)


@pytest.mark.parametrize("dtype", [dtypes.float32, dtypes.float64, dtypes.float16], ids=lambda d: d.name)
def test_float_pow_matches_numpy(dtype: DType, sample: Sampler, matches: Matcher) -> None:
    base = sample((2, 3), dtype, low=0.2, high=3)
    exponent = sample((3,), dtype, low=-2, high=2, seed=1)
    matches(Tensor(base) ** Tensor(exponent), base.astype(np.float64) ** exponent.astype(np.float64), dtype=dtype)
    matches(Tensor(base) ** 2.5, base.astype(np.float64) ** 2.5, dtype=dtype)
    matches(2.0 ** Tensor(exponent), 2.0 ** exponent.astype(np.float64), dtype=dtype)
    matches(Tensor(base) ** 0.5, np.sqrt(base.astype(np.float64)), dtype=dtype)
    matches(Tensor(base) ** 0, np.ones_like(base), dtype=dtype)


@pytest.mark.parametrize("dtype", [dtypes.int32, dtypes.int64, dtypes.int8], ids=lambda d: d.name)
def test_integer_pow_with_integer_tensor_exponent_stays_integral(dtype: DType, matches: Matcher) -> None:
    base = np.array([-3, -2, 0, 2, 5], dtype=to_numpy_dtype(dtype))
    exponent = np.array([3, 2, 4, 5, 2], dtype=to_numpy_dtype(dtype))
    matches(Tensor(base) ** Tensor(exponent), base**exponent, dtype=dtype)


def test_pow_of_negative_base_with_integral_exponent(matches: Matcher) -> None:
    base = np.array([-2.0, -1.5, 3.0], dtype=np.float32)
    matches(Tensor(base) ** 3, base**3)
    matches(Tensor(base) ** 2.0, base**2.0)
    matches(Tensor(base) ** Tensor(np.full(3, 3.0, np.float32)), base**3)
