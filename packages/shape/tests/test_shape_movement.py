"""Movement-op shape rules (reshape, permute, pad, shrink, flip, squeeze, unsqueeze) against numpy on zero arrays."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

from lamina.shape import (
    Shape,
    flip_axes,
    pad_shape,
    permute_shape,
    prod,
    reshape_shape,
    shrink_shape,
    squeeze_shape,
    unsqueeze_shape,
)

_shapes = array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)
# numpy's pad, flip and squeeze do not take a 0-d array (or its axes) the way torch does: unit tests cover 0-d there.
_shapes_1d_up = array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=4)


def _outcome(call: Callable[[], Sequence[int]]) -> tuple[int, ...] | None:
    """The shape `call` returns, or None if it raises the way a bad shape argument does."""
    try:
        return tuple(call())
    except (ValueError, IndexError):
        return None


def _axis_lists(ndim: int) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(-ndim - 1, ndim), max_size=ndim + 1)


# reshape


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ((2, 3), (3, 2), (3, 2)),
        ((2, 3), (-1,), (6,)),
        ((2, 3, 4), (4, -1), (4, 6)),
        ((), (1, 1), (1, 1)),
        ((1, 1), (), ()),
        ((), (-1,), (1,)),
        ((0, 3), (-1, 3), (0, 3)),
        ((0, 3), (3, 0, 5), (3, 0, 5)),
        ((0, 4), (-1, 2), (0, 2)),
    ],
)
def test_reshape_shape_infers_the_minus_one(old: Shape, new: tuple[int, ...], expected: Shape) -> None:
    assert reshape_shape(old, new) == expected


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ((2, 3), (4, 2), "6 elements"),
        ((2, 3), (4, -1), "no size for -1"),
        ((0, 3), (0, -1), "no size for -1"),
        ((2, 3), (-1, -1), "only one dimension"),
        ((2, 3), (-2, 3), "non-negative or -1"),
    ],
)
def test_reshape_shape_errors_name_both_shapes(old: Shape, new: tuple[int, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        reshape_shape(old, new)
    assert str(old) in str(info.value)
    assert str(new) in str(info.value)


@st.composite
def _reshapes(draw: st.DrawFn) -> tuple[Shape, list[int]]:
    old = draw(_shapes)
    regrouped = draw(st.permutations(list(old)))
    if draw(st.booleans()):
        new = draw(st.lists(st.integers(-1, 6), max_size=4))
    else:
        # Merge neighbours and drop in 1s so most targets hold the same element count.
        new = list(regrouped)
        while len(new) > 1 and draw(st.booleans()):
            new[-2:] = [new[-2] * new[-1]]
        new.insert(draw(st.integers(0, len(new))), 1)
    for _ in range(draw(st.integers(0, 2))):
        if new:
            new[draw(st.integers(0, len(new) - 1))] = -1
    return old, new


@given(_reshapes())
def test_reshape_shape_matches_numpy_reshape(case: tuple[Shape, list[int]]) -> None:
    old, new = case
    assert _outcome(lambda: reshape_shape(old, new)) == _outcome(lambda: np.zeros(old).reshape(new).shape)


@given(_reshapes())
def test_reshape_shape_keeps_the_element_count(case: tuple[Shape, list[int]]) -> None:
    old, new = case
    result = _outcome(lambda: reshape_shape(old, new))
    if result is not None:
        assert prod(result) == prod(old)


# permute


@pytest.mark.parametrize(
    ("shape", "order", "expected"),
    [((), (), ()), ((2, 3), (1, 0), (3, 2)), ((2, 3, 4), (-1, 0, 1), (4, 2, 3)), ((0, 1, 5), (2, 0, 1), (5, 0, 1))],
)
def test_permute_shape_reorders_dimensions(shape: Shape, order: tuple[int, ...], expected: Shape) -> None:
    assert permute_shape(shape, order) == expected


@pytest.mark.parametrize("order", [(0,), (0, 0), (0, 1, 2), (1, -1)])
def test_permute_shape_rejects_non_permutations(order: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"\(0|\(1"):
        permute_shape((2, 3), order)


@given(st.data())
def test_permute_shape_matches_numpy_transpose(data: st.DataObject) -> None:
    shape = data.draw(_shapes)
    ndim = len(shape)
    order = data.draw(st.one_of(st.permutations(range(ndim)), _axis_lists(ndim)))
    if data.draw(st.booleans()):
        order = [axis - ndim for axis in order]
    expected = _outcome(lambda: np.transpose(np.zeros(shape), order).shape)
    assert _outcome(lambda: permute_shape(shape, order)) == expected


# pad


@pytest.mark.parametrize(
    ("shape", "padding", "expected"),
    [
        ((), (), ()),
        ((3,), ((1, 2),), (6,)),
        ((3, 4), ((0, 0), (-1, -2)), (3, 1)),
        ((2,), ((-2, 3),), (3,)),
        ((0, 2), ((1, 1), (0, 0)), (2, 2)),
        ((2,), ((-1, -1),), (0,)),
    ],
)
def test_pad_shape_adds_and_crops(shape: Shape, padding: tuple[tuple[int, int], ...], expected: Shape) -> None:
    assert pad_shape(shape, padding) == expected


@pytest.mark.parametrize(
    ("shape", "padding", "message"),
    [
        ((3,), ((1, 1), (1, 1)), "2 pairs but shape"),
        ((2,), ((-2, -1),), "crops more"),
        ((2,), ((-3, 5),), "crops more"),
        ((0,), ((0, -1),), "crops more"),
    ],
)
def test_pad_shape_errors_name_shape_and_padding(
    shape: Shape, padding: tuple[tuple[int, int], ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as info:
        pad_shape(shape, padding)
    assert str(shape) in str(info.value)


@given(st.data())
def test_pad_shape_matches_numpy_pad(data: st.DataObject) -> None:
    shape = data.draw(_shapes_1d_up)
    padding = [(data.draw(st.integers(0, 3)), data.draw(st.integers(0, 3))) for _ in shape]
    assert pad_shape(shape, padding) == np.pad(np.zeros(shape), _pad_width(padding)).shape


def _pad_width(padding: Sequence[tuple[int, int]]) -> np.ndarray:
    """`padding` as the (ndim, 2) integer array np.pad wants, which an empty list for a 0-d array is not."""
    return np.array(padding, dtype=np.intp).reshape(len(padding), 2)


def _crop_then_pad(array: np.ndarray, padding: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    """numpy's version of a signed pad: slice off the negative amounts, np.pad the positive ones."""
    slices: list[slice] = []
    for size, (before, after) in zip(array.shape, padding, strict=True):
        crop_before, crop_after = max(-before, 0), max(-after, 0)
        if crop_before + crop_after > size:
            raise ValueError(f"cannot crop {crop_before} + {crop_after} from size {size}")
        slices.append(slice(crop_before, size - crop_after))
    grow = [(max(before, 0), max(after, 0)) for before, after in padding]
    return np.pad(array[tuple(slices)], _pad_width(grow)).shape


