"""A matmul's copy of an unchanged weight into panels is made once and reused; any write to the weight (an item
assignment, a replay writing it in place, new data) makes the next matmul copy it again, so no result is stale."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from lamina.engine import runtime
from lamina.tensor import Tensor, jit, options, stats

pytestmark = pytest.mark.cpu_default  # panels are the CPU's lowering

ROWS, DEPTH, COLUMNS = 64, 256, 128  # x @ w.T with w stored along the sum: copied into panels at any size


@pytest.fixture
def operands() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    return (
        rng.standard_normal((ROWS, DEPTH)).astype(np.float32),
        rng.standard_normal((COLUMNS, DEPTH)).astype(np.float32),
    )


def _linear(x: Tensor, w: Tensor) -> np.ndarray:
    return (x @ w.T).numpy()


def test_a_second_matmul_on_the_same_weight_reuses_its_panels(operands: tuple[np.ndarray, np.ndarray]) -> None:
    x, w = operands
    weight = Tensor(w)
    np.testing.assert_allclose(_linear(Tensor(x), weight), x @ w.T, rtol=1e-4, atol=1e-4)
    reused, kernels = runtime.copy_cache.reused, stats.kernels_run
    other = x[::-1].copy()
    np.testing.assert_allclose(_linear(Tensor(other), weight), other @ w.T, rtol=1e-4, atol=1e-4)
    assert runtime.copy_cache.reused == reused + 1
    assert stats.kernels_run == kernels + 1  # the matmul alone: no copy


def test_an_item_assignment_to_the_weight_makes_it_copied_again(operands: tuple[np.ndarray, np.ndarray]) -> None:
    x, w = operands
    weight = Tensor(w.copy())
    _linear(Tensor(x), weight)
    weight[3:9, 10:20] = 7.0  # in place, into the same memory
    weight.realize()
    w[3:9, 10:20] = 7.0
    reused = runtime.copy_cache.reused
    np.testing.assert_allclose(_linear(Tensor(x), weight), x @ w.T, rtol=1e-4, atol=1e-4)
    assert runtime.copy_cache.reused == reused


def test_a_weight_a_replay_writes_in_place_is_copied_again(operands: tuple[np.ndarray, np.ndarray]) -> None:
    x, w = operands
    weight = Tensor(w.copy())

    @jit
    def put(rows: Tensor) -> None:
        weight[1:5] = rows  # in place: the replay writes the weight's own memory

    expected = w.copy()
    for step in range(5):  # the third call on only replays the captured kernels
        rows = np.full((4, DEPTH), 0.25 * (step + 1), dtype=np.float32)
        put(Tensor(rows))
        expected[1:5] = rows
        np.testing.assert_allclose(_linear(Tensor(x), weight), x @ expected.T, rtol=1e-4, atol=1e-3)


def test_a_matmul_inside_a_jitted_step_copies_on_every_replay(operands: tuple[np.ndarray, np.ndarray]) -> None:
    x, w = operands
    weight = Tensor(w.copy())

    @jit
    def step(inputs: Tensor, rows: Tensor) -> Tensor:
        weight[6:8] = rows
        return inputs @ weight.T

    expected = w.copy()
    for count in range(5):
        rows = np.full((2, DEPTH), -0.5 * count, dtype=np.float32)
        expected[6:8] = rows
        got = step(Tensor(x), Tensor(rows)).numpy()
        np.testing.assert_allclose(got, x @ expected.T, rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(_linear(Tensor(x), weight), x @ expected.T, rtol=1e-4, atol=1e-3)


def test_a_new_tensor_with_the_same_values_is_copied_for_itself(operands: tuple[np.ndarray, np.ndarray]) -> None:
    x, w = operands
    _linear(Tensor(x), Tensor(w))
    reused = runtime.copy_cache.reused
    changed = w + 1
    np.testing.assert_allclose(_linear(Tensor(x), Tensor(changed)), x @ changed.T, rtol=1e-4, atol=1e-3)
    assert runtime.copy_cache.reused == reused


def test_a_zero_budget_keeps_nothing(operands: tuple[np.ndarray, np.ndarray]) -> None:
    x, w = operands
    weight = Tensor(w)
    with options(copy_cache_mb=0):
        _linear(Tensor(x), weight)
        reused, kernels = runtime.copy_cache.reused, stats.kernels_run
        np.testing.assert_allclose(_linear(Tensor(x), weight), x @ w.T, rtol=1e-4, atol=1e-4)
    assert runtime.copy_cache.reused == reused
    assert stats.kernels_run == kernels + 2


def test_a_kept_copy_goes_with_its_weight(operands: tuple[np.ndarray, np.ndarray]) -> None:
    x, w = operands
    runtime.copy_cache.clear()
    weight = Tensor(w)
    _linear(Tensor(x), weight)
    assert len(runtime.copy_cache) == 1
    kept = runtime.copy_cache.kept_bytes
    assert kept == w.nbytes
    del weight
    gc.collect()
    assert len(runtime.copy_cache) == 0
    assert runtime.copy_cache.kept_bytes == 0
