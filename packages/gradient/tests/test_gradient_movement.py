"""Movement-op gradients (each the inverse movement; EXPAND sums over broadcast axes), 0-d and 0-size tensors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from lamina.uop import Ops, UOp

Array = npt.NDArray[Any]
Checker = Callable[..., None]
Gradients = Callable[..., list[Array]]

_MOVEMENTS: list[tuple[str, Callable[[UOp], UOp]]] = [
    ("reshape", lambda x: x.reshape((4, 3, 2))),
    ("permute", lambda x: x.permute((2, 0, 1))),
    ("expand", lambda x: x.shrink(((0, 2), (0, 1), (0, 4))).expand((2, 5, 4))),
    ("pad", lambda x: x.pad(((1, 0), (0, 2), (1, 1)))),
    ("shrink", lambda x: x.shrink(((1, 2), (0, 2), (1, 3)))),
    ("flip", lambda x: x.flip((True, False, True))),
    ("pad-then-shrink", lambda x: x.pad(((1, 1), (2, 0), (0, 0))).shrink(((0, 3), (1, 4), (2, 4)))),
    ("contiguous", lambda x: x.permute((1, 0, 2)).contiguous()),
]


@pytest.mark.parametrize("movement", [build for _, build in _MOVEMENTS], ids=[name for name, _ in _MOVEMENTS])
def test_movement_gradient_matches_finite_differences(
    movement: Callable[[UOp], UOp], check_gradient: Checker, rng: np.random.Generator
) -> None:
    check_gradient(lambda x: movement(x) * movement(x).alu(Ops.SIN), rng.standard_normal((2, 3, 4)))


def test_broadcast_via_expand_sums_over_broadcast_axes(check_gradient: Checker, rng: np.random.Generator) -> None:
    # An outer product: row (1, 4) and column (3, 1), both expanded to (3, 4).
    check_gradient(
        lambda row, column: row.expand((3, 4)) * column.expand((3, 4)),
        rng.standard_normal((1, 4)),
        rng.standard_normal((3, 1)),
    )


def test_expand_of_a_scalar_sums_everything(gradients_of: Gradients) -> None:
    (grad,) = gradients_of(lambda x: x.reshape((1, 1)).expand((3, 5)), np.array(2.0))
    assert grad.shape == ()
    assert grad == 15.0


def test_flip_gradient_flips_back(gradients_of: Gradients) -> None:
    weights = np.arange(6.0).reshape(2, 3)
    (grad, _) = gradients_of(lambda x, w: x.flip((True, True)) * w, np.ones((2, 3)), weights)
    np.testing.assert_array_equal(grad, weights[::-1, ::-1])


def test_pad_gives_no_gradient_from_the_padding(gradients_of: Gradients) -> None:
    weights = np.arange(12.0).reshape(3, 4)
    (grad, _) = gradients_of(lambda x, w: x.pad(((1, 0), (1, 1))) * w, np.ones((2, 2)), weights)
    np.testing.assert_array_equal(grad, weights[1:, 1:3])


def test_shrink_gives_zero_gradient_outside_the_window(gradients_of: Gradients) -> None:
    (grad,) = gradients_of(lambda x: x.shrink(((1, 3),)), np.ones(4))
    np.testing.assert_array_equal(grad, [0.0, 1.0, 1.0, 0.0])


def test_0d_tensors_differentiate(check_gradient: Checker) -> None:
    check_gradient(lambda x, y: x.alu(Ops.SIN) * y + x.alu(Ops.EXP), np.array(0.3), np.array(-1.2))


def test_zero_size_tensors_give_zero_size_gradients(check_gradient: Checker) -> None:
    check_gradient(lambda x: x.permute((1, 0)).alu(Ops.EXP).pad(((1, 1), (0, 0))), np.zeros((0, 3)))
