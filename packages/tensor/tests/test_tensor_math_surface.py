"""The math functions and activations torch users reach for next: values against numpy (and torch when it is
importable) across dtypes, edge values (0, -0.0, +-1, infinities, NaN, huge), broadcasting, 0-d, 0-size and
non-contiguous inputs; gradients against finite differences and torch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from lamina.dtype import dtypes
from lamina.tensor import Tensor

Array = npt.NDArray[Any]
EDGES: Array = np.array(
    [-3e4, -25.0, -2.5, -1.0, -0.999, -0.3, -1e-6, -0.0, 0.0, 1e-7, 0.5, 0.9999, 1.0, 1.5, 3.0, 25.0, 88.0,
     89.5, 1e20, np.inf, -np.inf, np.nan],
)  # fmt: skip


def _silenced(function: Callable[..., Array]) -> Callable[..., Array]:
    def call(*args: Array) -> Array:
        with np.errstate(all="ignore"):
            return function(*args)

    return call


def _np_selu(x: Array) -> Array:
    alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
    return scale * np.where(x > 0, x, alpha * np.expm1(np.where(x > 0, 0, x)))


def _np_softplus(x: Array) -> Array:
    return np.where(x > 20, x, np.logaddexp(0, x))


# name, lamina, numpy reference
UNARY: list[tuple[str, Callable[[Tensor], Tensor], Callable[[Array], Array]]] = [
    ("asin", Tensor.asin, np.arcsin),
    ("acos", Tensor.acos, np.arccos),
    ("atan", Tensor.atan, np.arctan),
    ("sinh", Tensor.sinh, np.sinh),
    ("cosh", Tensor.cosh, np.cosh),
    ("asinh", Tensor.asinh, np.arcsinh),
    ("acosh", Tensor.acosh, np.arccosh),
    ("atanh", Tensor.atanh, np.arctanh),
    ("log10", Tensor.log10, np.log10),
    ("log1p", Tensor.log1p, np.log1p),
    ("expm1", Tensor.expm1, np.expm1),
    ("relu6", Tensor.relu6, lambda x: np.clip(x, 0, 6)),
    ("hardtanh", Tensor.hardtanh, lambda x: np.clip(x, -1, 1)),
    ("hardsigmoid", Tensor.hardsigmoid, lambda x: np.clip(x + 3, 0, 6) / 6),
    ("hardswish", Tensor.hardswish, lambda x: x * np.clip(x + 3, 0, 6) / 6),
    ("selu", Tensor.selu, _np_selu),
    ("celu", lambda x: x.celu(0.5), lambda x: np.where(x > 0, x, 0.5 * np.expm1(np.where(x > 0, 0, x) / 0.5))),
    ("mish", Tensor.mish, lambda x: x * np.tanh(_np_softplus(x))),
    ("softsign", Tensor.softsign, lambda x: x / (1 + np.abs(x))),
    ("logsigmoid", Tensor.logsigmoid, lambda x: -np.logaddexp(0, -x)),
    ("softshrink", Tensor.softshrink, lambda x: np.where(x > 0.5, x - 0.5, np.where(x < -0.5, x + 0.5, x * 0))),
    ("hardshrink", Tensor.hardshrink, lambda x: np.where(np.abs(x) > 0.5, x, 0)),
    ("tanhshrink", Tensor.tanhshrink, lambda x: x - np.tanh(x)),
]

# name, lamina, numpy reference, torch's name (compared with torch, signs of zero included, when importable:
# numpy's remainder gives a zero the divisor's sign, torch's does not)
BINARY: list[tuple[str, Callable[[Tensor, Tensor], Tensor], Callable[[Array, Array], Array], str]] = [
    ("atan2", Tensor.atan2, np.arctan2, "atan2"),
    ("hypot", Tensor.hypot, np.hypot, "hypot"),
    ("copysign", Tensor.copysign, np.copysign, "copysign"),
    ("fmod", Tensor.fmod, np.fmod, "fmod"),
    ("remainder", Tensor.remainder, np.remainder, "remainder"),
    ("logaddexp", Tensor.logaddexp, np.logaddexp, "logaddexp"),
    ("floor_divide", lambda a, b: a.div(b, rounding_mode="floor"), np.floor_divide, "floor_divide"),
    ("trunc_divide", lambda a, b: a.div(b, rounding_mode="trunc"), lambda a, b: np.trunc(a / b), "trunc_divide"),
]


def _torch_binary(torch: Any, name: str) -> Callable[[Any, Any], Any]:
    if name == "floor_divide":
        return lambda a, b: torch.div(a, b, rounding_mode="floor")
    if name == "trunc_divide":
        return lambda a, b: torch.div(a, b, rounding_mode="trunc")
    function: Callable[[Any, Any], Any] = getattr(torch, name)
    return function


def _close(actual: Array, expected: Array, rtol: float, zero_signs: bool = True) -> None:
    # Same NaNs, same infinities, same signs of zero; finite values within rtol (and a tiny atol near 0).
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(actual[~finite & ~np.isnan(expected)], expected[~finite & ~np.isnan(expected)])
    np.testing.assert_allclose(actual[finite], expected[finite], rtol=rtol, atol=rtol * 1e-2)
    if zero_signs:
        zeros = expected == 0
        np.testing.assert_array_equal(np.signbit(actual[zeros]), np.signbit(expected[zeros]))


@pytest.mark.parametrize("dtype", [dtypes.float32, dtypes.float64], ids=str)
@pytest.mark.parametrize(("function", "reference"), [case[1:] for case in UNARY], ids=[case[0] for case in UNARY])
def test_unary_functions_equal_numpy_at_edge_values(
    function: Callable[[Tensor], Tensor], reference: Callable[[Array], Array], dtype: Any
) -> None:
    values = EDGES.astype(np.float32 if dtype == dtypes.float32 else np.float64)
    result = function(Tensor(values))
    assert result.dtype == dtype
    with np.errstate(over="ignore"):  # cosh(3e4) is inf in float32
        expected = _silenced(reference)(values.astype(np.float64)).astype(values.dtype)
    _close(result.numpy(), expected, 2e-6 if dtype == dtypes.float32 else 1e-12)


@pytest.mark.parametrize(
    ("function", "reference", "torch_name"), [case[1:] for case in BINARY], ids=[case[0] for case in BINARY]
)
def test_binary_functions_equal_torch_on_every_pair_of_edge_values(
    function: Callable[[Tensor, Tensor], Tensor], reference: Callable[[Array, Array], Array], torch_name: str
) -> None:
    values = EDGES.astype(np.float32)
    column, row = values[:, None], values[None, :]  # every pair, by broadcasting
    result = function(Tensor(column), Tensor(row)).numpy()
    try:
        import torch
    except ImportError:
        expected = _silenced(reference)(*np.broadcast_arrays(column, row))
        _close(result, expected.astype(np.float32), 2e-6, zero_signs=torch_name != "remainder")
        return
    expected = _torch_binary(torch, torch_name)(torch.from_numpy(column), torch.from_numpy(row)).numpy()
    _close(result, expected, 2e-6)


@pytest.mark.parametrize(("function", "reference"), [case[1:] for case in UNARY], ids=[case[0] for case in UNARY])
def test_integer_inputs_compute_in_float(
    function: Callable[[Tensor], Tensor], reference: Callable[[Array], Array]
) -> None:
    values = np.array([-3, -1, 0, 1, 2], dtype=np.int32)
    result = function(Tensor(values))
    assert result.dtype == dtypes.float32
    _close(result.numpy(), _silenced(reference)(values.astype(np.float64)).astype(np.float32), 2e-6)


def test_edge_shapes_and_views() -> None:
    rng = np.random.default_rng(1)
    grid = rng.uniform(-0.9, 0.9, (3, 4)).astype(np.float32)
    view = Tensor(grid).T[::2]  # non-contiguous
    np.testing.assert_allclose(view.asin().numpy(), np.arcsin(grid.T[::2]), rtol=2e-6)
    assert Tensor.zeros(0, 3).atan2(Tensor.ones(3)).shape == (0, 3)
    assert Tensor(0.5).acosh().shape == ()
    np.testing.assert_allclose(Tensor(2.0).hypot(3).item(), np.hypot(2, 3), rtol=1e-7)
    np.testing.assert_allclose(Tensor([1.0, -2.0]).atan2(-1.0).numpy(), np.arctan2([1.0, -2.0], -1.0), rtol=1e-6)


def test_integer_division_modes_and_fmod_equal_torch_semantics() -> None:
    a = np.array([7, -7, 7, -7, 0, 5], dtype=np.int32)
    b = np.array([2, 2, -2, -2, 3, -5], dtype=np.int32)
    trunc = Tensor(a).div(Tensor(b), rounding_mode="trunc")
    assert trunc.dtype == dtypes.int32
    np.testing.assert_array_equal(trunc.numpy(), [3, -3, -3, 3, 0, -1])
    np.testing.assert_array_equal(Tensor(a).div(Tensor(b), rounding_mode="floor").numpy(), np.floor_divide(a, b))
    np.testing.assert_array_equal(Tensor(a).fmod(Tensor(b)).numpy(), np.fmod(a, b))
    with pytest.raises(ZeroDivisionError, match="fmod"):
        Tensor(a).fmod(0)
    with pytest.raises(ValueError, match="rounding_mode"):
        Tensor(a).div(2, rounding_mode="round")


def test_nan_and_infinity_tests() -> None:
    values = EDGES.astype(np.float32)
    x = Tensor(values)
    np.testing.assert_array_equal(x.isfinite().numpy(), np.isfinite(values))
    np.testing.assert_array_equal(x.isposinf().numpy(), np.isposinf(values))
    np.testing.assert_array_equal(x.isneginf().numpy(), np.isneginf(values))
    np.testing.assert_array_equal(x.nan_to_num().numpy(), np.nan_to_num(values))
    np.testing.assert_array_equal(
        x.nan_to_num(1.0, 2.0, -2.0).numpy(), np.nan_to_num(values, nan=1.0, posinf=2.0, neginf=-2.0)
    )
    integers = Tensor([1, 2])
    assert integers.isfinite().numpy().all()
    assert not integers.isposinf().numpy().any()


def test_isclose_and_allclose_equal_numpy() -> None:
    values = EDGES.astype(np.float32)
    a, b = values[:, None], values[None, :]
    np.testing.assert_array_equal(Tensor(a).isclose(Tensor(b)).numpy(), np.isclose(a, b))
    np.testing.assert_array_equal(
        Tensor(a).isclose(Tensor(b), rtol=0.1, atol=0.5, equal_nan=True).numpy(),
        np.isclose(a, b, rtol=0.1, atol=0.5, equal_nan=True),
    )
    assert Tensor([1.0, 2.0]).allclose(Tensor([1.0, 2.0000001]))
    assert not Tensor([1.0, np.nan]).allclose(Tensor([1.0, np.nan]))
    assert Tensor([1.0, np.nan]).allclose(Tensor([1.0, np.nan]), equal_nan=True)
    with pytest.raises(ValueError, match="tolerances"):
        Tensor([1.0]).isclose(Tensor([1.0]), rtol=-1)


@pytest.mark.parametrize(
    ("name", "function", "low", "high"),
    [
        ("asin", lambda x: x.asin(), -0.9, 0.9),
        ("acos", lambda x: x.acos(), -0.9, 0.9),
        ("atan", lambda x: x.atan(), -3, 3),
        ("sinh-cosh", lambda x: x.sinh() * x.cosh(), -3, 3),
        ("asinh", lambda x: x.asinh(), -3, 3),
        ("acosh", lambda x: x.acosh(), 1.1, 4),
        ("atanh", lambda x: x.atanh(), -0.9, 0.9),
        ("log10", lambda x: x.log10(), 0.1, 4),
        ("activations", lambda x: x.hardswish() + x.selu() + x.celu(0.7) + x.mish() + x.softsign(), -4, 4),
        ("logsigmoid", lambda x: x.logsigmoid(), -4, 4),
    ],
    ids=lambda value: value if isinstance(value, str) else "-",
)  # fmt: skip
def test_unary_gradients_match_finite_differences(
    name: str, function: Callable[[Tensor], Tensor], low: float, high: float, gradcheck: Any
) -> None:
    # Away from the kinks of the hard activations (where the derivative jumps).
    values = np.random.default_rng(3).uniform(low, high, (2, 5))
    values[np.abs(np.abs(values) - 3) < 0.05] += 0.1
    gradcheck(lambda x: function(x).sum(), [values])


def test_binary_gradients_match_finite_differences(gradcheck: Any) -> None:
    rng = np.random.default_rng(4)
    a, b = rng.uniform(0.5, 2, (2, 3)), rng.uniform(-2, -0.5, (2, 3))
    gradcheck(lambda x, y: (x.atan2(y) + x.hypot(y) + x.logaddexp(y)).sum(), [a, b])
    gradcheck(lambda x, y: (y.atan2(x) * x.copysign(y)).sum(), [a, b])


def test_values_and_gradients_match_torch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    values = rng.uniform(-0.95, 0.95, (3, 4))
    other = rng.uniform(0.5, 2.0, (4,))
    x, y = Tensor(values, requires_grad=True), Tensor(other, requires_grad=True)
    tx, ty = torch.tensor(values, requires_grad=True), torch.tensor(other, requires_grad=True)
    F = torch.nn.functional  # noqa: N806 - torch's own name
    ours = (
        x.asin()
        + x.acos() * x.atanh()
        + x.atan2(y)
        + x.hypot(y)
        + x.logaddexp(y)
        + x.sinh() * x.cosh()
        + x.asinh()
        + (y + 1).acosh()
        + x.hardswish()
        + x.mish()
        + x.celu(0.3)
        + x.logsigmoid()
    ).sum()
    theirs = (tx.asin() + tx.acos() * tx.atanh() + tx.atan2(ty) + tx.hypot(ty) + tx.logaddexp(ty)
              + tx.sinh() * tx.cosh() + tx.asinh() + (ty + 1).acosh() + F.hardswish(tx) + F.mish(tx)
              + F.celu(tx, 0.3) + F.logsigmoid(tx)).sum()  # fmt: skip
    ours.backward()
    theirs.backward()
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-12)  # float64: the formulas' rounding differs
    assert x.grad is not None
    assert y.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-8)
    np.testing.assert_allclose(y.grad.numpy(), ty.grad.numpy(), rtol=1e-8)
