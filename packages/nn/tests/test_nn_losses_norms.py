"""The losses and normalization layers torch users reach for next, against torch (when importable): values and
gradients, class weights, reductions, running statistics (momentum=None included) and errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from lamina import nn
from lamina.nn import functional as F  # noqa: N812 - the name every torch user reads
from lamina.tensor import Tensor

RNG = np.random.default_rng(0)


def _torch() -> Any:
    return pytest.importorskip("torch")


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_weighted_cross_entropy_and_nll_equal_torch(reduction: Any, smoothing: float) -> None:
    torch = _torch()
    logits = RNG.standard_normal((6, 4, 3))
    target = np.array([[0, 1, 3], [2, 2, -100], [1, 0, 0], [3, 3, 1], [-100, 2, 0], [1, 1, 2]])
    weight = np.array([0.5, 2.0, 1.0, 0.25])
    x = Tensor(logits, requires_grad=True)
    ours = F.cross_entropy(x, Tensor(target), Tensor(weight), reduction=reduction, label_smoothing=smoothing)
    tx = torch.tensor(logits, requires_grad=True)
    theirs = torch.nn.functional.cross_entropy(
        tx, torch.tensor(target), torch.tensor(weight), reduction=reduction, label_smoothing=smoothing
    )
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-10)
    ours.sum().backward()
    theirs.sum().backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    log_probs = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    nll = F.nll_loss(Tensor(log_probs), Tensor(target), Tensor(weight), reduction=reduction)
    expected = torch.nn.functional.nll_loss(
        torch.tensor(log_probs), torch.tensor(target), torch.tensor(weight), reduction=reduction
    )
    np.testing.assert_allclose(nll.numpy(), expected.numpy(), rtol=1e-10)


def test_regression_and_divergence_losses_equal_torch() -> None:
    torch = _torch()
    a, b = RNG.standard_normal((5, 4)) * 2, RNG.standard_normal((5, 4))
    log_p = np.log(RNG.dirichlet(np.ones(4), 5))
    q = RNG.dirichlet(np.ones(4), 5)
    q[0, 1] = 0.0
    tf = torch.nn.functional
    ta, tb, tp, tq = (torch.tensor(each) for each in (a, b, log_p, q))
    log_q = np.log(q + 1e-3)
    y = np.array([1, -1, 1, -1, -1])
    cases = [
        (F.l1_loss(Tensor(a), Tensor(b)), tf.l1_loss(ta, tb)),
        (F.smooth_l1_loss(Tensor(a), Tensor(b), beta=0.5), tf.smooth_l1_loss(ta, tb, beta=0.5)),
        (F.smooth_l1_loss(Tensor(a), Tensor(b), "sum", 0.0), tf.smooth_l1_loss(ta, tb, reduction="sum", beta=0.0)),
        (F.huber_loss(Tensor(a), Tensor(b), delta=0.7), tf.huber_loss(ta, tb, delta=0.7)),
        (F.kl_div(Tensor(log_p), Tensor(q), "batchmean"), tf.kl_div(tp, tq, reduction="batchmean")),
        (
            F.kl_div(Tensor(log_p), Tensor(log_q), "sum", log_target=True),
            tf.kl_div(tp, torch.tensor(log_q), reduction="sum", log_target=True),
        ),
        (
            F.cosine_embedding_loss(Tensor(a), Tensor(b), Tensor(y), margin=0.1),
            tf.cosine_embedding_loss(ta, tb, torch.tensor(y), margin=0.1),
        ),
    ]
    for ours, theirs in cases:
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-10)


def test_loss_modules_apply_their_functions() -> None:
    logits, target = Tensor(RNG.standard_normal((4, 3))), Tensor(np.array([0, 2, 1, 1]))
    weight = Tensor(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(
        nn.CrossEntropyLoss(weight, label_smoothing=0.1)(logits, target).numpy(),
        F.cross_entropy(logits, target, weight, label_smoothing=0.1).numpy(),
    )
    a, b = Tensor(RNG.standard_normal(5)), Tensor(RNG.standard_normal(5))
    cases: list[tuple[nn.Module, Callable[[Tensor, Tensor], Tensor]]] = [
        (nn.MSELoss(), F.mse_loss),
        (nn.L1Loss(reduction="sum"), lambda x, y: F.l1_loss(x, y, "sum")),
        (nn.SmoothL1Loss(beta=0.3), lambda x, y: F.smooth_l1_loss(x, y, beta=0.3)),
        (nn.HuberLoss(delta=2.0), lambda x, y: F.huber_loss(x, y, delta=2.0)),
    ]
    for module, function in cases:
        np.testing.assert_allclose(module(a, b).numpy(), function(a, b).numpy())


def test_loss_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match=r"class weights need shape \(3,\)"):
        F.cross_entropy(Tensor.zeros(2, 3), Tensor(np.array([0, 1])), Tensor.ones(4))
    with pytest.raises(ValueError, match="beta >= 0"):
        F.smooth_l1_loss(Tensor.zeros(2), Tensor.zeros(2), beta=-1.0)
    with pytest.raises(ValueError, match="delta > 0"):
        F.huber_loss(Tensor.zeros(2), Tensor.zeros(2), delta=0.0)


@pytest.mark.parametrize(
    ("name", "shape", "arguments"),
    [
        ("BatchNorm1d", (6, 3), {"num_features": 3}),
        ("BatchNorm1d", (6, 3, 5), {"num_features": 3, "momentum": None}),
        ("BatchNorm3d", (2, 3, 2, 3, 4), {"num_features": 3}),
        ("InstanceNorm1d", (2, 3, 5), {"num_features": 3, "affine": True}),
        ("InstanceNorm2d", (2, 3, 4, 5), {"num_features": 3, "track_running_stats": True}),
        ("GroupNorm", (2, 6, 4, 3), {"num_groups": 3, "num_channels": 6}),
        ("RMSNorm", (2, 3, 4), {"normalized_shape": (3, 4)}),
        ("LayerNorm", (2, 3, 4), {"normalized_shape": 4}),
    ],
)
def test_normalization_layers_equal_torch_across_training_steps(
    name: str, shape: tuple[int, ...], arguments: dict[str, Any]
) -> None:
    torch = _torch()
    ours, theirs = getattr(nn, name)(**arguments), getattr(torch.nn, name)(**arguments).double()
    for step in range(3):
        values = RNG.standard_normal(shape) * (step + 1) + step
        x, tx = Tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
        result, expected = ours(x), theirs(tx)
        np.testing.assert_allclose(result.numpy(), expected.detach().numpy(), rtol=1e-7, atol=1e-9)
        (result * Tensor(np.arange(result.numel()).reshape(shape))).sum().backward()
        (expected * torch.arange(expected.numel()).reshape(shape)).sum().backward()
        assert x.grad is not None
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6, atol=1e-8)
    # (lamina's running statistics are float32, like its layers' parameters; torch's here are float64)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key].numpy(), value.numpy(), rtol=1e-6, atol=1e-7, err_msg=key)
    ours.eval()
    theirs.eval()
    values = RNG.standard_normal(shape)
    expected = theirs(torch.tensor(values)).detach().numpy()
    np.testing.assert_allclose(ours(Tensor(values)).numpy(), expected, rtol=1e-6, atol=1e-7)


def test_normalization_errors_name_the_shapes() -> None:
    with pytest.raises(ValueError, match=r"BatchNorm1d\(3\) needs \(N, 3\) or \(N, 3, L\)"):
        nn.BatchNorm1d(3)(Tensor.ones(2, 4))
    with pytest.raises(ValueError, match="3 groups must divide 4 channels"):
        nn.GroupNorm(3, 4)
    with pytest.raises(ValueError, match="does not match the trailing dims"):
        nn.RMSNorm(5)(Tensor.ones(2, 4))
