"""Padded rows chosen once before the loop that walks them (loop_rows.py): plain reads the compilers vectorize."""

from __future__ import annotations

import ctypes
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lamina.codegen import OptimizeOptions, generate_c
from lamina.dtype import dtypes
from lamina.uop import Ops, UOp

if TYPE_CHECKING:
    from packages.codegen.tests.conftest import KernelKit

HEIGHT, WIDTH = 6, 16


def _vertical_taps(kit: KernelKit, horizontal: bool = False) -> UOp:
    """out[h, w] = in[h - 1, w] + in[h + 1, w] (+ in[h, w - 1] with `horizontal`), zero outside the image."""
    rows, columns = kit.loop(HEIGHT, 0), kit.loop(WIDTH, 1)
    above = kit.load(1, dtypes.float32, (rows - 1) * WIDTH + columns, rows.lt(1).alu(Ops.NOT))
    below = kit.load(1, dtypes.float32, (rows + 1) * WIDTH + columns, rows.lt(HEIGHT - 1))
    value = above + below
    if horizontal:
        value = value + kit.load(1, dtypes.float32, rows * WIDTH + columns - 1, columns.lt(1).alu(Ops.NOT))
    return kit.kernel(rows * WIDTH + columns, value)


def _run(kit: KernelKit, compiler: str, ast: UOp, directory: Path) -> np.ndarray:
    generated = generate_c(ast, OptimizeOptions(enabled=False))
    source, library = directory / "kernel.c", directory / f"kernel_{compiler}.so"
    source.write_text(generated.source)
    command = [compiler, "-O2", "-std=c11", "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror", str(source), "-o"]
    result = subprocess.run([*command, str(library), "-lm"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{result.stderr}\n{generated.source}"
    function = getattr(ctypes.CDLL(str(library)), generated.name)
    rng = np.random.default_rng(3)
    image = rng.standard_normal(HEIGHT * WIDTH).astype(np.float32)
    out = np.full(HEIGHT * WIDTH, np.nan, dtype=np.float32)
    function(ctypes.c_void_p(out.ctypes.data), ctypes.c_void_p(image.ctypes.data))
    grid = image.reshape(HEIGHT, WIDTH)
    padded = np.pad(grid, 1)
    expected = padded[:-2, 1:-1] + padded[2:, 1:-1]
    return np.asarray(out.reshape(HEIGHT, WIDTH) - expected)


def test_a_row_whose_validity_holds_along_the_loop_is_chosen_before_it(
    kit: KernelKit, compiler: str, tmp_path: Path
) -> None:
    source = generate_c(_vertical_taps(kit), OptimizeOptions(enabled=False)).source
    declarations = [line.strip() for line in source.splitlines() if line.strip().startswith("const float* row")]
    assert len(declarations) == 2
    assert source.index(declarations[1]) < source.index("for (int gidx1")  # before the inner loop opens
    assert "(row0[gidx1]+row1[gidx1])" in source
    np.testing.assert_allclose(_run(kit, compiler, _vertical_taps(kit), tmp_path), 0.0, atol=1e-6)


def test_a_validity_that_changes_along_the_loop_keeps_its_read_in_the_loop(kit: KernelKit) -> None:
    source = generate_c(_vertical_taps(kit, horizontal=True), OptimizeOptions(enabled=False)).source
    # The vertical taps still get rows; the horizontal one (valid from the second column on) does not.
    assert source.count("const float* row") == 2
    assert "((!(gidx1<1))?data1[(alu5-1)]:0.0f)" in source
