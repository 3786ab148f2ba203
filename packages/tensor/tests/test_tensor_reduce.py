"""Reductions, softmax-family functions, cumsum and matrix products against numpy.

Axes come as an int, a tuple, None or negative, with and without keepdim; inputs include
integer and bool dtypes, 0-d and 0-size tensors and non-contiguous views.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from lamina.dtype import DType, dtypes
from lamina.tensor import Tensor

Sampler = Callable[..., npt.NDArray[Any]]
Matcher = Callable[..., None]
Array = npt.NDArray[Any]
Axis = int | tuple[int, ...] | None

# every axis form, each once with and once without keepdim across the table
AXES: list[tuple[Axis, bool]] = [(None, False), (None, True), (0, True), (-1, False), ((0, 2), False), ((-1, -2), True)]


def _logsumexp(values: Array, axis: Axis, keepdims: bool) -> Array:
    peak = values.max(axis=axis, keepdims=True)
    total = np.log(np.exp(values - peak).sum(axis=axis, keepdims=True)) + peak
    result: Array = total if keepdims else np.squeeze(total, axis=axis)
    return result


# name, lamina reduction, numpy reduction
FLOAT_REDUCTIONS: list[tuple[str, Callable[[Any, Axis, bool], Any], Callable[[Array, Axis, bool], Any]]] = [
    ("sum", lambda t, a, k: t.sum(a, keepdim=k), lambda v, a, k: v.sum(axis=a, keepdims=k)),
    ("mean", lambda t, a, k: t.mean(a, keepdim=k), lambda v, a, k: v.mean(axis=a, keepdims=k)),
    ("max", lambda t, a, k: t.amax(a, keepdim=k), lambda v, a, k: v.max(axis=a, keepdims=k)),
    ("min", lambda t, a, k: t.amin(a, keepdim=k), lambda v, a, k: v.min(axis=a, keepdims=k)),
    ("prod", lambda t, a, k: t.prod(a, keepdim=k), lambda v, a, k: v.prod(axis=a, keepdims=k)),
    ("var", lambda t, a, k: t.var(a, keepdim=k), lambda v, a, k: v.var(axis=a, keepdims=k, ddof=1)),
    ("std", lambda t, a, k: t.std(a, keepdim=k), lambda v, a, k: v.std(axis=a, keepdims=k, ddof=1)),
    ("logsumexp", lambda t, a, k: t.logsumexp(a, keepdim=k), _logsumexp),
]


@pytest.mark.parametrize(("name", "op", "reference"), FLOAT_REDUCTIONS, ids=[name for name, _, _ in FLOAT_REDUCTIONS])
@pytest.mark.parametrize(("axis", "keepdim"), AXES, ids=str)
def test_float_reduction_matches_numpy(
    name: str,
    op: Callable[[Any, Axis, bool], Any],
    reference: Callable[[Array, Axis, bool], Any],
    axis: Axis,
    keepdim: bool,
    sample: Sampler,
    matches: Matcher,
) -> None:
    values = sample((2, 3, 4), dtypes.float32, low=0.5, high=1.5)
    expected = np.asarray(reference(values.astype(np.float64), axis, keepdim))
    matches(op(Tensor(values), axis, keepdim), expected, dtype=dtypes.float32, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [dtypes.float64, dtypes.float16], ids=lambda d: d.name)
@pytest.mark.parametrize(("name", "op", "reference"), FLOAT_REDUCTIONS, ids=[name for name, _, _ in FLOAT_REDUCTIONS])
def test_float_reduction_keeps_other_float_dtypes(
    name: str,
    op: Callable[[Any, Axis, bool], Any],
    reference: Callable[[Array, Axis, bool], Any],
    dtype: DType,
    sample: Sampler,
    matches: Matcher,
) -> None:
    values = sample((3, 4), dtype, low=0.5, high=1.5)
    expected = np.asarray(reference(values.astype(np.float64), 1, False))
    matches(op(Tensor(values), 1, False), expected, dtype=dtype)


# name, lamina reduction, numpy reduction, result dtype for each input dtype (None: the input dtype)
INT_REDUCTIONS: list[tuple[str, Callable[[Any, Axis], Any], Callable[[Array, Axis], Any], DType | None]] = [
    ("sum", lambda t, a: t.sum(a), lambda v, a: v.sum(axis=a), dtypes.int64),
    ("prod", lambda t, a: t.prod(a), lambda v, a: v.prod(axis=a), dtypes.int64),
    ("max", lambda t, a: t.amax(a), lambda v, a: v.max(axis=a), None),
    ("min", lambda t, a: t.amin(a), lambda v, a: v.min(axis=a), None),
    ("mean", lambda t, a: t.mean(a), lambda v, a: v.mean(axis=a), dtypes.float32),
    ("any", lambda t, a: t.any(a), lambda v, a: v.any(axis=a), dtypes.bool),
    ("all", lambda t, a: t.all(a), lambda v, a: v.all(axis=a), dtypes.bool),
    (
        "argmax",
        lambda t, a: t.argmax(a),
        lambda v, a: np.argmax(v, axis=a if isinstance(a, int) else None),
        dtypes.int64,
    ),
    (
        "argmin",
        lambda t, a: t.argmin(a),
        lambda v, a: np.argmin(v, axis=a if isinstance(a, int) else None),
        dtypes.int64,
    ),
]


ORDERED_ONLY = ("max", "min", "prod", "argmax", "argmin")
INT_REDUCTION_CASES = [
    pytest.param(op, reference, result_dtype, dtype, id=f"{name}-{dtype.name}")
    for name, op, reference, result_dtype in INT_REDUCTIONS
    for dtype in (dtypes.int32, dtypes.int8, dtypes.uint8, dtypes.bool)
    if not (dtype.is_bool and name in ORDERED_ONLY)
]


@pytest.mark.parametrize(("op", "reference", "result_dtype", "dtype"), INT_REDUCTION_CASES)
@pytest.mark.parametrize("axis", [None, 1], ids=str)
def test_integer_reduction_matches_numpy(
    op: Callable[[Any, Axis], Any],
    reference: Callable[[Array, Axis], Any],
    result_dtype: DType | None,
    dtype: DType,
    axis: Axis,
    sample: Sampler,
    matches: Matcher,
) -> None:
    values = sample((3, 5), dtype, low=-4, high=4)
    matches(op(Tensor(values), axis), np.asarray(reference(values, axis)), dtype=result_dtype or dtype)


def test_sum_of_int8_does_not_overflow(matches: Matcher) -> None:
    values = np.full((100,), 100, dtype=np.int8)
    matches(Tensor(values).sum(), np.int64(10000), dtype=dtypes.int64)


def test_argmax_and_argmin_pick_the_first_of_ties(matches: Matcher) -> None:
    values = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, -1.0, -1.0]], dtype=np.float32)
    matches(Tensor(values).argmax(1), [1, 0])
    matches(Tensor(values).argmin(1), [3, 2])
    matches(Tensor(values).argmax(), np.int64(1))
    matches(Tensor(values).argmin(0, keepdim=True), [[0, 1, 1, 1]])


def test_argmax_of_uint8_and_negative_floats(matches: Matcher) -> None:
    matches(Tensor(np.array([3, 250, 7], np.uint8)).argmax(), np.int64(1))
    matches(Tensor(np.array([3, 250, 7], np.uint8)).argmin(), np.int64(0))
    matches(Tensor([-5.0, -1.0, -3.0]).argmax(), np.int64(1))


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize(
    ("name", "op", "reference"),
    [
        ("softmax", lambda t, a: t.softmax(a), lambda v, a: np.exp(v - _logsumexp(v, a, True))),
        ("log_softmax", lambda t, a: t.log_softmax(a), lambda v, a: v - _logsumexp(v, a, True)),
        ("cumsum", lambda t, a: t.cumsum(a), lambda v, a: np.cumsum(v, axis=a)),
    ],
    ids=["softmax", "log_softmax", "cumsum"],
)
def test_axis_preserving_reduction_matches_numpy(
    name: str,
    op: Callable[[Any, int], Any],
    reference: Callable[[Array, int], Array],
    axis: int,
    sample: Sampler,
    matches: Matcher,
) -> None:
    values = sample((3, 4), dtypes.float32)
    matches(op(Tensor(values), axis), reference(values.astype(np.float64), axis), dtype=dtypes.float32)


def test_softmax_is_stable_for_large_inputs(matches: Matcher) -> None:
    values = np.array([1000.0, 1001.0, 1002.0], dtype=np.float32)
    shifted = values - values.max()
    matches(Tensor(values).softmax(), np.exp(shifted) / np.exp(shifted).sum())
    matches(Tensor(values).logsumexp(), np.float32(1002.0 + np.log(np.exp(shifted).sum())))


def test_cumsum_of_integers_and_of_a_0d_tensor(matches: Matcher) -> None:
    matches(Tensor([1, 2, 3, -4], dtype=dtypes.int32).cumsum(), np.cumsum(np.array([1, 2, 3, -4])))
    matches(Tensor(5.0).cumsum(), np.float32(5.0))


def test_reductions_of_a_0d_tensor(matches: Matcher) -> None:
    scalar = Tensor(3.0)
    matches(scalar.sum(), np.float32(3.0))
    matches(scalar.max(), np.float32(3.0))
    matches(scalar.mean(), np.float32(3.0))
    matches(scalar.argmax(), np.int64(0))


def test_reductions_of_zero_size_tensors(matches: Matcher) -> None:
    empty = Tensor(np.zeros((0, 3), dtype=np.float32))
    matches(empty.sum(0), np.zeros(3, np.float32))
    matches(empty.sum(1), np.zeros(0, np.float32))
    matches(empty.prod(0), np.ones(3, np.float32))
    matches(empty.amax(1), np.zeros(0, np.float32))
    matches(empty.any(0), np.zeros(3, bool))
    matches(empty.all(0), np.ones(3, bool))
    assert np.isnan(empty.mean().item())


@pytest.mark.parametrize(
    "op", [lambda t: t.max(0), lambda t: t.min(), lambda t: t.argmax(0)], ids=["max", "min", "argmax"]
)
def test_extreme_of_an_empty_dim_is_rejected_when_built(op: Callable[[Any], Any]) -> None:
    with pytest.raises(ValueError, match=re.escape("(0, 3)")):
        op(Tensor(np.zeros((0, 3), dtype=np.float32)))


@pytest.mark.parametrize("axis", [3, -4, (0, 0)], ids=str)
def test_bad_axis_is_rejected_when_built(axis: Axis) -> None:
    with pytest.raises((IndexError, ValueError)):
        Tensor.zeros(2, 3, 4).sum(axis)


def test_reduction_of_non_contiguous_views(sample: Sampler, matches: Matcher) -> None:
    values = sample((4, 6), dtypes.float32)
    tensor = Tensor(values)
    matches(tensor.permute(1, 0).sum(1), values.T.sum(1))
    matches(tensor[::2, ::-3].amax(0), values[::2, ::-3].max(0))
    matches(tensor.flip(1).cumsum(1), np.cumsum(values[:, ::-1], axis=1))
    matches(tensor[:1].expand(3, 4, 6).sum((0, 2)), np.broadcast_to(values[:1], (3, 4, 6)).sum((0, 2)))


# left shape, right shape (torch.matmul's 1-D, batched and broadcasting cases)
MATMUL_SHAPES = [
    ((3, 4), (4, 5)),
    ((4,), (4,)),
    ((4,), (4, 5)),
    ((3, 4), (4,)),
    ((2, 3, 4), (4, 5)),
    ((2, 3, 4), (2, 4, 5)),
    ((2, 1, 3, 4), (5, 4, 2)),
    ((4,), (2, 4, 5)),
    ((2, 3, 4), (4,)),
    ((0, 4), (4, 5)),
    ((3, 0), (0, 5)),
]


@pytest.mark.parametrize(("left", "right"), MATMUL_SHAPES, ids=str)
def test_matmul_follows_torch_shape_rules(
    left: tuple[int, ...], right: tuple[int, ...], sample: Sampler, matches: Matcher
) -> None:
    a = sample(left, dtypes.float32)
    b = sample(right, dtypes.float32, seed=1)
    matches(Tensor(a) @ Tensor(b), a.astype(np.float64) @ b.astype(np.float64), dtype=dtypes.float32)


@pytest.mark.parametrize("dtype", [dtypes.float64, dtypes.float16, dtypes.int32, dtypes.int8], ids=lambda d: d.name)
def test_matmul_in_other_dtypes(dtype: DType, sample: Sampler, matches: Matcher) -> None:
    a = sample((3, 4), dtype)
    b = sample((4, 2), dtype, seed=1)
    expected = a.astype(np.float64) @ b.astype(np.float64)
    result = Tensor(a) @ Tensor(b)
    assert result.dtype == dtype  # torch keeps the operands' dtype (integers wrap in it)
    matches(result, expected)


def test_matmul_of_transposed_and_sliced_operands(sample: Sampler, matches: Matcher) -> None:
    a = sample((5, 3), dtypes.float32)
    b = sample((5, 10), dtypes.float32, seed=1)
    matches(Tensor(a).T @ Tensor(b)[::-1, ::2][:5], a.T @ b[::-1, ::2][:5])
    matches(Tensor(b)[:3, 1::2].T @ Tensor(a).flip(0)[:3], b[:3, 1::2].T @ a[::-1][:3])


def test_dot_and_linear(sample: Sampler, matches: Matcher) -> None:
    x = sample((2, 4), dtypes.float32)
    weight = sample((3, 4), dtypes.float32, seed=1)
    bias = sample((3,), dtypes.float32, seed=2)
    matches(Tensor(x).linear(Tensor(weight), Tensor(bias)), x @ weight.T + bias)
    matches(Tensor(x).linear(Tensor(weight)), x @ weight.T)
    matches(Tensor(x[0]).dot(Tensor(weight[0])), np.float32(x[0] @ weight[0]))


@pytest.mark.parametrize(
    ("left", "right"), [((3, 4), (5, 6)), ((2, 3, 4), (3, 4, 5)), ((4,), (5,)), ((), (4,))], ids=str
)
def test_matmul_rejects_mismatched_shapes_when_built(left: tuple[int, ...], right: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=f"{re.escape(str(left))}.*{re.escape(str(right))}"):
        _ = Tensor.zeros(*left) @ Tensor.zeros(*right)


def test_dot_rejects_matrices_when_built() -> None:
    with pytest.raises(ValueError, match=re.escape("(2, 2)")):
        Tensor.zeros(2, 2).dot(Tensor.zeros(2))
