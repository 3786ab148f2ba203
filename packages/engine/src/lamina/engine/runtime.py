"""Running schedules: compile each kernel (cached), give every BUFFER node device memory, call kernels.

This is where the layers meet: the scheduler's kernels go through the code generator, the device's
compiler (with its disk cache) and its runtime. Memory lives in a weak map from BUFFER nodes to
device Buffers, so a buffer's memory goes when the last graph naming it goes; intermediates are
released right after the last kernel that reads them. Compiled programs are memoized on the
kernel AST itself, which hash-consing makes identical for identical computations. After the
kernels, each check's verdict (see `lamina.uop.check`) is read, and a failed one raises its error
naming the op and the bad value.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import time
import weakref
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

import lamina.codegen
import lamina.dtype
import lamina.rewrite
import lamina.uop
from lamina.codegen import CPU_TARGET, OPENCL_TARGET, Opt, OptimizeOptions, Target, generate_c
from lamina.codegen.target import ELEMENT_BYTES
from lamina.device import Buffer, Compiler, CPUCompiler, Device, KernelCache, Launcher, Toolchain
from lamina.engine.beam import searched_opts
from lamina.engine.capture import Capture, Launch, active_capture
from lamina.engine.context import Context, current_context
from lamina.engine.copy_reuse import CopyCache, copies_one_buffer, reusable_outputs
from lamina.engine.libraries import build_kernels
from lamina.schedule import CPU_LOWERING, GPU_LOWERING, Lowering, Schedule, ScheduleItem, create_schedule, view_base
from lamina.uop import CHECK_PASSED, Check, Ops, UOp, format_graph, format_kernel, toposort

_device_buffers: weakref.WeakKeyDictionary[UOp, Buffer] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class CompiledKernel:
    """A kernel ready to call, with what DEBUG output reports about it."""

    name: str
    source: str
    launcher: Launcher
    flops: int
    bytes_moved: int
    variables: tuple[str, ...] = ()  # the variables it takes as int arguments after the buffers, by name
    copies_one_buffer: bool = False  # it only copies its one input buffer (see copy_reuse.py)

    def ints(self, values: dict[str, int]) -> list[int]:
        """The kernel's int arguments: the value of each of its variables in `values`."""
        missing = [name for name in self.variables if name not in values]
        if missing:
            raise KeyError(f"kernel {self.name} takes variables {missing} that were given no value")
        return [values[name] for name in self.variables]


@dataclass
class RuntimeStats:
    """Counters for the CLI and tests: kernels run and programs built in this process."""

    kernels_run: int = 0
    programs_built: int = 0


stats = RuntimeStats()
_programs: dict[tuple[str, UOp, bool, int, int], CompiledKernel] = {}
_kernel_cache: list[KernelCache] = []
copy_cache = CopyCache()
_compilers: dict[str, Compiler] = {}
# The code generator's target for each device's `codegen` name.
TARGETS: Final[dict[str, Target]] = {"cpu": CPU_TARGET, "opencl": OPENCL_TARGET}
# The disk cache's kind for generated C sources, keyed by kernel listing (see kernel_source).
SOURCES: Final = "sources"


def kernel_cache() -> KernelCache:
    """The process's disk cache of compiled kernels (created on first use)."""
    if not _kernel_cache:
        context = current_context()
        cache = KernelCache(context.cache_dir, context.cache_origin, fallback=context.cache_origin is None)
        _kernel_cache.append(cache)
    return _kernel_cache[0]


def compiler_for(device: str) -> Compiler:
    """The compiler of `device`, made once per process (finding it and its flags runs the compiler)."""
    compiler = _compilers.get(device)
    if compiler is None:
        context = current_context()
        toolchain = Toolchain(context.cc, kernel_cache(), march=context.march)
        compiler = _compilers[device] = Device.get(device).compiler(toolchain)
        if isinstance(compiler, CPUCompiler) and compiler.parallel:
            bound_openmp_spinning(os.environ)
    return compiler


