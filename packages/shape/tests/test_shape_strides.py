"""contiguous_strides against numpy's C-order strides, prod, and check_shape's validation of shape arguments."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis.extra.numpy import array_shapes

from lamina.shape import Shape, check_shape, contiguous_strides, prod


@pytest.mark.parametrize(
    ("shape", "expected"),
    [((), ()), ((5,), (1,)), ((2, 3, 4), (12, 4, 1)), ((2, 1, 3), (3, 3, 1)), ((0, 3), (3, 1)), ((3, 0), (1, 1))],
)
def test_contiguous_strides_are_row_major_element_strides(shape: Shape, expected: tuple[int, ...]) -> None:
    assert contiguous_strides(shape) == expected


@given(array_shapes(min_dims=0, max_dims=5, min_side=1, max_side=5))
def test_contiguous_strides_match_numpy_for_non_empty_shapes(shape: Shape) -> None:
    # int8 makes numpy's byte strides equal to element strides.
    assert contiguous_strides(shape) == np.zeros(shape, dtype=np.int8).strides


@pytest.mark.parametrize(
    ("shape", "expected"), [((0,), (1,)), ((3, 0), (1, 1)), ((0, 3), (3, 1)), ((2, 0, 3), (3, 3, 1))]
)
def test_contiguous_strides_of_empty_shapes_count_0_as_1_like_torch(shape: Shape, expected: tuple[int, ...]) -> None:
    # numpy 2 gives empty arrays all-zero strides; torch keeps the row-major values, which lamina follows.
    assert contiguous_strides(shape) == expected


@pytest.mark.parametrize(("values", "expected"), [((), 1), ((3,), 3), ((2, 3, 4), 24), ((5, 0, 2), 0)])
def test_prod_multiplies_and_is_1_for_nothing(values: tuple[int, ...], expected: int) -> None:
    assert prod(values) == expected
    assert prod(iter(values)) == expected


def test_check_shape_returns_a_tuple_of_python_ints() -> None:
    checked = check_shape([np.int64(2), 3])
    assert checked == (2, 3)
    assert all(type(size) is int for size in checked)


def test_check_shape_rejects_negative_sizes_naming_the_shape() -> None:
    with pytest.raises(ValueError, match=r"shape \(2, -1\) has a negative dimension"):
        check_shape((2, -1))


def test_check_shape_rejects_non_integer_sizes() -> None:
    with pytest.raises(TypeError, match=r"\(2.0, 3\) must contain only integers"):
        check_shape((2.0, 3))  # type: ignore[arg-type]


def test_every_public_function_checks_its_shape() -> None:
    with pytest.raises(ValueError, match="negative dimension"):
        contiguous_strides((3, -2))