@given(st.data())
def test_pad_shape_with_negative_padding_matches_numpy_slicing(data: st.DataObject) -> None:
    shape = data.draw(_shapes_1d_up)
    padding = [(data.draw(st.integers(-5, 3)), data.draw(st.integers(-5, 3))) for _ in shape]
    expected = _outcome(lambda: _crop_then_pad(np.zeros(shape), padding))
    assert _outcome(lambda: pad_shape(shape, padding)) == expected


# shrink


@pytest.mark.parametrize(
    ("shape", "bounds", "expected"),
    [((), (), ()), ((5,), ((1, 4),), (3,)), ((3, 4), ((0, 3), (2, 2)), (3, 0)), ((0,), ((0, 0),), (0,))],
)
def test_shrink_shape_keeps_the_window(shape: Shape, bounds: tuple[tuple[int, int], ...], expected: Shape) -> None:
    assert shrink_shape(shape, bounds) == expected


@pytest.mark.parametrize("bounds", [((-1, 2),), ((2, 1),), ((0, 4),), ((0, 1), (0, 1))])
def test_shrink_shape_rejects_windows_outside_the_shape(bounds: tuple[tuple[int, int], ...]) -> None:
    with pytest.raises(ValueError, match=r"\(3,\)"):
        shrink_shape((3,), bounds)


@given(st.data())
def test_shrink_shape_matches_numpy_slicing(data: st.DataObject) -> None:
    shape = data.draw(_shapes)
    bounds = [(data.draw(st.integers(-1, size + 1)), data.draw(st.integers(-1, size + 1))) for size in shape]
    valid = all(0 <= start <= end <= size for size, (start, end) in zip(shape, bounds, strict=True))
    result = _outcome(lambda: shrink_shape(shape, bounds))
    if not valid:
        assert result is None
    else:
        assert result == np.zeros(shape)[tuple(slice(start, end) for start, end in bounds)].shape


# flip


