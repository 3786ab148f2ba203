"""Choices, casts and layouts against numpy: `where` (both spellings) and `lerp`, the logical and NaN/inf
tests, casts between every kind of dtype, elementwise work on non-contiguous views and 0-d tensors."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from lamina.dtype import DType, dtypes, to_numpy_dtype
from lamina.tensor import Tensor, where

Sampler = Callable[..., npt.NDArray[Any]]
Matcher = Callable[..., None]
Array = npt.NDArray[Any]


def test_where_broadcasts_condition_and_branches(matches: Matcher) -> None:
    condition = np.array([[True], [False]])
    left = np.arange(3, dtype=np.float32)
    right = np.array(-1.0, dtype=np.float32)
    matches(
        where(Tensor(condition), Tensor(left), Tensor(right)), np.where(condition, left, right), dtype=dtypes.float32
    )
    matches(where(Tensor(condition), Tensor(left), 7), np.where(condition, left, 7), dtype=dtypes.float32)
    matches(where(Tensor(condition), 1, 0), np.where(condition, 1, 0), dtype=dtypes.int64)
    matches(where(Tensor(condition), 1.5, 0), np.where(condition, 1.5, 0), dtype=dtypes.float32)


def test_tensor_where_takes_the_condition_first_like_torch(matches: Matcher) -> None:
    # torch's Tensor.where(condition, y) is where(condition, self, y): self is the value, not the condition.
    values = np.array([1.0, -2.0, 3.0], dtype=np.float32)
    condition = np.array([True, False, True])
    matches(Tensor(values).where(Tensor(condition), 0.0), np.where(condition, values, 0.0), dtype=dtypes.float32)
    matches(Tensor(values).where(Tensor(values) > 0, Tensor([9.0])), np.where(values > 0, values, 9.0))
    with pytest.raises(TypeError, match="condition Tensor"):
        Tensor(values).where(True, 0.0)  # type: ignore[arg-type]


def test_where_with_integer_condition_treats_nonzero_as_true(matches: Matcher) -> None:
    condition = np.array([0, 2, -1], dtype=np.int32)
    matches(where(Tensor(condition), 1.0, 0.0), np.array([0.0, 1.0, 1.0], dtype=np.float32))


def test_where_rejects_shapes_that_do_not_broadcast() -> None:
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)|\(3,\).*\(2,\)"):
        where(Tensor([True, False]), Tensor([1.0, 2.0, 3.0]), 0.0)


def test_lerp_matches_formula(matches: Matcher) -> None:
    start = np.array([0.0, 1.0, 2.0], dtype=np.float32)
    end = np.array([10.0, 11.0, 12.0], dtype=np.float32)
    matches(Tensor(start).lerp(Tensor(end), 0.25), start + (end - start) * 0.25)
    matches(Tensor(start).lerp(Tensor(end), Tensor(np.array([0.0, 0.5, 1.0], np.float32))), [0.0, 6.0, 12.0])


def test_logical_not_isnan_isinf(matches: Matcher) -> None:
    values = np.array([0.0, 1.0, np.nan, np.inf, -np.inf, -2.0], dtype=np.float32)
    tensor = Tensor(values)
    matches(tensor.isnan(), np.isnan(values), dtype=dtypes.bool)
    matches(tensor.isinf(), np.isinf(values), dtype=dtypes.bool)
    matches(tensor.logical_not(), np.logical_not(values), dtype=dtypes.bool)
    matches(Tensor([1, 0, 3]).isinf(), [False, False, False], dtype=dtypes.bool)


# source values, target dtype, expected values
CASTS: list[tuple[list[Any], DType, list[Any]]] = [
    ([1.7, -1.7, 0.0], dtypes.int32, [1, -1, 0]),
    ([1.7, -1.7, 0.0], dtypes.int8, [1, -1, 0]),
    ([250.9, 3.2, 0.0], dtypes.uint8, [250, 3, 0]),
    ([1.5, 0.0, -0.25], dtypes.bool, [True, False, True]),
    ([1.0009765625, 2.5, -65504.0], dtypes.float16, [1.0009765625, 2.5, -65504.0]),
    ([1.25, -3.5, 1e10], dtypes.float64, [1.25, -3.5, 1e10]),
]


@pytest.mark.parametrize(("values", "dtype", "expected"), CASTS, ids=[dtype.name for _, dtype, _ in CASTS])
def test_cast_from_float32(values: list[Any], dtype: DType, expected: list[Any], matches: Matcher) -> None:
    matches(Tensor(values, dtype=dtypes.float32).cast(dtype), np.array(expected, to_numpy_dtype(dtype)), dtype=dtype)


@pytest.mark.parametrize(
    ("method", "dtype"),
    [
        ("float", dtypes.float32),
        ("int", dtypes.int32),
        ("half", dtypes.float16),
        ("bool", dtypes.bool),
        ("double", dtypes.float64),
        ("long", dtypes.int64),
    ],
)
def test_cast_shorthands(method: str, dtype: DType, matches: Matcher) -> None:
    values = np.array([0, 2, -3], dtype=np.int8)
    matches(getattr(Tensor(values), method)(), values.astype(to_numpy_dtype(dtype)), dtype=dtype)


def test_cast_from_bool_and_int_to_float(matches: Matcher) -> None:
    matches(Tensor([True, False]).float(), [1.0, 0.0], dtype=dtypes.float32)
    matches(Tensor([-3, 4], dtype=dtypes.int64).half(), [-3.0, 4.0], dtype=dtypes.float16)


# how a view is made from a contiguous (4, 6) array, in numpy and in lamina
VIEWS: list[tuple[str, Callable[[Any], Any]]] = [
    ("permuted", lambda a: a.transpose(1, 0) if isinstance(a, np.ndarray) else a.permute(1, 0)),
    ("stepped", lambda a: a[1::2, ::3]),
    ("negative-step", lambda a: a[::-1, 4:0:-2]),
    ("flipped", lambda a: a[::-1, ::-1] if isinstance(a, np.ndarray) else a.flip((0, 1))),
    ("expanded", lambda a: np.broadcast_to(a[:1], (3, 4, 6)) if isinstance(a, np.ndarray) else a[:1].expand(3, 4, 6)),
]


@pytest.mark.parametrize(("name", "view"), VIEWS, ids=[name for name, _ in VIEWS])
@pytest.mark.parametrize("dtype", [dtypes.float32, dtypes.int32], ids=lambda d: d.name)
def test_elementwise_on_non_contiguous_views(
    name: str, view: Callable[[Any], Any], dtype: DType, sample: Sampler, matches: Matcher
) -> None:
    values = sample((4, 6), dtype, low=1, high=9)
    expected_view = view(values)
    result = view(Tensor(values)) * 3 + view(Tensor(values)).maximum(2)
    matches(result, expected_view * 3 + np.maximum(expected_view, 2), dtype=dtype)


def test_zero_dim_tensors_combine_with_scalars_and_vectors(matches: Matcher) -> None:
    scalar = Tensor(2.5)
    assert scalar.shape == ()
    matches(scalar * 2, np.float32(5.0))
    matches(scalar + Tensor([1.0, 2.0]), [3.5, 4.5])
    matches((scalar - 0.5).exp(), np.exp(np.float32(2.0)))
    assert (scalar * 4).item() == 10.0


@pytest.mark.parametrize("shape", [(0,), (2, 0), (0, 3)])
def test_zero_size_tensors_broadcast_to_empty_results(shape: tuple[int, ...], matches: Matcher) -> None:
    empty = Tensor(np.zeros(shape, dtype=np.float32))
    result = (empty + 1).exp() * Tensor(np.ones(shape[-1:], dtype=np.float32))
    matches(result, np.zeros(shape, dtype=np.float32))
    assert result.numel() == 0


@pytest.mark.parametrize(
    ("left", "right"),
    [((2, 3), (4,)), ((2, 3), (3, 2)), ((4, 1, 3), (2, 2))],
)
def test_binary_op_rejects_shapes_that_do_not_broadcast_when_built(
    left: tuple[int, ...], right: tuple[int, ...]
) -> None:
    a, b = Tensor.zeros(*left), Tensor.zeros(*right)
    with pytest.raises(ValueError, match=re_shapes(left, right)):
        _ = a + b


def re_shapes(left: tuple[int, ...], right: tuple[int, ...]) -> str:
    """A pattern matching a message that names both shapes."""
    return ".*".join(re.escape(str(shape)) for shape in (left, right))


def test_combining_with_unsupported_objects_raises_type_error() -> None:
    with pytest.raises(TypeError):
        _ = Tensor([1.0]) + "a"  # type: ignore[operator]


@pytest.mark.parametrize(
    ("op", "error", "text"),
    [
        (lambda: -Tensor([True, False]), TypeError, "bool"),
        (lambda: Tensor([1.0]) << 1, TypeError, "float32"),
        (lambda: Tensor.rand(2, dtype=dtypes.int32), TypeError, "int32"),
        (lambda: Tensor([1.0]).clip(), ValueError, "clip"),
        (lambda: Tensor([1.0]).gelu(approximate="fast"), ValueError, "fast"),
    ],
    ids=["neg-bool", "shift-float", "rand-int", "clip-no-bounds", "gelu-mode"],
)
def test_bad_dtype_or_argument_is_rejected_when_built(op: Callable[[], Any], error: type[Exception], text: str) -> None:
    with pytest.raises(error, match=text):
        op()


def test_shifts_match_numpy(matches: Matcher) -> None:
    values = np.array([1, 5, 64, 7], dtype=np.int32)
    matches(Tensor(values) << 2, values << 2, dtype=dtypes.int32)
    matches(Tensor(values) >> 1, values >> 1, dtype=dtypes.int32)


def test_gelu_tanh_approximation(matches: Matcher) -> None:
    values = np.linspace(-3, 3, 7, dtype=np.float32)
    inner = np.sqrt(2 / np.pi) * (values + 0.044715 * values**3)
    matches(Tensor(values).gelu(approximate="tanh"), 0.5 * values * (1 + np.tanh(inner)), atol=1e-6)


def test_remembered_constants_keep_their_sign_and_type() -> None:
    # 0.0 == -0.0 and 1 == 1.0 == True in Python: the constants a scalar operand becomes must not be confused.
    x = Tensor(np.array([1.0, -2.0], dtype=np.float32))
    np.testing.assert_array_equal(np.signbit((x * 0.0).numpy()), [False, True])
    np.testing.assert_array_equal(np.signbit((x * -0.0).numpy()), [True, False])
    counts = Tensor(np.array([3, 4], dtype=np.int32))
    assert (counts + 1).dtype == dtypes.int32
    assert (counts + 1.0).dtype == dtypes.float32
    assert (counts + True).dtype == dtypes.int32
    np.testing.assert_array_equal((counts + True).numpy(), [4, 5])
    np.testing.assert_array_equal((1 - x).numpy(), [0.0, 3.0])
    assert np.isnan((x + float("nan")).numpy()).all()
