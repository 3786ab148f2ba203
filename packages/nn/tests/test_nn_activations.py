"""The activation modules and functions: torch's names and arguments, the same values as torch's modules (when
torch is importable) and as the Tensor methods they wrap, `inplace=True`, and errors that name the problem."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from lamina import nn
from lamina.nn import functional as F  # noqa: N812 - the name every torch user reads
from lamina.tensor import Tensor

# module name, constructor arguments (the same for torch's module of that name)
MODULES: list[tuple[str, dict[str, Any]]] = [
    ("ReLU", {}),
    ("ReLU6", {}),
    ("LeakyReLU", {"negative_slope": 0.2}),
    ("Hardtanh", {"min_val": -0.5, "max_val": 2.0}),
    ("Hardsigmoid", {}),
    ("Hardswish", {}),
    ("ELU", {"alpha": 0.7}),
    ("SELU", {}),
    ("CELU", {"alpha": 1.5}),
    ("SiLU", {}),
    ("Mish", {}),
    ("GELU", {"approximate": "tanh"}),
    ("Sigmoid", {}),
    ("Tanh", {}),
    ("Softplus", {"beta": 2.0, "threshold": 5.0}),
    ("Softsign", {}),
    ("LogSigmoid", {}),
    ("Tanhshrink", {}),
    ("Softshrink", {"lambd": 0.3}),
    ("Hardshrink", {"lambd": 0.3}),
    ("GLU", {"dim": 1}),
    ("Softmax", {"dim": 1}),
    ("LogSoftmax", {"dim": 0}),
    ("Softmin", {"dim": 1}),
]


@pytest.mark.parametrize(("name", "arguments"), MODULES, ids=[case[0] for case in MODULES])
def test_modules_equal_torch_in_value_and_gradient(name: str, arguments: dict[str, Any]) -> None:
    torch = pytest.importorskip("torch")
    values = np.random.default_rng(2).uniform(-5, 5, (3, 4))
    x = Tensor(values, requires_grad=True)
    result = getattr(nn, name)(**arguments)(x)
    (result * Tensor(np.arange(result.numel()).reshape(result.shape))).sum().backward()
    tx = torch.tensor(values, requires_grad=True)
    expected = getattr(torch.nn, name)(**arguments)(tx)
    (expected * torch.arange(expected.numel()).reshape(expected.shape)).sum().backward()
    np.testing.assert_allclose(result.numpy(), expected.detach().numpy(), rtol=1e-12, atol=1e-14)
    assert x.grad is not None
    # (torch differentiates hardsigmoid with a float32 1/6, even in float64)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-7, atol=1e-12)


def test_modules_apply_the_functions_of_their_names() -> None:
    x = Tensor(np.linspace(-4, 4, 12, dtype=np.float32).reshape(3, 4))
    np.testing.assert_array_equal(nn.Hardswish()(x).numpy(), F.hardswish(x).numpy())
    np.testing.assert_array_equal(nn.Hardswish()(x).numpy(), x.hardswish().numpy())
    np.testing.assert_array_equal(nn.Softmin(dim=0)(x).numpy(), (-x).softmax(0).numpy())
    first, second = x[:, :2], x[:, 2:]
    np.testing.assert_allclose(F.glu(x).numpy(), (first * second.sigmoid()).numpy())


def test_inplace_writes_the_result_into_the_input() -> None:
    x = Tensor(np.array([-2.0, -0.5, 0.5, 7.0], dtype=np.float32))
    result = nn.ReLU6(inplace=True)(x)
    assert result is x
    np.testing.assert_array_equal(x.numpy(), [0.0, 0.0, 0.5, 6.0])
    y = Tensor(np.array([-1.0, 1.0], dtype=np.float32))
    F.leaky_relu(y, 0.5, inplace=True)
    np.testing.assert_array_equal(y.numpy(), [-0.5, 1.0])


def test_bad_arguments_name_the_problem() -> None:
    with pytest.raises(ValueError, match=r"dim 1 of shape \(2, 3\).*odd"):
        F.glu(Tensor.ones(2, 3), dim=1)
    with pytest.raises(ValueError, match="0-d"):
        F.glu(Tensor(1.0))
    with pytest.raises(ValueError, match="min_val"):
        nn.Hardtanh(2.0, 1.0)(Tensor.ones(2))
    with pytest.raises(ValueError, match="alpha"):
        nn.CELU(0.0)(Tensor.ones(2))