OPENMP_SPINNING: Final = {"GOMP_SPINCOUNT": "3000", "KMP_BLOCKTIME": "1"}
"""How long an idle OpenMP thread spins before it sleeps, for GNU's libgomp (spins) and LLVM's libomp (ms): of the
order of a tenth of a millisecond, against their defaults of many milliseconds."""


def bound_openmp_spinning(environ: MutableMapping[str, str]) -> None:
    """Bound the OpenMP spin-wait of the kernels' threads, where the user set no wait policy of their own.

    Between two parallel kernels the OpenMP threads spin, by default for milliseconds: on a machine where
    another process wants a core, they take it from that process and from the thread that has the next
    kernel's work, and training slows severalfold. Sleeping at once (`OMP_WAIT_POLICY=passive`) costs a wake-up
    per parallel kernel instead; a short spin keeps back-to-back kernels fast on a quiet machine. The runtimes
    read these variables when the first kernel loads them, so this runs before any kernel is compiled.
    """
    if "OMP_WAIT_POLICY" in environ:
        return
    for name, value in OPENMP_SPINNING.items():
        environ.setdefault(name, value)


@dataclass(frozen=True, slots=True)
class LiveCounts:
    """What this process holds alive: IR nodes and device buffers (growth across steps is a leak)."""

    uops: int
    buffers: int


def live_counts() -> LiveCounts:
    """How many UOps and device buffers are alive now (call gc.collect() first for an exact count)."""
    return LiveCounts(len(UOp._interned), len(_device_buffers))


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


def compile_kernels(items: Sequence[ScheduleItem], device: str, context: Context) -> list[CompiledKernel]:
    """The programs for `items`; the ones not built yet are compiled together, a library per core."""
    keys = [(device, item.ast, context.noopt, context.threads, context.beam) for item in items]
    missing = {key: item for key, item in zip(keys, items, strict=True) if key not in _programs}
    if missing:
        spec = Device.get(device)
        compiler = compiler_for(device)
        optimize = optimize_options(device, context, compiler.parallel)
        sources = {
            key: kernel_source(item.ast, optimize, _opts_for(item, device, context, optimize))
            for key, item in missing.items()
        }
        for key, generated in sources.items():
            if context.debug >= 3:
                print(format_kernel(missing[key].ast), file=sys.stderr)
            if context.debug >= 4:
                print(generated.source, file=sys.stderr)
        kernels = [(generated.name, generated.source) for generated in sources.values()]
        built = build_kernels(kernels, compiler, kernel_cache(), workers=max(1, os.cpu_count() or 1))
        for (key, item), (binary, symbol) in zip(missing.items(), built, strict=True):
            generated = sources[key]
            launcher = spec.runtime(
                symbol,
                binary,
                generated.buffer_count,
                len(generated.variables),
                cache=kernel_cache(),
                global_size=generated.global_size,
                local_size=generated.local_size,
            )
            bytes_moved = sum(buffer.buffer.size * buffer.scalar_dtype.itemsize for buffer in item.buffers)
            flops = _estimate_flops(item.ast)
            copies = copies_one_buffer(item.ast, generated.buffer_count, len(generated.variables))
            _programs[key] = CompiledKernel(
                generated.name, generated.source, launcher, flops, bytes_moved, generated.variables, copies
            )
            stats.programs_built += 1
    return [_programs[key] for key in keys]


def _opts_for(item: ScheduleItem, device: str, context: Context, optimize: OptimizeOptions) -> tuple[Opt, ...] | None:
    """The searched opts under BEAM, else None (the hand-coded heuristic decides)."""
    if context.beam <= 0 or context.noopt:
        return None
    return searched_opts(
        item, device, optimize, context.beam, compiler_for(device), kernel_cache(), _codegen_fingerprint()
    )


