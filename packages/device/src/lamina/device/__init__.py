"""lamina.device: buffers and allocators, the device registry, C compilers, the kernel cache, the kernel runtime,
and native graphs that run many kernels in one call. Nothing here reads the environment: the engine passes in
the device, compiler and cache directory it was asked for."""

from lamina.device.allocator import ALIGNMENT, DEFAULT_POOL_BYTES, GUARD_BYTES, Allocation, Allocator, CPUAllocator
from lamina.device.buffer import Buffer
from lamina.device.cache import CacheDirectoryError, CacheStats, KernelCache, kernel_key
from lamina.device.compiler import (
    OPTIONAL_FLAGS,
    CompileError,
    Compiler,
    CompilerNotFoundError,
    CPUCompiler,
    find_c_compiler,
    supported_flags,
)
from lamina.device.graph import MAX_GRAPH_ARGUMENTS, MAX_GRAPH_INTS, LaunchGraph, NativeGraph, cpu_launch_graph
from lamina.device.program import Launcher, Program, Runtime, SupportsAddress
from lamina.device.registry import Device, DeviceProperties, DeviceSpec, Toolchain

__all__ = [
    "ALIGNMENT",
    "DEFAULT_POOL_BYTES",
    "GUARD_BYTES",
    "MAX_GRAPH_ARGUMENTS",
    "MAX_GRAPH_INTS",
    "OPTIONAL_FLAGS",
    "Allocation",
    "Allocator",
    "Buffer",
    "CPUAllocator",
    "CPUCompiler",
    "CacheDirectoryError",
    "CacheStats",
    "CompileError",
    "Compiler",
    "CompilerNotFoundError",
    "Device",
    "DeviceProperties",
    "DeviceSpec",
    "KernelCache",
    "LaunchGraph",
    "Launcher",
    "NativeGraph",
    "Program",
    "Runtime",
    "SupportsAddress",
    "Toolchain",
    "cpu_launch_graph",
    "find_c_compiler",
    "kernel_key",
    "supported_flags",
]
