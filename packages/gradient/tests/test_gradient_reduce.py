"""REDUCE_AXIS gradients: ADD spreads back, MAX shares among all maxima, MUL is exact at zeros."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from lamina.uop import Ops

Array = npt.NDArray[Any]
Checker = Callable[..., None]
Gradients = Callable[..., list[Array]]

_AXES = [(0,), (1,), (2,), (0, 2), (0, 1, 2)]


@pytest.mark.parametrize("axes", _AXES)
@pytest.mark.parametrize("op", [Ops.ADD, Ops.MAX, Ops.MUL], ids=["ADD", "MAX", "MUL"])
def test_reduce_gradient_matches_finite_differences(
    op: Ops, axes: tuple[int, ...], check_gradient: Checker, rng: np.random.Generator
) -> None:
    # Distinct values keep MAX differentiable; values near 1 keep the products well scaled.
    data = rng.permutation(24).reshape(2, 3, 4) / 24.0 + 0.5
    check_gradient(lambda x: x.reduce_axis(op, axes), data)


def test_max_gradient_is_shared_among_tied_maxima(gradients_of: Gradients) -> None:
    data = np.array([[3.0, 1.0, 3.0, 3.0], [0.0, 2.0, -1.0, 2.0]])
    (grad,) = gradients_of(lambda x: x.reduce_axis(Ops.MAX, (1,)), data)
    np.testing.assert_allclose(grad, [[1 / 3, 0.0, 1 / 3, 1 / 3], [0.0, 0.5, 0.0, 0.5]])


def test_max_gradient_of_all_equal_values_is_uniform(gradients_of: Gradients) -> None:
    (grad,) = gradients_of(lambda x: x.reduce_axis(Ops.MAX, (0, 1)), np.full((2, 2), 7.0))
    np.testing.assert_array_equal(grad, np.full((2, 2), 0.25))


@pytest.mark.parametrize(
    "row",
    [[2.0, 0.0, 3.0, 4.0], [0.0, 5.0, 0.0, 2.0], [0.0, 0.0, 0.0, 0.0]],
    ids=["one-zero", "two-zeros", "all-zeros"],
)
def test_product_gradient_is_exact_at_zeros(row: list[float], check_gradient: Checker) -> None:
    # A product is linear in each element, so central differences are exact even at zeros.
    check_gradient(lambda x: x.reduce_axis(Ops.MUL, (1,)), np.array([row, [1.5, -2.0, 0.5, 3.0]]))


def test_product_gradient_with_one_zero_is_product_of_the_others(gradients_of: Gradients) -> None:
    (grad,) = gradients_of(lambda x: x.reduce_axis(Ops.MUL, (0,)), np.array([2.0, 0.0, 3.0]))
    np.testing.assert_array_equal(grad, [0.0, 6.0, 0.0])


def test_reduce_over_zero_size_axis_gives_zero_size_gradient(gradients_of: Gradients) -> None:
    for op in (Ops.ADD, Ops.MAX, Ops.MUL):
        (grad,) = gradients_of(lambda x, op=op: x.reduce_axis(op, (0,)), np.zeros((0, 3)))
        assert grad.shape == (0, 3)
