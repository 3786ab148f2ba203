"""BEAM search: choose a kernel's opts by timing compiled candidates, once per kernel and machine.

With `BEAM=n`, each new kernel is searched instead of taking the hand-coded opts: starting from
no opts, every round extends each of the `n` fastest opt lists found so far by one more opt
(`possible_opts`), compiles and times every extension on scratch buffers, and keeps the `n`
fastest; it stops when a round finds nothing faster. Timings are the fastest of repeated runs,
and a candidate replaces the hand-coded choice only when it beats it by MARGIN, so timing noise
cannot make the search end slower than the default. The winner is stored in the disk cache under
the kernel's listing, the options, the compiler and this module's source, so no process searches
the same kernel again.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

import numpy as np

from lamina.codegen import Opt, OptimizeOptions, OptKind, apply_opts, generate_c, heuristic_opts, possible_opts
from lamina.device import Buffer, CompileError, Compiler, Device, KernelCache
from lamina.dtype import to_numpy_dtype
from lamina.schedule import ScheduleItem
from lamina.uop import UOp, format_graph

# The disk cache's kind for searched opts.
SEARCHED: Final = "beam"
MAX_ROUNDS: Final = 4
# Each candidate runs until TIMING_SECONDS have passed or TIMING_RUNS runs are done (at least 3).
TIMING_RUNS: Final = 20
TIMING_SECONDS: Final = 0.02
MARGIN: Final = 0.95


def searched_opts(
    item: ScheduleItem,
    device: str,
    options: OptimizeOptions,
    width: int,
    compiler: Compiler,
    cache: KernelCache,
    fingerprint: str,
) -> tuple[Opt, ...]:
    """The fastest opts found for `item`'s kernel by a beam of `width`, from the cache when searched before."""
    search = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    listing = "\0".join((fingerprint, search, repr(options), str(width), compiler.cache_key, format_graph(item.ast)))
    key = hashlib.sha256(listing.encode()).hexdigest()
    cached = cache.get(SEARCHED, key)
    if cached is not None:
        return tuple(Opt(OptKind[kind], axis, amount) for kind, axis, amount in json.loads(cached))
    buffers = [Buffer(device, max(node.buffer.size, 1), node.scalar_dtype) for node in item.buffers]
    for buffer in buffers:  # zeros, through the allocator: device memory may not be the host's
        buffer.copyin(np.zeros(buffer.size, dtype=to_numpy_dtype(buffer.dtype)))
    timer = _Timer(item.ast, device, options, compiler, cache, buffers)
    best = _search(item.ast, options, width, timer)
    cache.put(SEARCHED, key, json.dumps([[opt.kind.name, opt.axis, opt.amount] for opt in best]).encode())
    return best


def _search(
    ast: UOp, options: OptimizeOptions, width: int, timer: Callable[[tuple[Opt, ...]], float]
) -> tuple[Opt, ...]:
    timed: dict[tuple[Opt, ...], float] = {}
    default = heuristic_opts(ast, options)
    for start in ((), default):
        timed[start] = timer(start)
    beam = sorted(timed, key=timed.__getitem__)[:width]
    for _ in range(MAX_ROUNDS):
        fastest = min(timed.values())
        for opts in (opts for opts in beam if timed[opts] != float("inf")):  # an opt list that failed is dropped
            for opt in possible_opts(apply_opts(ast, opts), options):
                extended = (*opts, opt)
                if extended not in timed:
                    timed[extended] = timer(extended)
        beam = sorted(timed, key=timed.__getitem__)[:width]
        if min(timed.values()) >= fastest:
            break
    best = min(timed, key=timed.__getitem__)
    return best if timed[best] < MARGIN * timed[default] else default


class _Timer:
    """Compiles a kernel with given opts and times it on scratch buffers; an opt list that fails times infinite."""

    def __init__(
        self,
        ast: UOp,
        device: str,
        options: OptimizeOptions,
        compiler: Compiler,
        cache: KernelCache,
        buffers: Sequence[Buffer],
    ) -> None:
        self.ast, self.device, self.options = ast, device, options
        self.compiler, self.cache, self.buffers = compiler, cache, buffers

    def __call__(self, opts: tuple[Opt, ...]) -> float:
        try:
            source = generate_c(self.ast, self.options, opts)
            binary = self.cache.compile(self.compiler, source.source)
        except (ValueError, CompileError):
            return float("inf")
        launcher = Device.get(self.device).runtime(
            source.name,
            binary,
            source.buffer_count,
            len(source.variables),
            cache=self.cache,
            global_size=source.global_size,
            local_size=source.local_size,
        )
        # Each variable at its largest value: the kernel's longest run, inside what its buffers were sized for.
        ints = [int(variable.arg[2]) for variable in source.program.variables]
        launcher(*self.buffers, ints=ints)
        samples: list[float] = []
        deadline = time.perf_counter() + TIMING_SECONDS
        while len(samples) < 3 or (len(samples) < TIMING_RUNS and time.perf_counter() < deadline):
            started = time.perf_counter()
            launcher(*self.buffers, ints=ints)
            samples.append(time.perf_counter() - started)
        return min(samples)
