"""Values at the edges of the number line: saturating activations, NaN and infinity, big and exact integers.

Each case once gave a wrong answer without a word (a NaN gradient where torch gives 0, an index past
the end, a wrapped integer). Derivatives are compared with float64 formulas written here, and with
torch when it is importable.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from lamina.dtype import dtypes
from lamina.tensor import Tensor, where

Array = npt.NDArray[np.float64]
EXTREMES = np.array([-1e4, -100.0, -30.0, -1.0, -1e-3, 0.0, 1e-3, 1.0, 30.0, 100.0, 1e4])
_GELU_C = math.sqrt(2 / math.pi)


def _sigmoid(x: Array) -> Array:
    result: Array = np.exp(-np.logaddexp(0.0, -x))
    return result


def _gelu_tanh_derivative(x: Array) -> Array:
    inner = np.tanh(_GELU_C * (x + 0.044715 * x**3))
    result: Array = 0.5 * (1 + inner) + 0.5 * x * (1 - inner**2) * _GELU_C * (1 + 3 * 0.044715 * x**2)
    return result


# name, the lamina function, its derivative in float64, torch's function
SATURATING: list[tuple[str, Callable[[Any], Any], Callable[[Array], Array], Callable[[Any, Any], Any]]] = [
    ("sigmoid", lambda t: t.sigmoid(), lambda x: _sigmoid(x) * _sigmoid(-x), lambda torch, t: torch.sigmoid(t)),
    ("tanh", lambda t: t.tanh(), lambda x: 1 - np.tanh(x) ** 2, lambda torch, t: torch.tanh(t)),
    (
        "silu",
        lambda t: t.silu(),
        lambda x: _sigmoid(x) + x * _sigmoid(x) * _sigmoid(-x),
        lambda torch, t: torch.nn.functional.silu(t),
    ),
    ("softplus", lambda t: t.softplus(), _sigmoid, lambda torch, t: torch.nn.functional.softplus(t)),
    (
        "elu",
        lambda t: t.elu(),
        lambda x: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0))),
        lambda torch, t: torch.nn.functional.elu(t),
    ),
    (
        "gelu-tanh",
        lambda t: t.gelu(approximate="tanh"),
        _gelu_tanh_derivative,
        lambda torch, t: torch.nn.functional.gelu(t, approximate="tanh"),
    ),
    ("relu", lambda t: t.relu(), lambda x: (x > 0).astype(np.float64), lambda torch, t: torch.relu(t)),
]


@pytest.mark.parametrize(
    ("function", "derivative", "torch_function"), [case[1:] for case in SATURATING], ids=[c[0] for c in SATURATING]
)
@pytest.mark.parametrize("dtype", [dtypes.float32, dtypes.float64], ids=lambda d: d.name)
def test_saturating_function_has_a_finite_derivative_everywhere(
    function: Callable[[Any], Any],
    derivative: Callable[[Array], Array],
    torch_function: Callable[[Any, Any], Any],
    dtype: Any,
) -> None:
    x = Tensor(EXTREMES, dtype=dtype, requires_grad=True)
    function(x).sum().backward()
    assert x.grad is not None
    gradient = x.grad.numpy().astype(np.float64)
    assert np.isfinite(gradient).all(), f"non-finite derivative at {EXTREMES[~np.isfinite(gradient)]}"
    np.testing.assert_allclose(gradient, derivative(EXTREMES), rtol=1e-5, atol=1e-7)
    torch = pytest.importorskip("torch")
    reference = torch.tensor(EXTREMES, requires_grad=True)
    torch_function(torch, reference).sum().backward()
    np.testing.assert_allclose(gradient, reference.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_softplus_and_elu_stay_accurate_far_below_zero() -> None:
    x = Tensor([-700.0, -100.0, -1e-9], dtype=dtypes.float64)
    np.testing.assert_allclose(x.softplus().numpy(), np.log1p(np.exp([-700.0, -100.0, -1e-9])), rtol=1e-14)
    np.testing.assert_allclose(x.elu().numpy(), np.expm1([-700.0, -100.0, -1e-9]), rtol=1e-14)


def test_log1p_and_expm1_are_accurate_near_zero_and_differentiate() -> None:
    values = np.array([-0.5, -1e-10, 0.0, 1e-10, 3.0])
    x = Tensor(values, dtype=dtypes.float64, requires_grad=True)
    (x.log1p() + x.expm1()).sum().backward()
    np.testing.assert_allclose(x.log1p().numpy(), np.log1p(values), rtol=1e-15)
    np.testing.assert_allclose(x.expm1().numpy(), np.expm1(values), rtol=1e-15)
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), 1 / (1 + values) + np.exp(values), rtol=1e-15)


# -- NaN and infinity --

NAN = float("nan")


@pytest.mark.parametrize("size", [3, 40, 100_003], ids=lambda n: f"n{n}")
@pytest.mark.parametrize("where", [0, 1, -1], ids=["first", "second", "last"])
def test_max_min_argmax_argmin_propagate_nan_like_torch(size: int, where: int) -> None:
    values = np.linspace(-1.0, 1.0, size, dtype=np.float32)
    values[where] = NAN
    x = Tensor(values)
    for extreme in (x.max(), x.min(), x.amax(), x.amin()):
        assert math.isnan(extreme.item())
    position = where % size
    assert x.argmax().item() == position
    assert x.argmin().item() == position
    rows = Tensor(np.stack([values, values[::-1]]))
    values_along, indices_along = rows.max(1)
    assert np.isnan(values_along.numpy()).all()
    assert indices_along.tolist() == [position, size - 1 - position]


def test_maximum_minimum_and_clamp_propagate_nan() -> None:
    x = Tensor([NAN, 1.0, -2.0])
    assert np.isnan(x.maximum(Tensor([0.0, NAN, 0.0])).numpy()[:2]).all()
    assert np.isnan(x.minimum(0.0).numpy()[0])
    assert np.isnan(x.clamp(-1.0, 1.0).numpy()[0])


def test_a_choice_against_zero_keeps_every_bit_of_the_value_it_keeps() -> None:
    values = np.array([NAN, -0.0, 0.0, -math.inf, math.inf, -1.5, 3.0e38, 1.0e-45], dtype=np.float32)
    keep = np.array([True, False] * 4)
    x, mask = Tensor(values), Tensor(keep)
    for result, expected in [
        (where(mask, x, 0.0), np.where(keep, values, np.float32(0.0))),
        (where(mask, 0.0, x), np.where(keep, np.float32(0.0), values)),
        (where(mask, x, -0.0), np.where(keep, values, np.float32(-0.0))),
    ]:
        np.testing.assert_array_equal(result.numpy().view(np.uint32), expected.astype(np.float32).view(np.uint32))
    np.testing.assert_array_equal(x.where(x > 0, 0).numpy(), np.where(values > 0, values, 0).astype(np.float32))


def test_relu_keeps_nan() -> None:
    result = Tensor([NAN, -1.0, 2.0]).relu().numpy()
    assert np.isnan(result[0])
    assert result[1:].tolist() == [0.0, 2.0]


def test_logsumexp_with_infinities_matches_torch() -> None:
    inf = math.inf
    assert Tensor([inf, 0.0]).logsumexp(0).item() == inf
    assert Tensor([-inf, -inf]).logsumexp(0).item() == -inf
    np.testing.assert_allclose(Tensor([[-inf, 0.0], [1.0, 2.0]]).logsumexp(1).numpy(), [0.0, np.logaddexp(1, 2)])


# -- integers --


def test_integer_tensors_default_to_int64_like_torch() -> None:
    assert Tensor([1, 2]).dtype == dtypes.int64
    assert Tensor(3).dtype == dtypes.int64
    assert Tensor.arange(4).dtype == dtypes.int64
    assert Tensor([2**40]).item() == 2**40
    assert (Tensor([1]) * 2**40).item() == 2**40


@pytest.mark.parametrize(
    "make",
    [
        lambda: Tensor([2**70]),
        lambda: Tensor([1, -(2**63) - 1]),
        lambda: Tensor([1]) * 2**70,
        lambda: Tensor([2**40], dtype=dtypes.int32),
        lambda: Tensor([1], dtype=dtypes.int32) * 2**40,
        lambda: Tensor.full((2,), 300, dtype=dtypes.uint8),
        lambda: Tensor(np.array([300]), dtype=dtypes.uint8),
        lambda: Tensor([1e30], dtype=dtypes.int64),
        lambda: Tensor.arange(2**31, 2**31 + 3, dtype=dtypes.int32),
    ],
    ids=["list", "below-int64", "scalar", "int32-data", "int32-scalar", "full", "numpy", "float-data", "arange"],
)
def test_python_numbers_that_do_not_fit_the_dtype_raise_overflow_error(make: Callable[[], Any]) -> None:
    with pytest.raises(OverflowError, match=r"does not fit|cannot convert|reaches"):
        make()


def test_arange_past_two_to_the_31_does_not_wrap() -> None:
    assert Tensor.arange(2**31, 2**31 + 3).tolist() == [2**31, 2**31 + 1, 2**31 + 2]
    assert Tensor.arange(-(2**40), -(2**40) - 6, -2).tolist() == [-(2**40), -(2**40) - 2, -(2**40) - 4]
    assert Tensor.arange(10**18, 10**18 + 7 * 10**17, 3 * 10**17).tolist() == [10**18, 13 * 10**17, 16 * 10**17]


def _wrap64(value: int) -> int:
    value %= 1 << 64
    return value - (1 << 64) if value >= 1 << 63 else value


def test_integer_powers_are_exact_and_wrap_like_torch() -> None:
    assert (Tensor([3]) ** 40).item() == _wrap64(3**40)
    assert (Tensor([3, -3, 2]) ** Tensor([63, 5, 70])).tolist() == [_wrap64(3**63), -243, 0]
    assert (2 ** Tensor([0, 10, 62])).tolist() == [1, 1024, 2**62]
    assert (Tensor([7], dtype=dtypes.int32) ** 12).item() == np.int32(7) ** np.int32(12)
    # A negative exponent in a tensor gives torch's answer: 1 for a base of 1, +-1 for -1, 0 otherwise.
    assert (Tensor([2, 1, -1, -1, 0]) ** Tensor([-1, -2, -3, -2, -1])).tolist() == [0, 1, -1, 1, 0]


def test_integer_tensor_to_a_negative_python_power_is_refused() -> None:
    with pytest.raises(ValueError, match="negative integer powers"):
        _ = Tensor([2]) ** -1


def test_float_powers_keep_their_gradients() -> None:
    x = Tensor([0.0, 2.0], requires_grad=True)
    (x**0).sum().backward()
    assert x.grad is not None
    assert x.grad.tolist() == [0.0, 0.0]
    y = Tensor([-1.0, 2.0, 0.0], requires_grad=True)
    (Tensor([0.0, 0.0, 0.0]) ** y).sum().backward()
    assert y.grad is not None
    assert y.grad.tolist() == [-math.inf, 0.0, 0.0]


def test_clamp_gradient_is_one_at_the_bounds_like_torch() -> None:
    x = Tensor([-1.0, 0.0, 1.0, 2.0, 3.0], requires_grad=True)
    x.clamp(0.0, 2.0).sum().backward()
    assert x.grad is not None
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]
    low = Tensor([0.5, 0.5], requires_grad=True)
    Tensor([0.0, 1.0]).clamp(low).sum().backward()
    assert low.grad is not None
    assert low.grad.tolist() == [1.0, 0.0]
    # min above max: every element is max, as in torch.
    assert Tensor([0.0, 5.0, 10.0]).clamp(4.0, 2.0).tolist() == [2.0, 2.0, 2.0]


@pytest.mark.parametrize("dtype", [dtypes.int8, dtypes.int16, dtypes.int32, dtypes.int64], ids=lambda d: d.name)
def test_the_smallest_integer_is_the_minimum(dtype: Any) -> None:
    lowest = int(dtype.min_value)
    values = Tensor([3, lowest, 0], dtype=dtype)
    assert values.amin().item() == lowest
    assert values.min().item() == lowest
    assert values.argmin().item() == 1
    assert values.min(0).indices.item() == 1
    np.testing.assert_array_equal(values.minimum(Tensor([0, 0, 0], dtype=dtype)).numpy(), [0, lowest, 0])
    np.testing.assert_array_equal(values.clamp(max_=1).numpy(), [1, lowest, 0])


def test_a_reduction_over_two_to_the_31_elements_indexes_with_64_bits() -> None:
    # A broadcast constant needs no memory; its kernel loops 2**31 + 5 times with int64 indices.
    assert Tensor.ones(2**31 + 5, dtype=dtypes.int64).sum().item() == 2**31 + 5


def test_long_float_sums_are_as_accurate_as_numpys_pairwise_sums() -> None:
    # One running float32 total over 16M values near 1000 came out 0.3% off; 2**24 + 100 ones stopped at 2**24.
    assert Tensor.ones(2**24 + 100).sum().item() == 2**24 + 100
    values = np.random.default_rng(0).random(1 << 24, dtype=np.float32) + 1000
    exact = values.astype(np.float64).sum()
    tolerance = 4 * abs(float(values.sum()) - exact) + 1e-7 * exact
    assert abs(Tensor(values).sum().item() - exact) <= tolerance
    assert abs(Tensor(values).mean().item() - exact / values.size) <= tolerance / values.size
    rows = values.reshape(4, -1)
    np.testing.assert_allclose(Tensor(rows).sum(1).numpy(), rows.astype(np.float64).sum(1), rtol=1e-6)
