"""Programs: compiled C kernels launched on buffers through cffi, with pointer and int arguments."""

from __future__ import annotations

import numpy as np
import pytest

from lamina.device import Buffer, CPUCompiler, KernelCache, Program
from lamina.dtype import dtypes

N = 37


def add_source(n: int) -> str:
    return f"""
void add(void* restrict data0, void* restrict data1, void* restrict data2) {{
  float* out = data0;
  const float* a = data1;
  const float* b = data2;
  for (int i = 0; i < {n}; i++) out[i] = a[i] + b[i];
}}
"""


SCALE_SOURCE = """
#include <math.h>
void scale(void* restrict data0, int core_id, int core_count) {
  double* out = data0;
  out[core_id] = sqrt((double)core_count);
}
"""


def test_add_kernel_computes_the_elementwise_sum(named_compiler: CPUCompiler, cache: KernelCache) -> None:
    program = Program("add", cache.compile(named_compiler, add_source(N)), n_buffers=3, cache=cache)
    a = np.linspace(-1, 1, N, dtype=np.float32)
    b = np.arange(N, dtype=np.float32)
    out = Buffer("CPU", N, dtypes.float32)
    program(out, Buffer("CPU", N, dtypes.float32).copyin(a), Buffer("CPU", N, dtypes.float32).copyin(b))
    np.testing.assert_array_equal(out.numpy(), a + b)


def test_trailing_int_arguments_reach_the_kernel(compiler: CPUCompiler, cache: KernelCache) -> None:
    program = Program("scale", cache.compile(compiler, SCALE_SOURCE), n_buffers=1, int_args=2, cache=cache)
    out = Buffer("CPU", 3, dtypes.float64).copyin(np.zeros(3))
    program(out, ints=(2, 16))
    np.testing.assert_array_equal(out.numpy(), [0.0, 0.0, 4.0])


def test_timed_call_returns_seconds(compiler: CPUCompiler, cache: KernelCache) -> None:
    program = Program("add", cache.compile(compiler, add_source(4)), n_buffers=3, cache=cache)
    buffers = [Buffer("CPU", 4, dtypes.float32).copyin(np.ones(4, dtype=np.float32)) for _ in range(3)]
    elapsed = program(*buffers, timed=True)
    assert isinstance(elapsed, float)
    assert elapsed >= 0.0
    assert program(*buffers) is None


def test_wrong_argument_count_raises_before_calling_c(compiler: CPUCompiler, cache: KernelCache) -> None:
    program = Program("add", cache.compile(compiler, add_source(4)), n_buffers=3, cache=cache)
    buffer = Buffer("CPU", 4, dtypes.float32)
    with pytest.raises(TypeError, match="takes 3 buffers and 0 ints, got 2 buffers and 1 ints"):
        program(buffer, buffer, ints=(1,))


def test_missing_function_names_the_symbol(compiler: CPUCompiler, cache: KernelCache) -> None:
    with pytest.raises(ValueError, match="no function 'mul'"):
        Program("mul", cache.compile(compiler, add_source(4)), n_buffers=3, cache=cache)


def test_kernel_name_must_be_a_c_identifier(compiler: CPUCompiler, cache: KernelCache) -> None:
    with pytest.raises(ValueError, match="not a C identifier"):
        Program("add; int x", cache.compile(compiler, add_source(4)), n_buffers=3, cache=cache)


def test_shared_object_is_rewritten_when_its_file_was_damaged(compiler: CPUCompiler, cache: KernelCache) -> None:
    binary = cache.compile(compiler, add_source(4))
    cache.shared_object_path(binary).write_bytes(b"not an ELF file")
    assert cache.shared_object_path(binary).read_bytes() == binary
    buffers = [Buffer("CPU", 4, dtypes.float32).copyin(np.ones(4, dtype=np.float32)) for _ in range(3)]
    Program("add", binary, n_buffers=3, cache=cache)(*buffers)
    np.testing.assert_array_equal(buffers[0].numpy(), np.full(4, 2.0, dtype=np.float32))
