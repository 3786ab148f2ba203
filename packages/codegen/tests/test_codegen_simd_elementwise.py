"""An elementwise kernel's innermost loop is an OpenMP simd loop exactly where its iterations are independent."""

from __future__ import annotations

import ctypes
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lamina.codegen import KernelSource, OptimizeOptions, Target, generate_c, optimize_kernel
from lamina.codegen.simd_elementwise import clang_width_hint, simd_elementwise
from lamina.dtype import dtypes
from lamina.uop import AxisKind, Ops, UOp, toposort

if TYPE_CHECKING:
    from packages.codegen.tests.conftest import KernelKit

OPENMP = OptimizeOptions(threads=1, openmp=True)


def _pool_gradient(kit: KernelKit) -> UOp:
    """out[h, w] = keep[h, w] & best[h, w] ? grad[h // 2, w // 2] : 0: a 2x2 max pool's gradient, 16 x 16."""
    rows, columns = kit.loop(16, 0), kit.loop(16, 1)
    address = rows * 16 + columns
    keep = kit.load(1, dtypes.bool, address) & kit.load(2, dtypes.bool, address)
    gradient = kit.load(3, dtypes.float32, (rows // 2) * 8 + columns // 2)
    return kit.kernel(address, keep.where(gradient, 0.0))


def _innermost_kind(ast: UOp) -> AxisKind:
    optimized = optimize_kernel(ast, OPENMP)
    loops = [node for node in toposort(optimized) if node.op is Ops.RANGE]
    kind: AxisKind = max(loops, key=lambda loop: loop.arg[0]).arg[1]
    return kind


def test_a_pool_gradients_innermost_loop_is_a_simd_loop_and_computes_the_same(
    kit: KernelKit, compiler: str, tmp_path: Path
) -> None:
    ast = _pool_gradient(kit)
    assert _innermost_kind(ast) is AxisKind.VECTOR
    generated = generate_c(ast, OPENMP)
    assert "#pragma omp simd\n" in generated.source
    assert "#pragma omp simd" not in generate_c(ast, OptimizeOptions(threads=1, openmp=False)).source
    _compiles_warning_free_and_equals_the_interpreter(kit, compiler, tmp_path, ast, generated)


def test_a_loop_whose_iterations_could_meet_is_no_simd_loop(kit: KernelKit) -> None:
    rows, columns = kit.loop(8, 0), kit.loop(16, 1)
    address = rows * 16 + columns
    # A store that stays put along the innermost loop: every iteration writes one element.
    assert not simd_elementwise(kit.kernel(rows, kit.load(1, dtypes.float32, address)), columns)
    # The output read one element ahead of the one written: a dependence between iterations.
    shifted = kit.load(0, dtypes.float32, address + 1) + 1.0
    assert not simd_elementwise(kit.kernel(address, shifted), columns)
    # Read where it is written (an in-place update): independent.
    in_place = kit.load(0, dtypes.float32, address) + 1.0
    assert simd_elementwise(kit.kernel(address, in_place), columns)
    # Only the innermost loop, and not a reduction.
    assert not simd_elementwise(kit.kernel(address, in_place), rows)
    total = kit.reduce(Ops.ADD, kit.load(1, dtypes.float32, address), columns)
    assert not simd_elementwise(kit.kernel(rows, total), columns)


def test_a_loop_calling_libm_or_too_short_is_no_simd_loop(kit: KernelKit) -> None:
    rows, columns = kit.loop(8, 0), kit.loop(16, 1)
    address = rows * 16 + columns
    logarithm = kit.load(1, dtypes.float64, address).alu(Ops.LOG)
    assert not simd_elementwise(kit.kernel(address, logarithm), columns)
    short = kit.loop(2, 1)
    assert not simd_elementwise(kit.kernel(rows * 2 + short, kit.load(1, dtypes.float32, rows * 2 + short)), short)


def test_clang_is_told_the_vector_width_that_leaves_the_fewest_passes_over_a_short_loop() -> None:
    # 14 iterations: 8 lanes and 6 scalars is 7 passes, 4 + 4 + 4 and 2 scalars 5; 28 is 3 + 4 either way.
    def hint(iterations: int, lanes: int) -> str:
        return clang_width_hint(UOp.const(dtypes.int32, iterations), lanes)

    assert "vectorize_width(4)" in hint(14, 8)
    assert "vectorize_width(4)" in hint(14, 16)
    assert hint(28, 8) == hint(3136, 8) == hint(16, 16) == ""


def test_a_short_simd_loop_carries_its_clang_width_and_compiles_cleanly_in_both(
    kit: KernelKit, compiler: str, tmp_path: Path
) -> None:
    # A 2-wide max pool's rows of 14 (its input rows 56 apart): loops that do not merge into one long one.
    rows, columns = kit.loop(16, 0), kit.loop(14, 1)
    address = rows * 14 + columns
    ast = kit.kernel(
        address,
        kit.load(1, dtypes.float32, rows * 56 + columns * 2).maximum(
            kit.load(1, dtypes.float32, rows * 56 + columns * 2 + 1)
        ),
    )
    generated = generate_c(ast, OptimizeOptions(threads=1, openmp=True, target=Target(vector_bytes=32)))
    assert (
        "#pragma omp simd\n#if defined(__clang__)\n#pragma clang loop vectorize_width(4)\n#endif\n" in generated.source
    )
    _compiles_warning_free_and_equals_the_interpreter(kit, compiler, tmp_path, ast, generated)


def _compiles_warning_free_and_equals_the_interpreter(
    kit: KernelKit, compiler: str, directory: Path, ast: UOp, generated: KernelSource
) -> None:
    source, library = directory / "kernel.c", directory / f"kernel_{compiler}.so"
    source.write_text(generated.source)
    flags = kit.openmp_flags(compiler, directory)
    command = [compiler, "-O2", "-std=c11", "-shared", "-fPIC", "-Wall", "-Werror", *flags, str(source), "-o"]
    result = subprocess.run([*command, str(library), "-lm"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    function = getattr(ctypes.CDLL(str(library)), generated.name)
    buffers = kit.random_buffers(ast, np.random.default_rng(0))
    function(*(ctypes.c_void_p(buffers[parameter.arg].ctypes.data) for parameter in generated.program.parameters))
    np.testing.assert_array_equal(buffers[0], kit.interpret(ast))
