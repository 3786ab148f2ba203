"""The OpenCL boundary: `libOpenCL.so.1` through cffi in ABI mode, the only module that holds its untyped objects.

Like the CPU runtime, nothing is compiled: cffi opens the ICD loader (which finds the installed
platforms: a GPU driver, or PoCL on the CPU) and calls its C functions directly. Every OpenCL object
leaves this module as an int handle (the pointer's value) and comes back through `_handle`; every
status code is checked here and turned into `OpenCLError` naming the call and the error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import cffi
import numpy as np
import numpy.typing as npt

_DECLARATIONS: Final = """
typedef int32_t cl_int;
typedef uint32_t cl_uint;
typedef uint64_t cl_ulong;
typedef void* cl_handle;
cl_int clGetPlatformIDs(cl_uint, cl_handle*, cl_uint*);
cl_int clGetPlatformInfo(cl_handle, cl_uint, size_t, void*, size_t*);
cl_int clGetDeviceIDs(cl_handle, cl_ulong, cl_uint, cl_handle*, cl_uint*);
cl_int clGetDeviceInfo(cl_handle, cl_uint, size_t, void*, size_t*);
cl_handle clCreateContext(const intptr_t*, cl_uint, const cl_handle*, void*, void*, cl_int*);
cl_handle clCreateCommandQueue(cl_handle, cl_handle, cl_ulong, cl_int*);
cl_handle clCreateBuffer(cl_handle, cl_ulong, size_t, void*, cl_int*);
cl_int clReleaseMemObject(cl_handle);
cl_int clEnqueueWriteBuffer(cl_handle, cl_handle, cl_uint, size_t, size_t, const void*, cl_uint, const cl_handle*,
                            cl_handle*);
cl_int clEnqueueReadBuffer(cl_handle, cl_handle, cl_uint, size_t, size_t, void*, cl_uint, const cl_handle*,
                           cl_handle*);
cl_handle clCreateProgramWithSource(cl_handle, cl_uint, const char**, const size_t*, cl_int*);
cl_handle clCreateProgramWithBinary(cl_handle, cl_uint, const cl_handle*, const size_t*, const unsigned char**,
                                    cl_int*, cl_int*);
cl_int clBuildProgram(cl_handle, cl_uint, const cl_handle*, const char*, void*, void*);
cl_int clGetProgramBuildInfo(cl_handle, cl_handle, cl_uint, size_t, void*, size_t*);
cl_int clGetProgramInfo(cl_handle, cl_uint, size_t, void*, size_t*);
cl_int clReleaseProgram(cl_handle);
cl_handle clCreateKernel(cl_handle, const char*, cl_int*);
cl_int clReleaseKernel(cl_handle);
cl_int clSetKernelArg(cl_handle, cl_uint, size_t, const void*);
cl_int clEnqueueNDRangeKernel(cl_handle, cl_handle, cl_uint, const size_t*, const size_t*, const size_t*, cl_uint,
                              const cl_handle*, cl_handle*);
