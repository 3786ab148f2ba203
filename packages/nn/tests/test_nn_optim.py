"""SGD, Adam and AdamW against numpy transcriptions of torch's algorithms over ten steps (and torch when present)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from lamina.nn import Linear, optim
from lamina.nn.optim import SGD, Adam, AdamW, Optimizer
from lamina.tensor import Tensor, realize, stats

Array = npt.NDArray[np.float64]
STEPS = 10


def gradient_of(param: Array, step: int) -> Array:
    # The loss sum(param**3 / 3 + c * param) has gradient param**2 + c: a gradient that depends on the parameter.
    result: Array = param * param + np.cos(np.arange(param.size).reshape(param.shape) + step)
    return result


def run_lamina(make: Callable[[list[Tensor]], Optimizer], start: Array) -> Array:
    param = Tensor(start.copy(), requires_grad=True)
    optimizer = make([param])
    for step in range(STEPS):
        constant = Tensor(np.cos(np.arange(start.size).reshape(start.shape) + step))
        loss = (param * param * param / 3 + constant * param).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return param.numpy()


def sgd_reference(start: Array, lr: float, momentum: float, nesterov: bool, weight_decay: float) -> Array:
    param, buffer = start.copy(), None
    for step in range(STEPS):
        grad = gradient_of(param, step) + weight_decay * param
        if momentum:
            buffer = grad.copy() if buffer is None else momentum * buffer + grad
            grad = grad + momentum * buffer if nesterov else buffer
        param = param - lr * grad
    return param


def adam_reference(
    start: Array, lr: float, betas: tuple[float, float], eps: float, decay: float, decoupled: bool
) -> Array:
    param = start.copy()
    exp_avg, exp_avg_sq = np.zeros_like(param), np.zeros_like(param)
    for step in range(1, STEPS + 1):
        grad = gradient_of(param, step - 1)
        if decoupled:
            param = param * (1 - lr * decay)
        else:
            grad = grad + decay * param
        exp_avg = betas[0] * exp_avg + (1 - betas[0]) * grad
        exp_avg_sq = betas[1] * exp_avg_sq + (1 - betas[1]) * grad * grad
        step_size = lr / (1 - betas[0] ** step)
        denominator = np.sqrt(exp_avg_sq) / np.sqrt(1 - betas[1] ** step) + eps
        param = param - step_size * exp_avg / denominator
    return param


@pytest.fixture
def start(rng: np.random.Generator) -> Array:
    return rng.standard_normal((3, 4))


@pytest.mark.parametrize(
    ("momentum", "nesterov", "weight_decay"), [(0.0, False, 0.0), (0.9, False, 0.01), (0.8, True, 0.1)]
)
def test_sgd_matches_torchs_algorithm(start: Array, momentum: float, nesterov: bool, weight_decay: float) -> None:
    out = run_lamina(lambda params: SGD(params, 0.05, momentum, nesterov, weight_decay), start)
    np.testing.assert_allclose(out, sgd_reference(start, 0.05, momentum, nesterov, weight_decay), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_adam_matches_torchs_algorithm(start: Array, weight_decay: float) -> None:
    out = run_lamina(lambda params: Adam(params, 0.05, (0.8, 0.95), 1e-6, weight_decay), start)
    expected = adam_reference(start, 0.05, (0.8, 0.95), 1e-6, weight_decay, decoupled=False)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)


def test_adamw_decays_weights_decoupled_from_the_gradient(start: Array) -> None:
    out = run_lamina(lambda params: AdamW(params, 0.05, weight_decay=0.1), start)
    expected = adam_reference(start, 0.05, (0.9, 0.999), 1e-8, 0.1, decoupled=True)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW"])
def test_optimizers_match_torch(start: Array, name: str) -> None:
    torch = pytest.importorskip("torch")
    reference = torch.tensor(start.copy(), requires_grad=True)
    options = {"SGD": {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}}.get(name, {"lr": 0.05})
    torch_optimizer = getattr(torch.optim, name)([reference], **options)
    for step in range(STEPS):
        constant = torch.cos(torch.arange(start.size, dtype=torch.float64).reshape(start.shape) + step)
        torch_optimizer.zero_grad()
        (reference**3 / 3 + constant * reference).sum().backward()
        torch_optimizer.step()
    classes: dict[str, type[Optimizer]] = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW}
    out = run_lamina(lambda params: classes[name](params, **options), start)
    np.testing.assert_allclose(out, reference.detach().numpy(), rtol=1e-6, atol=1e-6)


def test_step_keeps_the_parameter_objects_and_skips_those_without_gradients() -> None:
    layer = Linear(3, 2)
    assert layer.bias is not None
    weight, bias_before = layer.weight, layer.bias.numpy().copy()
    optimizer = SGD(layer.parameters(), lr=0.1)
    (layer.weight * layer.weight).sum().backward()
    layer.bias.grad = None
    optimizer.step()
    assert layer.weight is weight
    np.testing.assert_array_equal(layer.bias.numpy(), bias_before)


def test_step_realizes_every_update_in_one_realize_call(monkeypatch: pytest.MonkeyPatch) -> None:
    layer = Linear(3, 2)
    optimizer = Adam(layer.parameters(), lr=0.1)
    layer(Tensor.ones(4, 3)).sum().backward()
    calls: list[tuple[Tensor, ...]] = []

    def recording_realize(*tensors: Tensor) -> None:
        calls.append(tensors)
        realize(*tensors)

    monkeypatch.setattr(optim, "realize", recording_realize)
    optimizer.step()
    assert len(calls) == 1
    state = [*optimizer.exp_avg, *optimizer.exp_avg_sq, optimizer.beta1_power, optimizer.beta2_power]
    expected = {id(tensor) for tensor in [*layer.parameters(), *state]}
    assert {id(tensor) for tensor in calls[0]} == expected
    # Nothing is left lazy: realizing again runs no kernel.
    before = stats.kernels_run
    realize(*calls[0])
    assert stats.kernels_run == before


def test_adam_steps_compile_no_new_kernels_after_the_first() -> None:
    layer = Linear(3, 2)
    optimizer = Adam(layer.parameters(), lr=0.1)
    built: list[int] = []
    for _ in range(4):
        optimizer.zero_grad()
        layer(Tensor.ones(4, 3)).sum().backward()
        optimizer.step()
        built.append(stats.programs_built)
    # Step-dependent numbers (the bias corrections) live in tensors, not in the kernels' source.
    assert built[1] == built[2] == built[3]


def test_zero_grad_clears_gradients() -> None:
    param = Tensor.ones(2, requires_grad=True)
    optimizer = SGD([param], lr=0.1)
    (param * 2).sum().backward()
    assert param.grad is not None
    optimizer.zero_grad()
    assert param.grad is None


def test_optimizer_rejects_empty_parameter_lists() -> None:
    with pytest.raises(ValueError, match="empty parameter list"):
        SGD([], lr=0.1)
