"""The CPU heuristic's matmul tiles: a register tile of rows by contiguous columns, panels of B, blocks of rows
around each panel when B outgrows the cache (or every row in one block when A fits it whole), and how the cores
share the blocks."""

from __future__ import annotations

import ctypes
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from lamina.codegen import (
    CPU_TARGET,
    KernelSource,
    Opt,
    OptimizeOptions,
    OptKind,
    Target,
    apply_opts,
    generate_c,
    hand_coded_opts,
)
from lamina.dtype import dtypes
from lamina.uop import AxisKind, Ops

if TYPE_CHECKING:
    from packages.codegen.tests.conftest import KernelKit

PARALLEL = OptimizeOptions(threads=2, openmp=True)
AVX2: Target = Target(name="cpu-avx2", vector_bytes=32, vector_registers=16)
Array = npt.NDArray[Any]


def test_matmul_gets_a_register_tile_of_rows_by_contiguous_columns(kit: KernelKit) -> None:
    opts = hand_coded_opts(kit.matmul(64, 64, 64), OptimizeOptions())
    assert opts == (Opt(OptKind.UPCAST, 1, 32), Opt(OptKind.UPCAST, 0, 8))
    program = generate_c(kit.matmul(64, 64, 64)).program
    assert sum(1 for uop in program.uops if uop.op is Ops.DEFINE_ACC) == 32 * 8
    # One loop over the reduction carries every accumulator of the tile.
    assert sum(1 for uop in program.uops if uop.op is Ops.RANGE and uop.arg[1] is AxisKind.REDUCE) == 1


def test_a_matmul_reading_b_in_panels_tiles_one_panel_of_columns(kit: KernelKit) -> None:
    # The column index reaches B's address through `// 32` and `% 32`: within a panel it is contiguous.
    assert hand_coded_opts(kit.panel_matmul(64, 64, 128, 32), OptimizeOptions()) == (
        Opt(OptKind.UPCAST, 1, 32),
        Opt(OptKind.UPCAST, 0, 8),
    )
    # A tile wider than the panels would straddle two of them: it narrows to the panel.
    assert hand_coded_opts(kit.panel_matmul(64, 64, 128, 16), OptimizeOptions())[0] == Opt(OptKind.UPCAST, 1, 16)


def test_a_matmul_too_big_for_cache_blocks_its_rows_around_each_panel_of_b(kit: KernelKit) -> None:
    # 1024^3: B is 4 MB. Rows of A are blocked 16 tiles at a time (8 x 16 x 1024 floats, half a MB),
    # the blocks spread over the cores; at 64^3 B fits in cache and nothing is blocked.
    assert hand_coded_opts(kit.matmul(1024, 1024, 1024), PARALLEL) == (
        Opt(OptKind.UPCAST, 1, 32),
        Opt(OptKind.UPCAST, 0, 8),
        Opt(OptKind.BLOCK, 0, 16),
        Opt(OptKind.DYNAMIC, 0),
    )
    assert not any(opt.kind is OptKind.BLOCK for opt in hand_coded_opts(kit.matmul(64, 64, 64), PARALLEL))
    # At 512^3 the blocks stay small enough to leave four per core for the cores to share out.
    assert hand_coded_opts(kit.matmul(512, 512, 512), PARALLEL)[-2:] == (
        Opt(OptKind.BLOCK, 0, 8),
        Opt(OptKind.DYNAMIC, 0),
    )


def test_a_matmul_of_few_rows_reads_each_panel_once_for_all_its_rows(kit: KernelKit) -> None:
    # A prefill's 128 x 768 @ 768 x 2304: blocks leaving four per core would hold two tiles (16 rows) each, every
    # block reading all of B. A (384 KB) fits the block whole, so one block holds every row and the cores share
    # B's 72 panels: each panel read once, by all 16 tiles.
    opts = hand_coded_opts(kit.matmul(128, 768, 2304), PARALLEL)
    assert opts == (
        Opt(OptKind.UPCAST, 1, 32),
        Opt(OptKind.UPCAST, 0, 8),
        Opt(OptKind.BLOCK, 0, 16),
        Opt(OptKind.DYNAMIC, 1),
    )
    # Where rows of A do not fit whole (K = 3072: 1.5 MB), blocks of rows stay.
    assert hand_coded_opts(kit.matmul(128, 3072, 768), PARALLEL)[-2:] == (
        Opt(OptKind.BLOCK, 0, 2),
        Opt(OptKind.DYNAMIC, 0),
    )


def test_few_long_parallel_iterations_go_to_whichever_core_is_free(kit: KernelKit) -> None:
    # 1024^3 in blocks of 128 rows: 8 iterations of 2^27 multiply-adds each, handed out as cores come free.
    source = generate_c(kit.matmul(1024, 1024, 1024), PARALLEL).source
    assert "#pragma omp parallel for num_threads(2) schedule(dynamic)\n" in source
    np.testing.assert_array_equal(
        kit.interpret(apply_opts(kit.matmul(16, 8, 32, dtypes.int32), [Opt(OptKind.DYNAMIC, 0)])),
        kit.interpret(kit.matmul(16, 8, 32, dtypes.int32)),
    )
    # Many short iterations keep equal shares (each core's data stays in its cache from kernel to kernel).
    assert "schedule(dynamic)" not in generate_c(kit.elementwise(256, 200), PARALLEL).source
    assert "schedule(dynamic)" not in generate_c(kit.matmul(64, 64, 64), PARALLEL).source
    # Two long iterations on two cores stay one each: handed out, a late core could find both taken.
    assert "schedule(dynamic)" not in generate_c(kit.matmul(16, 1024, 1024), PARALLEL).source


