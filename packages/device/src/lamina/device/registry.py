"""The device registry: which devices exist and what each is made of.

A `DeviceSpec` bundles a device's allocator, compiler factory and runtime, so the layers above
ask for `Device.get("CPU")` and never name a concrete class. The registry is open: a later
`Device.register` adds e.g. "CUDA" without touching this module. Nothing here reads the
environment: which device is the default, which C compiler and which cache directory to use are
the engine's options (`lamina.engine.Context`), handed to a device's compiler as `Toolchain`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from lamina.device.allocator import Allocator, CPUAllocator
from lamina.device.cache import KernelCache
from lamina.device.compiler import Compiler, CPUCompiler
from lamina.device.graph import LaunchGraph, cpu_launch_graph
from lamina.device.opencl import OpenCLAllocator, OpenCLCompiler, OpenCLProgram, opencl_properties
from lamina.device.program import Launcher, Program, Runtime


@dataclass(frozen=True, slots=True)
class Toolchain:
    """What a device's compiler is made with: the C compiler asked for (None: the first one found) and where
    what probing it found is kept, and the `-march` it compiles for."""

    cc: str | None
    cache: KernelCache
    cc_origin: str = "CC"
    march: str = "native"  # the CPU the C compiler generates code for (`-march`)
    march_origin: str = "LAMINA_MARCH"


def _cpu_compiler(toolchain: Toolchain) -> Compiler:
    return CPUCompiler(
        toolchain.cc,
        cache=toolchain.cache,
        cc_origin=toolchain.cc_origin,
        march=toolchain.march,
        march_origin=toolchain.march_origin,
    )


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """A device: its name, where its memory comes from, how its kernels are compiled and launched."""

    name: str
    allocator: Allocator
    compiler: Callable[[Toolchain], Compiler]
    runtime: Runtime
    # Runs a fixed sequence of this device's launches in one call (the JIT's replays), where the device has one.
    graph: Callable[[Sequence[Launcher], Compiler, KernelCache], LaunchGraph | None] | None = None
    codegen: str = "cpu"  # which code generator target writes its kernels (the engine maps the name)
    # What the device reports of itself for the code generator (a GPU's work-group limits), where it can.
    properties: Callable[[], DeviceProperties] | None = None


@dataclass(frozen=True, slots=True)
class DeviceProperties:
    """A device as it describes itself: whether its work items are a CPU's (which vectorizes across them),
    and its work-group size, local memory and compute units, all as reported."""

    cpu: bool
    max_work_group_size: int
    local_memory_bytes: int
    compute_units: int


class Device:
    """The registry of devices, by upper-case name."""

    _specs: ClassVar[dict[str, DeviceSpec]] = {}

    @classmethod
    def register(cls, spec: DeviceSpec) -> None:
        """Make `spec` available as `Device.get(spec.name)`; re-registering a name replaces it."""
        cls._specs[spec.name.upper()] = spec

    @classmethod
    def get(cls, name: str) -> DeviceSpec:
        """The device called `name` (any case); raises ValueError listing the known devices."""
        spec = cls._specs.get(name.upper())
        if spec is None:
            raise ValueError(f"unknown device {name!r}; known devices: {', '.join(cls.known())}")
        return spec

    @classmethod
    def known(cls) -> tuple[str, ...]:
        """The names of every registered device."""
        return tuple(sorted(cls._specs))


def _opencl_compiler(toolchain: Toolchain) -> Compiler:
    del toolchain  # the OpenCL driver compiles; its device is the process's one (see opencl.open_device)
    return OpenCLCompiler()


Device.register(
    DeviceSpec(name="CPU", allocator=CPUAllocator(), compiler=_cpu_compiler, runtime=Program, graph=cpu_launch_graph)
)
# Registered wherever lamina runs: the OpenCL library and a platform are looked for on first use, and their
# absence is an error that says what to install.
Device.register(
    DeviceSpec(
        name="OPENCL",
        allocator=OpenCLAllocator(),
        compiler=_opencl_compiler,
        runtime=OpenCLProgram,
        codegen="opencl",
        properties=lambda: DeviceProperties(*opencl_properties()),
    )
)
