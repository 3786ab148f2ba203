"""Fixtures for the nn tests: a seeded numpy generator and a finite-difference gradient check."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
import pytest

from lamina.tensor import Tensor

Arrays = Sequence[npt.NDArray[np.float64]]
GradCheck = Callable[[Callable[..., Tensor], Arrays], None]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def _directional_check(function: Callable[..., Tensor], inputs: Arrays) -> None:
    # Autograd's gradient projected on random directions must match the central difference along them.
    leaves = [Tensor(value, requires_grad=True) for value in inputs]
    function(*leaves).backward()
    gradients = [
        leaf.grad.numpy() if leaf.grad is not None else np.zeros_like(value)
        for leaf, value in zip(leaves, inputs, strict=True)
    ]
    directions = np.random.default_rng(7)
    for _ in range(2):
        steps = [directions.standard_normal(value.shape) for value in inputs]
        epsilon = 1e-6
        plus = function(*(Tensor(value + epsilon * step) for value, step in zip(inputs, steps, strict=True))).item()
        minus = function(*(Tensor(value - epsilon * step) for value, step in zip(inputs, steps, strict=True))).item()
        numeric = (float(plus) - float(minus)) / (2 * epsilon)
        analytic = sum(float((gradient * step).sum()) for gradient, step in zip(gradients, steps, strict=True))
        assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-6)


@pytest.fixture
def grad_check() -> GradCheck:
    """check(function, float64 arrays): the scalar `function`'s autograd gradients match finite differences."""
    return _directional_check
