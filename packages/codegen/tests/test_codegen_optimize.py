"""The kernel optimizer: every opt keeps the kernel's result (checked with the reference interpreter and
compiled C), the heuristic picks the opts the access pattern calls for, and bad opts are refused."""

from __future__ import annotations

import ctypes
import math
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lamina.codegen import (
    OPENCL_TARGET,
    Opt,
    OptimizeOptions,
    OptKind,
    Target,
    apply_opts,
    generate_c,
    hand_coded_opts,
    linearize,
    optimize_kernel,
    possible_opts,
)
from lamina.codegen.heuristic_cpu import WRITE_OUT_NODES
from lamina.dtype import dtypes
from lamina.uop import Ops, UOp, toposort

if TYPE_CHECKING:
    from packages.codegen.tests.conftest import KernelKit

Array = npt.NDArray[Any]
PARALLEL = OptimizeOptions(threads=2, openmp=True)


def _loop_headers(source: str) -> list[str]:
    """The `for (...) {` lines of a kernel's C, outermost first."""
    return [line.strip() for line in source.splitlines() if line.strip().startswith("for (")]


KERNELS: dict[str, Callable[[KernelKit], UOp]] = {
    "matmul": lambda kit: kit.matmul(16, 24, 64),
    "matmul int32": lambda kit: kit.matmul(8, 5, 48, dtypes.int32),
    "matmul odd": lambda kit: kit.matmul(7, 3, 20),
    "matmul transposed": lambda kit: kit.matmul_transposed(12, 64, 8),
    "matvec of an odd length": lambda kit: kit.matmul_transposed(1, 64, 301),
    "matmul in panels": lambda kit: kit.panel_matmul(16, 8, 96, 32),
    "row sum of exp": lambda kit: kit.row_reduce(Ops.ADD, 6, 48),
    "row max": lambda kit: kit.row_reduce(Ops.MAX, 5, 64),
    "row max int8": lambda kit: kit.row_reduce(Ops.MAX, 5, 40, dtypes.int8),
    "row product int32": lambda kit: kit.row_reduce(Ops.MUL, 3, 8, dtypes.int32),
    "column sum": lambda kit: kit.column_sum(9, 48),
    "full sum": lambda kit: kit.full_sum(12, 32),
    "elementwise": lambda kit: kit.elementwise(256, 200),
    "elementwise short rows": lambda kit: kit.elementwise(12, 20),
    "copy into panels": lambda kit: kit.panel_copy(64, 128, 32),
    "convolution": lambda kit: kit.convolution(16, 3, 28, 3),
    "padded convolution": lambda kit: kit.padded_convolution(8, 3, 12, 3),
    "convolution weight gradient": lambda kit: kit.weight_gradient(8, 4, 28, 3),
    "convolution weight gradient over rows": lambda kit: kit.weight_gradient(4, 2, 12, 3, rows=5),
    # A SIMD loop whose counter feeds masks as well as addresses: the addresses' counter is wide (render_index.py).
    "convolution weight gradient, wide addresses": lambda kit: kit.weight_gradient(4, 2, 28, 3, rows=4),
    "pooled rows merged at a reshape": lambda kit: _pooled_rows(kit),
    "input gradient into short rows": lambda kit: _input_gradient_rows(kit),
}


