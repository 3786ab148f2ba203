"""reduce_shape: reduced axes dropped or kept as 1, checked against numpy.sum on zero arrays."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

from lamina.shape import Shape, reduce_shape


@pytest.mark.parametrize(
    ("shape", "axes", "keepdim", "expected"),
    [
        ((2, 3, 4), (1,), False, (2, 4)),
        ((2, 3, 4), (1,), True, (2, 1, 4)),
        ((2, 3, 4), (-1, 0), False, (3,)),
        ((2, 3, 4), (0, 1, 2), False, ()),
        ((2, 3, 4), (0, 1, 2), True, (1, 1, 1)),
        ((2, 3), (), False, (2, 3)),
        ((0, 3), (0,), False, (3,)),
        ((0, 3), (0,), True, (1, 3)),
        ((), (), False, ()),
        ((), (0,), False, ()),
        ((), (-1,), True, ()),
    ],
)
def test_reduce_shape_drops_or_keeps_reduced_axes(
    shape: Shape, axes: tuple[int, ...], keepdim: bool, expected: Shape
) -> None:
    assert reduce_shape(shape, axes, keepdim) == expected


def test_reduce_shape_rejects_out_of_range_and_repeated_axes() -> None:
    with pytest.raises(IndexError, match="axis 2 is out of range for 2 dimensions"):
        reduce_shape((2, 3), (2,), keepdim=False)
    with pytest.raises(ValueError, match="same axis twice"):
        reduce_shape((2, 3), (1, -1), keepdim=True)


@given(st.data())
def test_reduce_shape_matches_numpy_sum(data: st.DataObject) -> None:
    # numpy refuses axis 0 of a 0-d array where torch accepts it; the unit tests cover 0-d.
    shape = data.draw(array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=4))
    ndim = len(shape)
    axes = data.draw(st.lists(st.integers(-ndim - 1, ndim), max_size=ndim + 1))
    keepdim = data.draw(st.booleans())
    try:
        expected = np.sum(np.zeros(shape), axis=tuple(axes), keepdims=keepdim).shape
    except (ValueError, IndexError):
        with pytest.raises((ValueError, IndexError)):
            reduce_shape(shape, axes, keepdim)
        return
    assert reduce_shape(shape, axes, keepdim) == expected
