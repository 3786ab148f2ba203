"""The OpenCL device: memory, a compiler and launches on any OpenCL platform (a GPU's driver, or PoCL on the CPU).

One device is opened per process, on first use: the one `select_device` picks (an index into the
list of every platform's devices, in order; by default the first GPU, else the first device), with
one context and one in-order queue, profiled so a launch can report its device time. Buffers are
`cl_mem` objects, filled and read by blocking copies. The compiler builds OpenCL C for the device
and returns the program's binary, which the kernel cache keeps under a key naming the platform,
the device and its driver (a driver update builds again); a launch loads the binary, sets the
buffers and ints as arguments and runs the kernel over its global size.
"""

from __future__ import annotations

import functools
import re
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, overload

import numpy as np
import numpy.typing as npt

from lamina.device.allocator import Allocation
from lamina.device.cache import KernelCache
from lamina.device.compiler import CompileError
from lamina.device.opencl_api import (
    DEVICE_EXTENSIONS,
    DEVICE_LOCAL_MEM_SIZE,
    DEVICE_MAX_COMPUTE_UNITS,
    DEVICE_MAX_WORK_GROUP_SIZE,
    DEVICE_NAME,
    DEVICE_TYPE,
    DEVICE_TYPE_CPU,
    DEVICE_VERSION,
    DRIVER_VERSION,
    PLATFORM_NAME,
    PLATFORM_VERSION,
    OpenCLAPI,
    OpenCLError,
    OpenCLUnavailableError,
)
from lamina.device.program import SupportsAddress, check_arguments

BUILD_OPTIONS: Final = "-cl-std=CL1.2"
"""OpenCL C 1.2: what every current platform (and PoCL) builds."""


@dataclass(frozen=True, slots=True)
class OpenCLDevice:
    """The opened device: its handles and what names it (for errors and the cache key)."""

    api: OpenCLAPI
    device: int
    context: int
    queue: int
    description: str  # platform, device and driver, for the kernel cache's key
    float64: bool  # whether the device computes in double precision (cl_khr_fp64)


def opencl_properties() -> tuple[bool, int, int, int]:
    """The opened device's type and limits: (a CPU?, max work-group size, local memory bytes, compute units)."""
    device = open_device()
    api, handle = device.api, device.device
    if handle not in _properties:
        _properties[handle] = (
            bool(api.device_number(handle, DEVICE_TYPE) & DEVICE_TYPE_CPU),
            api.device_number(handle, DEVICE_MAX_WORK_GROUP_SIZE),
            api.device_number(handle, DEVICE_LOCAL_MEM_SIZE),
            api.device_number(handle, DEVICE_MAX_COMPUTE_UNITS),
        )
    return _properties[handle]


_properties: dict[int, tuple[bool, int, int, int]] = {}


def opencl_available() -> bool:
    """Whether this machine has an OpenCL loader and at least one device."""
    try:
        return bool(list_devices(OpenCLAPI()))
    except OpenCLUnavailableError:
        return False


def list_devices(api: OpenCLAPI) -> list[tuple[int, int, str]]:
    """Every device of every platform, in order: (platform, device, "platform: device")."""
    found = []
    for platform in api.platforms():
        platform_name = api.platform_info(platform, PLATFORM_NAME)
        for device in api.devices(platform):
            found.append((platform, device, f"{platform_name}: {api.device_info(device, DEVICE_NAME)}"))
    return found


# The device `open_device()` opens, and who chose it (named in errors): set by the engine from its options.
_chosen: list[tuple[int | None, str]] = [(None, "")]


def choose_device(index: int | None, origin: str = "") -> None:
    """Make `index` (into `list_devices`; None: the first) the device `open_device()` opens for this process;
    `origin` names who chose it in errors (`LAMINA_OPENCL_DEVICE=3`)."""
    if _open_device.cache_info().currsize and _chosen[0][0] != index:
        raise RuntimeError(f"the OpenCL device was opened already (device {_chosen[0][0] or 0}); choose it first")
    _chosen[0] = (index, origin)