def _pooled_rows(kit: KernelKit) -> UOp:
    """out[c, p] = x[c, 2 (p // 14), 2 (p % 14)] + x[c, 2 (p // 14), 2 (p % 14) + 1]: pairs of a 28-wide image's
    columns, the pooled 14 x 14 image flattened into one loop of 196 (as the scheduler writes it at a reshape)."""
    channel, pixel = kit.loop(3, 0), kit.loop(196, 1)
    corner = channel * 784 + (pixel // 14) * 56 + (pixel % 14) * 2
    pair = kit.load(1, dtypes.float32, corner) + kit.load(1, dtypes.float32, corner + 1)
    return kit.kernel(channel * 196 + pixel, pair)


def _input_gradient_rows(kit: KernelKit) -> UOp:
    """out[b, c, h, w] = sum over k of g[b, k] * w[k, c, h, w]: a linear layer's input gradient written back as
    (4, 6, 6) images, rows of 6 that every access walks as one run of 144."""
    batch, channel, row, column, k = (
        kit.loop(8, 0),
        kit.loop(4, 1),
        kit.loop(6, 2),
        kit.loop(6, 3),
        kit.reduce_range(10, 4),
    )
    pixel = channel * 36 + row * 6 + column
    product = kit.load(1, dtypes.float32, batch * 10 + k) * kit.load(2, dtypes.float32, k * 144 + pixel)
    return kit.kernel(batch * 144 + pixel, kit.reduce(Ops.ADD, product, k))


def test_a_reductions_short_rows_that_walk_as_one_are_merged_first(kit: KernelKit) -> None:
    opts = hand_coded_opts(_input_gradient_rows(kit), OptimizeOptions())
    assert opts[:2] == (Opt(OptKind.MERGE, 2), Opt(OptKind.MERGE, 1))
    # The tile then takes whole vectors of the merged row of 144, not the 6 of a row.
    assert Opt(OptKind.UPCAST, 1, 16) in opts
    # A padded convolution's rows stay rows: its validities read them apart.
    assert all(
        opt.kind is not OptKind.MERGE for opt in hand_coded_opts(kit.padded_convolution(8, 3, 12, 3), OptimizeOptions())
    )


def test_rows_merged_at_a_reshape_and_read_through_a_division_are_split_back(kit: KernelKit) -> None:
    assert hand_coded_opts(_pooled_rows(kit), OptimizeOptions())[0] == Opt(OptKind.BLOCK, 1, 14)
    # Rows read through no division, or through two, stay as they are.
    assert all(opt.kind is not OptKind.BLOCK for opt in hand_coded_opts(kit.elementwise(12, 20), OptimizeOptions()))
    channel, pixel = kit.loop(3, 0), kit.loop(196, 1)
    mixed = kit.load(1, dtypes.float32, (pixel // 14) * 56 + (pixel % 7) * 2)
    assert all(
        opt.kind is not OptKind.BLOCK
        for opt in hand_coded_opts(kit.kernel(channel * 196 + pixel, mixed), OptimizeOptions())
    )


@pytest.mark.parametrize("name", KERNELS)
@pytest.mark.parametrize("options", [OptimizeOptions(), PARALLEL], ids=["serial", "parallel"])
def test_optimized_kernel_equals_the_unoptimized_one(kit: KernelKit, name: str, options: OptimizeOptions) -> None:
    ast = KERNELS[name](kit)
    optimized = apply_opts(ast, hand_coded_opts(ast, options))
    np.testing.assert_allclose(kit.interpret(optimized), kit.interpret(ast), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", KERNELS)
def test_gpu_lowering_keeps_every_kernels_result(kit: KernelKit, name: str) -> None:
    ast = KERNELS[name](kit)
    optimized = optimize_kernel(ast, OptimizeOptions(target=OPENCL_TARGET))
    np.testing.assert_allclose(kit.interpret(optimized), kit.interpret(ast), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", KERNELS)
def test_compiled_optimized_kernel_equals_the_interpreted_original(
    kit: KernelKit, compiler: str, tmp_path: Path, name: str
) -> None:
    ast = KERNELS[name](kit)
    flags = kit.openmp_flags(compiler, tmp_path)
    generated = generate_c(ast, OptimizeOptions(threads=2, openmp=bool(flags)))
    source = tmp_path / "kernel.c"
    library = tmp_path / f"kernel_{compiler}.so"
    source.write_text(generated.source)
    # Without -march=native there are no masked vector loads, so clang cannot honour a SIMD pragma over a
    # masked tap (a padded window) and warns; the loop then runs scalar, which is what this test checks.
    unhonoured = ("-Wno-pass-failed",) if compiler == "clang" else ()
    command = [compiler, "-O2", "-std=c11", "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror", *unhonoured, *flags]
    result = subprocess.run([*command, str(source), "-o", str(library), "-lm"], capture_output=True, text=True)
    assert result.returncode == 0, f"{result.stderr}\n{generated.source}"
    function = getattr(ctypes.CDLL(str(library)), generated.name)
    function.argtypes = [ctypes.c_void_p] * generated.buffer_count
    function.restype = None
    buffers = kit.random_buffers(ast, np.random.default_rng(0))
    function(*(buffers[parameter.arg].ctypes.data for parameter in generated.program.parameters))
    np.testing.assert_allclose(buffers[0], kit.interpret(ast), rtol=1e-5, atol=1e-6)


def test_noopt_leaves_the_kernel_as_it_is(kit: KernelKit) -> None:
    ast = kit.matmul(16, 24, 64)
    assert generate_c(ast, OptimizeOptions(enabled=False)).source == generate_c(ast, OptimizeOptions(False)).source
    assert linearize(ast).uops == generate_c(ast, OptimizeOptions(enabled=False)).program.uops


def test_block_moves_the_inner_part_of_a_loop_innermost(kit: KernelKit) -> None:
    ast = kit.matmul(64, 8, 32)
    source = generate_c(ast, OptimizeOptions(), [Opt(OptKind.BLOCK, 0, 4)]).source
    assert _loop_headers(source) == [
        "for (int gidx0 = 0; gidx0 < 16; gidx0++) {",
        "for (int gidx1 = 0; gidx1 < 32; gidx1++) {",
        "for (int gidx3 = 0; gidx3 < 4; gidx3++) {",
        "for (int ridx2 = 0; ridx2 < 8; ridx2++) {",
    ]
    blocked = apply_opts(ast, [Opt(OptKind.BLOCK, 0, 4)])
    np.testing.assert_allclose(kit.interpret(blocked), kit.interpret(ast), rtol=1e-6)
    # A block as long as the loop leaves no outer loop: the loop just moves inside.
    whole = apply_opts(ast, [Opt(OptKind.BLOCK, 0, 64)])
    np.testing.assert_allclose(kit.interpret(whole), kit.interpret(ast), rtol=1e-6)


def test_convolution_tiles_columns_by_the_output_channels_that_share_each_input_vector(kit: KernelKit) -> None:
    opts = hand_coded_opts(kit.convolution(16, 16, 28, 3), OptimizeOptions())
    assert opts == (Opt(OptKind.UPCAST, 1, 28), Opt(OptKind.UPCAST, 0, 8))


def test_a_padded_convolution_writes_its_taps_out_and_leaves_the_channel_sums_to_reorder(kit: KernelKit) -> None:
    ast = kit.padded_convolution(16, 8, 28, 3)
    assert hand_coded_opts(ast, OptimizeOptions(openmp=True)) == (
        Opt(OptKind.UNROLL, 3, 3),
        Opt(OptKind.UPCAST, 1, 28),
        Opt(OptKind.UPCAST, 0, 8),
        Opt(OptKind.SIMD, 2),
    )
    # Without OpenMP there is no simd loop to grant the reordering.
    assert Opt(OptKind.SIMD, 2) not in hand_coded_opts(ast, OptimizeOptions())


def test_weight_gradient_carries_at_most_a_register_file_of_simd_accumulators(kit: KernelKit) -> None:
    # The 3 taps are written out; the rows sharing the tap loads stop where 3 x rows would pass 24 vectors. The
    # output channels go first: their copies share the 3 tap loads of the input, the channels' only g's load
    # (10 loads per 24 multiply-adds, not 14).
    opts = hand_coded_opts(kit.weight_gradient(16, 16, 28, 3), OptimizeOptions(openmp=True))
    assert opts == (
        Opt(OptKind.UPCAST, 2, 3),
        Opt(OptKind.SIMD, 4),
        Opt(OptKind.UPCAST, 0, 4),
        Opt(OptKind.UPCAST, 1, 2),
    )


def test_loads_of_other_taps_read_zero_and_drop_out_of_the_window_sums(kit: KernelKit) -> None:
    ast = kit.weight_gradient(2, 2, 28, 3)
    optimized = optimize_kernel(ast, OptimizeOptions(openmp=True))
    loads = [node for node in toposort(optimized) if node.op is Ops.LOAD and node.src[0].src[0].arg == 2]
    # Of the 3 x 3 loads per channel the written-out taps make, the 3 at their own tap remain (2 channels upcast).
    assert len(loads) == 3 * 2
    assert not any(len(load.src[0].src) == 3 and load.src[0].src[2].op is Ops.CONST for load in loads)
    assert "0?" not in generate_c(ast, OptimizeOptions(openmp=True)).source


def test_a_constant_choice_after_an_upcast_is_the_value_it_picks(kit: KernelKit) -> None:
    # out[i] = (i < 2 ? x[i] : 0) + x[i] * 2 over 4, upcast whole: every copy's condition is a constant.
    index = kit.loop(4, 0)
    value = kit.load(1, dtypes.float32, index)
    ast = kit.kernel(index, index.lt(2).where(value, value.const_like(0.0)) + value * 2.0)
    optimized = optimize_kernel(ast, OptimizeOptions(), [Opt(OptKind.UPCAST, 0, 4)])
    assert not any(node.op is Ops.WHERE for node in toposort(optimized))
    np.testing.assert_array_equal(kit.interpret(optimized), kit.interpret(ast))


def test_a_choice_of_a_product_already_zero_where_invalid_is_the_product(kit: KernelKit) -> None:
    # out[i] = valid ? x[i - 1] * w[i - 1] : 0, both loads masked by the same validity (a padded gradient).
    index = kit.loop(8, 0)
    valid = index.ne(0)
    product = kit.load(1, dtypes.float32, index - 1, valid) * kit.load(2, dtypes.float32, index - 1, valid)
    ast = kit.kernel(index, valid.where(product, product.const_like(0.0)))
    optimized = optimize_kernel(ast, OptimizeOptions(), [])
    assert not any(node.op is Ops.WHERE for node in toposort(optimized))
    np.testing.assert_array_equal(kit.interpret(optimized), kit.interpret(ast))
    # With one factor unmasked the choice stays: 0 * inf is not 0.
    unmasked = kit.load(1, dtypes.float32, index - 1, valid) * kit.load(2, dtypes.float32, index)
    kept = optimize_kernel(kit.kernel(index, valid.where(unmasked, unmasked.const_like(0.0))), OptimizeOptions(), [])
    assert any(node.op is Ops.WHERE for node in toposort(kept))


def test_a_choice_that_drops_a_buffers_only_read_is_kept(kit: KernelKit) -> None:
    index = kit.loop(4, 0)
    other = kit.load(2, dtypes.float32, index)
    ast = kit.kernel(index, index.lt(0).where(other, other.const_like(1.0)) + kit.load(1, dtypes.float32, index))
    generated = generate_c(ast, OptimizeOptions(), [Opt(OptKind.UPCAST, 0, 4)])
    assert generated.buffer_count == 3


def test_a_tile_summing_several_products_per_update_gets_a_simd_channel_loop(kit: KernelKit) -> None:
    # out[o, w] = sum over c of x[c, w] * a[o, c] + y[c, w] * b[o, c]: two products per accumulator update.
    out, column, channel = kit.loop(8, 0), kit.loop(32, 1), kit.reduce_range(6, 2)
    first = kit.load(1, dtypes.float32, channel * 32 + column) * kit.load(2, dtypes.float32, out * 6 + channel)
    second = kit.load(3, dtypes.float32, channel * 32 + column) * kit.load(4, dtypes.float32, out * 6 + channel)
    ast = kit.kernel(out * 32 + column, kit.reduce(Ops.ADD, first + second, channel))
    opts = hand_coded_opts(ast, OptimizeOptions(openmp=True))
    assert Opt(OptKind.SIMD, 2) in opts
    assert Opt(OptKind.UPCAST, 0, 2) in opts  # two rows of such a tile, not eight
    assert Opt(OptKind.SIMD, 2) not in hand_coded_opts(kit.matmul(8, 6, 32), OptimizeOptions(openmp=True))


def test_a_buffer_read_only_by_never_valid_loads_stays_a_parameter(kit: KernelKit) -> None:
    index = kit.loop(8, 0)
    never = kit.load(2, dtypes.float32, index, index.lt(0))
    ast = kit.kernel(index, kit.load(1, dtypes.float32, index) + never)
    generated = generate_c(ast)
    assert generated.buffer_count == 3
    np.testing.assert_array_equal(kit.interpret(ast), kit.interpret(optimize_kernel(ast, OptimizeOptions())))


def test_upcast_copies_address_a_shared_base_plus_a_constant(kit: KernelKit) -> None:
    optimized = optimize_kernel(kit.matmul(64, 64, 64), OptimizeOptions())
    addresses = [node.src[1] for node in toposort(optimized) if node.op is Ops.INDEX and node.src[0].arg == 2]
    offsets = sorted(
        address.src[1].arg for address in addresses if address.op is Ops.ADD and address.src[1].op is Ops.CONST
    )
    # B's row is read at base + 1 ... base + 31: one base, so the compiler sees adjacent elements.
    assert offsets == list(range(1, 32))
    assert (
        len({address.src[0] for address in addresses if address.op is Ops.ADD and address.src[1].op is Ops.CONST}) == 1
    )


def test_small_sizes_upcast_whole_and_odd_sizes_by_a_divisor(kit: KernelKit) -> None:
    assert hand_coded_opts(kit.matmul(8, 40, 10), OptimizeOptions()) == (
        Opt(OptKind.UPCAST, 1, 10),
        Opt(OptKind.UPCAST, 0, 8),
    )
    assert hand_coded_opts(kit.matmul(12, 40, 96), OptimizeOptions()) == (
        Opt(OptKind.UPCAST, 1, 32),
        Opt(OptKind.UPCAST, 0, 4),
    )


def test_contiguous_sum_is_a_simd_loop_with_openmp_and_split_accumulators_without(kit: KernelKit) -> None:
    ast = kit.row_reduce(Ops.ADD, 6, 48)
    assert hand_coded_opts(ast, OptimizeOptions(openmp=True)) == (Opt(OptKind.SIMD, 1),)
    assert hand_coded_opts(ast, OptimizeOptions()) == (Opt(OptKind.SPLIT, 1, 16),)
    source = generate_c(ast, OptimizeOptions(openmp=True)).source
    assert "#pragma omp simd reduction(+:acc0)" in source


def test_a_sum_shorter_than_a_vector_is_split_into_its_elements_even_with_openmp(kit: KernelKit) -> None:
    # A 2x2 window's sum: a simd loop of 4 fills no vector; written out, the rows' loop vectorizes instead.
    assert hand_coded_opts(kit.row_reduce(Ops.ADD, 64, 4), OptimizeOptions(openmp=True)) == (Opt(OptKind.SPLIT, 1, 4),)
    assert "omp simd reduction" not in generate_c(kit.row_reduce(Ops.ADD, 64, 4), OptimizeOptions(openmp=True)).source


def test_max_reductions_split_into_accumulators_even_with_openmp(kit: KernelKit) -> None:
    # OpenMP's max reduction would not propagate NaN as torch.max does.
    assert hand_coded_opts(kit.row_reduce(Ops.MAX, 5, 64), OptimizeOptions(openmp=True)) == (Opt(OptKind.SPLIT, 1, 16),)


def test_transposed_matmul_splits_the_reduction_and_shares_rows(kit: KernelKit) -> None:
    ast = kit.matmul_transposed(12, 64, 8)
    assert hand_coded_opts(ast, OptimizeOptions()) == (Opt(OptKind.SPLIT, 2, 16), Opt(OptKind.UPCAST, 1, 4))


def test_transposed_matmul_with_openmp_tiles_both_operands_around_a_simd_reduction(kit: KernelKit) -> None:
    ast = kit.matmul_transposed(12, 64, 8)
    assert hand_coded_opts(ast, OptimizeOptions(openmp=True)) == (
        Opt(OptKind.SIMD, 2),
        Opt(OptKind.UPCAST, 1, 4),
        Opt(OptKind.UPCAST, 0, 4),
    )


def test_strided_reduction_upcasts_the_contiguous_output(kit: KernelKit) -> None:
    assert hand_coded_opts(kit.column_sum(9, 48), OptimizeOptions()) == (Opt(OptKind.UPCAST, 0, 16),)


def test_elementwise_kernels_are_left_to_the_compilers_vectorizer(kit: KernelKit) -> None:
    assert hand_coded_opts(kit.elementwise(256, 200), OptimizeOptions()) == ()


def test_short_contiguous_rows_of_an_elementwise_kernel_merge_into_one_loop(kit: KernelKit) -> None:
    ast = kit.elementwise(64, 28)
    assert hand_coded_opts(ast, OptimizeOptions()) == (Opt(OptKind.MERGE, 0),)
    merged = optimize_kernel(ast, OptimizeOptions())
    assert [loop.src[0].arg for loop in toposort(merged) if loop.op is Ops.RANGE] == [64 * 28]
    assert "/28" not in generate_c(ast).source.replace(" ", "")


def test_a_copy_into_panels_reads_several_whole_rows_per_pass(kit: KernelKit) -> None:
    # Each 128-byte run of a row is written after the previous row's run of the same panel: the k loop is
    # split by 8 and its outer part moved outermost, so one pass reads 8 rows whole and writes 1 KB runs.
    ast = kit.panel_copy(1024, 1024, 32)
    assert hand_coded_opts(ast, PARALLEL) == (Opt(OptKind.HOIST, 1, 8), Opt(OptKind.PARALLEL, -1))
    source = generate_c(ast, PARALLEL).source
    assert _loop_headers(source) == [
        "for (int gidxm1 = 0; gidxm1 < 128; gidxm1++) {",
        "for (int gidx0 = 0; gidx0 < 32; gidx0++) {",
        "for (int gidx1 = 0; gidx1 < 8; gidx1++) {",
        "for (int gidx2 = 0; gidx2 < 32; gidx2++) {",
    ]
    assert "#pragma omp parallel for num_threads(2)\n  for (int gidxm1 = 0;" in source
    # A search may try it too.
    assert Opt(OptKind.HOIST, 1, 8) in possible_opts(ast, PARALLEL)
    # A copy whose rows are contiguous on both sides (no panels) keeps its loop order.
    assert not any(opt.kind is OptKind.HOIST for opt in hand_coded_opts(kit.elementwise(1024, 32), PARALLEL))


def test_hoist_moves_the_outer_part_of_a_loop_outermost_and_keeps_the_result(kit: KernelKit) -> None:
    ast = kit.panel_copy(16, 96, 32)
    hoisted = apply_opts(ast, [Opt(OptKind.HOIST, 1, 4)])
    assert sorted((loop.arg[0], loop.src[0].arg) for loop in toposort(hoisted) if loop.op is Ops.RANGE) == [
        (-1, 4), (0, 3), (1, 4), (2, 32),
    ]  # fmt: skip
    np.testing.assert_array_equal(kit.interpret(hoisted), kit.interpret(ast))
    # Hoisting twice puts the second outer part outside the first.
    twice = apply_opts(ast, [Opt(OptKind.HOIST, 1, 4), Opt(OptKind.HOIST, 2, 8)])
    assert min(loop.arg[0] for loop in toposort(twice) if loop.op is Ops.RANGE) == -2
    np.testing.assert_array_equal(kit.interpret(twice), kit.interpret(ast))


def test_a_broadcast_operand_stops_the_merge_where_it_is_not_contiguous(kit: KernelKit) -> None:
    # out[c, h, w] = x[c, h, w] + bias[c]: h and w merge, the channel (the bias's only stride) does not.
    channel, row, column = kit.loop(4, 0), kit.loop(5, 1), kit.loop(6, 2)
    address = (channel * 5 + row) * 6 + column
    ast = kit.kernel(address, kit.load(1, dtypes.float32, address) + kit.load(2, dtypes.float32, channel))
    assert hand_coded_opts(ast, OptimizeOptions()) == (Opt(OptKind.MERGE, 1),)
    np.testing.assert_array_equal(kit.interpret(optimize_kernel(ast, OptimizeOptions())), kit.interpret(ast))


def test_large_kernels_use_every_core_and_small_ones_stay_serial(kit: KernelKit) -> None:
    assert hand_coded_opts(kit.elementwise(256, 200), PARALLEL) == (Opt(OptKind.PARALLEL, 0),)
    assert hand_coded_opts(kit.elementwise(4, 8), PARALLEL) == (Opt(OptKind.MERGE, 0),)
    # The first loop is all upcast away, so the next one is spread over the cores.
    assert hand_coded_opts(kit.matmul(8, 512, 256), PARALLEL)[-1] == Opt(OptKind.PARALLEL, 1)
    source = generate_c(kit.elementwise(256, 200), PARALLEL).source
    assert "#pragma omp parallel for num_threads(2)\n  for (int gidx0 = 0; gidx0 < 256; gidx0++) {" in source


@pytest.mark.parametrize(
    ("opt", "message"),
    [
        (Opt(OptKind.UPCAST, 1, 65), "cannot split loop axis 1 of size 64 by 65"),
        (Opt(OptKind.UPCAST, 5, 2), "loop axis 5, which the kernel does not have"),
        (Opt(OptKind.UPCAST, 2, 2), "UPCAST does not apply to the REDUCE loop of axis 2"),
        (Opt(OptKind.SPLIT, 0, 2), "SPLIT does not apply to the LOOP loop of axis 0"),
        (Opt(OptKind.PARALLEL, 2), "PARALLEL does not apply to the REDUCE loop of axis 2"),
        (Opt(OptKind.DYNAMIC, 2), "DYNAMIC does not apply to the REDUCE loop of axis 2"),
        (Opt(OptKind.BLOCK, 0, 5), "cannot block loop axis 0 of size 16 by 5"),
        (Opt(OptKind.BLOCK, 2, 2), "BLOCK does not apply to the REDUCE loop of axis 2"),
        (Opt(OptKind.HOIST, 0, 16), "cannot hoist loop axis 0 of size 16 by 16"),
        (Opt(OptKind.HOIST, 2, 2), "HOIST does not apply to the REDUCE loop of axis 2"),
    ],
)
def test_an_opt_that_does_not_fit_is_refused(kit: KernelKit, opt: Opt, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        apply_opts(kit.matmul(16, 24, 64), [opt])


@pytest.mark.parametrize("amount", [2, 3, 4, 5])
def test_an_upcast_that_does_not_divide_its_loop_repeats_the_last_index(kit: KernelKit, amount: int) -> None:
    # 9 rows by 2, 3, 4 or 5: the short last group's extra copies recompute and rewrite row 8, never row 9.
    ast = kit.matmul_transposed(9, 16, 3)
    for opts in ([Opt(OptKind.UPCAST, 0, amount)], [Opt(OptKind.UPCAST, 0, amount), Opt(OptKind.SIMD, 2)]):
        np.testing.assert_allclose(kit.interpret(apply_opts(ast, opts)), kit.interpret(ast), rtol=1e-6)


def test_simd_is_refused_for_a_max_reduction(kit: KernelKit) -> None:
    with pytest.raises(ValueError, match="SIMD does not apply"):
        apply_opts(kit.row_reduce(Ops.MAX, 5, 64), [Opt(OptKind.SIMD, 1)])


def _divisors(size: int) -> list[int]:
    return [amount for amount in range(1, size + 1) if size % amount == 0]


# The kit fixture is stateless, so sharing it across generated examples is safe.
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_valid_opts_keep_a_matmul_exact(kit: KernelKit, data: st.DataObject) -> None:
    n, k, m = (data.draw(st.integers(1, 12)) for _ in range(3))
    ast = kit.matmul(n, k, m, dtypes.int32)
    opts = [
        Opt(OptKind.UPCAST, 1, data.draw(st.sampled_from(_divisors(m)))),
        Opt(OptKind.SPLIT, 2, data.draw(st.sampled_from(_divisors(k)))),
        Opt(OptKind.UPCAST, 0, data.draw(st.sampled_from(_divisors(n)))),
    ]
    opts = data.draw(st.permutations(opts))
    # A block of what is left of the rows loop, in any position after the opts on it.
    rows_left = n // math.prod(opt.amount for opt in opts if opt.axis == 0)
    blocks = [amount for amount in _divisors(rows_left) if amount > 1]
    if blocks:
        opts.append(Opt(OptKind.BLOCK, 0, data.draw(st.sampled_from(blocks))))
    np.testing.assert_array_equal(kit.interpret(apply_opts(ast, opts)), kit.interpret(ast))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_merged_reductions_keep_a_weight_gradient_exact(kit: KernelKit, data: st.DataObject) -> None:
    rows, width = data.draw(st.integers(2, 5)), data.draw(st.integers(1, 9))
    taps = data.draw(st.sampled_from([1, 3]))
    ast = kit.weight_gradient(2, 2, width, taps, rows=rows)
    opts = [Opt(OptKind.MERGE, 3), Opt(OptKind.SPLIT, 3, data.draw(st.sampled_from(_divisors(rows * width))))]
    if data.draw(st.booleans()):
        opts.insert(0, Opt(OptKind.UPCAST, 2, taps))
    np.testing.assert_allclose(kit.interpret(apply_opts(ast, opts)), kit.interpret(ast), rtol=1e-5, atol=1e-5)


def test_gated_loops_are_written_out_only_while_the_copies_stay_small(kit: KernelKit) -> None:
    # out[i, j] = sum over t of (j + t < 14 ? x[i*14 + j + t] : 0): both loops gate loads; written out whole,
    # the large body's copies would pass the budget, so only the inner loop is (a pooling gradient's windows).
    row, column = kit.loop(4, 0), kit.loop(14, 1)

    def body(terms: int) -> UOp:
        value = UOp.const(dtypes.float32, 0.0)
        for tap in range(terms):
            valid = (column + tap).lt(14) & (row + tap).lt(4)
            value = value + kit.load(1, dtypes.float32, row * 14 + column + tap, valid)
        return value

    small = hand_coded_opts(kit.kernel(row * 14 + column, body(2)), OptimizeOptions())
    assert small == (Opt(OptKind.UPCAST, 0, 4), Opt(OptKind.UPCAST, 1, 14))
    large_ast = kit.kernel(row * 14 + column, body(150))
    nodes = len(toposort(large_ast))
    assert nodes * 14 <= WRITE_OUT_NODES < nodes * 14 * 4
    assert hand_coded_opts(large_ast, OptimizeOptions()) == (Opt(OptKind.UPCAST, 1, 14),)


@pytest.mark.parametrize(("vector_bytes", "registers", "width"), [(32, 16, 64), (64, 32, 128)], ids=["avx2", "avx512"])
def test_a_matrix_vector_product_takes_a_wide_strip_of_columns(
    kit: KernelKit, vector_bytes: int, registers: int, width: int
) -> None:
    # x @ w for one x: no row shares w's loads, so the tile's accumulators go to one strip of columns (while each
    # of the two cores still gets several strips: 1024 columns / 128 leaves 8).
    columns, inner = kit.loop(1024, 0), kit.reduce_range(64, 1)
    product = kit.load(1, dtypes.float32, inner) * kit.load(2, dtypes.float32, inner * 1024 + columns)
    ast = kit.kernel(columns, kit.reduce(Ops.ADD, product, inner))
    target = Target(name="cpu", vector_bytes=vector_bytes, vector_registers=registers)
    opts = hand_coded_opts(ast, OptimizeOptions(threads=2, openmp=True, target=target))
    assert Opt(OptKind.UPCAST, 0, width) in opts
    np.testing.assert_allclose(kit.interpret(apply_opts(ast, opts)), kit.interpret(ast), rtol=1e-5)
