"""Gradients at the points where a formula breaks down and torch defines a value: fmod's and remainder's
(never flat: d/dx is 1), atan2 at the origin, std where every value is equal, a median of every element shared
among the elements equal to it. Expected values are written out; torch is compared when importable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from lamina.tensor import Tensor

Array = npt.NDArray[Any]


def _gradients(function: Callable[..., Tensor], *arrays: Array) -> list[Array]:
    leaves = [Tensor(array, requires_grad=True) for array in arrays]
    function(*leaves).sum().backward()
    pairs = zip(leaves, arrays, strict=True)
    return [leaf.grad.numpy() if leaf.grad is not None else np.zeros_like(array) for leaf, array in pairs]


DIVIDEND = np.array([5.5, -5.5, 5.5, -5.5], dtype=np.float32)
DIVISOR = np.array([2.0, 2.0, -2.0, -2.0], dtype=np.float32)


def test_fmod_passes_the_gradient_to_the_dividend_and_minus_the_truncated_quotient_to_the_divisor() -> None:
    dividend, divisor = _gradients(lambda x, y: x.fmod(y), DIVIDEND, DIVISOR)
    np.testing.assert_array_equal(dividend, [1.0, 1.0, 1.0, 1.0])
    np.testing.assert_array_equal(divisor, [-2.0, 2.0, 2.0, -2.0])  # -trunc(x / y)


def test_remainder_passes_minus_the_floored_quotient_to_the_divisor() -> None:
    dividend, divisor = _gradients(lambda x, y: x.remainder(y), DIVIDEND, DIVISOR)
    np.testing.assert_array_equal(dividend, [1.0, 1.0, 1.0, 1.0])
    np.testing.assert_array_equal(divisor, [-2.0, 3.0, 3.0, -2.0])  # -floor(x / y)
    np.testing.assert_array_equal(_gradients(lambda x: x % 2.0, DIVIDEND)[0], [1.0, 1.0, 1.0, 1.0])


def test_atan2_has_a_zero_gradient_at_the_origin() -> None:
    y, x = _gradients(lambda y, x: y.atan2(x), np.array([0.0, 1.0], np.float32), np.array([0.0, 1.0], np.float32))
    np.testing.assert_allclose(y, [0.0, 0.5])  # x / (x^2 + y^2)
    np.testing.assert_allclose(x, [0.0, -0.5])  # -y / (x^2 + y^2)


def test_std_of_equal_values_has_a_zero_gradient() -> None:
    values = np.array([[3.0, 3.0, 3.0], [1.0, 2.0, 3.0]], dtype=np.float32)
    (gradient,) = _gradients(lambda x: x.std(1), values)
    # d std / d x_i = (x_i - mean) / ((n - 1) std): the second row's std is 1.
    np.testing.assert_allclose(gradient, [[0.0, 0.0, 0.0], [-0.5, 0.0, 0.5]], rtol=1e-6)
    (whole,) = _gradients(lambda x: x.std(), np.full(4, 2.0, np.float32))
    np.testing.assert_array_equal(whole, np.zeros(4))


def test_median_of_every_element_shares_its_gradient_among_equal_elements() -> None:
    values = np.array([[2.0, 1.0, 2.0], [3.0, 2.0, 0.0]], dtype=np.float32)
    (gradient,) = _gradients(lambda x: x.median(), values)
    np.testing.assert_allclose(gradient, [[1 / 3, 0.0, 1 / 3], [0.0, 1 / 3, 0.0]], rtol=1e-6)
    assert Tensor(values).median().item() == 2.0
    # Along a dim, all of it goes to the index returned.
    (along,) = _gradients(lambda x: x.median(1).values, values)
    np.testing.assert_array_equal(along, [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


_SMALL = np.random.default_rng(3).integers(-2, 3, (3, 4, 5)).astype(np.float32)
_NONZERO = np.where(_SMALL[1] == 0, 3.0, _SMALL[1]).astype(np.float32)
# Small integers: zeros, ties, equal rows and exact quotients; atan2 also gets the origin (both zero) in places.
_TORCH_CASES: list[tuple[str, Callable[..., Any], list[Array]]] = [
    ("fmod", lambda x, y: x.fmod(y), [_SMALL[0], _NONZERO]),
    ("remainder", lambda x, y: x.remainder(y), [_SMALL[0], _NONZERO]),
    ("atan2", lambda x, y: x.atan2(y), [_SMALL[0], _SMALL[2]]),
    ("std", lambda x: x.std(1), [np.vstack([np.ones((1, 5), np.float32), _SMALL[0]])]),
    ("median", lambda x: x.median(), [_SMALL[0]]),
]


@pytest.mark.parametrize(("call", "arrays"), [case[1:] for case in _TORCH_CASES], ids=[c[0] for c in _TORCH_CASES])
def test_gradients_at_edge_points_equal_torch(call: Callable[..., Any], arrays: list[Array]) -> None:
    torch = pytest.importorskip("torch")
    ours = _gradients(call, *arrays)
    leaves = [torch.tensor(array, requires_grad=True) for array in arrays]
    call(*leaves).sum().backward()
    for mine, leaf in zip(ours, leaves, strict=True):
        np.testing.assert_allclose(mine, leaf.grad.numpy(), rtol=1e-6, atol=1e-6)
