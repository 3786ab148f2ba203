"""Running schedules: compile each kernel (cached), give every BUFFER node device memory, call kernels.

This is where the layers meet: the scheduler's kernels go through the code generator, the device's
compiler (with its disk cache) and its runtime. Memory lives in a weak map from BUFFER nodes to
device Buffers, so a buffer's memory goes when the last graph naming it goes; intermediates are
released right after the last kernel that reads them. Compiled programs are memoized on the
kernel AST itself, which hash-consing makes identical for identical computations.
"""

from __future__ import annotations

import sys
import time
import weakref
from dataclasses import dataclass

from lamina.codegen import KernelSource, OptimizeOptions, generate_c
from lamina.device import Buffer, Compiler, Device, KernelCache, Launcher
from lamina.schedule import Schedule, ScheduleItem
from lamina.tensor.capture import Launch, active_capture
from lamina.tensor.context import Context
from lamina.uop import Ops, UOp, format_graph, toposort

_device_buffers: weakref.WeakKeyDictionary[UOp, Buffer] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class CompiledKernel:
    """A kernel ready to call, with what DEBUG output reports about it."""

    source: KernelSource
    launcher: Launcher
    flops: int
    bytes_moved: int


@dataclass
class RuntimeStats:
    """Counters for the CLI and tests: kernels run and programs built in this process."""

    kernels_run: int = 0
    programs_built: int = 0


stats = RuntimeStats()
_programs: dict[tuple[str, UOp, bool, int], CompiledKernel] = {}
_kernel_cache: list[KernelCache] = []
_compilers: dict[str, Compiler] = {}


def kernel_cache() -> KernelCache:
    """The process's disk cache of compiled kernels (created on first use)."""
    if not _kernel_cache:
        _kernel_cache.append(KernelCache())
    return _kernel_cache[0]


def compiler_for(device: str) -> Compiler:
    """The compiler of `device`, made once per process (finding it and its flags runs the compiler)."""
    compiler = _compilers.get(device)
    if compiler is None:
        compiler = _compilers[device] = Device.get(device).compiler()
    return compiler


def buffer_of(node: UOp) -> Buffer:
    """The device memory of a BUFFER node, allocated on first use."""
    buffer = _device_buffers.get(node)
    if buffer is None:
        ref = node.buffer
        buffer = Buffer(ref.device, ref.size, node.scalar_dtype)
        _device_buffers[node] = buffer
    return buffer


def attach_buffer(node: UOp, buffer: Buffer) -> None:
    """Give a BUFFER node existing memory (e.g. filled from numpy)."""
    _device_buffers[node] = buffer


def _estimate_flops(ast: UOp) -> int:
    # Work per innermost iteration times the iteration count: a rough figure for DEBUG=2's GFLOP/s.
    nodes = toposort(ast)
    iterations = 1
    for node in nodes:
        if node.op is Ops.RANGE and node.src[0].op is Ops.CONST:
            iterations *= max(int(node.src[0].arg), 1)
    counted = (Ops.ADD, Ops.MUL, Ops.SUB, Ops.DIV, Ops.MAX)
    arithmetic = sum(1 for node in nodes if node.op in counted and node.scalar_dtype.is_float)
    return arithmetic * iterations


def compile_kernel(item: ScheduleItem, device: str, context: Context) -> CompiledKernel:
    """The callable program for `item`'s kernel, built once per distinct kernel."""
    key = (device, item.ast, context.noopt, context.threads)
    compiled = _programs.get(key)
    if compiled is not None:
        return compiled
    if context.debug >= 3:
        print(format_graph(item.ast), file=sys.stderr)
    spec = Device.get(device)
    compiler = compiler_for(device)
    threads = context.threads if compiler.parallel else 1
    optimize = OptimizeOptions(enabled=not context.noopt, threads=threads, openmp=compiler.parallel)
    source = generate_c(item.ast, optimize)
    if context.debug >= 4:
        print(source.source, file=sys.stderr)
    binary = kernel_cache().compile(compiler, source.source)
    launcher = spec.runtime(source.name, binary, source.buffer_count)
    flops = _estimate_flops(item.ast)
    bytes_moved = sum(buffer.buffer.size * buffer.scalar_dtype.itemsize for buffer in item.buffers)
    compiled = CompiledKernel(source, launcher, flops, bytes_moved)
    _programs[key] = compiled
    stats.programs_built += 1
    return compiled


def run_schedule(schedule: Schedule, device: str, context: Context) -> None:
    """Run every kernel of `schedule` in order, releasing intermediates after their last use."""
    started = time.perf_counter()
    for item, frees in zip(schedule.items, schedule.frees, strict=True):
        kernel = compile_kernel(item, device, context)
        buffers = [buffer_of(node) for node in item.buffers]
        capture = active_capture()
        if capture is not None:
            capture.launches.append(Launch(kernel.launcher, tuple(buffers), item.buffers))
        elapsed = kernel.launcher(*buffers, timed=True) if context.debug >= 2 else None
        if elapsed is None:
            kernel.launcher(*buffers)
        else:
            _report_kernel(kernel, elapsed)
        stats.kernels_run += 1
        for node in frees:
            _device_buffers.pop(node, None)
    if context.debug >= 1:
        total = (time.perf_counter() - started) * 1e3
        print(f"realize: {len(schedule.items)} kernels in {total:.2f} ms", file=sys.stderr)


def _report_kernel(kernel: CompiledKernel, elapsed: float) -> None:
    seconds = max(elapsed, 1e-9)
    gflops = kernel.flops / seconds / 1e9
    gbytes = kernel.bytes_moved / seconds / 1e9
    print(
        f"  {kernel.source.name:<28} {elapsed * 1e6:9.1f} us  {gflops:8.2f} GFLOP/s  {gbytes:8.2f} GB/s",
        file=sys.stderr,
    )
