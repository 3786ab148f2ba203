"""Whole accumulator updates written as vectors along a row of outputs (lane_trees.py): a convolution's tile."""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lamina.codegen import OptimizeOptions, Target, generate_c, linearize, optimize_kernel
from lamina.codegen.lane_trees import plan_tree_updates
from lamina.codegen.render_index import division_by_multiply
from lamina.codegen.tile_vectors import plan_tiles
from lamina.dtype import dtypes
from lamina.uop import Ops, UOp, run_kernel, toposort

if TYPE_CHECKING:
    from packages.codegen.tests.conftest import KernelKit

AVX2: Target = Target(name="cpu-avx2", vector_bytes=32, vector_registers=16)
AVX512: Target = Target(name="cpu-avx512", vector_bytes=64, vector_registers=32)
SIMD = OptimizeOptions(threads=2, openmp=True)


def _conv(kit: KernelKit, channels: int, out_channels: int, height: int, width: int) -> UOp:
    """out[o, y, x] = sum over c of (sum over the taps ky, kx of in[c, y + ky - 1, x + kx - 1] (zero outside)
    * w[o, c, ky, kx]): a 3x3 convolution with padding 1, its taps written out as the scheduler joins them."""
    o, y, x = kit.loop(out_channels, 0), kit.loop(height, 1), kit.loop(width, 2)
    c = kit.reduce_range(channels, 3)
    taps: list[UOp] = []
    for ky in range(3):
        for kx in range(3):
            row, column = y + (ky - 1), x + (kx - 1)
            valid = row.lt(0).alu(Ops.NOT) & row.lt(height) & column.lt(0).alu(Ops.NOT) & column.lt(width)
            pixel = kit.load(1, dtypes.float32, (c * height + row) * width + column, valid)
            taps.append(pixel * kit.load(2, dtypes.float32, ((o * channels + c) * 3 + ky) * 3 + kx))
    total = taps[0]
    for tap in taps[1:]:
        total = total + tap
    return kit.kernel((o * height + y) * width + x, kit.reduce(Ops.ADD, total, c))


def _run(kit: KernelKit, compiler: str, tmp_path: Path, ast: UOp, options: OptimizeOptions) -> str:
    generated = generate_c(ast, options)
    library = ctypes.CDLL(str(kit.build_library(compiler, generated.source, tmp_path)))
    function = getattr(library, generated.name)
    function.argtypes = [ctypes.c_void_p] * generated.buffer_count
    function.restype = None
    rng = np.random.default_rng(0)
    positions = sorted({node.src[0].arg for node in toposort(ast) if node.op is Ops.INDEX})
    buffers = [rng.standard_normal(1 << 14).astype(np.float32) for _ in positions]
    expected = [buffer.copy() for buffer in buffers]
    run_kernel(ast, expected)
    function(*(buffers[parameter.arg].ctypes.data for parameter in generated.program.parameters))
    np.testing.assert_allclose(buffers[0], expected[0], rtol=1e-5, atol=1e-5)
    return generated.source


@pytest.mark.parametrize("target", [AVX2, AVX512], ids=lambda target: target.name)
@pytest.mark.parametrize("width", [28, 16, 13])
def test_a_convolution_tile_is_written_as_vectors_and_computes_the_same(
    kit: KernelKit, compiler: str, tmp_path: Path, target: Target, width: int
) -> None:
    options = OptimizeOptions(threads=SIMD.threads, openmp=SIMD.openmp, target=target)
    source = _run(kit, compiler, tmp_path, _conv(kit, 3, 4, 18, width), options)
    # The rows are vector loads (padded rows through the zero row), the accumulators vectors, the channel loop
    # no OpenMP simd loop (its vectors are explicit).
    assert "memcpy(&vrow" in source
    assert "lm_zeros_float32" in source
    assert "vacc" in source
    assert "omp simd" not in source


def _packs(kit: KernelKit, ast: UOp, target: Target) -> list[int]:
    program = linearize(optimize_kernel(ast, OptimizeOptions(threads=2, openmp=True, target=target)))
    lanes = target.vector_lanes
    taken = {accumulator for update in plan_tiles(program.uops, lanes).updates for accumulator in update.accumulators}
    return sorted(update.lanes for update in plan_tree_updates(program.uops, lanes, taken, 4096))


def test_a_row_is_cut_into_vectors_and_a_narrower_tail(kit: KernelKit) -> None:
    # 28 columns under AVX2 (8 lanes): 8 + 8 + 8 + 4 for each of the tile's 2 output channels.
    assert _packs(kit, _conv(kit, 3, 4, 18, 28), AVX2) == [4, 4] + [8] * 6