cl_int clFinish(cl_handle);
cl_int clWaitForEvents(cl_uint, const cl_handle*);
cl_int clGetEventProfilingInfo(cl_handle, cl_uint, size_t, void*, size_t*);
cl_int clReleaseEvent(cl_handle);
"""

DEVICE_TYPE_ALL: Final = 0xFFFFFFFF
PLATFORM_VERSION: Final = 0x0901
PLATFORM_NAME: Final = 0x0902
DEVICE_TYPE: Final = 0x1000
DEVICE_TYPE_CPU: Final = 1 << 1
DEVICE_MAX_COMPUTE_UNITS: Final = 0x1002
DEVICE_MAX_WORK_GROUP_SIZE: Final = 0x1004
DEVICE_LOCAL_MEM_SIZE: Final = 0x1023
DEVICE_NAME: Final = 0x102B
DRIVER_VERSION: Final = 0x102D
DEVICE_VERSION: Final = 0x102F
DEVICE_EXTENSIONS: Final = 0x1030
MEM_READ_WRITE: Final = 1
QUEUE_PROFILING_ENABLE: Final = 2
PROGRAM_BUILD_LOG: Final = 0x1183
PROGRAM_BINARY_SIZES: Final = 0x1165
PROGRAM_BINARIES: Final = 0x1166
PROFILING_COMMAND_START: Final = 0x1282
PROFILING_COMMAND_END: Final = 0x1283
BUILD_PROGRAM_FAILURE: Final = -11

_ERRORS: Final = {
    -1: "CL_DEVICE_NOT_FOUND", -2: "CL_DEVICE_NOT_AVAILABLE", -4: "CL_MEM_OBJECT_ALLOCATION_FAILURE",
    -5: "CL_OUT_OF_RESOURCES", -6: "CL_OUT_OF_HOST_MEMORY", -11: "CL_BUILD_PROGRAM_FAILURE",
    -30: "CL_INVALID_VALUE", -33: "CL_INVALID_DEVICE", -34: "CL_INVALID_CONTEXT", -38: "CL_INVALID_MEM_OBJECT",
    -42: "CL_INVALID_BINARY", -44: "CL_INVALID_PROGRAM", -46: "CL_INVALID_KERNEL_NAME", -48: "CL_INVALID_KERNEL",
    -49: "CL_INVALID_ARG_INDEX", -50: "CL_INVALID_ARG_VALUE", -51: "CL_INVALID_ARG_SIZE",
    -52: "CL_INVALID_KERNEL_ARGS", -54: "CL_INVALID_WORK_GROUP_SIZE", -61: "CL_INVALID_BUFFER_SIZE",
    -63: "CL_INVALID_GLOBAL_WORK_SIZE", -1001: "CL_PLATFORM_NOT_FOUND_KHR",
}  # fmt: skip


class OpenCLError(RuntimeError):
    """An OpenCL call failed: the call and the error's name (or number)."""

    def __init__(self, call: str, status: int, build_log: str = "") -> None:
        self.status = status
        self.build_log = build_log
        super().__init__(f"{call} failed with {_ERRORS.get(status, 'OpenCL error')} ({status})")


class OpenCLUnavailableError(RuntimeError):
    """No OpenCL here: the loader library or any platform is missing."""


