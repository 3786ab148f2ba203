"""matmul_shape: torch.matmul's 1-D and batch-broadcasting rules, checked against numpy.matmul on zero arrays."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

from lamina.shape import Shape, matmul_shape


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((3,), (3,), ()),
        ((2, 3), (3,), (2,)),
        ((3,), (3, 4), (4,)),
        ((2, 3), (3, 4), (2, 4)),
        ((5, 2, 3), (3,), (5, 2)),
        ((3,), (5, 3, 4), (5, 4)),
        ((7, 1, 2, 3), (5, 3, 4), (7, 5, 2, 4)),
        ((0, 3), (3, 2), (0, 2)),
        ((2, 0), (0, 4), (2, 4)),
        ((0,), (0,), ()),
        ((0, 2, 3), (1, 3, 4), (0, 2, 4)),
    ],
)
def test_matmul_shape_follows_torch_matmul(a: Shape, b: Shape, expected: Shape) -> None:
    assert matmul_shape(a, b) == expected


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        ((), (3,), "at least 1 dimension"),
        ((3,), (), "at least 1 dimension"),
        ((2, 3), (4, 5), "3 columns against 4 rows"),
        ((3,), (4,), "3 columns against 4 rows"),
        ((2, 2, 3), (3, 3, 4), "batch dimensions"),
    ],
)
def test_matmul_shape_errors_name_both_shapes(a: Shape, b: Shape, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        matmul_shape(a, b)
    assert str(a) in str(info.value)
    assert str(b) in str(info.value)


def _numpy_matmul_shape(a: Shape, b: Shape) -> Shape | None:
    try:
        return tuple(np.matmul(np.zeros(a), np.zeros(b)).shape)
    except ValueError:
        return None


def _our_matmul_shape(a: Shape, b: Shape) -> Shape | None:
    try:
        return matmul_shape(a, b)
    except ValueError:
        return None


_small_shapes = array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=3)


@given(_small_shapes, _small_shapes)
def test_matmul_shape_matches_numpy_on_random_shapes(a: Shape, b: Shape) -> None:
    assert _our_matmul_shape(a, b) == _numpy_matmul_shape(a, b)


@given(st.data())
def test_matmul_shape_matches_numpy_on_multipliable_shapes(data: st.DataObject) -> None:
    batch = data.draw(mutually_broadcastable_shapes(num_shapes=2, max_dims=2, min_side=0, max_side=3))
    rows, inner, columns = (data.draw(st.integers(0, 3)) for _ in range(3))
    a: Shape = (inner,) if data.draw(st.booleans()) else (*batch.input_shapes[0], rows, inner)
    b: Shape = (inner,) if data.draw(st.booleans()) else (*batch.input_shapes[1], inner, columns)
    assert matmul_shape(a, b) == _numpy_matmul_shape(a, b)
