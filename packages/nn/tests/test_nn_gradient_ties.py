"""Gradients where torch picks one of several derivatives: ties inside a pooling window (all of it to the first
maximum, in row-major order) and the bounds of the hard activations (0 there, where clamp passes it on).

Expected values are written out, so these run without torch; with torch importable they are also compared with
torch's autograd on inputs full of ties (a relu's zeros)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from lamina.nn import functional as F  # noqa: N812 - the name every torch user reads
from lamina.tensor import Tensor

Array = npt.NDArray[Any]


def _gradient(function: Callable[[Tensor], Tensor], values: Array) -> Array:
    leaf = Tensor(values, requires_grad=True)
    function(leaf).sum().backward()
    assert leaf.grad is not None
    return leaf.grad.numpy()


def test_max_pool2d_sends_a_tied_window_s_gradient_to_its_first_element() -> None:
    values = np.zeros((1, 1, 4, 4), dtype=np.float32)
    values[0, 0, 3, 2:] = 1.0  # one window whose maximum is tied along its lower row
    expected = np.zeros_like(values)
    expected[0, 0, 0, 0] = expected[0, 0, 0, 2] = expected[0, 0, 2, 0] = 1.0
    expected[0, 0, 3, 2] = 1.0
    np.testing.assert_array_equal(_gradient(lambda x: F.max_pool2d(x, 2), values), expected)


def test_overlapping_max_pool1d_windows_each_pick_their_first_maximum() -> None:
    values = np.array([[[2.0, 2.0, 2.0, 2.0, 0.0, 0.0]]], dtype=np.float32)
    # Windows of 3 with stride 2: [2, 2, 2] -> index 0, [2, 2, 0] -> index 2.
    expected = np.array([[[1.0, 0.0, 1.0, 0.0, 0.0, 0.0]]], dtype=np.float32)
    np.testing.assert_array_equal(_gradient(lambda x: F.max_pool1d(x, 3, 2), values), expected)


def test_max_pool_values_and_indices_keep_nan_and_infinities() -> None:
    values = np.array([[[-np.inf, -np.inf, 1.0, np.nan, np.inf, 2.0]]], dtype=np.float32)
    pooled, indices = F.max_pool1d(Tensor(values), 2, return_indices=True)
    np.testing.assert_array_equal(pooled.numpy(), [[[-np.inf, np.nan, np.inf]]])
    np.testing.assert_array_equal(indices.numpy(), [[[0, 3, 4]]])


def test_adaptive_max_pool2d_picks_the_first_maximum_in_row_major_order() -> None:
    values = np.zeros((1, 1, 4, 6), dtype=np.float32)
    values[0, 0, 0, 1] = values[0, 0, 1, 0] = 5.0  # tied: (0, 1) comes first in row-major order
    expected = np.zeros_like(values)
    expected[0, 0, 0, 1] = 1.0
    for row in (0, 2):
        for column in (0, 2, 4):
            if (row, column) != (0, 0):
                expected[0, 0, row, column] = 1.0
    np.testing.assert_array_equal(_gradient(lambda x: F.adaptive_max_pool2d(x, (2, 3)), values), expected)


def test_adaptive_max_pool_gradient_stays_inside_windows_of_minus_infinity() -> None:
    values = np.full((1, 1, 5), -np.inf, dtype=np.float32)
    # Windows of 5 -> 2: [0, 3) and [2, 5); the second's first element is index 2, not an outside position.
    expected = np.array([[[1.0, 0.0, 1.0, 0.0, 0.0]]], dtype=np.float32)
    np.testing.assert_array_equal(_gradient(lambda x: F.adaptive_max_pool1d(x, 2), values), expected)


_BOUNDS: list[tuple[str, Callable[[Tensor], Tensor], list[float], list[float]]] = [
    ("hardtanh", lambda x: F.hardtanh(x, -1.0, 1.0), [-2.0, -1.0, 0.0, 1.0, 2.0], [0.0, 0.0, 1.0, 0.0, 0.0]),
    ("relu6", F.relu6, [-1.0, 0.0, 3.0, 6.0, 7.0], [0.0, 0.0, 1.0, 0.0, 0.0]),
    ("hardsigmoid", F.hardsigmoid, [-3.0, 0.0, 3.0], [0.0, 1 / 6, 0.0]),
    ("hardswish", F.hardswish, [-4.0, -3.0, 0.0, 3.0, 4.0], [0.0, 0.0, 0.5, 1.0, 1.0]),
    ("clamp", lambda x: x.clamp(-1.0, 1.0), [-2.0, -1.0, 0.0, 1.0, 2.0], [0.0, 1.0, 1.0, 1.0, 0.0]),
]


@pytest.mark.parametrize(
    ("function", "points", "expected"), [case[1:] for case in _BOUNDS], ids=[case[0] for case in _BOUNDS]
)
def test_hard_activations_have_torch_s_derivative_at_their_bounds(
    function: Callable[[Tensor], Tensor], points: list[float], expected: list[float]
) -> None:
    gradient = _gradient(function, np.array(points, dtype=np.float32))
    np.testing.assert_allclose(gradient, expected, rtol=1e-6)


def test_hardtanh_keeps_nan_and_its_values() -> None:
    values = np.array([np.nan, -3.0, 0.25, 3.0], dtype=np.float32)
    np.testing.assert_array_equal(F.hardtanh(Tensor(values), -1.0, 2.0).numpy(), [np.nan, -1.0, 0.25, 2.0])


_TORCH_POOLS: list[tuple[str, Callable[..., Any], tuple[int, ...]]] = [
    ("max_pool1d", lambda f, x: f.max_pool1d(x, 3, 2, 1), (2, 3, 9)),
    ("max_pool2d", lambda f, x: f.max_pool2d(x, 2), (2, 3, 6, 6)),
    ("max_pool2d_overlapping", lambda f, x: f.max_pool2d(x, 3, 1, 1), (2, 2, 5, 6)),
    ("max_pool2d_ceil_dilated", lambda f, x: f.max_pool2d(x, 2, 2, 0, 2, True), (1, 2, 7, 7)),
    ("max_pool3d", lambda f, x: f.max_pool3d(x, 2), (1, 2, 4, 4, 4)),
    ("adaptive_max_pool1d", lambda f, x: f.adaptive_max_pool1d(x, 4), (2, 3, 10)),
    ("adaptive_max_pool2d", lambda f, x: f.adaptive_max_pool2d(x, (3, 2)), (2, 2, 7, 5)),
    ("relu6", lambda f, x: f.relu6(x * 6), (4, 9)),
    ("hardswish", lambda f, x: f.hardswish(x * 3), (4, 9)),
    ("hardsigmoid", lambda f, x: f.hardsigmoid(x * 3), (4, 9)),
]


@pytest.mark.parametrize(("call", "shape"), [case[1:] for case in _TORCH_POOLS], ids=[c[0] for c in _TORCH_POOLS])
def test_gradients_at_ties_and_bounds_equal_torch(call: Callable[..., Any], shape: tuple[int, ...]) -> None:
    torch = pytest.importorskip("torch")
    # Values from {-1, 0, 1} after a relu: most windows are tied, many values sit on a bound.
    values = np.maximum(np.random.default_rng(5).integers(-1, 2, shape), 0).astype(np.float32)
    weights = np.random.default_rng(6).standard_normal(call(torch.nn.functional, torch.tensor(values)).shape)
    leaf = Tensor(values, requires_grad=True)
    (call(F, leaf) * Tensor(weights.astype(np.float32))).sum().backward()
    expected = torch.tensor(values, requires_grad=True)
    (call(torch.nn.functional, expected) * torch.tensor(weights, dtype=torch.float32)).sum().backward()
    assert leaf.grad is not None
    assert expected.grad is not None
    np.testing.assert_allclose(leaf.grad.numpy(), expected.grad.numpy(), rtol=1e-6, atol=1e-6)
