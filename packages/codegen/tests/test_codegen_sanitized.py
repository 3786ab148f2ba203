"""Generated C has no undefined behaviour on any input: kernels fed the values that break C run clean under
`-fsanitize=undefined` (gcc and clang) and compute what the reference interpreter computes.

The hard cases are the ones C leaves undefined: signed overflow, shifts by negative or too-large counts or
into the sign bit, division by zero and INT_MIN / -1, and float to integer conversions of NaN, infinities
and values out of range. Each kernel is built into an executable with the sanitizer's runtime, run on
every pair of extreme values, and must exit cleanly with the reference's results.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt
import pytest

from lamina.codegen import generate_c
from lamina.dtype import DType, bfloat16_bits_to_float32, dtypes, float32_to_bfloat16_bits, to_numpy_dtype
from lamina.uop import Ops, UOp, run_kernel

if TYPE_CHECKING:
    from packages.codegen.tests.conftest import KernelKit

Array = npt.NDArray[Any]
SANITIZE: Final = ("-O1", "-std=c11", "-fsanitize=undefined,float-cast-overflow", "-fno-sanitize-recover=all")
SIGNED: Final = (dtypes.int8, dtypes.int16, dtypes.int32, dtypes.int64)
UNSIGNED: Final = (dtypes.uint8, dtypes.uint16, dtypes.uint32, dtypes.uint64)
FLOAT_SOURCES: Final = (dtypes.float32, dtypes.float64, dtypes.float16, dtypes.bfloat16)
FLOAT_EDGES: Final = (
    float("nan"), float("inf"), float("-inf"), 1e20, -1e20, 3e9, -3e9, 2.0**31, -(2.0**31) - 512, 2.0**63,
    2.0**64, -(2.0**63), 300.5, -1.5, 0.0, -0.0, 70000.5, -40000.0, 255.9, 65535.0,
)  # fmt: skip


def _sanitized_compiler(name: str, directory: Path) -> str:
    """`name` if it is installed and links a sanitized program, else the test skips (saying why)."""
    if shutil.which(name) is None:
        pytest.skip(f"{name} is not installed")
    probe = directory / "probe.c"
    probe.write_text("int main(int argc, char** argv) { (void)argv; return argc - 1; }\n")
    built = subprocess.run([name, *SANITIZE, str(probe), "-o", str(directory / "probe")], capture_output=True)
    if built.returncode != 0:
        pytest.skip(f"{name} has no undefined-behaviour sanitizer runtime here")
    return name


@pytest.fixture(params=["gcc", "clang"])
def sanitized(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return _sanitized_compiler(str(request.param), tmp_path)


def _c_bytes(array: Array) -> str:
    return ", ".join(str(byte) for byte in np.ascontiguousarray(array).view(np.uint8).tobytes()) or "0"


def _run_sanitized(compiler: str, ast: UOp, buffers: list[Array], directory: Path) -> list[Array]:
    """The kernel's buffers after running it in an executable built with the sanitizer (which must stay silent)."""
    generated = generate_c(ast)
    parameters = [parameter.arg for parameter in generated.program.parameters]
    declarations = "\n".join(
        f"static _Alignas(64) unsigned char buffer{index}[{max(buffers[index].nbytes, 1)}] = "
        f"{{{_c_bytes(buffers[index])}}};"
        for index in parameters
    )
    dumps = "\n".join(
        f'  for (unsigned i = 0; i < sizeof buffer{index}; i++) printf("%02x", buffer{index}[i]); printf("\\n");'
        for index in parameters
    )
    call = ", ".join(f"(void*)buffer{index}" for index in parameters)
    main = f"int main(void) {{\n  {generated.name}({call});\n{dumps}\n  return 0;\n}}\n"
    program = f"{generated.source}\n#include <stdio.h>\n{declarations}\n{main}"
    source, executable = directory / f"{generated.name}.c", directory / generated.name
    source.write_text(program)
    subprocess.run([compiler, *SANITIZE, str(source), "-o", str(executable), "-lm"], check=True, capture_output=True)
    ran = subprocess.run([str(executable)], capture_output=True, text=True)
    assert "runtime error" not in ran.stderr, f"{compiler}: {ran.stderr}"
    assert ran.returncode == 0, f"{compiler}: exit status {ran.returncode}: {ran.stderr}"
    results = [array.copy() for array in buffers]
    for index, line in zip(parameters, ran.stdout.split(), strict=True):
        data = np.frombuffer(bytes.fromhex(line), dtype=np.uint8)[: buffers[index].nbytes]
        results[index] = data.view(buffers[index].dtype).reshape(buffers[index].shape).copy()
    return results


