"""Every elementwise op is handled by every layer that handles ops, so a new op cannot be half added.

For each op of `GroupOp.ALU`: the two reference interpreters evaluate it (the tensor-graph evaluator and
the kernel interpreter), autograd has a rule for it (a gradient or an explicit "none"), the C, OpenCL C
and CUDA C renderers write it, and the compiled C computes what the kernel interpreter does.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lamina.codegen import CUDA_TARGET, OPENCL_TARGET, OptimizeOptions, generate_c
from lamina.dtype import DType, dtypes, to_numpy_dtype
from lamina.gradient.rules import gradient_rules
from lamina.uop import AxisKind, GroupOp, Ops, UOp, evaluate, infer_shape, run_kernel

SIZE = 8
_INTEGER = GroupOp.INTEGER_ONLY
_LOGICAL = frozenset({Ops.NOT})


def _operand_dtype(op: Ops) -> DType:
    if op in _LOGICAL:
        return dtypes.bool
    return dtypes.int32 if op in _INTEGER else dtypes.float32


def _operands(op: Ops) -> list[np.ndarray[Any, Any]]:
    rng = np.random.default_rng(int(op.value))
    dtype = _operand_dtype(op)
    if dtype is dtypes.bool:
        return [rng.integers(0, 2, SIZE).astype(np.bool_)]
    if dtype is dtypes.int32:
        # Shift counts within the width, divisors away from zero.
        return [rng.integers(-50, 50, SIZE).astype(np.int32), rng.integers(1, 7, SIZE).astype(np.int32)]
    return [rng.uniform(0.5, 2.0, SIZE).astype(np.float32) for _ in range(2)]


def _kernel(op: Ops) -> tuple[UOp, list[np.ndarray[Any, Any]]]:
    """out[i] = op(in1[i], in2[i]) (a choice: in1[i] < 1 ? in1[i] : in2[i]), and its input arrays."""
    index = UOp.range(SIZE, 0, AxisKind.LOOP)
    inputs = _operands(op)
    dtype = _operand_dtype(op)
    loads = []
    for position in range(len(inputs) if op is not Ops.WHERE else 2):
        pointer = UOp(Ops.DEFINE_GLOBAL, dtype.ptr(), (), position + 1)
        loads.append(UOp(Ops.LOAD, dtype, (UOp(Ops.INDEX, pointer.dtype, (pointer, index)),)))
    if op is Ops.WHERE:
        value = loads[0].lt(loads[0].const_like(1.0)).where(loads[0], loads[1])
    elif op in GroupOp.UNARY:
        value = loads[0].alu(op)
    else:
        value = loads[0].alu(op, loads[1])
    output = UOp(Ops.DEFINE_GLOBAL, value.scalar_dtype.ptr(), (), 0)
    store = UOp(Ops.STORE, dtypes.void, (UOp(Ops.INDEX, output.dtype, (output, index)), value))
    buffers = [np.zeros(SIZE, dtype=to_numpy_dtype(value.scalar_dtype)), *inputs]
    return UOp(Ops.SINK, dtypes.void, (store,), f"op_{op.name.lower()}"), buffers


ALU_OPS = sorted(GroupOp.ALU, key=lambda op: op.value)


@pytest.mark.parametrize("op", ALU_OPS, ids=lambda op: op.name)
def test_the_tensor_graph_evaluator_and_shape_inference_take_it(op: Ops) -> None:
    dtype = _operand_dtype(op)
    values = _operands(op)
    constants = [UOp.const(dtype, value.tolist()[0]) for value in values]
    if op is Ops.WHERE:
        node = constants[0].lt(constants[0].const_like(1.0)).where(constants[0], constants[1])
    elif op in GroupOp.UNARY:
        node = constants[0].alu(op)
    else:
        node = constants[0].alu(op, constants[1])
    (result,) = evaluate([node])
    assert result.shape == infer_shape(node) == ()


@pytest.mark.parametrize("op", ALU_OPS, ids=lambda op: op.name)
def test_autograd_has_a_rule(op: Ops) -> None:
    assert op in gradient_rules, f"{op.name} has no gradient rule (a gradient, or none: see gradient/rules.py)"


@pytest.mark.parametrize("op", ALU_OPS, ids=lambda op: op.name)
def test_every_dialect_writes_it(op: Ops) -> None:
    ast, _ = _kernel(op)
    for options in (OptimizeOptions(), OptimizeOptions(target=OPENCL_TARGET), OptimizeOptions(target=CUDA_TARGET)):
        generate_c(ast, options)


@pytest.mark.parametrize("op", ALU_OPS, ids=lambda op: op.name)
def test_compiled_c_equals_the_kernel_interpreter(op: Ops, tmp_path: Path) -> None:
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        pytest.skip("no C compiler")
    ast, buffers = _kernel(op)
    expected = [buffer.copy() for buffer in buffers]
    run_kernel(ast, expected)
    generated = generate_c(ast)
    source, library = tmp_path / "kernel.c", tmp_path / "kernel.so"
    source.write_text(generated.source)
    subprocess.run(
        [compiler, "-O1", "-shared", "-fPIC", "-std=c11", str(source), "-o", str(library), "-lm"], check=True
    )
    function = getattr(ctypes.CDLL(str(library)), generated.name)
    function.argtypes = [ctypes.c_void_p] * generated.buffer_count
    function.restype = None
    function(*(buffers[parameter.arg].ctypes.data for parameter in generated.program.parameters))
    np.testing.assert_allclose(buffers[0].astype(np.float64), expected[0].astype(np.float64), rtol=1e-6)