def test_a_lane_computed_differently_stays_scalar_and_the_next_starts_a_pack(
    kit: KernelKit, compiler: str, tmp_path: Path
) -> None:
    # out[x] = sum_c a[c, x] + (x != 0 ? b[c, x] : 0): column 0 adds one load, the others two, so column 0 is
    # no lane of a pack; columns 1..16 are two packs of 8.
    columns, channel = kit.loop(17, 0), kit.reduce_range(5, 1)
    a = kit.load(1, dtypes.float32, channel * 17 + columns)
    b = kit.load(2, dtypes.float32, channel * 17 + columns)
    value = a + columns.ne(0).where(b, b.const_like(0.0))
    ast = kit.kernel(columns, kit.reduce(Ops.ADD, value, channel))
    assert _packs(kit, ast, AVX2) == [8, 8]
    _run(kit, compiler, tmp_path, ast, OptimizeOptions(target=AVX2))


def test_no_tree_packs_without_a_row_to_load(kit: KernelKit) -> None:
    # out[i, j] = sum_k a[i, k] * w[k]: no load moves with j's copies... the stores are a run, but every lane
    # reads the same values, so a pack would only broadcast: none is made.
    rows, columns, inner = kit.loop(4, 0), kit.loop(8, 1), kit.reduce_range(8, 2)
    value = kit.load(1, dtypes.float32, rows * 8 + inner) * kit.load(2, dtypes.float32, inner)
    ast = kit.kernel(rows * 8 + columns, kit.reduce(Ops.ADD, value, inner))
    program = linearize(optimize_kernel(ast, OptimizeOptions(target=AVX2)))
    assert plan_tree_updates(program.uops, 8, set(), 4096) == []


def test_no_packs_for_lanes_narrower_than_a_vector(kit: KernelKit) -> None:
    program = linearize(optimize_kernel(_conv(kit, 3, 4, 18, 28), OptimizeOptions(target=AVX2)))
    assert plan_tree_updates(program.uops, 2, set(), 4096) == []


def test_padded_taps_of_a_simd_reduction_are_read_always_and_picked(kit: KernelKit, tmp_path: Path) -> None:
    # A convolution's weight gradient: sum over a row of g[x] * in[x + k - 1] for taps k, the row's edges padded.
    # Each tap is a constant away from the centre tap, which is read unconditionally: it is read always (within
    # the allocation's guard) and the padding picked after, which gcc vectorizes where conditional loads stay scalar.
    width, taps = 40, 3
    tap, x = kit.loop(taps, 0), kit.reduce_range(width, 1)
    column = x + tap - 1
    valid = column.lt(0).alu(Ops.NOT) & column.lt(width)
    value = kit.load(1, dtypes.float32, x) * kit.load(2, dtypes.float32, column, valid)
    ast = kit.kernel(tap, kit.reduce(Ops.ADD, value, x))
    assert "lm_pick_float32(" in generate_c(ast, OptimizeOptions(threads=1, openmp=True, target=AVX2)).source
    generated = generate_c(ast, OptimizeOptions(target=AVX2))  # the same reads, no OpenMP pragma to compile
    assert "lm_pick_float32(" in generated.source
    guard = 4096 // 4
    rng = np.random.default_rng(1)
    # Buffers with readable memory around them, as the CPU allocator keeps (filled with NaN: it must not leak in).
    blocks = [np.full(width + 2 * guard, np.nan, dtype=np.float32) for _ in range(3)]
    views = [block[guard : guard + width] for block in blocks]
    views[1][:] = rng.standard_normal(width)
    views[2][:] = rng.standard_normal(width)
    library = ctypes.CDLL(str(kit.build_library("gcc", generated.source, tmp_path)))
    function = getattr(library, generated.name)
    function.argtypes = [ctypes.c_void_p] * generated.buffer_count
    function.restype = None
    function(*(views[parameter.arg].ctypes.data for parameter in generated.program.parameters))
    padded = np.concatenate([[0.0], views[2], [0.0]])
    expected = [float((views[1] * padded[k : k + width]).sum()) for k in range(taps)]
    np.testing.assert_allclose(views[0][:taps], expected, rtol=1e-5)


@given(st.integers(1, 5000), st.integers(0, 1 << 20))
@settings(max_examples=300, deadline=None)
def test_division_by_multiply_is_exact_over_the_range(divisor: int, largest: int) -> None:
    found = division_by_multiply(divisor, largest)
    if found is None:
        return
    multiplier, shift = found
    assert largest * multiplier < 1 << 31
    probes = {0, 1, largest, max(largest - 1, 0), *range(0, largest + 1, max(largest // 997, 1))}
    probes |= {
        k * divisor + offset
        for k in range(largest // divisor + 1)
        for offset in (-1, 0)
        if 0 <= k * divisor + offset <= largest
    }
    for x in probes:
        if x <= largest:
            assert (x * multiplier) >> shift == x // divisor


def test_an_index_divided_by_a_constant_is_a_multiply_and_a_shift(kit: KernelKit) -> None:
    # out[i] = in[i // 28] + in[i % 28]: non-negative indices below 784, so both are written without a division.
    index = kit.loop(784, 0)
    value = kit.load(1, dtypes.float32, index // 28) + kit.load(1, dtypes.float32, index % 28)
    source = generate_c(kit.kernel(index, value)).source
    assert "1171u)>>15" in source
    assert "/28" not in source
