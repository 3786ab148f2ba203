"""Fixtures for the gradient tests: BUFFER leaves holding numpy arrays, and a finite-difference gradient checker.

`check_gradient(build, *arrays)` builds `build(*tensors)` over float64 BUFFER leaves, seeds it with a
random upstream gradient, differentiates with respect to the BUFFER nodes themselves (so every graph
also goes through the RESHAPE rule), evaluates with the numpy reference evaluator and compares with
central finite differences of sum(output * upstream). `gradients_of(build, *arrays)` evaluates the
gradients of sum(output) for tests that know the exact answer (ties, zeros, torch).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from lamina.dtype import from_numpy_dtype
from lamina.gradient import compute_gradient
from lamina.uop import BufferRef, Ops, UOp
from lamina.uop.reference import evaluate

Array = npt.NDArray[Any]
_uids = itertools.count(1_000_000)


def buffer_for(array: Array) -> UOp:
    """A fresh BUFFER node with `array`'s dtype and size."""
    return UOp(Ops.BUFFER, from_numpy_dtype(array.dtype), (), BufferRef(next(_uids), "CPU", array.size))


def _finite_difference(value: Callable[[list[Array]], float], arrays: list[Array], which: int) -> Array:
    step = 1e-6
    gradient = np.zeros(arrays[which].size)
    for index in range(arrays[which].size):
        shifted = [array.ravel().copy() for array in arrays]
        shifted[which][index] += step
        above = value(shifted)
        shifted[which][index] -= 2 * step
        below = value(shifted)
        gradient[index] = (above - below) / (2 * step)
    return gradient


def check_gradient(build: Callable[..., UOp], *arrays: Array, rtol: float = 1e-5, atol: float = 1e-7) -> None:
    buffers = [buffer_for(array) for array in arrays]
    output = build(*(buf.reshape(array.shape) for buf, array in zip(buffers, arrays, strict=True)))
    upstream = np.random.default_rng(len(arrays)).standard_normal(output.shape)
    upstream_buffer = buffer_for(upstream)
    grads = compute_gradient(output, upstream_buffer.reshape(output.shape), buffers)
    assert set(grads) == set(buffers)

    def weighted_sum(flat_arrays: list[Array]) -> float:
        inputs = dict(zip(buffers, flat_arrays, strict=True)) | {upstream_buffer: upstream.ravel()}
        (result,) = evaluate([output], inputs)
        return float(np.sum(result * upstream))

    flat = [array.ravel() for array in arrays]
    inputs = dict(zip(buffers, flat, strict=True)) | {upstream_buffer: upstream.ravel()}
    computed = evaluate([grads[buf] for buf in buffers], inputs)
    for which, buf in enumerate(buffers):
        assert grads[buf].shape == buf.shape
        assert grads[buf].dtype == buf.dtype
        expected = _finite_difference(weighted_sum, flat, which)
        np.testing.assert_allclose(computed[which], expected, rtol=rtol, atol=atol, err_msg=f"input {which}")


def gradients_of(build: Callable[..., UOp], *arrays: Array) -> list[Array]:
    """The evaluated gradients of sum(build(*tensors)) (root grad 1) w.r.t. each array, shaped like it."""
    buffers = [buffer_for(array) for array in arrays]
    output = build(*(buf.reshape(array.shape) for buf, array in zip(buffers, arrays, strict=True)))
    root = output.reduce_axis(Ops.ADD, tuple(range(len(output.shape))))
    grads = compute_gradient(root, root.const_like(1.0), buffers)
    inputs = {buf: array.ravel() for buf, array in zip(buffers, arrays, strict=True)}
    computed = evaluate([grads[buf] for buf in buffers], inputs)
    return [value.reshape(array.shape) for value, array in zip(computed, arrays, strict=True)]


@pytest.fixture(name="check_gradient")
def check_gradient_fixture() -> Callable[..., None]:
    return check_gradient


@pytest.fixture(name="buffer_for")
def buffer_for_fixture() -> Callable[[Array], UOp]:
    return buffer_for


@pytest.fixture(name="gradients_of")
def gradients_of_fixture() -> Callable[..., list[Array]]:
    return gradients_of


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
