"""The members of the C family the renderer writes, as a table: what each writes differently, nothing else.

`render_c` is one renderer; a `Dialect` says what its output must look like for one compiler: the
CPU's C (includes, `restrict` buffers, OpenMP) or OpenCL C (`__kernel`, `__global` buffers, its
own integer spellings, the C99 float functions and `memcpy` mapped onto its builtins, no
program-scope data beside the buffers) or CUDA C (`extern "C" __global__`, `blockIdx`/`threadIdx`,
`__shared__`, device helpers), which NVRTC compiles; the CUDA device that runs it comes next.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from lamina.codegen.c_prelude import BOOL_STORAGE

# The C99 float functions the renderer calls (their `f` forms for float): OpenCL C overloads the plain names.
_C99_FLOAT_FUNCTIONS: Final = (
    "atan2", "ceil", "cos", "erf", "exp", "exp2", "expm1", "floor", "fmod", "log", "log1p", "log2", "pow", "rint",
    "sin", "sqrt", "trunc",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Dialect:
    """What one member of the C family writes differently: the renderer is the same for all of them."""

    name: str
    includes: tuple[str, ...]
    preamble: str  # definitions every kernel starts with (behind an include guard)
    kernel_prefix: str  # before `void name(...)`
    pointer_space: str  # the address space of a buffer parameter
    bool_storage: str  # the `lm_bool` typedef: how a boolean buffer stores its elements
    spellings: tuple[tuple[str, str], ...]  # C type spellings the dialect writes otherwise
    # GPU dialects ("" where there are none): a work item's work-group and its index in it along dimension
    # {dim} (0, 1, 2; {axis} is x, y, z), its index in the whole launch and the launch's size along
    # dimension 0 (a GLOBAL loop's start and step), local memory's address space, a barrier over it.
    group_id: str = ""
    local_id: str = ""
    global_id: str = ""
    global_size: str = ""
    local_space: str = ""
    barrier: str = ""
    # A run of adjacent elements as one access ("" where the dialect leaves that to its compiler): {lanes} of
    # them from {pointer}, {value} a vector written as {type}{lanes} of {values}.
    vector_load: str = ""
    vector_store: str = ""
    vector_value: str = ""
    # Padded reads through a static row of zeros (see _rerouted_address): OpenCL C keeps program-scope data in
    # another address space than the buffers, and a pointer cannot choose between the two.
    zero_rows: bool = True
    # Bytes the device's allocations stay readable past either end (see READ_GUARD_BYTES); 0 where none do.
    read_guard_bytes: int = 0
    # A choice between a float and +0 (`keep ? x : 0.0f`, a ReLU's gradient) written as the float's bits masked
    # (`lm_pick`): gcc branches on a scalar `?:`, half mispredicted on a ReLU's mask; a GPU selects anyway.
    masked_zero_choices: bool = False


READ_GUARD_BYTES: Final = 4096
"""How far past either end of a buffer a C kernel may read (a page): the CPU allocator keeps that much readable
memory around every allocation (lamina.device's `GUARD_BYTES`, tested to agree). A padded read whose address
differs by a constant within it from one the kernel reads unconditionally is then safe to read always, with the
padding chosen after the load (`lm_pick`): a select the compilers vectorize, where gcc leaves a loop of several
conditional loads scalar."""


C_DIALECT: Final = Dialect(
    "c",
    ("#include <math.h>", "#include <string.h>"),
    "",
    "",
    "",
    BOOL_STORAGE,
    (),
    read_guard_bytes=READ_GUARD_BYTES,
    masked_zero_choices=True,
)

# OpenCL C has the C99 math functions overloaded under their double names and no libc: the float names
# and memcpy (for bit casts, which the compiler turns into moves) are mapped onto its builtins.
_OPENCL_PREAMBLE: Final = "\n".join(
    [
        "#pragma OPENCL EXTENSION cl_khr_fp64 : enable",
        "#define memcpy(destination, source, size) __builtin_memcpy(destination, source, size)",
        *(f"#define {name}f {name}" for name in _C99_FLOAT_FUNCTIONS),
    ]
)
OPENCL_DIALECT: Final = Dialect(
    "opencl",
    (),
    _OPENCL_PREAMBLE,
    "__kernel ",
    "__global ",
    "typedef uchar lm_bool;",
    (("unsigned long long", "ulong"), ("long long", "long")),
    group_id="get_group_id({dim})",
    local_id="get_local_id({dim})",
    global_id="get_global_id(0)",
    global_size="get_global_size(0)",
    local_space="__local ",
    barrier="barrier(CLK_LOCAL_MEM_FENCE);",
    vector_load="vload{lanes}(0, {pointer})",
    vector_store="vstore{lanes}({value}, 0, {pointer});",
    vector_value="({type}{lanes})({values})",
    zero_rows=False,
)

# CUDA C is C++ compiled by NVRTC without headers: its float constants are spelled from their bits, a
# boolean is `bool`, `restrict` is `__restrict__`, and every helper a kernel calls is a device function.
_CUDA_PREAMBLE: Final = "\n".join(
    [
        "#define INFINITY __int_as_float(0x7f800000)",
        "#define NAN __int_as_float(0x7fffffff)",
        "#define HUGE_VAL __longlong_as_double(0x7ff0000000000000LL)",
    ]
)
CUDA_DIALECT: Final = Dialect(
    "cuda",
    (),
    _CUDA_PREAMBLE,
    'extern "C" __global__ ',
    "",
    "typedef unsigned char lm_bool;",
    (("static inline ", "static __device__ __forceinline__ "), ("_Bool", "bool"), ("restrict", "__restrict__")),
    group_id="blockIdx.{axis}",
    local_id="threadIdx.{axis}",
    global_id="(blockIdx.x*blockDim.x+threadIdx.x)",
    global_size="(gridDim.x*blockDim.x)",
    local_space="__shared__ ",
    barrier="__syncthreads();",
    zero_rows=False,
)
DIALECTS: Final = {dialect.name: dialect for dialect in (C_DIALECT, OPENCL_DIALECT, CUDA_DIALECT)}
