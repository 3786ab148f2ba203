"""The OpenCL device layer on whatever platform is installed (CI installs PoCL, OpenCL on the CPU): devices are
listed, memory round-trips, OpenCL C builds with its log in errors, binaries are cached, kernels launch and time.
Every test skips cleanly where there is no OpenCL at all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lamina.device import CompileError, KernelCache
from lamina.device.opencl import (
    OpenCLAllocator,
    OpenCLCompiler,
    OpenCLProgram,
    list_devices,
    open_device,
    opencl_available,
)
from lamina.device.opencl_api import OpenCLAPI, OpenCLUnavailableError

pytestmark = pytest.mark.skipif(
    not opencl_available(), reason="no OpenCL platform installed (apt-get install pocl-opencl-icd)"
)

SCALE = """__kernel void scale(__global float* restrict out, __global const float* restrict x, int factor) {
  int i = get_global_id(0);
  out[i] = factor * x[i];
}
"""


class _Memory:
    """What a launch needs of a buffer: its address (here a cl_mem handle)."""

    def __init__(self, address: int) -> None:
        self.address = address


def test_a_missing_loader_says_what_to_install() -> None:
    with pytest.raises(OpenCLUnavailableError, match="apt-get install ocl-icd-libopencl1 pocl-opencl-icd"):
        OpenCLAPI("liblamina-no-such-opencl.so.1")


def test_a_device_index_out_of_range_lists_the_devices() -> None:
    count = len(list_devices(OpenCLAPI()))
    with pytest.raises(ValueError, match=r"OpenCL device 99 does not exist; the devices are 0: "):
        open_device(count + 98 if count < 99 else 99)


def test_memory_round_trips_including_empty_buffers() -> None:
    allocator = OpenCLAllocator()
    values = np.arange(10, dtype=np.float32)
    allocation = allocator.alloc(values.nbytes)
    allocator.copyin(allocation, values.view(np.uint8))
    back = np.zeros(values.nbytes, np.uint8)
    allocator.copyout(allocation, back)
    np.testing.assert_array_equal(back.view(np.float32), values)
    allocator.free(allocation)
    empty = allocator.alloc(0)
    allocator.copyin(empty, np.zeros(0, np.uint8))
    allocator.copyout(empty, np.zeros(0, np.uint8))
    allocator.free(empty)


def test_a_kernel_builds_launches_and_reports_its_device_time(tmp_path: Path) -> None:
    allocator = OpenCLAllocator()
    values = np.arange(8, dtype=np.float32)
    source, result = allocator.alloc(values.nbytes), allocator.alloc(values.nbytes)
    allocator.copyin(source, values.view(np.uint8))
    binary = KernelCache(tmp_path).compile(OpenCLCompiler(), SCALE)
    program = OpenCLProgram("scale", binary, 2, 1, cache=KernelCache(tmp_path), global_size=(8,))
    elapsed = program(_Memory(result.address), _Memory(source.address), ints=[3], timed=True)
    assert elapsed > 0
    back = np.zeros(values.nbytes, np.uint8)
    allocator.copyout(result, back)
    np.testing.assert_array_equal(back.view(np.float32), values * 3)
    with pytest.raises(TypeError, match="takes 2 buffers and 1 ints"):
        program(_Memory(result.address), ints=[3])


def test_built_binaries_are_cached_per_device(tmp_path: Path) -> None:
    compiler = OpenCLCompiler()
    first = KernelCache(tmp_path)
    binary = first.compile(compiler, SCALE)
    fresh = KernelCache(tmp_path)  # a new process: nothing in memory
    assert fresh.compile(compiler, SCALE) == binary
    assert (fresh.stats.compiles, fresh.stats.hits) == (0, 1)
    assert open_device().description in compiler.cache_key


def test_a_build_error_carries_the_build_log_and_the_source() -> None:
    broken = "__kernel void broken(__global float* x) {\n  x[0] = lamina_undeclared;\n}\n"
    with pytest.raises(CompileError) as raised:
        OpenCLCompiler().compile(broken)
    assert "lamina_undeclared" in raised.value.message
    assert "   2 |   x[0] = lamina_undeclared;" in str(raised.value)


def test_released_buffers_are_reused_for_the_same_size() -> None:
    allocator = OpenCLAllocator()
    first = allocator.alloc(4096)
    allocator.free(first)
    assert allocator.alloc(4096).address == first.address
    assert allocator.alloc(4096).address != first.address  # the pool had one
    tiny = OpenCLAllocator(pool_bytes=0)
    kept = tiny.alloc(64)
    tiny.free(kept)  # nothing pooled: released to the driver
    assert tiny.alloc(64).nbytes == 64


def test_a_device_without_float64_refuses_double_precision_by_name() -> None:
    from dataclasses import replace

    single = replace(open_device(), float64=False)
    with pytest.raises(CompileError, match=r"has no float64 \(cl_khr_fp64\)"):
        OpenCLCompiler(single).compile("__kernel void k(__global double* x) { x[0] = 1.0; }")
    assert OpenCLCompiler(single).compile(SCALE)
