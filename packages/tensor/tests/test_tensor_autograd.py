"""Gradients through `Tensor.backward` against float64 finite differences, and autograd's bookkeeping:
`.grad` accumulation, `no_grad`, `detach` and `requires_grad` propagation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
import pytest

from lamina.tensor import Tensor, no_grad

Inputs = Sequence[npt.NDArray[np.float64]]
GradCheck = Callable[[Callable[..., Tensor], Inputs], None]

_values = np.random.default_rng(5)


def _normal(*shape: int) -> npt.NDArray[np.float64]:
    return _values.standard_normal(shape)


# name, a scalar function of the inputs, the inputs (float64)
COMPOSITES: list[tuple[str, Callable[..., Tensor], Inputs]] = [
    ("sigmoid", lambda x: (x.sigmoid() * x).sum(), [_normal(2, 3)]),
    ("tanh-gelu", lambda x: (x.tanh() + x.gelu()).sum(), [_normal(5)]),
    ("softmax", lambda x, w: (x.softmax(-1) * w).sum(), [_normal(2, 4), _normal(2, 4)]),
    ("log_softmax", lambda x, w: (x.log_softmax(0) * w).sum(), [_normal(3, 2), _normal(3, 2)]),
    ("matmul", lambda a, b: (a @ b).square().sum(), [_normal(2, 3), _normal(3, 4)]),
    ("matmul-batched-vector", lambda a, b: (a @ b).sum(), [_normal(2, 2, 3), _normal(3)]),
    ("getitem-slices", lambda x: (x[1:, ::-2] * x[:2, 1::2]).sum(), [_normal(3, 4)]),
    ("getitem-tensor", lambda x: (x[Tensor([2, 0, 2])] ** 2).sum(), [_normal(3, 2)]),
    ("cat", lambda a, b: (a.cat(b * 2, dim=1).exp()).sum(), [_normal(2, 2), _normal(2, 3)]),
    ("where", lambda x, y: (x * y).where(x > 0, y.square()).sum(), [_normal(6), _normal(6)]),
    ("broadcast-div", lambda a, b: (a / (b.abs() + 1)).sum(), [_normal(2, 3), _normal(3)]),
    ("mean-var", lambda x: x.mean() + x.var(1).sum(), [_normal(2, 5)]),
    ("logsumexp", lambda x: x.logsumexp(1).sum(), [_normal(3, 4)]),
    (
        "pad-flip-permute",
        lambda x: (x.pad((1, 1)).flip(0).permute(1, 0) * Tensor(np.arange(8.0).reshape(4, 2))).sum(),
        [_normal(2, 2)],
    ),
    ("gather", lambda x: x.gather(1, Tensor([[0, 0], [2, 1]])).square().sum(), [_normal(2, 3)]),
]


@pytest.mark.parametrize(
    ("function", "inputs"), [case[1:] for case in COMPOSITES], ids=[case[0] for case in COMPOSITES]
)
def test_gradient_matches_finite_differences(
    function: Callable[..., Tensor], inputs: Inputs, gradcheck: GradCheck
) -> None:
    gradcheck(function, inputs)


def test_max_gradient_is_shared_between_ties() -> None:
    x = Tensor([1.0, 3.0, 3.0, 2.0], requires_grad=True)
    x.max().backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.5, 0.5, 0.0])
    y = Tensor([[2.0, 2.0], [1.0, 0.0]], requires_grad=True)
    (y.amax(1) * Tensor([1.0, 10.0])).sum().backward()
    assert y.grad is not None
    np.testing.assert_allclose(y.grad.numpy(), [[0.5, 0.5], [10.0, 0.0]])


def test_max_along_a_dim_sends_the_gradient_to_the_index_it_returns() -> None:
    # torch's max(dim) returns (values, indices) and its gradient reaches only the first maximum, unlike amax.
    y = Tensor([[2.0, 2.0], [1.0, 0.0]], requires_grad=True)
    values, indices = y.max(1)
    assert indices.tolist() == [0, 0]
    (values * Tensor([1.0, 10.0])).sum().backward()
    assert y.grad is not None
    np.testing.assert_allclose(y.grad.numpy(), [[1.0, 0.0], [10.0, 0.0]])


def test_grad_accumulates_over_backward_calls() -> None:
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), [3.0 + 2.0, 3.0 + 4.0])


def test_tensor_used_twice_gets_both_contributions() -> None:
    x = Tensor([2.0], requires_grad=True)
    (x * x + x).sum().backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), [5.0])


def test_backward_with_an_explicit_gradient() -> None:
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * 2).backward(Tensor([1.0, 0.0, -1.0]))
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 0.0, -2.0])


def test_backward_through_a_realized_intermediate() -> None:
    x = Tensor([1.0, 2.0], requires_grad=True)
    hidden = (x * x).realize()
    (hidden * 3).sum().backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 12.0])


def test_no_grad_records_nothing() -> None:
    x = Tensor([1.0, 2.0], requires_grad=True)
    with no_grad():
        y = x * 2
    assert not y.requires_grad
    with pytest.raises(RuntimeError):
        y.sum().backward()


def test_detach_cuts_the_graph() -> None:
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x.detach() * x).sum().backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 2.0])
    assert not x.detach().requires_grad


def test_requires_grad_propagates_to_results() -> None:
    x = Tensor([1.0], requires_grad=True)
    constant = Tensor([2.0])
    assert (x + constant).requires_grad
    assert not (constant * 2).requires_grad
    assert x.requires_grad
    assert not (x > 0).detach().requires_grad


def test_backward_of_a_non_scalar_needs_a_gradient() -> None:
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"\(2,\)"):
        (x * 2).backward()
    with pytest.raises(ValueError, match=r"\(3,\)"):
        (x * 2).backward(Tensor([1.0, 1.0, 1.0]))


def test_input_that_does_not_reach_the_output_gets_no_gradient() -> None:
    used = Tensor([1.0], requires_grad=True)
    unused = Tensor([1.0], requires_grad=True)
    (used * 2).sum().backward()
    assert used.grad is not None
    assert unused.grad is None


def test_setting_requires_grad_twice_is_harmless() -> None:
    weight = Tensor([1.0, 2.0])
    weight.requires_grad = True
    weight.requires_grad = True
    (weight * weight).sum().backward()
    assert weight.grad is not None
    np.testing.assert_allclose(weight.grad.numpy(), [2.0, 4.0])


def test_the_loss_is_computed_with_the_next_realize_sharing_its_forward_pass() -> None:
    # After backward(), realizing the gradients computes the loss too, in the same schedule: reading
    # the loss afterwards runs no kernel, so the forward pass is not run a second time.
    from lamina.schedule import is_buffer_view
    from lamina.tensor import realize, stats

    rng = np.random.default_rng(3)
    x = Tensor(rng.standard_normal((8, 5)).astype(np.float32))
    weight = Tensor(rng.standard_normal((5, 3)).astype(np.float32), requires_grad=True)
    loss = (x @ weight).relu().square().mean()
    loss.backward()
    assert weight.grad is not None
    realize(weight.grad)
    assert is_buffer_view(loss.uop)
    before = stats.kernels_run
    value = loss.item()
    assert stats.kernels_run == before
    hidden = np.maximum(x.numpy() @ weight.numpy(), 0)
    np.testing.assert_allclose(value, np.square(hidden).mean(), rtol=1e-5)
