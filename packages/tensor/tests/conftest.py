"""Fixtures for the tensor tests: a seeded numpy generator and a comparison of a Tensor with numpy values.

The comparison checks shape and dtype exactly and values with a tolerance that depends on the
dtype: float16 keeps about three decimal digits, so it gets a loose one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from lamina.dtype import DType, dtypes, to_numpy_dtype
from lamina.tensor import Tensor

Matcher = Callable[..., None]

_TOLERANCES: dict[DType, tuple[float, float]] = {
    dtypes.float16: (2e-2, 2e-2),
    dtypes.bfloat16: (3e-2, 3e-2),
    dtypes.float32: (1e-5, 1e-5),
    dtypes.float64: (1e-10, 1e-10),
}


def _matches(
    actual: Tensor,
    expected: npt.ArrayLike,
    dtype: DType | None = None,
    rtol: float | None = None,
    atol: float | None = None,
) -> None:
    values = actual.numpy()
    reference: npt.NDArray[Any] = np.asarray(expected)
    assert actual.shape == reference.shape, f"shape {actual.shape} != numpy's {reference.shape}"
    if dtype is not None:
        assert actual.dtype == dtype, f"dtype {actual.dtype} != {dtype}"
    default_rtol, default_atol = _TOLERANCES.get(actual.dtype, (0.0, 0.0))
    if actual.dtype.is_float:
        np.testing.assert_allclose(
            values.astype(np.float64),
            reference.astype(np.float64),
            rtol=default_rtol if rtol is None else rtol,
            atol=default_atol if atol is None else atol,
        )
    else:
        np.testing.assert_array_equal(values, reference.astype(to_numpy_dtype(actual.dtype)))


@pytest.fixture
def matches() -> Matcher:
    """`matches(tensor, numpy_values, dtype=None, rtol=None, atol=None)` asserts they agree."""
    return _matches


def _sample(
    shape: tuple[int, ...], dtype: DType, low: float = -3.0, high: float = 3.0, seed: int = 0
) -> npt.NDArray[Any]:
    generator = np.random.default_rng(seed)
    if dtype.is_bool:
        return generator.random(shape) < 0.5
    if dtype.is_float:
        return generator.uniform(low, high, shape).astype(to_numpy_dtype(dtype))
    floor = 0 if dtype.is_unsigned else int(low)
    return generator.integers(floor, int(high) + 1, shape).astype(to_numpy_dtype(dtype))


@pytest.fixture
def sample() -> Callable[..., npt.NDArray[Any]]:
    """`sample(shape, dtype, low=-3, high=3, seed=0)`: reproducible numpy values of `dtype` in [low, high]."""
    return _sample


def _gradcheck(function: Callable[..., Tensor], inputs: Sequence[npt.NDArray[np.float64]]) -> None:
    # Each input's gradient is compared, entry by entry, with a central difference in float64:
    # every perturbed input has the same shapes, so the kernels compile once and are reused.
    leaves = [Tensor(value, requires_grad=True) for value in inputs]
    function(*leaves).backward()
    step = 1e-6
    for position, (leaf, value) in enumerate(zip(leaves, inputs, strict=True)):
        assert leaf.grad is not None, f"input {position} got no gradient"
        analytic = leaf.grad.numpy()
        numeric = np.zeros_like(value)
        for flat in range(value.size):
            shifted = []
            for sign in (1.0, -1.0):
                moved = value.copy().reshape(-1)
                moved[flat] += sign * step
                arguments = [
                    Tensor(moved.reshape(value.shape) if index == position else other)
                    for index, other in enumerate(inputs)
                ]
                shifted.append(float(function(*arguments).item()))
            numeric.reshape(-1)[flat] = (shifted[0] - shifted[1]) / (2 * step)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-6, err_msg=f"gradient of input {position}")


@pytest.fixture
def gradcheck() -> Callable[[Callable[..., Tensor], Sequence[npt.NDArray[np.float64]]], None]:
    """`gradcheck(function, float64_inputs)`: autograd's gradients of a scalar function equal finite differences."""
    return _gradcheck


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cpu_default: the test assumes the default device is the CPU")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The suite runs on any default device (DEVICE=OPENCL runs it on OpenCL); tests of the CPU's own
    behaviour (native replays, panels, the default device itself) skip elsewhere."""
    from lamina.tensor import current_context

    if current_context().device == "CPU":
        return
    skip = pytest.mark.skip(reason=f"tests the CPU as the default device, which is {current_context().device}")
    for item in items:
        if item.get_closest_marker("cpu_default") is not None:
            item.add_marker(skip)
