"""The whole pipeline on an OpenCL device (PoCL in CI): every kind of kernel the CPU runs, run on OPENCL and
compared with the CPU's results across dtypes, plus transfers, checks, item assignment, autograd and the JIT.
Skips cleanly where no OpenCL platform is installed."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from lamina.device.opencl import opencl_available
from lamina.dtype import DType, dtypes
from lamina.tensor import Tensor, Variable, jit, options, stats

pytestmark = pytest.mark.skipif(
    not opencl_available(), reason="no OpenCL platform installed (apt-get install pocl-opencl-icd)"
)

Expression = Callable[[Tensor, Tensor], Tensor]
EXPRESSIONS: list[tuple[str, Expression]] = [
    ("elementwise", lambda a, b: (a * b + a) - b),
    ("broadcast", lambda a, b: a + b[:1]),
    ("compare-select", lambda a, b: a.lt(b)._select(a, b)),
    ("sum", lambda a, b: a.sum(1)),
    ("max", lambda a, b: b.amax(0)),
    ("matmul", lambda a, b: a @ b.transpose(0, 1)),
    ("movement", lambda a, b: a.permute(1, 0).flip(0)[1:5:2].reshape(-1)),
    ("padded", lambda a, b: a.pad(((1, 2), (0, 3))) * 1),
    ("index", lambda a, b: a[Tensor([3, 0, -1], device="OPENCL")]),
    ("cumsum", lambda a, b: a.cumsum(1)),
]
DTYPES = [dtypes.float32, dtypes.float16, dtypes.bfloat16, dtypes.float64, dtypes.int32, dtypes.int64, dtypes.uint8]


def _inputs(dtype: DType, device: str) -> tuple[Tensor, Tensor]:
    rng = np.random.default_rng(3)
    a = rng.integers(0, 7, (6, 8)).astype(np.float32)
    b = rng.integers(1, 5, (6, 8)).astype(np.float32)
    return Tensor(a, device=device).cast(dtype), Tensor(b, device=device).cast(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda dtype: dtype.name)
@pytest.mark.parametrize("expression", [case[1] for case in EXPRESSIONS], ids=[case[0] for case in EXPRESSIONS])
def test_a_kernel_on_opencl_computes_what_it_computes_on_the_cpu(expression: Expression, dtype: DType) -> None:
    if expression is EXPRESSIONS[8][1]:
        cpu = _inputs(dtype, "CPU")[0][Tensor([3, 0, -1], device="CPU")]
    else:
        cpu = expression(*_inputs(dtype, "CPU"))
    opencl = expression(*_inputs(dtype, "OPENCL"))
    assert opencl.device == "OPENCL"
    assert opencl.dtype == cpu.dtype
    np.testing.assert_allclose(opencl.numpy().astype(np.float64), cpu.numpy().astype(np.float64), rtol=1e-6)


def test_float_math_matches_the_cpu() -> None:
    values = np.linspace(-3, 3, 97, dtype=np.float32)

    def math_of(x: Tensor) -> Tensor:
        return x.exp() + x.sigmoid() + x.tanh() + x.abs().sqrt() + (x.abs() + 1).log() + x.sin() + x.erf()

    cpu = math_of(Tensor(values)).numpy()
    opencl = math_of(Tensor(values, device="OPENCL")).numpy()
    np.testing.assert_allclose(opencl, cpu, rtol=2e-6, atol=2e-6)


def test_data_moves_between_devices_and_a_check_raises_on_opencl() -> None:
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    moved = Tensor(values).to("OPENCL")
    assert moved.device == "OPENCL"
    np.testing.assert_array_equal(moved.to("CPU").numpy(), values)
    with pytest.raises(IndexError, match="index 5 is out of bounds"):
        moved[Tensor([5], device="OPENCL")].numpy()
    with pytest.raises(ZeroDivisionError):
        (Tensor([4], device="OPENCL") // Tensor([0], device="OPENCL")).numpy()


def test_item_assignment_and_gradients_on_opencl() -> None:
    grid = Tensor.zeros(4, 5, device="OPENCL").realize()
    grid[1:3, ::2] = 7.0
    expected = np.zeros((4, 5), np.float32)
    expected[1:3, ::2] = 7.0
    np.testing.assert_array_equal(grid.numpy(), expected)
    weights = Tensor(np.arange(6, dtype=np.float32), device="OPENCL", requires_grad=True)
    (weights * weights).sum().backward()
    assert weights.grad is not None
    np.testing.assert_array_equal(weights.grad.numpy(), 2 * np.arange(6, dtype=np.float32))


def test_a_jitted_step_replays_on_opencl() -> None:
    state = Tensor(np.zeros(4, np.float32), device="OPENCL").realize()

    @jit
    def accumulate(values: Tensor) -> Tensor:
        state.assign(state + values * 2)
        return state

    for step in range(4):
        accumulate(Tensor(np.full(4, step, np.float32), device="OPENCL")).realize()
    assert accumulate.plan is not None
    assert accumulate.plan.replay.graph is None  # launches one by one: OpenCL offers no launch graph here
    np.testing.assert_array_equal(state.numpy(), np.full(4, 12.0, np.float32))


def test_debug_4_prints_opencl_c(capfd: pytest.CaptureFixture[str]) -> None:
    with options(debug=4):
        (Tensor([1.0, 2.0, 3.0, 4.0, 5.0], device="OPENCL") * 3.125 - 0.5).numpy()
    printed = capfd.readouterr().err
    assert "__kernel void" in printed
    assert "get_global_id(0)" in printed


def test_debug_4_shows_a_matmul_tiled_over_work_groups_in_local_memory(capfd: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((128, 64)).astype(np.float32), rng.standard_normal((64, 256)).astype(np.float32)
    with options(debug=4):
        result = (Tensor(a, device="OPENCL") @ Tensor(b, device="OPENCL")).numpy()
    printed = capfd.readouterr().err
    assert "__local float local0[" in printed
    assert printed.count("barrier(CLK_LOCAL_MEM_FENCE);") == 2
    assert "get_local_id(1)" in printed
    np.testing.assert_allclose(result, a @ b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape", [(1, 64, 64), (33, 17, 65), (4, 256, 32), (256, 16, 48)], ids=str)
def test_matmuls_of_every_shape_on_opencl(shape: tuple[int, int, int]) -> None:
    rows, inner, columns = shape
    rng = np.random.default_rng(2)
    a, b = (
        rng.standard_normal((rows, inner)).astype(np.float32),
        rng.standard_normal((inner, columns)).astype(np.float32),
    )
    result = (Tensor(a, device="OPENCL") @ Tensor(b, device="OPENCL")).numpy()
    np.testing.assert_allclose(result, a @ b, rtol=1e-4, atol=1e-4)
    batched = (Tensor(np.stack([a, -a]), device="OPENCL") @ Tensor(b, device="OPENCL")).numpy()
    np.testing.assert_allclose(batched, np.stack([a @ b, -a @ b]), rtol=1e-4, atol=1e-4)


def test_the_opencl_target_takes_the_devices_own_limits() -> None:
    from lamina.device import Device
    from lamina.engine import target_for

    properties = Device.get("OPENCL").properties
    assert properties is not None
    reported = properties()
    assert reported.max_work_group_size >= 1
    assert reported.local_memory_bytes >= 1024
    assert reported.compute_units >= 1
    target = target_for("OPENCL")
    assert target.max_local_size == min(256, reported.max_work_group_size)
    assert (target.local_bytes, target.compute_units) == (reported.local_memory_bytes, reported.compute_units)
    # A CPU device (PoCL) vectorizes across work items: its items take one element each.
    assert target.vector_lanes == (1 if reported.cpu else 4)


def test_long_reductions_are_shared_by_work_items() -> None:
    values = np.random.default_rng(0).standard_normal(1 << 20).astype(np.float32)
    tensor = Tensor(values, device="OPENCL").realize()
    before = stats.kernels_run
    total = tensor.sum().item()
    assert stats.kernels_run - before == 2  # 1024 block sums side by side, then their sum
    assert abs(total - values.astype(np.float64).sum()) < 1e-3 * np.abs(values).sum() / np.sqrt(values.size)
    assert tensor.amax().item() == values.max()
    assert Tensor(np.arange(50_000), device="OPENCL").sum().item() == 50_000 * 49_999 // 2


def test_beam_searches_opencl_kernels_and_keeps_them_on_work_items() -> None:
    values = np.arange(64 * 16, dtype=np.float32).reshape(64, 16)
    with options(beam=1, debug=0):
        result = (Tensor(values, device="OPENCL") * 2 + 1).sum(1).numpy()
    np.testing.assert_array_equal(result, (values * 2 + 1).sum(1))


def test_variables_reach_opencl_kernels_as_int_arguments() -> None:
    position = Variable("pos", 0, 9)
    cache = Tensor.zeros(10, 3, device="OPENCL").contiguous().realize()
    expected = np.zeros((10, 3), dtype=np.float32)
    for value in (2, 7, 0):
        cache[position.bind(value)] = Tensor(np.full(3, value + 1, np.float32), device="OPENCL")
        expected[value] = value + 1
    np.testing.assert_array_equal(cache.numpy(), expected)
    shifted = Tensor.arange(4, device="OPENCL") + Tensor(position.bind(5), device="OPENCL")
    np.testing.assert_array_equal(shifted.numpy(), np.arange(4) + 5)
