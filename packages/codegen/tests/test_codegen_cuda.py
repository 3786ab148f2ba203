"""The CUDA C dialect: every kind of kernel, CPU-shaped and GPU-lowered, in every dtype, compiles to PTX with
NVRTC (the `nvidia-cuda-nvrtc-cu12` wheel: no GPU needed), and reads as CUDA C. Skips cleanly without NVRTC."""

from __future__ import annotations

import ctypes
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lamina.codegen import CUDA_TARGET, OptimizeOptions, generate_c
from lamina.dtype import DType, dtypes
from lamina.uop import Ops, UOp

if TYPE_CHECKING:
    from packages.codegen.tests.conftest import KernelKit


def _nvrtc() -> ctypes.CDLL | None:
    try:
        spec = importlib.util.find_spec("nvidia.cuda_nvrtc")
    except ImportError:  # no `nvidia` package at all
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    library = Path(next(iter(spec.submodule_search_locations))) / "lib" / "libnvrtc.so.12"
    return ctypes.CDLL(str(library)) if library.exists() else None


NVRTC = _nvrtc()
pytestmark = pytest.mark.skipif(NVRTC is None, reason="NVRTC is not installed (pip install nvidia-cuda-nvrtc-cu12)")


def _compile_to_ptx(source: str) -> str:
    """`source` compiled by NVRTC for sm_80; the build log in the failure."""
    assert NVRTC is not None
    program = ctypes.c_void_p()
    assert NVRTC.nvrtcCreateProgram(ctypes.byref(program), source.encode(), b"kernel.cu", 0, None, None) == 0
    options = (ctypes.c_char_p * 2)(b"--gpu-architecture=compute_80", b"-default-device")
    status = NVRTC.nvrtcCompileProgram(program, 2, options)
    size = ctypes.c_size_t()
    NVRTC.nvrtcGetProgramLogSize(program, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    NVRTC.nvrtcGetProgramLog(program, log)
    assert status == 0, f"NVRTC rejected the kernel:\n{log.value.decode()}\n{source}"
    NVRTC.nvrtcGetPTXSize(program, ctypes.byref(size))
    ptx = ctypes.create_string_buffer(size.value)
    NVRTC.nvrtcGetPTX(program, ptx)
    NVRTC.nvrtcDestroyProgram(ctypes.byref(program))
    return ptx.value.decode()


def _every_op(kit: KernelKit, dtype: DType) -> UOp:
    index = kit.loop(64, 0)
    a, b = kit.load(1, dtype, index), kit.load(2, dtype, index)
    value = (a + b) * a - b
    value = value.alu(Ops.MAX, a).alu(Ops.IDIV if not dtype.is_float else Ops.DIV, b)
    if dtype.is_float:
        value = value.alu(Ops.EXP) + value.alu(Ops.SQRT) + value.alu(Ops.ERF) + value.alu(Ops.LOG1P)
        value = value.alu(Ops.CMPLT, a).where(value, UOp.const(dtype, float("inf")))
    else:
        value = value.alu(Ops.MOD, b) + value.alu(Ops.SHL, b) + value.alu(Ops.XOR, a)
    return kit.kernel(index, value.cast(dtypes.int32 if dtype.is_float else dtypes.float32))


@pytest.mark.parametrize(
    "dtype", [dtypes.float32, dtypes.float16, dtypes.bfloat16, dtypes.float64, dtypes.int32, dtypes.int64, dtypes.uint8]
)
def test_every_op_and_dtype_compiles_as_cuda_c(kit: KernelKit, dtype: DType) -> None:
    generated = generate_c(_every_op(kit, dtype), OptimizeOptions(target=CUDA_TARGET))
    assert generated.source.count('extern "C" __global__ void') == 1
    assert ".visible .entry" in _compile_to_ptx(generated.source)


def test_a_tiled_matmul_and_a_group_reduction_compile_as_cuda_c(kit: KernelKit) -> None:
    rows, columns, inner = kit.loop(64, 0), kit.loop(128, 1), kit.reduce_range(32, 2)
    product = kit.load(1, dtypes.float32, rows * 32 + inner) * kit.load(2, dtypes.float32, inner * 128 + columns)
    matmul = generate_c(
        kit.kernel(rows * 128 + columns, kit.reduce(Ops.ADD, product, inner)), OptimizeOptions(target=CUDA_TARGET)
    )
    assert "__shared__ float local0[256];" in matmul.source
    assert matmul.source.count("__syncthreads();") == 2
    assert "threadIdx.y" in matmul.source
    ptx = _compile_to_ptx(matmul.source)
    assert "bar.sync" in ptx
    assert ".shared" in ptx
    row, k = kit.loop(3, 0), kit.reduce_range(2048, 1)
    total = kit.reduce(Ops.MAX, kit.load(1, dtypes.bfloat16, row * 2048 + k), k)
    assert "bar.sync" in _compile_to_ptx(generate_c(kit.kernel(row, total), OptimizeOptions(target=CUDA_TARGET)).source)
