"""The GPU's opts (LOCAL, GROUP, STAGE) and heuristic: every optimized kernel equals the unoptimized one under
the reference interpreter, which runs local memory per work-group; the launch geometry matches the grid axes;
the OpenCL C declares local memory and barriers; opts that do not fit are refused with a reason."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pytest

from lamina.codegen import (
    OPENCL_TARGET,
    Opt,
    OptimizeOptions,
    OptKind,
    apply_opts,
    generate_c,
    optimize_kernel,
    possible_opts,
)
from lamina.codegen.heuristic_gpu import gpu_opts
from lamina.codegen.target import Target
from lamina.dtype import DType, dtypes, to_numpy_dtype
from lamina.uop import AxisKind, Ops, UOp, run_kernel, toposort

if TYPE_CHECKING:
    from packages.codegen.tests.conftest import KernelKit

Array = npt.NDArray[Any]
GPU = OptimizeOptions(target=OPENCL_TARGET)


def _matmul(kit: KernelKit, n: int, k: int, m: int, dtype: DType = dtypes.float32, batch: int = 1) -> UOp:
    first = 0 if batch == 1 else 1
    rows, columns, inner = kit.loop(n, first), kit.loop(m, first + 1), kit.reduce_range(k, first + 2)
    a_base, b_base, out_base = rows * k, inner * m, rows * m
    if batch > 1:
        matrix = kit.loop(batch, 0)
        a_base, b_base, out_base = matrix * (n * k) + a_base, matrix * (k * m) + b_base, matrix * (n * m) + out_base
    product = kit.load(1, dtype, a_base + inner) * kit.load(2, dtype, b_base + columns)
    return kit.kernel(out_base + columns, kit.reduce(Ops.ADD, product, inner))


def _matmul_transposed(kit: KernelKit, n: int, k: int, m: int) -> UOp:
    rows, columns, inner = kit.loop(n, 0), kit.loop(m, 1), kit.reduce_range(k, 2)
    product = kit.load(1, dtypes.float32, rows * k + inner) * kit.load(2, dtypes.float32, columns * k + inner)
    return kit.kernel(rows * m + columns, kit.reduce(Ops.ADD, product, inner))


def _row_reduce(kit: KernelKit, op: Ops, n: int, k: int, dtype: DType = dtypes.float32) -> UOp:
    rows, inner = kit.loop(n, 0), kit.reduce_range(k, 1)
    return kit.kernel(rows, kit.reduce(op, kit.load(1, dtype, rows * k + inner), inner))


def _elementwise(kit: KernelKit, n: int, m: int) -> UOp:
    rows, columns = kit.loop(n, 0), kit.loop(m, 1)
    address = rows * m + columns
    return kit.kernel(
        address, (kit.load(1, dtypes.float32, address) * 2.0).maximum(kit.load(2, dtypes.float32, address))
    )


def _interpret(ast: UOp) -> Array:
    arrays: list[Array] = []
    parameters = sorted((node for node in toposort(ast) if node.op is Ops.DEFINE_GLOBAL), key=lambda p: p.arg)
    rng = np.random.default_rng(0)
    for parameter in parameters:
        dtype = to_numpy_dtype(parameter.scalar_dtype)
        if parameter.arg == 0:
            arrays.append(np.zeros(1 << 17, dtype))
        elif parameter.scalar_dtype.is_float:
            arrays.append(rng.uniform(-1.0, 1.0, 1 << 17).astype(dtype))
        else:
            arrays.append(rng.integers(-5, 6, 1 << 17).astype(dtype))
    run_kernel(ast, arrays)
    return arrays[0]


KERNELS: dict[str, Callable[[KernelKit], UOp]] = {
    "matmul": lambda kit: _matmul(kit, 64, 32, 128),
    "matmul int32": lambda kit: _matmul(kit, 32, 16, 64, dtypes.int32),
    "matmul batched": lambda kit: _matmul(kit, 32, 8, 32, batch=3),
    "matmul one tile": lambda kit: _matmul(kit, 16, 16, 16),
    "matmul odd": lambda kit: _matmul(kit, 7, 3, 20),
    "matmul transposed": lambda kit: _matmul_transposed(kit, 64, 64, 64),
    "row sums": lambda kit: _row_reduce(kit, Ops.ADD, 3, 2048),
    "row max int8": lambda kit: _row_reduce(kit, Ops.MAX, 2, 512, dtypes.int8),
    "full sum": lambda kit: kit.full_sum(16, 256),
    "elementwise": lambda kit: _elementwise(kit, 64, 96),
    "elementwise odd": lambda kit: _elementwise(kit, 7, 9),
}


@pytest.mark.parametrize("name", KERNELS)
def test_gpu_optimized_kernel_equals_the_unoptimized_one(kit: KernelKit, name: str) -> None:
    ast = KERNELS[name](kit)
    np.testing.assert_allclose(_interpret(optimize_kernel(ast, GPU)), _interpret(ast), rtol=1e-5, atol=1e-5)


def test_a_matmul_is_tiled_over_work_groups_through_local_memory(kit: KernelKit) -> None:
    ast = _matmul(kit, 64, 32, 128)
    assert gpu_opts(ast, GPU) == (
        Opt(OptKind.LOCAL, 0, 16),
        Opt(OptKind.LOCAL, 1, 16),
        Opt(OptKind.UPCAST, 0, 4),
        Opt(OptKind.UPCAST, 1, 4),
        Opt(OptKind.STAGE, 2, 16),
    )
    generated = generate_c(ast, GPU)
    source = generated.source
    assert source.count("barrier(CLK_LOCAL_MEM_FENCE);") == 2  # before each tile's copy, and after it
    assert "__local float local0[256];" in source
    assert "get_group_id(0)" in source
    assert "get_local_id(1)" in source
    # 16 x 16 items per work-group, each a 4 x 4 register tile: 128 / 64 work-groups along the columns
    # (dimension 0, contiguous in memory), 64 / 64 along the rows.
    assert (generated.global_size, generated.local_size) == ((32, 16), (16, 16))
    assert sum(1 for uop in generated.program.uops if uop.op is Ops.DEFINE_ACC) == 16


def test_a_reduction_with_few_outputs_is_split_over_a_work_group(kit: KernelKit) -> None:
    ast = _row_reduce(kit, Ops.ADD, 3, 2048)
    assert gpu_opts(ast, GPU) == (Opt(OptKind.GROUP, 1, 256),)
    generated = generate_c(ast, GPU)
    assert "barrier(CLK_LOCAL_MEM_FENCE);" in generated.source
    # One work-group per row; only its first item stores the row's sum.
    assert (generated.global_size, generated.local_size) == ((768,), (256,))
    assert "if ((lidx2==0)) data0[gidx0] = acc0;" in generated.source


def test_elementwise_outputs_are_merged_and_spread_over_work_groups(kit: KernelKit) -> None:
    generated = generate_c(_elementwise(kit, 64, 96), GPU)
    # 6144 outputs, 4 adjacent ones per item (a 16-byte vector), 256 items per work-group.
    assert (generated.global_size, generated.local_size) == ((1536,), (256,))
    assert "float4 vec2 = vload4(0, data1+alu1);" in generated.source
    assert "vstore4((float4)(" in generated.source
    assert "alu1+1" not in generated.source  # the lanes' own addresses are not computed
    # No power of two of at least a warp divides 63 outputs: the driver picks the work-group size.
    odd = generate_c(_elementwise(kit, 7, 9), GPU)
    assert (odd.global_size, odd.local_size) == ((63,), None)


def test_a_tile_smaller_than_the_work_group_is_copied_by_its_first_items(kit: KernelKit) -> None:
    ast = _matmul(kit, 32, 16, 32)
    opts = (Opt(OptKind.LOCAL, 0, 8), Opt(OptKind.LOCAL, 1, 8), Opt(OptKind.STAGE, 2, 4))
    optimized = optimize_kernel(ast, GPU, opts)
    np.testing.assert_allclose(_interpret(optimized), _interpret(ast), rtol=1e-5, atol=1e-5)
    # 8 x 4 elements of each tile, 64 items: the first 32 copy one each.
    assert re.search(r"if \(alu\d+\) local0\[alu\d+\] = ", generate_c(ast, GPU, opts).source)


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        ((Opt(OptKind.STAGE, 2, 16),), "needs LOCAL axes"),
        ((Opt(OptKind.LOCAL, 0, 5),), "over 5 work items"),
        ((Opt(OptKind.GROUP, 2, 3),), "over 3 work items"),
        ((Opt(OptKind.LOCAL, 0, 32), Opt(OptKind.LOCAL, 1, 32)), "work-group of 1024 items"),
    ],
)
def test_gpu_opts_that_do_not_fit_are_refused(kit: KernelKit, opts: tuple[Opt, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        optimize_kernel(_matmul(kit, 64, 32, 128), GPU, opts)


def test_staging_needs_a_load_the_items_share(kit: KernelKit) -> None:
    # Each item sums its own row: no element is read by two items, so a tile in local memory saves nothing.
    with pytest.raises(ValueError, match="no load along it is shared"):
        optimize_kernel(_row_reduce(kit, Ops.ADD, 64, 32), GPU, (Opt(OptKind.LOCAL, 0, 16), Opt(OptKind.STAGE, 1, 8)))


def test_local_memory_beyond_the_target_is_refused(kit: KernelKit) -> None:
    small = OptimizeOptions(
        target=Target(name="tiny", kind="gpu", dialect="opencl", max_local_size=256, local_bytes=1024)
    )
    opts = (Opt(OptKind.LOCAL, 0, 16), Opt(OptKind.LOCAL, 1, 16), Opt(OptKind.STAGE, 2, 32))
    with pytest.raises(ValueError, match="bytes of local memory are more than tiny's 1024"):
        optimize_kernel(_matmul(kit, 64, 32, 128), small, opts)


def test_the_c_dialect_refuses_a_gpu_kernel(kit: KernelKit) -> None:
    optimized = optimize_kernel(_row_reduce(kit, Ops.ADD, 3, 2048), GPU)
    from lamina.codegen import linearize, render_c

    with pytest.raises(NotImplementedError, match="c has no"):
        render_c(linearize(optimized))


def test_the_interpreter_keeps_one_local_memory_per_work_group(kit: KernelKit) -> None:
    # Two work-groups of 4 items each sum their own half: a shared array would mix them.
    ast = _row_reduce(kit, Ops.ADD, 2, 8)
    optimized = optimize_kernel(ast, GPU, (Opt(OptKind.GROUP, 1, 4),))
    ranges = [node for node in toposort(optimized) if node.op is Ops.RANGE]
    assert {node.arg[1] for node in ranges} == {AxisKind.WORKGROUP, AxisKind.LOCAL, AxisKind.REDUCE}
    np.testing.assert_allclose(_interpret(optimized)[:2], _interpret(ast)[:2], rtol=1e-5)


@pytest.mark.parametrize("name", ["matmul", "row sums", "elementwise"])
def test_every_gpu_opt_a_search_may_try_keeps_the_result(kit: KernelKit, name: str) -> None:
    ast = KERNELS[name](kit)
    expected = _interpret(ast)
    first = possible_opts(ast, GPU)
    assert first
    if name == "matmul":
        assert {opt.kind for opt in first} == {OptKind.LOCAL, OptKind.UPCAST, OptKind.GROUP}
    tried = 0
    for opt in first:
        # A second opt on top of each first one: STAGE needs a LOCAL axis, GROUP a reduction.
        for second in [None, *possible_opts(apply_opts(ast, (opt,)), GPU)[::7]]:
            opts = (opt,) if second is None else (opt, second)
            try:
                optimized = optimize_kernel(ast, GPU, opts)
            except ValueError:
                continue  # a work-group too large, or no load to stage: refused, never wrong
            np.testing.assert_allclose(_interpret(optimized), expected, rtol=1e-5, atol=1e-5, err_msg=str(opts))
            tried += 1
    assert tried >= len(first)


@pytest.mark.parametrize(
    "opts",
    [
        (Opt(OptKind.LOCAL, 0, 2), Opt(OptKind.GROUP, 2, 4)),  # the rows' items would share the partial sums
        (Opt(OptKind.GROUP, 2, 4), Opt(OptKind.LOCAL, 0, 2)),
        (Opt(OptKind.LOCAL, 1, 16), Opt(OptKind.STAGE, 2, 8), Opt(OptKind.UPCAST, 0, 2)),  # copies of one tile
    ],
    ids=["group after local", "local after group", "upcast after stage"],
)
def test_opts_that_would_share_local_memory_wrongly_are_refused(kit: KernelKit, opts: tuple[Opt, ...]) -> None:
    with pytest.raises(ValueError, match=r"GROUP|come last"):
        optimize_kernel(_matmul(kit, 64, 32, 128), GPU, opts)
