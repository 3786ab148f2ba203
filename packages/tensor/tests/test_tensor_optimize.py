"""The optimized pipeline against the plain one: NOOPT and one thread give the same values, options come
from the environment, and a repeated step neither reschedules nor recompiles."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lamina.codegen import CPU_TARGET, OPENCL_TARGET, Opt, OptimizeOptions, OptKind, hand_coded_opts
from lamina.device import KernelCache
from lamina.dtype import dtypes
from lamina.engine import beam, runtime
from lamina.schedule import create_schedule, schedule_cache
from lamina.tensor import Tensor, context_from_environment, options, stats
from lamina.uop import AxisKind, Ops, UOp

Expression = Callable[[Tensor, Tensor], Tensor]

EXPRESSIONS: dict[str, Expression] = {
    "matmul": lambda a, b: a @ b,
    "matmul transposed": lambda a, b: a @ b.T.contiguous().T,
    "matmul relu sum": lambda a, b: (a @ b).relu().sum(axis=0),
    "softmax": lambda a, b: (a @ b).softmax(-1),
    "log softmax": lambda a, b: a.log_softmax(-1) + b.mean(),
    "row max": lambda a, b: a.amax(dim=1) + b.max(),
    "column sum": lambda a, b: a.sum(axis=0) * b.mean(),
    "full sum": lambda a, b: a.sum() + b.mean(),
    "elementwise": lambda a, b: ((a * 2 + 1).relu() * 3).exp() + b.mean(),
}


@pytest.fixture
def operands() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    # Sizes that divide some opts and not others: 96 = 32 * 3, 40 = 8 * 5, 200 > 16 with factor 8.
    return rng.standard_normal((40, 200)).astype(np.float32), rng.standard_normal((200, 96)).astype(np.float32)


@pytest.mark.parametrize("name", EXPRESSIONS)
def test_noopt_and_one_thread_compute_what_the_optimizer_does(
    name: str, operands: tuple[np.ndarray, np.ndarray]
) -> None:
    a, b = operands
    expression = EXPRESSIONS[name]
    optimized = expression(Tensor(a), Tensor(b)).numpy()
    with options(noopt=True):
        plain = expression(Tensor(a), Tensor(b)).numpy()
    with options(threads=1):
        serial = expression(Tensor(a), Tensor(b)).numpy()
    np.testing.assert_allclose(optimized, plain, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(serial, plain, rtol=1e-5, atol=1e-4)


def test_large_matmul_matches_numpy(operands: tuple[np.ndarray, np.ndarray]) -> None:
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((256, 300)).astype(np.float32), rng.standard_normal((300, 128)).astype(np.float32)
    np.testing.assert_allclose((Tensor(a) @ Tensor(b)).numpy(), a @ b, rtol=1e-4, atol=1e-4)


def _kernel_count(result: Tensor) -> int:
    # As the engine schedules for the CPU: its lowering asks for panels of its register tile's width.
    return len(create_schedule([result.uop], "CPU", runtime.lowering_for(CPU_TARGET)).items)


@pytest.mark.cpu_default
def test_a_matmul_with_a_large_right_operand_reads_it_in_panels() -> None:
    # 600 x 448 floats (over a megabyte) is copied into panels of 32 columns first: one kernel more.
    rng = np.random.default_rng(7)
    a = rng.standard_normal((2, 64, 600)).astype(np.float32)
    b = rng.standard_normal((448, 600)).astype(np.float32).T
    left, right = Tensor(a, requires_grad=True), Tensor(np.ascontiguousarray(b.T), requires_grad=True)
    product = left @ right.T
    assert _kernel_count(product) == 2
    assert _kernel_count(Tensor(a[0, :32]) @ Tensor(b)) == 1  # too few rows to pay for the copy
    assert _kernel_count(Tensor(a) @ Tensor(b[:, :440])) == 1  # columns not a whole number of panels
    np.testing.assert_allclose(product.numpy(), a @ b, rtol=1e-4, atol=1e-3)
    upstream = rng.standard_normal(product.shape).astype(np.float32)
    (product * Tensor(upstream)).sum().backward()
    assert left.grad is not None
    assert right.grad is not None
    np.testing.assert_allclose(left.grad.numpy(), upstream @ b.T, rtol=1e-4, atol=1e-3)
    want = np.einsum("bnk,bnm->km", a, upstream).T
    np.testing.assert_allclose(right.grad.numpy(), want, rtol=1e-4, atol=1e-3)
    with options(noopt=True):
        plain = (Tensor(a) @ Tensor(b)).numpy()
    np.testing.assert_allclose(plain, a @ b, rtol=1e-4, atol=1e-3)
    # The panels are the CPU's: tensor code is a plain multiply-sum, and a GPU's lowering never copies.
    fresh = (Tensor(a) @ Tensor(b)).uop
    assert len(create_schedule([fresh], "CPU", runtime.lowering_for(OPENCL_TARGET)).items) == 1


def test_exp_is_accurate_across_the_float_range() -> None:
    values = np.concatenate([np.linspace(-110, 90, 20001), [-np.inf, np.inf, 0.0, -0.0]]).astype(np.float32)
    got = Tensor(values).exp().numpy()
    want = np.exp(values.astype(np.float64))
    finite = np.isfinite(want) & (want < np.finfo(np.float32).max)
    np.testing.assert_allclose(got[finite], want[finite], rtol=3e-7, atol=1e-44)
    assert np.isinf(got[values > 88.8]).all()
    assert np.isnan(Tensor(np.array([np.nan], np.float32)).exp().numpy()).all()


def test_a_repeated_step_reuses_its_schedule_and_its_kernels(operands: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = operands

    def step() -> np.ndarray:
        return (Tensor(a) @ Tensor(b)).relu().sum(axis=1).numpy()

    first = step()
    built, hits = stats.programs_built, schedule_cache.hits
    np.testing.assert_allclose(step(), first)
    assert stats.programs_built == built
    assert schedule_cache.hits > hits


def test_threads_come_from_lamina_threads() -> None:
    assert context_from_environment({"LAMINA_THREADS": "3"}).threads == 3
    assert context_from_environment({}).threads >= 1
    with pytest.raises(ValueError, match="LAMINA_THREADS must be at least 1"):
        context_from_environment({"LAMINA_THREADS": "0"})
    with pytest.raises(ValueError, match="LAMINA_THREADS must be an integer"):
        context_from_environment({"LAMINA_THREADS": "many"})


@pytest.mark.cpu_default
def test_generated_sources_come_back_from_the_disk_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, operands: tuple[np.ndarray, np.ndarray]
) -> None:
    a, b = operands
    (ast,) = (item.ast for item in create_schedule([(Tensor(a) @ Tensor(b)).uop], "CPU").items)
    monkeypatch.setattr(runtime, "_kernel_cache", [KernelCache(tmp_path)])
    first = runtime.kernel_source(ast, OptimizeOptions(threads=2, openmp=True))
    # A new process: an empty memory cache over the same directory, and no code generator to call.
    monkeypatch.setattr(runtime, "_kernel_cache", [KernelCache(tmp_path)])
    monkeypatch.setattr(runtime, "generate_c", _refuse)
    assert runtime.kernel_source(ast, OptimizeOptions(threads=2, openmp=True)) == first
    with pytest.raises(AssertionError, match="generated again"):
        runtime.kernel_source(ast, OptimizeOptions(threads=1, openmp=True))


def _refuse(*arguments: object) -> None:
    raise AssertionError("generated again")


def test_beam_search_times_candidates_once_and_then_reads_its_choice_back(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rng = np.random.default_rng(8)
    a, b = rng.standard_normal((8, 16)).astype(np.float32), rng.standard_normal((16, 8)).astype(np.float32)
    monkeypatch.setattr(runtime, "_kernel_cache", [KernelCache(tmp_path)])
    monkeypatch.setattr(beam, "MAX_ROUNDS", 1)  # one round of compiles keeps the test short
    searches: list[int] = []
    real_search = beam._search

    def counted(*arguments: Any) -> Any:
        searches.append(1)
        return real_search(*arguments)

    monkeypatch.setattr(beam, "_search", counted)
    with options(beam=2):
        np.testing.assert_allclose((Tensor(a) @ Tensor(b)).relu().numpy(), np.maximum(a @ b, 0), rtol=1e-5, atol=1e-5)
    assert searches == [1]
    assert list((tmp_path / beam.SEARCHED).iterdir())
    # Another process: nothing in memory, the choice on disk, no search.
    monkeypatch.setattr(runtime, "_programs", {})
    monkeypatch.setattr(runtime, "_kernel_cache", [KernelCache(tmp_path)])
    with options(beam=2):
        np.testing.assert_allclose((Tensor(a) @ Tensor(b)).relu().numpy(), np.maximum(a @ b, 0), rtol=1e-5, atol=1e-5)
    assert searches == [1]


def test_beam_keeps_the_fastest_candidate_and_never_loses_to_the_heuristic() -> None:
    rows, inner = UOp.range(8, 0, AxisKind.LOOP), UOp.range(64, 1, AxisKind.REDUCE)
    pointer = UOp(Ops.DEFINE_GLOBAL, dtypes.float32.ptr(), (), 1)
    value = UOp(Ops.LOAD, dtypes.float32, (UOp(Ops.INDEX, pointer.dtype, (pointer, rows * 64 + inner)),))
    output = UOp(Ops.DEFINE_GLOBAL, dtypes.float32.ptr(), (), 0)
    store = UOp(
        Ops.STORE,
        dtypes.void,
        (UOp(Ops.INDEX, output.dtype, (output, rows)), UOp(Ops.REDUCE, dtypes.float32, (value, inner), Ops.ADD)),
    )
    ast = UOp(Ops.SINK, dtypes.void, (store,))
    heuristic = hand_coded_opts(ast, OptimizeOptions())
    # A fake clock: the heuristic's choice costs 2, one particular extension of it costs 1, the rest 3.
    favourite = (*heuristic, Opt(OptKind.UPCAST, 0, 2))
    chosen = beam._search(
        ast, OptimizeOptions(), 2, lambda opts: 2.0 if opts == heuristic else 1.0 if opts == favourite else 3.0
    )
    assert chosen == favourite
    assert beam._search(ast, OptimizeOptions(), 2, lambda opts: 2.0 if opts == heuristic else 3.0) == heuristic
    # Faster by less than the margin is timing noise: the heuristic stays.
    assert beam._search(ast, OptimizeOptions(), 2, lambda opts: 2.0 if opts == heuristic else 1.99) == heuristic