@pytest.mark.parametrize(
    ("shape", "axes", "expected"),
    [
        ((2, 3), 0, (True, False)),
        ((2, 3), [-1], (False, True)),
        ((2, 3, 4), (0, 2), (True, False, True)),
        ((2, 3), [], (False, False)),
        ((), 0, ()),
        ((), -1, ()),
    ],
)
def test_flip_axes_marks_the_flipped_dimensions(
    shape: Shape, axes: int | list[int], expected: tuple[bool, ...]
) -> None:
    assert flip_axes(shape, axes) == expected


def test_flip_axes_rejects_repeated_and_out_of_range_axes() -> None:
    with pytest.raises(ValueError, match="same axis twice"):
        flip_axes((2, 3), (1, -1))
    with pytest.raises(IndexError, match="axis 2"):
        flip_axes((2, 3), 2)


@given(st.data())
def test_flip_axes_matches_numpy_flip(data: st.DataObject) -> None:
    shape = data.draw(_shapes_1d_up)
    ndim = len(shape)
    axes: int | list[int] = data.draw(st.one_of(st.integers(-ndim - 1, ndim), _axis_lists(ndim)))
    array = np.arange(prod(shape)).reshape(shape)
    try:
        expected = np.flip(array, axes if isinstance(axes, int) else tuple(axes))
    except (ValueError, IndexError):
        with pytest.raises((ValueError, IndexError)):
            flip_axes(shape, axes)
        return
    flags = flip_axes(shape, axes)
    flipped = array[tuple(slice(None, None, -1) if flag else slice(None) for flag in flags)]
    np.testing.assert_array_equal(flipped, expected)


# squeeze / unsqueeze


@pytest.mark.parametrize(
    ("shape", "axis", "expected"),
    [
        ((1, 3, 1), None, (3,)),
        ((1, 3, 1), 0, (3, 1)),
        ((1, 3, 1), -1, (1, 3)),
        ((1, 3, 1), 1, (1, 3, 1)),
        ((1, 3, 1), (0, 1, 2), (3,)),
        ((), None, ()),
        ((), 0, ()),
        ((1,), None, ()),
        ((0, 1), None, (0,)),
    ],
)
def test_squeeze_shape_removes_size_1_dims_and_ignores_others(
    shape: Shape, axis: int | tuple[int, ...] | None, expected: Shape
) -> None:
    assert squeeze_shape(shape, axis) == expected


def test_squeeze_shape_rejects_bad_axes() -> None:
    with pytest.raises(IndexError, match="axis 3"):
        squeeze_shape((1, 2), 3)
    with pytest.raises(ValueError, match="same axis twice"):
        squeeze_shape((1, 2), (0, -2))


@given(st.data())
def test_squeeze_shape_matches_numpy_squeeze_of_the_size_1_axes(data: st.DataObject) -> None:
    shape = data.draw(_shapes_1d_up)
    ndim = len(shape)
    axis: int | list[int] | None = data.draw(st.one_of(st.none(), st.integers(-ndim - 1, ndim), _axis_lists(ndim)))
    array = np.zeros(shape)
    ours = _outcome(lambda: squeeze_shape(shape, axis))
    try:
        expected = np.squeeze(array, axis if axis is None or isinstance(axis, int) else tuple(axis)).shape
    except (ValueError, IndexError):
        if ours is None:
            return
        # numpy refuses to squeeze a dimension that is not 1 where torch leaves it alone.
        requested = [axis] if isinstance(axis, int) else list(axis or [])
        size_1 = tuple(a for a in requested if shape[a] == 1)
        expected = np.squeeze(array, size_1).shape
    assert ours == expected


@pytest.mark.parametrize(
    ("shape", "axis", "expected"),
    [((), 0, (1,)), ((), -1, (1,)), ((2, 3), 0, (1, 2, 3)), ((2, 3), 2, (2, 3, 1)), ((2, 3), -1, (2, 3, 1))],
)
def test_unsqueeze_shape_inserts_a_size_1_dim(shape: Shape, axis: int, expected: Shape) -> None:
    assert unsqueeze_shape(shape, axis) == expected


@pytest.mark.parametrize("axis", [3, -4])
def test_unsqueeze_shape_rejects_axes_past_ndim_plus_one(axis: int) -> None:
    with pytest.raises(IndexError, match=rf"shape \(2, 3\) at axis {axis}: expected -3 <= axis <= 2"):
        unsqueeze_shape((2, 3), axis)


@given(st.data())
def test_unsqueeze_shape_matches_numpy_expand_dims(data: st.DataObject) -> None:
    shape = data.draw(_shapes)
    axis = data.draw(st.integers(-len(shape) - 2, len(shape) + 1))
    expected = _outcome(lambda: np.expand_dims(np.zeros(shape), axis).shape)
    assert _outcome(lambda: unsqueeze_shape(shape, axis)) == expected
