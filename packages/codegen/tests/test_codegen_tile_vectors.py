"""Register tiles written as vector-extension values: which kernels get them, and that they compute the same."""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from lamina.codegen import OptimizeOptions, Target, generate_c, linearize, optimize_kernel
from lamina.codegen.tile_vectors import plan_tiles
from lamina.dtype import dtypes, to_numpy_dtype
from lamina.uop import Ops, UOp, run_kernel, toposort

if TYPE_CHECKING:
    from packages.codegen.tests.conftest import KernelKit

AVX2: Target = Target(name="cpu-avx2", vector_bytes=32, vector_registers=16)
AVX512: Target = Target(name="cpu-avx512", vector_bytes=64, vector_registers=32)


def _matmul(kit: KernelKit, n: int, k: int, m: int) -> UOp:
    rows, columns, inner = kit.loop(n, 0), kit.loop(m, 1), kit.reduce_range(k, 2)
    product = kit.load(1, dtypes.float32, rows * k + inner) * kit.load(2, dtypes.float32, inner * m + columns)
    return kit.kernel(rows * m + columns, kit.reduce(Ops.ADD, product, inner))


def _buffers(ast: UOp) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    sizes: dict[int, int] = {}
    for node in toposort(ast):
        if node.op is Ops.INDEX:
            sizes[node.src[0].arg] = max(sizes.get(node.src[0].arg, 0), 1 << 16)
    dtype = to_numpy_dtype(dtypes.float32)
    return [rng.standard_normal(sizes[position]).astype(dtype) for position in sorted(sizes)]


@pytest.mark.parametrize("target", [AVX2, AVX512], ids=lambda target: target.name)
def test_a_matmul_tile_is_written_as_vectors_and_computes_the_same(
    kit: KernelKit, compiler: str, tmp_path: Path, target: Target
) -> None:
    ast = _matmul(kit, 16, 24, 64)
    generated = generate_c(ast, OptimizeOptions(target=target))
    lanes = target.vector_lanes
    assert f"lm_float{lanes} vacc" in generated.source
    assert "memcpy(&vec" in generated.source
    library = ctypes.CDLL(str(kit.build_library(compiler, generated.source, tmp_path)))
    function = getattr(library, generated.name)
    function.argtypes = [ctypes.c_void_p] * generated.buffer_count
    function.restype = None
    buffers = _buffers(ast)
    expected = [buffer.copy() for buffer in buffers]
    run_kernel(ast, expected)
    function(*(buffers[parameter.arg].ctypes.data for parameter in generated.program.parameters))
    np.testing.assert_allclose(buffers[0], expected[0], rtol=1e-5, atol=1e-5)


def test_the_plan_packs_every_row_of_the_tile(kit: KernelKit) -> None:
    program = linearize(optimize_kernel(_matmul(kit, 16, 24, 64), OptimizeOptions(target=AVX2)))
    plan = plan_tiles(program.uops, AVX2.vector_lanes)
    # A 4 x 16 tile under AVX2: two runs of 8 columns of B, each multiplied by 4 rows of A.
    assert [run.lanes for run in plan.runs] == [8, 8]
    assert len(plan.updates) == 2 * 4
    assert all(len(update.accumulators) == 8 for update in plan.updates)


def test_no_packs_where_the_lanes_do_more_than_a_product_update(kit: KernelKit) -> None:
    # out[i, j] = sum_k a[i, k] * b[k, j] + b[k, j]: the loads of b are also added on their own.
    rows, columns, inner = kit.loop(4, 0), kit.loop(8, 1), kit.reduce_range(8, 2)
    b = kit.load(2, dtypes.float32, inner * 8 + columns)
    value = kit.load(1, dtypes.float32, rows * 8 + inner) * b + b
    ast = kit.kernel(rows * 8 + columns, kit.reduce(Ops.ADD, value, inner))
    program = linearize(optimize_kernel(ast, OptimizeOptions(target=AVX2)))
    assert plan_tiles(program.uops, AVX2.vector_lanes).updates == []
    # The whole update is a pack of lane_trees.py instead: b's loads are one vector, used twice.
    assert "memcpy(&vrow" in generate_c(ast, OptimizeOptions(target=AVX2)).source