def open_device(index: int | None = None) -> OpenCLDevice:
    """The process's OpenCL device: `index` into `list_devices`, else the chosen one (see `choose_device`), else
    the first; raises when there is none."""
    return _open_device(index if index is not None else _chosen[0][0])


@functools.cache
def _open_device(index: int | None) -> OpenCLDevice:
    api = OpenCLAPI()
    devices = list_devices(api)
    if not devices:
        raise OpenCLUnavailableError(
            "no OpenCL platform or device found: install a driver (`apt-get install pocl-opencl-icd` runs OpenCL on "
            "the CPU)"
        )
    if index is not None and not 0 <= index < len(devices):
        listed = "; ".join(f"{position}: {name}" for position, (_, _, name) in enumerate(devices))
        origin = f"{_chosen[0][1]}: " if _chosen[0][1] and _chosen[0][0] == index else ""
        raise ValueError(f"{origin}OpenCL device {index} does not exist; the devices are {listed}")
    platform, device, name = devices[index or 0]
    context = api.create_context(device)
    description = " | ".join(
        (
            name,
            api.platform_info(platform, PLATFORM_VERSION),
            api.device_info(device, DEVICE_VERSION),
            api.device_info(device, DRIVER_VERSION),
        )
    )
    float64 = "cl_khr_fp64" in api.device_info(device, DEVICE_EXTENSIONS).split()
    return OpenCLDevice(api, device, context, api.create_queue(context, device), description, float64)


DEFAULT_POOL_BYTES: Final = 1 << 30
"""How many bytes of released buffers the OpenCL allocator keeps for reuse, at most."""


class OpenCLAllocator:
    """Device memory as `cl_mem` objects (the allocation's address is the object's handle); released buffers are
    kept, up to `pool_bytes`, for the next allocation of the same size: creating one costs a driver call."""

    def __init__(self, device: OpenCLDevice | None = None, pool_bytes: int = DEFAULT_POOL_BYTES) -> None:
        self._device = device
        self.pool_bytes: Final = pool_bytes
        self._pool: dict[int, list[Allocation]] = {}
        self._pooled_bytes = 0

    @property
    def device(self) -> OpenCLDevice:
        return self._device if self._device is not None else open_device()

    def alloc(self, nbytes: int) -> Allocation:
        if nbytes < 0:
            raise ValueError(f"cannot allocate a negative number of bytes ({nbytes})")
        released = self._pool.get(nbytes)
        if released:
            self._pooled_bytes -= nbytes
            return released.pop()
        # OpenCL refuses empty buffers: a zero-byte allocation holds one byte nobody reads.
        handle = self.device.api.create_buffer(self.device.context, max(nbytes, 1))
        return Allocation(handle, nbytes, None)

    def free(self, allocation: Allocation) -> None:
        if self._pooled_bytes + allocation.nbytes <= self.pool_bytes:
            self._pool.setdefault(allocation.nbytes, []).append(allocation)
            self._pooled_bytes += allocation.nbytes
        else:
            self.device.api.release_buffer(allocation.address)

    def copyin(self, allocation: Allocation, source: npt.NDArray[np.uint8]) -> None:
        if allocation.nbytes:
            self.device.api.write(self.device.queue, allocation.address, np.ascontiguousarray(source))

    def copyout(self, allocation: Allocation, destination: npt.NDArray[np.uint8]) -> None:
        if allocation.nbytes:
            self.device.api.read(self.device.queue, allocation.address, destination)


