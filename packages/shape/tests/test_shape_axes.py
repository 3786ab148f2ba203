"""Axis normalization: negative axes, range errors naming axis and ndim, 0-d tensors, repeats, permutations."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lamina.shape import normalize_axes, normalize_axis, normalize_permutation, transpose_order


@pytest.mark.parametrize(("axis", "ndim", "expected"), [(0, 1, 0), (-1, 1, 0), (2, 3, 2), (-3, 3, 0), (-1, 4, 3)])
def test_normalize_axis_wraps_negative_axes(axis: int, ndim: int, expected: int) -> None:
    assert normalize_axis(axis, ndim) == expected


@pytest.mark.parametrize(("axis", "ndim"), [(3, 3), (-4, 3), (1, 1), (-2, 1), (1, 0), (-2, 0)])
def test_normalize_axis_out_of_range_raises_index_error_naming_axis_and_ndim(axis: int, ndim: int) -> None:
    with pytest.raises(IndexError, match=rf"axis {axis} is out of range for {ndim} dimensions"):
        normalize_axis(axis, ndim)


@pytest.mark.parametrize("axis", [0, -1])
def test_normalize_axis_accepts_0_and_minus_1_on_a_scalar(axis: int) -> None:
    assert normalize_axis(axis, 0) == 0


def test_normalize_axis_rejects_negative_ndim() -> None:
    with pytest.raises(ValueError, match="ndim"):
        normalize_axis(0, -1)


def test_normalize_axis_rejects_non_integer_axes() -> None:
    with pytest.raises(TypeError):
        normalize_axis(1.0, 2)  # type: ignore[arg-type]


@given(ndim=st.integers(1, 8), axis=st.integers(-10, 10))
def test_normalize_axis_is_python_indexing(ndim: int, axis: int) -> None:
    axes = list(range(ndim))
    try:
        expected = axes[axis]
    except IndexError:
        with pytest.raises(IndexError):
            normalize_axis(axis, ndim)
    else:
        assert normalize_axis(axis, ndim) == expected


@pytest.mark.parametrize(
    ("axis", "ndim", "expected"),
    [
        (None, 3, (0, 1, 2)),
        (None, 0, ()),
        (-1, 3, (2,)),
        ([2, 0], 3, (0, 2)),
        ((-1, -3), 3, (0, 2)),
        ([], 2, ()),
        (0, 0, ()),
        ([-1], 0, ()),
    ],
)
def test_normalize_axes_returns_sorted_real_axes(
    axis: int | Sequence[int] | None, ndim: int, expected: tuple[int, ...]
) -> None:
    assert normalize_axes(axis, ndim) == expected


@pytest.mark.parametrize(("axis", "ndim"), [([0, 0], 2), ([1, -1], 2), ([0, -1], 0)])
def test_normalize_axes_rejects_repeated_axes(axis: Sequence[int], ndim: int) -> None:
    with pytest.raises(ValueError, match="same axis twice"):
        normalize_axes(axis, ndim)


def test_normalize_axes_rejects_out_of_range_axes() -> None:
    with pytest.raises(IndexError, match="axis 3"):
        normalize_axes([0, 3], 3)


@pytest.mark.parametrize(
    ("order", "ndim", "expected"),
    [((), 0, ()), ((0,), 1, (0,)), ((2, 0, 1), 3, (2, 0, 1)), ((-1, 0, -2), 3, (2, 0, 1))],
)
def test_normalize_permutation_wraps_negative_axes(
    order: tuple[int, ...], ndim: int, expected: tuple[int, ...]
) -> None:
    assert normalize_permutation(order, ndim) == expected


@pytest.mark.parametrize(("order", "ndim"), [((0,), 2), ((0, 1, 2), 2), ((0,), 0), ((0, 0), 2), ((1, -1), 2)])
def test_normalize_permutation_rejects_wrong_length_or_repeats(order: tuple[int, ...], ndim: int) -> None:
    with pytest.raises(ValueError, match=r"\(.*\)"):
        normalize_permutation(order, ndim)


def test_normalize_permutation_rejects_out_of_range_axes() -> None:
    with pytest.raises(IndexError, match="axis 2"):
        normalize_permutation((0, 2), 2)


@pytest.mark.parametrize(
    ("ndim", "dim0", "dim1", "expected"),
    [(2, 0, 1, (1, 0)), (3, 0, -1, (2, 1, 0)), (3, 1, 1, (0, 1, 2)), (4, -1, -2, (0, 1, 3, 2)), (0, 0, -1, ())],
)
def test_transpose_order_swaps_two_axes(ndim: int, dim0: int, dim1: int, expected: tuple[int, ...]) -> None:
    assert transpose_order(ndim, dim0, dim1) == expected


def test_transpose_order_rejects_out_of_range_axes() -> None:
    with pytest.raises(IndexError, match="axis 2 is out of range for 2 dimensions"):
        transpose_order(2, 0, 2)
