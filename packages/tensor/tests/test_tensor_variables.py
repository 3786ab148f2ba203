"""Variables: a value bound per call reaches the kernels as an int argument, so every value runs the same
compiled kernels; writes at a variable position go into the tensor's own buffer; the JIT replays with each
call's value. And TAKE, the gather that indexing by one integer tensor and embedding now build."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from lamina.tensor import Bound, JitError, Tensor, Variable, jit, no_grad, stats
from lamina.uop import Ops, toposort

Matcher = Callable[..., None]


def test_a_bound_variable_is_a_scalar_int_in_arithmetic(matches: Matcher) -> None:
    position = Variable("position", 0, 31)
    matches(Tensor.arange(5) + Tensor(position.bind(7)), np.arange(5) + 7)
    matches(Tensor(position.bind(3) + 2) * 2, np.array(10, dtype=np.int32))


def test_a_variable_refuses_a_value_outside_its_range() -> None:
    position = Variable("position", 0, 9)
    with pytest.raises(ValueError, match=r"position.*\[0, 9\].*10"):
        position.bind(10)
    with pytest.raises(ValueError, match="identifier"):
        Variable("not a name", 0, 1)


def test_every_value_runs_the_kernels_compiled_for_the_first() -> None:
    length = Variable("length", 0, 63)
    data = np.random.default_rng(0).standard_normal(64).astype(np.float32)
    table = Tensor(data).realize()
    results = []
    for value in (3, 17, 40, 63):
        masked = table * Tensor.arange(64).lt(Tensor(length.bind(value))).float()
        if value == 3:
            masked.sum().numpy()
            built = stats.programs_built
        results.append(float(masked.sum().item()))
    assert stats.programs_built == built, "a new value compiled new kernels"
    np.testing.assert_allclose(results, [data[:v].sum() for v in (3, 17, 40, 63)], rtol=1e-5)


def test_a_write_at_a_variable_position_updates_the_buffer_in_place() -> None:
    position = Variable("slot", 0, 7)
    cache = Tensor.zeros(2, 8, 3).contiguous().realize()
    expected = np.zeros((2, 8, 3), dtype=np.float32)
    rng = np.random.default_rng(1)
    memory = None
    for value in (0, 5, 7, 2):
        row = rng.standard_normal((2, 3)).astype(np.float32)
        cache[:, position.bind(value)] = Tensor(row)
        expected[:, value] = row
        np.testing.assert_array_equal(cache.numpy(), expected)
        address = cache.data_ptr()
        assert memory is None or address == memory, "the write copied the cache"
        memory = address


def test_a_slice_at_a_variable_writes_a_fixed_length_run() -> None:
    start = Variable("start", 0, 6)
    cache = Tensor.zeros(10, 2).contiguous().realize()
    expected = np.zeros((10, 2), dtype=np.float32)
    for value, fill in ((0, 1.0), (6, 2.0), (3, 3.0)):
        cache[start.bind(value) : start.bind(value) + 4] = Tensor(np.full((4, 2), fill, dtype=np.float32))
        expected[value : value + 4] = fill
    np.testing.assert_array_equal(cache.numpy(), expected)


def test_a_variable_write_refuses_what_could_fall_outside() -> None:
    cache = Tensor.zeros(10, 2).contiguous().realize()
    start = Variable("start", 0, 7)
    with pytest.raises(IndexError, match=r"start in \[0, 7\] places 4"):
        cache[start.bind(0) : start.bind(0) + 4] = Tensor.ones(4, 2)
    with pytest.raises(TypeError, match="fixed length"):
        cache[start.bind(0) : 5] = Tensor.ones(5, 2)
    with pytest.raises(TypeError, match="ints, slices and variables"):
        cache[None, start.bind(0)] = 1.0


def test_the_jit_replays_with_each_calls_value() -> None:
    position = Variable("pos", 0, 15)
    cache = Tensor.zeros(16, 4).contiguous().realize()

    @jit
    def step(x: Tensor, at: Bound) -> Tensor:
        cache[at] = x[0]
        seen = Tensor.arange(16).le(Tensor(at)).reshape(16, 1)
        return (cache * seen).sum(0)

    expected = np.zeros((16, 4), dtype=np.float32)
    rng = np.random.default_rng(2)
    with no_grad():
        for value in range(8):
            row = rng.standard_normal((1, 4)).astype(np.float32)
            expected[value] = row[0]
            out = step(Tensor(row), position.bind(value)).numpy()
            np.testing.assert_allclose(out, expected[: value + 1].sum(0), rtol=1e-5, atol=1e-6)
            if value == 2:
                built = stats.programs_built
    assert step.plan is not None
    assert stats.programs_built == built
    np.testing.assert_array_equal(cache.numpy(), expected)


def test_the_jit_refuses_a_variable_that_is_not_an_argument() -> None:
    position = Variable("hidden", 0, 9)
    bound = position.bind(3)

    @jit
    def step(x: Tensor) -> Tensor:
        return x + Tensor(bound)

    step(Tensor([1]))
    with pytest.raises(JitError, match="hidden"):
        step(Tensor([1]))


def test_indexing_by_one_tensor_gathers_rows_with_their_gradient(matches: Matcher) -> None:
    data = np.random.default_rng(3).standard_normal((6, 4, 3)).astype(np.float32)
    index = np.array([[5, 0], [-1, 2]])
    table = Tensor(data, requires_grad=True)
    picked = table[:, Tensor([1, 3])][Tensor(index)]
    assert any(node.op is Ops.TAKE for node in toposort(picked.uop))
    matches(picked, data[:, [1, 3]][index])
    (picked * 2).sum().backward()
    gradient = np.zeros_like(data)
    np.add.at(gradient, (index.reshape(-1)[:, None], np.array([1, 3])[None, :]), 2.0)
    assert table.grad is not None
    matches(table.grad, gradient)


def test_a_graph_reading_the_old_values_keeps_them_when_a_variable_write_lands() -> None:
    position = Variable("slot", 0, 3)
    cache = Tensor(np.arange(8, dtype=np.float32).reshape(4, 2)).contiguous().realize()
    before = cache * 1  # lazy: reads the cache as it is now
    cache[position.bind(2)] = Tensor(np.array([-1.0, -2.0], dtype=np.float32))
    after = cache * 1
    np.testing.assert_array_equal(before.numpy(), np.arange(8).reshape(4, 2))
    expected = np.arange(8, dtype=np.float32).reshape(4, 2)
    expected[2] = [-1, -2]
    np.testing.assert_array_equal(after.numpy(), expected)
    np.testing.assert_array_equal(cache.numpy(), expected)


def test_reading_and_writing_the_cache_in_one_schedule_orders_the_write_first() -> None:
    position = Variable("slot", 0, 3)
    cache = Tensor.zeros(4, 2).contiguous().realize()
    for value in range(4):
        cache[position.bind(value)] = Tensor(np.full(2, value + 1.0, dtype=np.float32))
        seen = (cache * Tensor.arange(4).le(Tensor(position.bind(value))).reshape(4, 1).float()).sum(0)
        np.testing.assert_array_equal(seen.numpy(), np.full(2, sum(range(1, value + 2)), dtype=np.float32))
