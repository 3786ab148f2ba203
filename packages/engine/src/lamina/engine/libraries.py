"""Building a schedule's new kernels: one shared library per core, found again through a link per kernel.

Each compiler run costs a fixed ~40-50 ms (starting clang, then the linker) on top of the kernel
itself, which for most kernels is the larger part, so the kernels a schedule still needs are joined
into as many libraries as there are cores, balanced by source size, and compiled side by side.
The disk cache then holds each library once, under its own source, and for each kernel a small
link entry (library key, symbol) under the kernel's source, so any later schedule that needs that
kernel, alone or with others, loads it without compiling.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Final

from lamina.codegen import join_kernels
from lamina.device import CompileError, Compiler, KernelCache, kernel_key
from lamina.device.cache import KERNELS

LINKS: Final = "links"
"""The disk cache's kind for a kernel's place in a library: `<library key>\\n<symbol>` under the kernel's key."""


def build_kernels(
    kernels: Sequence[tuple[str, str]], compiler: Compiler, cache: KernelCache, workers: int
) -> list[tuple[bytes, str]]:
    """For each (function name, source) kernel, the binary that holds it and its symbol there.

    Kernels the cache links to a library are loaded from it; the rest are compiled in at most
    `workers` libraries at once.
    """
    found = {source: _linked(source, compiler, cache) for _, source in kernels}
    names = {source: name for name, source in kernels}
    missing = [source for source, link in found.items() if link is None]
    built: dict[str, tuple[bytes, str]] = {}

    def build(group: list[str]) -> None:
        built.update(_build_library([(names[source], source) for source in group], compiler, cache))

    groups = balanced_groups(missing, workers)
    if len(groups) == 1:
        build(groups[0])
    elif groups:
        # Each compile is a compiler process: threads wait on them in parallel without holding the GIL.
        with ThreadPoolExecutor(max_workers=len(groups)) as pool:
            list(pool.map(build, groups))
    results: list[tuple[bytes, str]] = []
    for _, source in kernels:
        link = found[source]
        results.append(link if link is not None else built[source])
    return results


def balanced_groups(sources: Sequence[str], workers: int) -> list[list[str]]:
    """`sources` in at most `workers` groups of similar total length (longest first, each to the lightest group).

    Compile time grows with a kernel's length, so equal lengths finish at about the same time.
    """
    groups: list[list[str]] = [[] for _ in range(max(1, min(workers, len(sources))))]
    loads = [0] * len(groups)
    for source in sorted(sources, key=len, reverse=True):
        lightest = loads.index(min(loads))
        groups[lightest].append(source)
        loads[lightest] += len(source)
    return [group for group in groups if group]


def _linked(source: str, compiler: Compiler, cache: KernelCache) -> tuple[bytes, str] | None:
    """The (library binary, symbol) the cache links `source` to, or None when it has no intact link."""
    link = cache.get(LINKS, kernel_key(source, compiler))
    if link is None:
        return None
    library_key, symbol = link.decode().split("\n")
    binary = cache.get(KERNELS, library_key)
    return None if binary is None else (binary, symbol)


def _build_library(
    kernels: list[tuple[str, str]], compiler: Compiler, cache: KernelCache
) -> dict[str, tuple[bytes, str]]:
    """Compile `kernels` as one library and link each of them to it in the cache; keyed by kernel source."""
    library = join_kernels(kernels)
    try:
        binary = cache.compile(compiler, library.source)
    except CompileError:
        if len(kernels) == 1:
            raise
        # The error should show the kernel that fails, not a library of many: build them one by one.
        built: dict[str, tuple[bytes, str]] = {}
        for kernel in kernels:
            built.update(_build_library([kernel], compiler, cache))
        return built
    library_key = kernel_key(library.source, compiler)
    built = {}
    for (_, source), symbol in zip(kernels, library.symbols, strict=True):
        cache.put(LINKS, kernel_key(source, compiler), f"{library_key}\n{symbol}".encode())
        built[source] = (binary, symbol)
    return built