def _stores(kit: KernelKit, values: list[UOp], index: UOp, first: int) -> UOp:
    stores = []
    for position, value in enumerate(values, start=first):
        pointer = kit.param(position, value.scalar_dtype)
        stores.append(UOp(Ops.STORE, dtypes.void, (UOp(Ops.INDEX, pointer.dtype, (pointer, index)), value)))
    return UOp(Ops.SINK, dtypes.void, tuple(stores), "edges")


def _integer_edges(dtype: DType) -> Array:
    low, high = int(dtype.min_value), int(dtype.max_value)
    values = {low, low + 1, high, high - 1, -1, 0, 1, 2, 7, dtype.bits - 1, dtype.bits, 100, 12345, -12345}
    return np.array(sorted(value for value in values if low <= value <= high), dtype=to_numpy_dtype(dtype))


@pytest.mark.parametrize("dtype", [*SIGNED, *UNSIGNED], ids=lambda dtype: dtype.name)
def test_integer_arithmetic_on_extreme_values_is_defined(
    dtype: DType, sanitized: str, kit: KernelKit, tmp_path: Path
) -> None:
    edges = _integer_edges(dtype)
    left, right = np.repeat(edges, len(edges)), np.tile(edges, len(edges))
    index = kit.loop(len(left), 0)
    a, b = kit.load(0, dtype, index), kit.load(1, dtype, index)
    ops = (Ops.ADD, Ops.SUB, Ops.MUL, Ops.SHL, Ops.SHR, Ops.IDIV, Ops.MOD)
    values = [a.alu(op, b) for op in ops]
    if dtype.kind == "int":
        values.append(a.alu(Ops.NEG))
    ast = _stores(kit, values, index, first=2)
    outputs = [np.zeros(len(left), to_numpy_dtype(value.scalar_dtype)) for value in values]
    expected = [left, right, *(output.copy() for output in outputs)]
    run_kernel(ast, expected)
    compiled = _run_sanitized(sanitized, ast, [left, right, *outputs], tmp_path)
    for got, want, value in zip(compiled[2:], expected[2:], values, strict=True):
        np.testing.assert_array_equal(got, want, err_msg=f"{value.op} on {dtype}")


@pytest.mark.parametrize("source", FLOAT_SOURCES, ids=lambda dtype: dtype.name)
def test_float_to_integer_conversion_of_any_value_is_defined(
    source: DType, sanitized: str, kit: KernelKit, tmp_path: Path
) -> None:
    edges = np.array(FLOAT_EDGES, dtype=np.float64)
    with np.errstate(over="ignore"):  # 1e20 and the like become inf in the 16-bit floats, as they should
        stored = float32_to_bfloat16_bits(edges.astype(np.float32)) if source == dtypes.bfloat16 else edges
        inputs = np.asarray(stored, dtype=to_numpy_dtype(source))
    index = kit.loop(len(edges), 0)
    a = kit.load(0, source, index)
    targets = [*SIGNED, *UNSIGNED, dtypes.bool]
    values = [a.cast(target) for target in targets]
    ast = _stores(kit, values, index, first=1)
    outputs = [np.zeros(len(edges), to_numpy_dtype(target)) for target in targets]
    expected = [inputs, *(output.copy() for output in outputs)]
    run_kernel(ast, expected)
    compiled = _run_sanitized(sanitized, ast, [inputs, *outputs], tmp_path)
    readable = bfloat16_bits_to_float32(inputs) if source == dtypes.bfloat16 else inputs
    for got, want, target in zip(compiled[1:], expected[1:], targets, strict=True):
        np.testing.assert_array_equal(got, want, err_msg=f"{source} -> {target} of {readable}")
