"""Containers, nn.init, RMSprop and Adagrad, learning rate schedulers, param_groups and gradient clipping, against
torch when importable: state_dict names, distributions, update sequences, rate sequences, clipped gradients."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from lamina import nn
from lamina.nn import init, lr_scheduler, optim, utils
from lamina.tensor import Tensor, stats


def _torch() -> Any:
    return pytest.importorskip("torch")


def test_containers_name_state_like_torch() -> None:
    class Model(nn.Module):
        def __init__(self) -> None:
            self.layers = nn.ModuleList([nn.Linear(2, 3), nn.Linear(3, 1)])
            self.heads = nn.ModuleDict({"q": nn.Linear(1, 2)})
            self.scales = nn.ParameterList([Tensor.ones(2), Tensor.zeros(3)])
            self.extra = nn.ParameterDict({"bias": Tensor.zeros(1)})

        def forward(self, x: Tensor) -> Tensor:
            for layer in self.layers:
                x = layer(x)
            head: nn.Module = self.heads["q"]
            scale: Tensor = self.scales[0]
            bias: Tensor = self.extra["bias"]
            return head(x) * scale + bias

    model = Model()
    assert list(model.state_dict()) == [
        "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias", "heads.q.weight", "heads.q.bias",
        "scales.0", "scales.1", "extra.bias",
    ]  # fmt: skip
    assert model(Tensor.ones(4, 2)).shape == (4, 2)
    assert all(param.requires_grad for param in model.parameters())
    model.layers.append(nn.ReLU())
    assert len(model.layers) == 3
    assert isinstance(model.layers[-1], nn.ReLU)
    with pytest.raises(TypeError, match="ModuleList holds modules"):
        model.layers.append(Tensor.ones(1))
    with pytest.raises(IndexError, match="no item 5"):
        model.layers[5]
    with pytest.raises(KeyError, match="identifiers"):
        model.heads["a.b"] = nn.ReLU()


def test_init_functions_fill_in_place_with_torchs_distributions() -> None:
    weight = Tensor.zeros(256, 512)
    assert init.kaiming_uniform_(weight, a=math.sqrt(5)) is weight
    bound = math.sqrt(6 / ((1 + 5) * 512))
    assert weight.numpy().max() <= bound
    assert weight.numpy().min() >= -bound
    init.kaiming_normal_(weight, mode="fan_out", nonlinearity="relu")
    assert weight.numpy().std() == pytest.approx(math.sqrt(2 / 256), rel=0.05)
    init.xavier_uniform_(weight, gain=2.0)
    assert np.abs(weight.numpy()).max() <= 2.0 * math.sqrt(6 / (256 + 512))
    init.xavier_normal_(weight)
    assert weight.numpy().std() == pytest.approx(math.sqrt(2 / (256 + 512)), rel=0.05)
    init.trunc_normal_(weight, std=0.5, a=-1.0, b=1.0)
    assert -1.0 <= weight.numpy().min() < -0.99
    assert weight.numpy().std() == pytest.approx(0.4398, rel=0.03)
    init.constant_(weight, 0.25)
    assert (weight.numpy() == 0.25).all()
    init.zeros_(weight)
    assert not weight.numpy().any()
    square = Tensor.zeros(8, 12)
    init.orthogonal_(square)
    np.testing.assert_allclose(square.numpy() @ square.numpy().T, np.eye(8), atol=1e-5)
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    with pytest.raises(ValueError, match="at least 2 dims"):
        init.xavier_uniform_(Tensor.zeros(3))


def _run_optimizer(make: Callable[[list[Any]], Any], library: Any, steps: int = 4) -> list[Any]:
    rng = np.random.default_rng(3)
    start, gradients = rng.standard_normal((2, 3)), [rng.standard_normal((2, 3)) for _ in range(steps)]
    if library is None:
        param = Tensor(start, requires_grad=True)
        optimizer = make([param])
        for gradient in gradients:
            param.grad = Tensor(gradient)
            optimizer.step()
        return [param.numpy()]
    tparam = library.tensor(start, requires_grad=True)
    toptimizer = make([tparam])
    for gradient in gradients:
        tparam.grad = library.tensor(gradient)
        toptimizer.step()
    return [tparam.detach().numpy()]


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("RMSprop", {"lr": 0.01}),
        ("RMSprop", {"lr": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 0.1}),
        ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1}),
        ("Adagrad", {"lr": 0.1, "weight_decay": 0.05}),
    ],
)
def test_rmsprop_and_adagrad_equal_torch(name: str, arguments: dict[str, Any]) -> None:
    torch = _torch()
    ours = _run_optimizer(lambda params: getattr(optim, name)(params, **arguments), None)
    theirs = _run_optimizer(lambda params: getattr(torch.optim, name)(params, **arguments), torch)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-10)


SCHEDULES: list[tuple[str, dict[str, Any]]] = [
    ("StepLR", {"step_size": 3, "gamma": 0.5}),
    ("MultiStepLR", {"milestones": [2, 5], "gamma": 0.1}),
    ("ExponentialLR", {"gamma": 0.9}),
    ("CosineAnnealingLR", {"T_max": 5, "eta_min": 0.01}),
    ("OneCycleLR", {"max_lr": 1.0, "total_steps": 12}),
    ("OneCycleLR", {"max_lr": 0.5, "total_steps": 12, "anneal_strategy": "linear", "three_phase": True}),
]


@pytest.mark.parametrize(("name", "arguments"), SCHEDULES, ids=[case[0] for case in SCHEDULES])
@pytest.mark.parametrize("optimizer_name", ["SGD", "Adam"])
def test_schedulers_set_torchs_rates_and_momenta(name: str, arguments: dict[str, Any], optimizer_name: str) -> None:
    torch = _torch()
    extra = {"momentum": 0.9} if optimizer_name == "SGD" else {}
    ours_optimizer = getattr(optim, optimizer_name)([Tensor.ones(2, requires_grad=True)], lr=0.1, **extra)
    theirs_optimizer = getattr(torch.optim, optimizer_name)([torch.ones(2, requires_grad=True)], lr=0.1, **extra)
    ours = getattr(lr_scheduler, name)(ours_optimizer, **arguments)
    theirs = getattr(torch.optim.lr_scheduler, name)(theirs_optimizer, **arguments)
    key = "momentum" if optimizer_name == "SGD" else "betas"
    for _ in range(10):
        assert ours.get_last_lr()[0] == pytest.approx(theirs.get_last_lr()[0], rel=1e-12, abs=1e-15)
        assert ours_optimizer.param_groups[0][key] == pytest.approx(theirs_optimizer.param_groups[0][key])
        theirs_optimizer.step()
        ours.step()
        theirs.step()


def test_changing_the_rate_compiles_nothing_new() -> None:
    param = Tensor.ones(4, requires_grad=True)
    optimizer = optim.SGD([param], lr=0.1, momentum=0.5)
    schedule = lr_scheduler.CosineAnnealingLR(optimizer, T_max=10)
    for _ in range(3):
        param.grad = Tensor.ones(4)
        optimizer.step()
        schedule.step()
    built = stats.programs_built
    for _ in range(3):
        param.grad = Tensor.ones(4)
        optimizer.step()
        schedule.step()
    assert stats.programs_built == built
    optimizer.param_groups[0]["lr"] = 0.5
    assert optimizer.lr == 0.5
    with pytest.raises(KeyError, match="no hyperparameter"):
        optimizer.param_groups[0]["beta"] = 1.0


def test_clip_grad_norm_and_value_equal_torch() -> None:
    torch = _torch()
    rng = np.random.default_rng(4)
    grads = [rng.standard_normal((3, 2)) * 5, rng.standard_normal(4)]
    for norm_type in (2.0, 1.0, math.inf):
        params = [Tensor(np.zeros_like(grad), requires_grad=True) for grad in grads]
        tparams = [torch.zeros(grad.shape, dtype=torch.float64, requires_grad=True) for grad in grads]
        for param, tparam, grad in zip(params, tparams, grads, strict=True):
            param.grad, tparam.grad = Tensor(grad), torch.tensor(grad)
        total = utils.clip_grad_norm_(params, 1.5, norm_type)
        expected = torch.nn.utils.clip_grad_norm_(tparams, 1.5, norm_type)
        assert total.item() == pytest.approx(expected.item())
        for param, tparam in zip(params, tparams, strict=True):
            assert param.grad is not None
            np.testing.assert_allclose(param.grad.numpy(), tparam.grad.numpy(), rtol=1e-10)
    param = Tensor(np.zeros(3), requires_grad=True)
    param.grad = Tensor(np.array([-2.0, 0.5, 3.0]))
    utils.clip_grad_value_([param], 1.0)
    assert param.grad is not None
    np.testing.assert_array_equal(param.grad.numpy(), [-1.0, 0.5, 1.0])
