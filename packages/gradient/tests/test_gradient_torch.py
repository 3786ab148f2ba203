"""Gradients agree with torch autograd (skipped when torch is not importable; it is never a dependency)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from lamina.uop import Ops, UOp

torch = pytest.importorskip("torch")

Array = npt.NDArray[Any]
Gradients = Callable[..., list[Array]]

# Each case: a lamina graph builder and the same function written with torch, over float64 inputs.
_CASES: list[tuple[str, Callable[..., UOp], Callable[..., Any], list[Array]]] = [
    (
        "max-ties",
        lambda x, y: x.maximum(y),
        lambda x, y: torch.maximum(x, y),
        [np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 4.0])],
    ),
    (
        "amax-ties",
        lambda x: x.reduce_axis(Ops.MAX, (1,)),
        lambda x: torch.amax(x, dim=1, keepdim=True),
        [np.array([[3.0, 1.0, 3.0], [0.0, 2.0, 2.0]])],
    ),
    (
        "prod-with-zero",
        lambda x: x.reduce_axis(Ops.MUL, (1,)),
        lambda x: torch.prod(x, dim=1, keepdim=True),
        [np.array([[2.0, 0.0, 3.0], [1.5, 2.0, -1.0]])],
    ),
    (
        "pow",
        lambda x, y: x.alu(Ops.POW, y),
        lambda x, y: torch.pow(x, y),
        [np.array([0.5, 1.5, 2.0]), np.array([2.0, -1.0, 0.5])],
    ),
    (
        "where-pad-flip",
        lambda x, y: x.lt(y).where(x * y, y.alu(Ops.EXP)).pad(((1, 0), (0, 2))).flip((True, False)),
        lambda x, y: torch.nn.functional.pad(torch.where(x < y, x * y, torch.exp(y)), (0, 2, 1, 0)).flip(0),
        [np.array([[0.1, 2.0], [1.0, -1.0]]), np.array([[0.5, 1.0], [3.0, -2.0]])],
    ),
    (
        "broadcast",
        lambda row, column: (row.expand((3, 4)) * column.expand((3, 4))).alu(Ops.SIN),
        lambda row, column: torch.sin(row * column),
        [np.linspace(-1.0, 1.0, 4).reshape(1, 4), np.linspace(0.5, 2.0, 3).reshape(3, 1)],
    ),
]


@pytest.mark.parametrize(("build", "reference", "arrays"), [case[1:] for case in _CASES], ids=[c[0] for c in _CASES])
def test_gradient_matches_torch_autograd(
    build: Callable[..., UOp], reference: Callable[..., Any], arrays: list[Array], gradients_of: Gradients
) -> None:
    tensors = [torch.tensor(array, dtype=torch.float64, requires_grad=True) for array in arrays]
    reference(*tensors).sum().backward()
    for computed, tensor in zip(gradients_of(build, *arrays), tensors, strict=True):
        np.testing.assert_allclose(computed, tensor.grad.numpy(), rtol=1e-12, atol=1e-12)
