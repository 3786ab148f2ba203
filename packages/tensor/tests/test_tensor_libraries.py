"""New kernels are compiled a library per core, and each is found again alone through its link in the cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from lamina.device import Buffer, CompileError, CPUCompiler, KernelCache, Program
from lamina.device.cache import KERNELS
from lamina.dtype import dtypes
from lamina.engine.libraries import balanced_groups, build_kernels


def _fill(value: int) -> tuple[str, str]:
    """A kernel writing `value` into 4 floats; every one is named `fill` (the collision libraries resolve)."""
    source = f"void fill(float* restrict data0) {{ for (int i = 0; i < 4; i++) data0[i] = {value}.0f; }}\n"
    return "fill", source


def _run(binary: bytes, symbol: str, cache: KernelCache) -> list[float]:
    output = Buffer("CPU", 4, dtypes.float32)
    Program(symbol, binary, 1, cache=cache)(output)
    return [float(value) for value in output.numpy()]


def test_new_kernels_compile_as_one_library_per_worker(tmp_path: Path) -> None:
    cache, compiler = KernelCache(tmp_path), CPUCompiler()
    kernels = [_fill(value) for value in range(5)]
    built = build_kernels(kernels, compiler, cache, workers=2)
    assert cache.stats.compiles == 2
    for value, (binary, symbol) in enumerate(built):
        assert _run(binary, symbol, cache) == [float(value)] * 4


def test_a_kernel_built_in_a_library_is_loaded_alone_later_without_compiling(tmp_path: Path) -> None:
    compiler = CPUCompiler()
    build_kernels([_fill(value) for value in range(3)], compiler, KernelCache(tmp_path), workers=1)
    fresh = KernelCache(tmp_path)  # a new process: nothing in memory
    ((binary, symbol),) = build_kernels([_fill(1)], compiler, fresh, workers=1)
    assert fresh.stats.compiles == 0
    assert _run(binary, symbol, fresh) == [1.0] * 4


def test_a_link_to_a_lost_library_is_rebuilt(tmp_path: Path) -> None:
    compiler = CPUCompiler()
    build_kernels([_fill(7)], compiler, KernelCache(tmp_path), workers=1)
    for entry in (tmp_path / KERNELS).iterdir():
        entry.write_bytes(b"truncated")
    fresh = KernelCache(tmp_path)
    ((binary, symbol),) = build_kernels([_fill(7)], compiler, fresh, workers=1)
    assert (fresh.stats.rejected, fresh.stats.compiles) == (1, 1)
    assert _run(binary, symbol, fresh) == [7.0] * 4


def test_identical_kernels_are_compiled_once(tmp_path: Path) -> None:
    cache = KernelCache(tmp_path)
    built = build_kernels([_fill(3), _fill(3)], CPUCompiler(), cache, workers=2)
    assert cache.stats.compiles == 1
    assert built[0] == built[1]


def test_a_failing_kernel_is_reported_without_the_rest_of_its_library(tmp_path: Path) -> None:
    broken = ("broken", "void broken(float* restrict data0) { data0[0] = undeclared_name; }\n")
    with pytest.raises(CompileError) as raised:
        build_kernels([_fill(1), broken, _fill(2)], CPUCompiler(), KernelCache(tmp_path), workers=1)
    assert "undeclared_name" in raised.value.source
    assert "fill" not in raised.value.source


@pytest.mark.parametrize("workers", [1, 2, 3, 8])
def test_groups_place_every_source_once_within_the_worker_count(workers: int) -> None:
    sources = ["x" * length for length in (900, 10, 40, 300, 300, 5, 70)]
    groups = balanced_groups(sources, workers)
    assert sorted(source for group in groups for source in group) == sorted(sources)
    assert len(groups) == min(workers, len(sources))
    totals = [sum(map(len, group)) for group in groups]
    # Longest first, each to the lightest group: no group exceeds the ideal share by more than one source.
    assert max(totals) <= sum(map(len, sources)) / len(groups) + max(map(len, sources))


def test_groups_of_nothing_are_empty() -> None:
    assert balanced_groups([], 4) == []


def test_a_long_kernel_gets_a_worker_to_itself() -> None:
    long, short = "x" * 1000, ["y" * 50] * 6
    groups = balanced_groups([*short, long], 2)
    assert [long] in groups
    assert sorted(map(len, groups)) == [1, 6]