def optimize_options(device: str, context: Context, openmp: bool) -> OptimizeOptions:
    """What the code generator may use for `device`: its target, and the cores when its compiler has OpenMP."""
    target = target_for(device)
    threads = context.threads if openmp else 1
    return OptimizeOptions(enabled=not context.noopt, threads=threads, openmp=openmp, target=target)


@dataclass(frozen=True, slots=True)
class GeneratedKernel:
    """What the runtime needs of a generated kernel: its name, source, buffer count and launch size."""

    name: str
    source: str
    buffer_count: int
    global_size: tuple[int, ...]
    local_size: tuple[int, ...] | None
    variables: tuple[str, ...] = ()


def kernel_source(ast: UOp, optimize: OptimizeOptions, opts: tuple[Opt, ...] | None = None) -> GeneratedKernel:
    """The generated function of `ast` (name, source, buffer count, launch size), from the disk cache when this
    code made it before.

    Optimizing and rendering a large kernel takes longer than loading its binary, so a fresh process
    looks the source up by the kernel's listing and the code generator's own source (any change to
    either is a new key) instead of generating it again.
    """
    listing = "\0".join((_codegen_fingerprint(), repr(optimize), repr(opts), format_graph(ast)))
    key = hashlib.sha256(listing.encode()).hexdigest()
    cached = kernel_cache().get(SOURCES, key)
    if cached is not None:
        name, count, size, group, names, source = cached.decode().split("\n", 5)
        local_size = tuple(int(extent) for extent in group.split(",")) if group else None
        global_size = tuple(int(extent) for extent in size.split(","))
        variables = tuple(names.split(",")) if names else ()
        return GeneratedKernel(name, source, int(count), global_size, local_size, variables)
    generated = generate_c(ast, optimize, opts)
    size = ",".join(str(extent) for extent in generated.global_size)
    group = ",".join(str(extent) for extent in generated.local_size or ())
    names = ",".join(generated.variables)
    entry = f"{generated.name}\n{generated.buffer_count}\n{size}\n{group}\n{names}\n{generated.source}"
    kernel_cache().put(SOURCES, key, entry.encode())
    return GeneratedKernel(
        generated.name,
        generated.source,
        generated.buffer_count,
        generated.global_size,
        generated.local_size,
        generated.variables,
    )


@functools.cache
def _codegen_fingerprint() -> str:
    """A hash of the code that turns a kernel AST into C: the codegen, uop, rewrite and dtype packages."""
    digest = hashlib.sha256()
    for package in (lamina.codegen, lamina.uop, lamina.rewrite, lamina.dtype):
        for path in sorted(Path(next(iter(package.__path__))).glob("*.py")):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


@functools.cache
def target_for(device: str) -> Target:
    """The code generator's target for `device`: for the CPU, what its C compiler targets under the chosen
    `-march` (vector width and registers) and the core's cache the OS reports; for a GPU, its codegen's target
    with the limits the device reports of itself (work-group size, local memory and compute units). A CPU running
    OpenCL vectorizes across work items, so its items take one element each, not a vector of them. Made once per
    device: asking the compiler and the device is not free."""
    spec = Device.get(device)
    target = TARGETS[spec.codegen]
    compiler = compiler_for(device) if target.kind == "cpu" else None
    if isinstance(compiler, CPUCompiler):
        features = compiler.features
        return replace(
            target,
            name=f"cpu-{features.isa}",
            vector_bytes=features.vector_bytes,
            vector_registers=features.vector_registers,
            cache_bytes=features.cache_bytes,
        )
    if spec.properties is None:
        return target
    reported = spec.properties()
    return replace(
        target,
        max_local_size=min(target.max_local_size, reported.max_work_group_size),
        local_bytes=reported.local_memory_bytes,
        compute_units=reported.compute_units,
        vector_bytes=ELEMENT_BYTES if reported.cpu else target.vector_bytes,
    )


@functools.cache
def lowering_for(target: Target) -> Lowering:
    """How `target` wants the tensor graph lowered: a GPU's long reductions in stored blocks (its work items
    share them); a CPU's float sums in blocks and a wide matmul operand in panels of its register tile's width."""
    if target.kind == "gpu":
        return GPU_LOWERING
    return replace(CPU_LOWERING, panel_columns=target.tile_columns)


