"""A register tile's epilogue (a bias, a ReLU's mask, an SGD step) stored as vectors (store_packs.py)."""

from __future__ import annotations

import ctypes
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lamina.codegen import OptimizeOptions, Target, generate_c
from lamina.dtype import dtypes
from lamina.uop import Ops, UOp

if TYPE_CHECKING:
    from packages.codegen.tests.conftest import KernelKit

AVX2: Target = Target(name="cpu-avx2", vector_bytes=32, vector_registers=16)
N, K, M = 16, 10, 32


def _product(kit: KernelKit, first: int) -> tuple[UOp, UOp, UOp]:
    rows, columns, inner = kit.loop(N, 0), kit.loop(M, 1), kit.reduce_range(K, 2)
    total = kit.reduce(
        Ops.ADD,
        kit.load(first, dtypes.float32, rows * K + inner) * kit.load(first + 1, dtypes.float32, inner * M + columns),
        inner,
    )
    return rows, columns, total


def _masked(kit: KernelKit) -> UOp:
    """out = keep ? a @ b : 0, plus a bias per column: a ReLU's gradient after a linear layer."""
    rows, columns, total = _product(kit, 2)
    address = rows * M + columns
    keep = kit.load(1, dtypes.bool, address)
    return kit.kernel(address, keep.where(total + kit.load(4, dtypes.float32, columns), 0.0))


def _sgd_in_place(kit: KernelKit, shifted: bool = False) -> UOp:
    """w -= (a @ b) * 0.5, w read where it is written (or, `shifted`, one element ahead: a dependence)."""
    rows, columns, total = _product(kit, 1)
    address = rows * M + columns
    weight = kit.load(0, dtypes.float32, address + 1 if shifted else address)
    return kit.kernel(address, weight - total * 0.5)


def _compile_and_run(kit: KernelKit, compiler: str, ast: UOp, directory: Path, target: Target) -> list[np.ndarray]:
    generated = generate_c(ast, OptimizeOptions(threads=1, openmp=False, target=target))
    source, library = directory / "kernel.c", directory / f"kernel_{compiler}.so"
    source.write_text(generated.source)
    march = "-march=x86-64-v3" if target is AVX2 else "-march=native"
    command = [compiler, "-O2", "-std=c11", "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror", march, str(source)]
    result = subprocess.run([*command, "-o", str(library), "-lm"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{result.stderr}\n{generated.source}"
    buffers = kit.random_buffers(ast, np.random.default_rng(0))
    function = getattr(ctypes.CDLL(str(library)), generated.name)
    function(*(ctypes.c_void_p(buffers[parameter.arg].ctypes.data) for parameter in generated.program.parameters))
    return buffers


def test_a_masked_tile_with_a_bias_is_stored_as_vectors(kit: KernelKit, compiler: str, tmp_path: Path) -> None:
    ast = _masked(kit)
    source = generate_c(ast, OptimizeOptions(target=AVX2)).source
    assert "memcpy(data0+" in source
    assert "__builtin_convertvector" in source
    assert "lm_pick" not in source  # no lane is stored alone
    buffers = _compile_and_run(kit, compiler, ast, tmp_path, AVX2)
    # (The compilers may contract a product and a sum into one rounding, the interpreter does not.)
    np.testing.assert_allclose(buffers[0], kit.interpret(ast), rtol=1e-5, atol=1e-6)
    dropped = ~buffers[1][: N * M].astype(bool)
    assert dropped.any()
    assert not buffers[0][: N * M][dropped].view(np.uint32).any()  # exactly +0 where the mask is off


def test_an_update_in_place_is_stored_as_vectors_and_a_shifted_read_is_not(
    kit: KernelKit, compiler: str, tmp_path: Path
) -> None:
    ast = _sgd_in_place(kit)
    assert "vout" in generate_c(ast, OptimizeOptions(target=AVX2)).source
    buffers = _compile_and_run(kit, compiler, ast, tmp_path, AVX2)
    np.testing.assert_allclose(buffers[0], kit.interpret(ast), rtol=1e-5, atol=1e-6)
    # Lane i reading element i + 1, which lane i + 1 stores: a vector would read it before that store.
    shifted = _sgd_in_place(kit, shifted=True)
    assert "vout" not in generate_c(shifted, OptimizeOptions(target=AVX2)).source