def test_a_full_tile_that_does_not_divide_the_rows_is_taken_inside_each_block(
    kit: KernelKit, compiler: str, tmp_path: Path
) -> None:
    # 16 registers (AVX2) hold a tile of 6 rows by 2 vectors; 1024 rows are blocked 128 at a time and each block is
    # tiled by 6, its last tile repeating two rows. A small cache makes a small matmul block its rows.
    assert (AVX2.tile_rows, CPU_TARGET.tile_rows) == (6, 8)
    target = replace(AVX2, cache_bytes=64 << 10)
    ast = kit.matmul(1024, 16, 1024)
    options = OptimizeOptions(threads=2, target=target)
    assert hand_coded_opts(ast, options)[:3] == (
        Opt(OptKind.UPCAST, 1, 16),
        Opt(OptKind.BLOCK, 0, 128),
        Opt(OptKind.UPCAST, 3, 6),
    )
    # Where 6 divides the rows, the tile takes them plainly, and the blocks count tiles of 6.
    assert hand_coded_opts(kit.matmul(1536, 16, 1024), options)[:3] == (
        Opt(OptKind.UPCAST, 1, 16),
        Opt(OptKind.UPCAST, 0, 6),
        Opt(OptKind.BLOCK, 0, 32),
    )
    # Compiled on one core (blocks of 256 rows: 43 tiles, the last repeating two rows), it equals numpy.
    generated = generate_c(ast, OptimizeOptions(target=target))
    assert "<42)" in generated.source
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((1024, 16), dtype=np.float32), rng.standard_normal((16, 1024), dtype=np.float32)
    out = _run_compiled(kit, compiler, generated, tmp_path, (a.shape[0], b.shape[1]), a, b)
    np.testing.assert_allclose(out, a @ b, rtol=1e-4, atol=1e-4)


def test_columns_of_one_vector_take_more_rows_and_a_tile_of_two_vector_operands_updates_each_accumulator_once(
    kit: KernelKit, compiler: str, tmp_path: Path
) -> None:
    # A weight gradient, dH^T @ x: A stored transposed (its 16 rows of one step down the sum are one vector too)
    # and 784 columns, which tiles of 2 x 16 lanes do not divide: a tile of 16 rows by one vector.
    rows, columns, inner = kit.loop(64, 0), kit.loop(784, 1), kit.reduce_range(32, 2)
    product = kit.load(1, dtypes.float32, inner * 64 + rows) * kit.load(2, dtypes.float32, inner * 784 + columns)
    ast = kit.kernel(rows * 784 + columns, kit.reduce(Ops.ADD, product, inner))
    tile = (Opt(OptKind.UPCAST, 1, 16), Opt(OptKind.UPCAST, 0, 16))
    assert hand_coded_opts(ast, OptimizeOptions())[:2] == tile
    # Each product is a lane of a pack across the tile and of one down it: only one of them may write it.
    generated = generate_c(ast, opts=tile)
    assert generated.source.count("*vec") == 16
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((32, 64), dtype=np.float32), rng.standard_normal((32, 784), dtype=np.float32)
    out = _run_compiled(kit, compiler, generated, tmp_path, (a.shape[1], b.shape[1]), a, b)
    np.testing.assert_allclose(out, a.T @ b, rtol=1e-4, atol=1e-4)


def test_unblocked_rows_the_full_tile_does_not_divide_take_it_with_a_repeating_last_tile(
    kit: KernelKit, compiler: str, tmp_path: Path
) -> None:
    # An MLP's 128 rows under AVX2 fit no whole number of 6-row tiles and B fits the cache (no blocks): 22 tiles of
    # 6, the last repeating four rows, where 4-row tiles would hold a third fewer accumulators.
    ast = kit.matmul(128, 64, 32)
    assert hand_coded_opts(ast, OptimizeOptions(target=AVX2)) == (Opt(OptKind.UPCAST, 1, 16), Opt(OptKind.UPCAST, 0, 6))
    # Too few rows for the repeat to be a small part of the work: tiles that divide them.
    assert hand_coded_opts(kit.matmul(64, 64, 32), OptimizeOptions(target=AVX2))[1] == Opt(OptKind.UPCAST, 0, 4)
    generated = generate_c(ast, OptimizeOptions(target=AVX2))
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((128, 64), dtype=np.float32), rng.standard_normal((64, 32), dtype=np.float32)
    out = _run_compiled(kit, compiler, generated, tmp_path, (a.shape[0], b.shape[1]), a, b)
    np.testing.assert_allclose(out, a @ b, rtol=1e-4, atol=1e-4)


def _run_compiled(
    kit: KernelKit, compiler: str, generated: KernelSource, directory: Path, shape: tuple[int, int], *inputs: Array
) -> Array:
    """`generated` compiled with `compiler` and run on `inputs` (its buffers 1, 2...): its output, of `shape`."""
    library = ctypes.CDLL(str(kit.build_library(compiler, generated.source, directory)))
    function = getattr(library, generated.name)
    function.argtypes = [ctypes.c_void_p] * generated.buffer_count
    out = np.zeros(shape, dtype=np.float32)
    buffers = (out, *inputs)
    function(*(buffers[parameter.arg].ctypes.data for parameter in generated.program.parameters))
    return out