def realize_graphs(targets: Sequence[UOp], device: str, context: Context) -> list[UOp]:
    """Compute the graphs `targets` on `device` (schedule them, run the kernels): the buffer view each became."""
    lowering = lowering_for(target_for(device))
    schedule = create_schedule(targets, device, lowering)
    run_schedule(schedule, device, context)
    return [schedule.results[target] for target in targets]


def run_schedule(schedule: Schedule, device: str, context: Context) -> None:
    """Run every kernel of `schedule` in order, releasing intermediates after their last use; a copy of an
    unchanged buffer that an earlier schedule made is reused instead of made again (see copy_reuse.py)."""
    started = time.perf_counter()
    kernels = compile_kernels(schedule.items, device, context)
    capture = active_capture()
    budget = context.copy_cache_mb << 20
    reusable: set[UOp] = set()
    if capture is None and budget > 0 and any(kernel.copies_one_buffer for kernel in kernels):
        outputs = [item.output for item, kernel in zip(schedule.items, kernels, strict=True)]
        reusable = reusable_outputs(outputs, schedule.frees)
    for item, frees, kernel in zip(schedule.items, schedule.frees, kernels, strict=True):
        if kernel.copies_one_buffer and item.output in reusable:
            source = buffer_of(item.buffers[1])
            kept = copy_cache.find(source, item.ast)
            if kept is not None:
                attach_buffer(item.output, kept)
                if context.debug >= 2:
                    print(f"  {kernel.name:<28} reused: a kept copy of unchanged data", file=sys.stderr)
            else:
                written_at = source.written_at
                _launch(item, kernel, schedule, context, capture)
                copy_cache.keep(source, item.ast, buffer_of(item.output), written_at, budget)
        else:
            _launch(item, kernel, schedule, context, capture)
        for node in frees:
            _device_buffers.pop(node, None)
    if context.debug >= 1:
        total = (time.perf_counter() - started) * 1e3
        print(f"realize: {len(schedule.items)} kernels in {total:.2f} ms", file=sys.stderr)
    if schedule.checks:
        verdicts = [(buffer_of(view_base(view)), check) for view, check in schedule.checks]
        if capture is not None:
            capture.checks.extend(verdicts)
        raise_failed_checks(verdicts)


def _launch(
    item: ScheduleItem, kernel: CompiledKernel, schedule: Schedule, context: Context, capture: Capture | None
) -> None:
    buffers = [buffer_of(node) for node in item.buffers]
    ints = kernel.ints(schedule.variables) if kernel.variables else []
    if capture is not None:
        capture.launches.append(Launch(kernel.launcher, tuple(buffers), item.buffers, kernel.variables, tuple(ints)))
    elapsed = kernel.launcher(*buffers, ints=ints, timed=True) if context.debug >= 2 else None
    if elapsed is None:
        kernel.launcher(*buffers, ints=ints)
    else:
        _report_kernel(kernel, elapsed)
    buffers[0].mark_written()
    stats.kernels_run += 1


def raise_failed_checks(verdicts: Sequence[tuple[Buffer, Check]]) -> None:
    """Raise the error of the first check whose verdict buffer says it failed (see lamina.uop.check)."""
    for buffer, check in verdicts:
        verdict = int(buffer.numpy()[0])
        if verdict != CHECK_PASSED:
            raise check.error(verdict)


def _report_kernel(kernel: CompiledKernel, elapsed: float) -> None:
    seconds = max(elapsed, 1e-9)
    gflops = kernel.flops / seconds / 1e9
    gbytes = kernel.bytes_moved / seconds / 1e9
    print(
        f"  {kernel.name:<28} {elapsed * 1e6:9.1f} us  {gflops:8.2f} GFLOP/s  {gbytes:8.2f} GB/s",
        file=sys.stderr,
    )
