"""Fixtures for the schedule tests: BUFFER leaves, tensor-graph builders, and a runner that checks a schedule.

`run_schedule(targets)` schedules `targets` on "CPU", fills every input BUFFER with seeded random
data, runs each kernel in order with the kernel interpreter `run_kernel` (allocating each buffer the
first time a kernel touches it and dropping it as `Schedule.frees` says), and checks every target
against the tensor-graph evaluator on the same inputs. It returns the schedule so tests can count
kernels and look inside them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from lamina.dtype import DType, dtypes, to_numpy_dtype
from lamina.schedule import CPU_LOWERING, Lowering, Schedule, create_schedule
from lamina.shape import prod
from lamina.uop import Ops, UOp, evaluate, run_kernel, toposort

Array = npt.NDArray[Any]


def tensor(shape: tuple[int, ...], dtype: DType = dtypes.float32) -> UOp:
    """A fresh input BUFFER viewed as `shape`."""
    return UOp.new_buffer("CPU", prod(shape), dtype).reshape(shape)


def random_array(size: int, dtype: DType, rng: np.random.Generator) -> Array:
    if dtype.is_bool:
        return rng.integers(0, 2, size).astype(np.bool_)
    if dtype.is_int:
        return rng.integers(-9, 10, size).astype(to_numpy_dtype(dtype))
    return rng.uniform(-2.0, 2.0, size).astype(to_numpy_dtype(dtype))


def _check_frees(schedule: Schedule, leaves: set[UOp]) -> None:
    """Each intermediate is freed exactly once, right after its last use; a target's buffer, or an input's that a
    WRITE changed in place, never is."""
    kept = {view.src[0] if view.op is Ops.RESHAPE else view for view in schedule.results.values()}
    made = [item.output for item in schedule.items if item.output not in leaves]
    last_use = {buffer: position for position, item in enumerate(schedule.items) for buffer in item.buffers}
    freed = [buffer for each in schedule.frees for buffer in each]
    assert len(freed) == len(set(freed)), "a buffer is freed twice"
    assert not kept & set(freed), "a target's buffer is freed"
    assert set(freed) == set(made) - kept, "every intermediate is freed, and only intermediates"
    for position, each in enumerate(schedule.frees):
        for buffer in each:
            assert last_use[buffer] == position, f"freed after kernel {position}, last used by {last_use[buffer]}"


def run_schedule(
    targets: Sequence[UOp], rtol: float = 1e-5, atol: float = 1e-5, lowering: Lowering = CPU_LOWERING
) -> Schedule:
    """Schedule `targets` (lowered as `lowering` says), run the kernels with `run_kernel`, compare with
    `evaluate`; return the schedule."""
    schedule = create_schedule(targets, "CPU", lowering)
    rng = np.random.default_rng(0)
    leaves = [node for node in toposort(targets) if node.op is Ops.BUFFER]
    inputs = {leaf: random_array(leaf.buffer.size, leaf.scalar_dtype, rng) for leaf in leaves}
    # Copies: a WRITE changes its buffer in place, and the reference evaluates the inputs as they were.
    memory: dict[UOp, Array] = {leaf: array.copy() for leaf, array in inputs.items()}
    for item, frees in zip(schedule.items, schedule.frees, strict=True):
        for buffer in item.buffers:
            if buffer not in memory:
                memory[buffer] = np.zeros(buffer.buffer.size, to_numpy_dtype(buffer.scalar_dtype))
        run_kernel(item.ast, [memory[buffer] for buffer in item.buffers], schedule.variables)
        for buffer in frees:
            del memory[buffer]
    _check_frees(schedule, set(leaves))
    for view in schedule.results.values():
        for node in toposort(view):
            # A target with no elements gets a buffer but no kernel.
            if node.op is Ops.BUFFER and node not in memory:
                memory[node] = np.zeros(node.buffer.size, to_numpy_dtype(node.scalar_dtype))
    expected = evaluate(targets, inputs)
    for target, want in zip(targets, expected, strict=True):
        view = schedule.results[target]
        (got,) = evaluate([view], {node: memory[node] for node in toposort(view) if node.op is Ops.BUFFER})
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    return schedule


@pytest.fixture(name="run_schedule")
def run_schedule_fixture() -> Callable[..., Schedule]:
    return run_schedule


@pytest.fixture(name="tensor")
def tensor_fixture() -> Callable[..., UOp]:
    return tensor