class OpenCLAPI:
    """Typed calls into the OpenCL ICD loader; handles are ints."""

    def __init__(self, library: str = "libOpenCL.so.1") -> None:
        self._ffi: Final[Any] = cffi.FFI()
        self._ffi.cdef(_DECLARATIONS)
        try:
            self._lib: Final[Any] = self._ffi.dlopen(library)
        except OSError as error:
            raise OpenCLUnavailableError(
                f"cannot load {library} ({error}): install an OpenCL driver, e.g. "
                "`apt-get install ocl-icd-libopencl1 pocl-opencl-icd` for OpenCL on the CPU"
            ) from None

    # -- plumbing --

    def _handle(self, value: int) -> Any:
        return self._ffi.cast("cl_handle", value)

    def _check(self, call: str, status: int) -> None:
        if status != 0:
            raise OpenCLError(call, status)

    def _created(self, call: str, handle: Any, status: Any) -> int:
        self._check(call, int(status[0]))
        return int(self._ffi.cast("uintptr_t", handle))

    def _info(self, call: str, getter: Any, *leading: Any) -> bytes:
        size = self._ffi.new("size_t*")
        self._check(call, getter(*leading, 0, self._ffi.NULL, size))
        buffer = self._ffi.new("char[]", max(int(size[0]), 1))
        self._check(call, getter(*leading, int(size[0]), buffer, self._ffi.NULL))
        return bytes(self._ffi.buffer(buffer, int(size[0])))

    # -- platforms and devices --

    def platforms(self) -> list[int]:
        count = self._ffi.new("cl_uint*")
        status = int(self._lib.clGetPlatformIDs(0, self._ffi.NULL, count))
        if status == -1001 or int(count[0]) == 0:
            return []
        self._check("clGetPlatformIDs", status)
        handles = self._ffi.new("cl_handle[]", int(count[0]))
        self._check("clGetPlatformIDs", self._lib.clGetPlatformIDs(int(count[0]), handles, self._ffi.NULL))
        return [int(self._ffi.cast("uintptr_t", handles[index])) for index in range(int(count[0]))]

    def platform_info(self, platform: int, name: int) -> str:
        raw = self._info("clGetPlatformInfo", self._lib.clGetPlatformInfo, self._handle(platform), name)
        return raw.rstrip(b"\0").decode(errors="replace")

    def devices(self, platform: int) -> list[int]:
        count = self._ffi.new("cl_uint*")
        status = int(self._lib.clGetDeviceIDs(self._handle(platform), DEVICE_TYPE_ALL, 0, self._ffi.NULL, count))
        if status == -1 or int(count[0]) == 0:
            return []
        self._check("clGetDeviceIDs", status)
        handles = self._ffi.new("cl_handle[]", int(count[0]))
        self._check(
            "clGetDeviceIDs",
            self._lib.clGetDeviceIDs(self._handle(platform), DEVICE_TYPE_ALL, int(count[0]), handles, self._ffi.NULL),
        )
        return [int(self._ffi.cast("uintptr_t", handles[index])) for index in range(int(count[0]))]

    def device_info(self, device: int, name: int) -> str:
        raw = self._info("clGetDeviceInfo", self._lib.clGetDeviceInfo, self._handle(device), name)
        return raw.rstrip(b"\0").decode(errors="replace")

    def device_number(self, device: int, name: int) -> int:
        """A numeric device property (cl_uint, size_t, cl_ulong or a bitfield), as the device reports it."""
        raw = self._info("clGetDeviceInfo", self._lib.clGetDeviceInfo, self._handle(device), name)
        return int.from_bytes(raw, "little")

    def create_context(self, device: int) -> int:
        status = self._ffi.new("cl_int*")
        devices = self._ffi.new("cl_handle[]", [self._handle(device)])
        context = self._lib.clCreateContext(self._ffi.NULL, 1, devices, self._ffi.NULL, self._ffi.NULL, status)
        return self._created("clCreateContext", context, status)

    def create_queue(self, context: int, device: int) -> int:
        status = self._ffi.new("cl_int*")
        queue = self._lib.clCreateCommandQueue(
            self._handle(context), self._handle(device), QUEUE_PROFILING_ENABLE, status
        )
        return self._created("clCreateCommandQueue", queue, status)

    # -- memory --

    def create_buffer(self, context: int, nbytes: int) -> int:
        status = self._ffi.new("cl_int*")
        memory = self._lib.clCreateBuffer(self._handle(context), MEM_READ_WRITE, nbytes, self._ffi.NULL, status)
        return self._created("clCreateBuffer", memory, status)

    def release_buffer(self, memory: int) -> None:
        self._check("clReleaseMemObject", self._lib.clReleaseMemObject(self._handle(memory)))

    def write(self, queue: int, memory: int, source: npt.NDArray[np.uint8]) -> None:
        """Copy host bytes (a contiguous array) into `memory`, blocking until done."""
        pointer = self._ffi.from_buffer(source)
        status = self._lib.clEnqueueWriteBuffer(
            self._handle(queue), self._handle(memory), 1, 0, source.nbytes, pointer, 0, self._ffi.NULL, self._ffi.NULL
        )
        self._check("clEnqueueWriteBuffer", status)

    def read(self, queue: int, memory: int, destination: npt.NDArray[np.uint8]) -> None:
        """Copy `memory` into host bytes (a contiguous array), blocking until done."""
        pointer = self._ffi.from_buffer(destination)
        status = self._lib.clEnqueueReadBuffer(
            self._handle(queue), self._handle(memory), 1, 0, destination.nbytes, pointer, 0, self._ffi.NULL,
            self._ffi.NULL,
        )  # fmt: skip
        self._check("clEnqueueReadBuffer", status)

    # -- programs and kernels --

    def build_from_source(self, context: int, device: int, source: str, options: str) -> tuple[int, str]:
        """A program built from `source` and its build log; raises OpenCLError (with the log kept) on failure."""
        status = self._ffi.new("cl_int*")
        text = self._ffi.new("char[]", source.encode())
        sources = self._ffi.new("const char*[]", [text])
        program = self._created(
            "clCreateProgramWithSource",
            self._lib.clCreateProgramWithSource(self._handle(context), 1, sources, self._ffi.NULL, status),
            status,
        )
        return program, self._build(program, device, options)

    def build_from_binary(self, context: int, device: int, binary: bytes) -> int:
        status, binary_status = self._ffi.new("cl_int*"), self._ffi.new("cl_int*")
        devices = self._ffi.new("cl_handle[]", [self._handle(device)])
        sizes = self._ffi.new("size_t[]", [len(binary)])
        data = self._ffi.new("unsigned char[]", binary)
        pointers = self._ffi.new("const unsigned char*[]", [data])
        program = self._lib.clCreateProgramWithBinary(
            self._handle(context), 1, devices, sizes, pointers, binary_status, status
        )
        handle = self._created("clCreateProgramWithBinary", program, status)
        self._check("clCreateProgramWithBinary", int(binary_status[0]))
        self._build(handle, device, "")
        return handle

    def _build(self, program: int, device: int, options: str) -> str:
        devices = self._ffi.new("cl_handle[]", [self._handle(device)])
        status = int(
            self._lib.clBuildProgram(
                self._handle(program), 1, devices, options.encode(), self._ffi.NULL, self._ffi.NULL
            )
        )
        log = self._info(
            "clGetProgramBuildInfo",
            self._lib.clGetProgramBuildInfo,
            self._handle(program),
            self._handle(device),
            PROGRAM_BUILD_LOG,
        )
        text = log.rstrip(b"\0").decode(errors="replace")
        if status != 0:
            self.release_program(program)
            raise OpenCLError("clBuildProgram", status, text)
        return text

    def program_binary(self, program: int) -> bytes:
        sizes = self._ffi.new("size_t[1]")
        self._check(
            "clGetProgramInfo",
            self._lib.clGetProgramInfo(self._handle(program), PROGRAM_BINARY_SIZES, self._ffi.sizeof(sizes), sizes,
                                       self._ffi.NULL),
        )  # fmt: skip
        data = self._ffi.new("unsigned char[]", max(int(sizes[0]), 1))
        pointers = self._ffi.new("unsigned char*[]", [data])
        self._check(
            "clGetProgramInfo",
            self._lib.clGetProgramInfo(self._handle(program), PROGRAM_BINARIES, self._ffi.sizeof(pointers), pointers,
                                       self._ffi.NULL),
        )  # fmt: skip
        return bytes(self._ffi.buffer(data, int(sizes[0])))

    def release_program(self, program: int) -> None:
        self._check("clReleaseProgram", self._lib.clReleaseProgram(self._handle(program)))

    def create_kernel(self, program: int, name: str) -> int:
        status = self._ffi.new("cl_int*")
        return self._created("clCreateKernel", self._lib.clCreateKernel(self._handle(program), name.encode(), status),
                             status)  # fmt: skip

    def release_kernel(self, kernel: int) -> None:
        self._check("clReleaseKernel", self._lib.clReleaseKernel(self._handle(kernel)))

    def launch(
        self, queue: int, kernel: int, buffers: Sequence[int], ints: Sequence[int], global_size: Sequence[int],
        timed: bool, local_size: Sequence[int] | None = None,
    ) -> float | None:  # fmt: skip
        """Run `kernel` over `global_size` work items (in work-groups of `local_size`, or as the driver likes)
        with `buffers` then `ints` as its arguments, and wait for it; with `timed`, return its device time in
        seconds."""
        handle = self._handle(kernel)
        for position, memory in enumerate(buffers):
            argument = self._ffi.new("cl_handle*", self._handle(memory))
            self._check("clSetKernelArg", self._lib.clSetKernelArg(handle, position, self._ffi.sizeof("cl_handle"),
                                                                   argument))  # fmt: skip
        for offset, value in enumerate(ints):
            argument = self._ffi.new("cl_int*", value)
            self._check("clSetKernelArg", self._lib.clSetKernelArg(handle, len(buffers) + offset, 4, argument))
        sizes = self._ffi.new("size_t[]", list(global_size))
        group = self._ffi.new("size_t[]", list(local_size)) if local_size is not None else self._ffi.NULL
        event = self._ffi.new("cl_handle*")
        self._check(
            "clEnqueueNDRangeKernel",
            self._lib.clEnqueueNDRangeKernel(self._handle(queue), handle, len(global_size), self._ffi.NULL, sizes,
                                             group, 0, self._ffi.NULL, event),
        )  # fmt: skip
        try:
            self._check("clWaitForEvents", self._lib.clWaitForEvents(1, event))
            if not timed:
                return None
            start, end = self._ffi.new("cl_ulong*"), self._ffi.new("cl_ulong*")
            for name, target in ((PROFILING_COMMAND_START, start), (PROFILING_COMMAND_END, end)):
                self._check("clGetEventProfilingInfo", self._lib.clGetEventProfilingInfo(event[0], name, 8, target,
                                                                                         self._ffi.NULL))  # fmt: skip
            return (int(end[0]) - int(start[0])) / 1e9
        finally:
            self._lib.clReleaseEvent(event[0])
