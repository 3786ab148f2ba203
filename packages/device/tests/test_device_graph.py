"""Native graphs: kernels run in order by one native call, on a table of argument addresses that can change."""

from __future__ import annotations

import numpy as np
import pytest

from lamina.device import MAX_GRAPH_ARGUMENTS, MAX_GRAPH_INTS, Buffer, CPUCompiler, KernelCache, NativeGraph, Program
from lamina.dtype import dtypes

N = 19

ADD_THEN_DOUBLE = f"""
void add(float* restrict out, const float* restrict a, const float* restrict b) {{
  for (int i = 0; i < {N}; i++) out[i] = a[i] + b[i];
}}
void twice(float* restrict out, const float* restrict a) {{
  for (int i = 0; i < {N}; i++) out[i] = 2.0f * a[i];
}}
void fill(float* restrict out) {{
  for (int i = 0; i < {N}; i++) out[i] = 7.0f;
}}
"""


def _programs(compiler: CPUCompiler, cache: KernelCache) -> tuple[Program, Program, Program]:
    binary = cache.compile(compiler, ADD_THEN_DOUBLE)
    return (
        Program("add", binary, 3, cache=cache),
        Program("twice", binary, 2, cache=cache),
        Program("fill", binary, 1, cache=cache),
    )


def _buffer(values: np.ndarray | None = None) -> Buffer:
    buffer = Buffer("CPU", N, dtypes.float32)
    return buffer.copyin(values) if values is not None else buffer.allocate()


def test_a_graph_runs_its_kernels_in_order_on_its_argument_table(
    named_compiler: CPUCompiler, cache: KernelCache
) -> None:
    add, twice, fill = _programs(named_compiler, cache)
    a, b = np.arange(N, dtype=np.float32), np.linspace(-3, 3, N, dtype=np.float32)
    inputs, others, summed, doubled, sevens = _buffer(a), _buffer(b), _buffer(), _buffer(), _buffer()
    graph = NativeGraph([add, twice, fill], named_compiler, cache)
    assert graph.argument_count == 6
    graph.arguments[:] = [
        buffer.address for buffer in (summed, inputs, others, doubled, summed, sevens)
    ]  # fmt: skip
    graph()
    np.testing.assert_array_equal(summed.numpy(), a + b)
    np.testing.assert_array_equal(doubled.numpy(), 2 * (a + b))
    np.testing.assert_array_equal(sevens.numpy(), np.full(N, 7, np.float32))
    # Rewriting one entry points the same graph at other memory.
    elsewhere = _buffer()
    graph.arguments[3] = elsewhere.address
    graph()
    np.testing.assert_array_equal(elsewhere.numpy(), 2 * (a + b))


def test_the_runner_is_compiled_once_per_cache(compiler: CPUCompiler, cache: KernelCache) -> None:
    add, twice, _ = _programs(compiler, cache)
    NativeGraph([add], compiler, cache)
    compiles = cache.stats.compiles
    NativeGraph([twice, add], compiler, cache)
    assert cache.stats.compiles == compiles


def test_int_arguments_come_from_the_graphs_int_table(compiler: CPUCompiler, cache: KernelCache) -> None:
    source = "void place(float* restrict p, const int at, const int value) { p[at] = (float)value; }\n"
    place = Program("place", cache.compile(compiler, source), 1, 2, cache=cache)
    add, _, _ = _programs(compiler, cache)
    target, inputs = _buffer(np.zeros(N, dtype=np.float32)), _buffer(np.ones(N, dtype=np.float32))
    graph = NativeGraph([place, add, place], compiler, cache)
    graph.arguments[:] = [target.address, target.address, target.address, inputs.address, target.address]
    graph.integers[:] = [3, 5, 4, 9]
    graph()
    expected = np.ones(N, dtype=np.float32)
    expected[3], expected[4] = 6.0, 9.0
    np.testing.assert_array_equal(target.numpy(), expected)


def test_kernels_with_too_many_arguments_cannot_join_a_graph(compiler: CPUCompiler, cache: KernelCache) -> None:
    parameters = ", ".join(f"float* restrict p{index}" for index in range(MAX_GRAPH_ARGUMENTS + 1))
    wide_source = f"void wide({parameters}) {{ p0[0] = 1.0f; }}\n"
    wide = Program("wide", cache.compile(compiler, wide_source), MAX_GRAPH_ARGUMENTS + 1, cache=cache)
    ints = ", ".join(f"int i{index}" for index in range(MAX_GRAPH_INTS + 1))
    threaded_source = f"void threaded(float* restrict p, {ints}) {{ p[0] = (float)i0; }}\n"
    threaded = Program("threaded", cache.compile(compiler, threaded_source), 1, MAX_GRAPH_INTS + 1, cache=cache)
    for program in (wide, threaded):
        with pytest.raises(ValueError, match="cannot join a graph"):
            NativeGraph([program], compiler, cache)
