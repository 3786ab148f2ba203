"""Values and gradients of a few composite operations against torch, when torch is importable.

torch spells some operations differently (no negative slice steps, `torch.where`, `amax` for a
max whose gradient is shared between ties), so each case is written once for each library.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from lamina.tensor import Tensor

# name, a scalar function of two lamina tensors, the same function written for torch
FUNCTIONS: list[tuple[str, Callable[[Any, Any], Any], Callable[[Any, Any, Any], Any]]] = [
    (
        "softmax-matmul",
        lambda a, b: ((a @ b).softmax(-1) * b.sum()).sum(),
        lambda torch, a, b: ((a @ b).softmax(-1) * b.sum()).sum(),
    ),
    (
        "gelu-mean",
        lambda a, b: (a.gelu() * b[:, :1].T).mean(),
        lambda torch, a, b: (torch.nn.functional.gelu(a) * b[:, :1].T).mean(),
    ),
    (
        "flip-slice-where",
        lambda a, b: a[::-1, 1:].where(a[::-1, 1:] > 0, b[:2, :2]).square().sum(),
        lambda torch, a, b: torch.where(a.flip(0)[:, 1:] > 0, a.flip(0)[:, 1:], b[:2, :2]).square().sum(),
    ),
    (
        "var-logsumexp",
        lambda a, b: a.var(1).sum() + b.logsumexp(0).sum(),
        lambda torch, a, b: a.var(1).sum() + b.logsumexp(0).sum(),
    ),
    (
        "amax-with-ties",
        lambda a, b: (a.relu().amax(1) + b.abs().max()).sum(),
        lambda torch, a, b: (a.relu().amax(1) + b.abs().amax()).sum(),
    ),
]


@pytest.mark.parametrize(
    ("function", "torch_function"), [case[1:] for case in FUNCTIONS], ids=[case[0] for case in FUNCTIONS]
)
def test_value_and_gradients_match_torch(
    function: Callable[[Any, Any], Any], torch_function: Callable[[Any, Any, Any], Any]
) -> None:
    torch = pytest.importorskip("torch")
    generator = np.random.default_rng(9)
    a_values, b_values = generator.standard_normal((2, 3)), generator.standard_normal((3, 4))
    a, b = Tensor(a_values, requires_grad=True), Tensor(b_values, requires_grad=True)
    result = function(a, b)
    result.backward()
    ta = torch.tensor(a_values, requires_grad=True)
    tb = torch.tensor(b_values, requires_grad=True)
    expected = torch_function(torch, ta, tb)
    expected.backward()
    np.testing.assert_allclose(result.item(), expected.item(), rtol=1e-9)
    assert a.grad is not None
    assert b.grad is not None
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-7, atol=1e-9)