class OpenCLCompiler:
    """Builds OpenCL C for the opened device; the binary is the program's, as the driver returns it."""

    def __init__(self, device: OpenCLDevice | None = None) -> None:
        self.device: Final = device if device is not None else open_device()
        self.parallel: Final = False  # OpenMP pragmas mean nothing here: work items are the parallelism

    @property
    def cache_key(self) -> str:
        """Platform, device, driver and build options: what besides the source decides the binary."""
        return f"opencl\0{self.device.description}\0{BUILD_OPTIONS}"

    def compile(self, source: str) -> bytes:
        """The device binary of `source`; raises CompileError carrying the build log (or saying the device has no
        float64, where the source computes in double)."""
        api = self.device.api
        if not self.device.float64 and re.search(r"\bdouble\b", source):
            reason = f"{self.device.description.split(' | ')[0]} has no float64 (cl_khr_fp64): use float32 there"
            raise CompileError(source, reason, ["clBuildProgram", BUILD_OPTIONS])
        try:
            program, _ = api.build_from_source(self.device.context, self.device.device, source, BUILD_OPTIONS)
        except OpenCLError as error:
            raise CompileError(source, error.build_log or str(error), ["clBuildProgram", BUILD_OPTIONS]) from None
        try:
            return api.program_binary(program)
        finally:
            api.release_program(program)


class OpenCLProgram:
    """A kernel of an OpenCL binary, launched over `global_size` work items in work-groups of `local_size`
    (None: the driver chooses) with buffers then ints."""

    def __init__(
        self,
        name: str,
        binary: bytes,
        n_buffers: int,
        int_args: int = 0,
        *,
        cache: KernelCache,
        global_size: Sequence[int] = (1,),
        local_size: Sequence[int] | None = None,
    ) -> None:
        del cache  # the driver loads binaries from memory: no file is needed
        if n_buffers < 0 or int_args < 0:
            raise ValueError(f"argument counts must be non-negative, got n_buffers={n_buffers}, int_args={int_args}")
        if not 1 <= len(global_size) <= 3 or any(size < 1 for size in global_size):
            raise ValueError(f"a global size is 1 to 3 positive extents, got {tuple(global_size)}")
        if local_size is not None and (
            len(local_size) != len(global_size)
            or any(size < 1 or extent % size for size, extent in zip(local_size, global_size, strict=True))
        ):
            raise ValueError(f"a local size divides the global size {tuple(global_size)}, got {tuple(local_size)}")
        self.device: Final = open_device()
        self.name: Final = name
        self.n_buffers: Final = n_buffers
        self.int_args: Final = int_args
        self.global_size: Final = tuple(global_size)
        self.local_size: Final = tuple(local_size) if local_size is not None else None
        self._program: Final = self.device.api.build_from_binary(self.device.context, self.device.device, binary)
        self._kernel: Final = self.device.api.create_kernel(self._program, name)
        # Released with the launcher, or at exit while the OpenCL library is still loaded (not in a __del__
        # run during interpreter shutdown, when cffi may already be gone).
        weakref.finalize(self, _release, self.device.api, self._kernel, self._program)

    @overload
    def __call__(self, *buffers: SupportsAddress, ints: Sequence[int] = (), timed: Literal[False] = False) -> None: ...
    @overload
    def __call__(self, *buffers: SupportsAddress, ints: Sequence[int] = (), timed: Literal[True]) -> float: ...

    def __call__(self, *buffers: SupportsAddress, ints: Sequence[int] = (), timed: bool = False) -> float | None:
        """Run the kernel and wait for it; with `timed=True`, return its device time in seconds."""
        check_arguments(self.name, self.n_buffers, self.int_args, buffers, ints)
        started = time.perf_counter()
        elapsed = self.device.api.launch(
            self.device.queue,
            self._kernel,
            [buffer.address for buffer in buffers],
            ints,
            self.global_size,
            timed,
            self.local_size,
        )
        if not timed:
            return None
        return elapsed if elapsed is not None else time.perf_counter() - started


def _release(api: OpenCLAPI, kernel: int, program: int) -> None:
    api.release_kernel(kernel)
    api.release_program(program)
