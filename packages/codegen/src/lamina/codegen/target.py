"""What the code generator knows of the machine a kernel will run on: the facts its choices derive from.

The optimizer's heuristic never names a register count or a cache size: it reads them from a `Target`
(a tile of accumulators fills part of the vector registers, a block of rows fits in the per-core
cache). `CPU_TARGET` describes the machine the heuristic was first tuned on, an AVX-512 CPU with 32
vector registers and 1 MB of L2 per core; targets read from the compiler and the OS (AVX2, NEON) come
next. A GPU target says how many work items a work-group holds, how much local memory it has and how
many work-groups run at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

ELEMENT_BYTES: Final = 4
"""The element size the register and cache budgets are counted in (float32, int32)."""

LOAD_REGISTERS: Final = 4
"""Vector registers a matmul's register tile leaves for its loads (see Target.tile_rows)."""

MAX_TILE_ROWS: Final = 8
"""Rows of a register tile at most (see Target.tile_rows)."""


@dataclass(frozen=True, slots=True)
class Target:
    """A machine as the code generator sees it."""

    name: str = "cpu"
    kind: str = "cpu"  # "cpu": loops, vectors and cores; "gpu": output loops over work items
    dialect: str = "c"  # the C family the renderer writes: "c" or "opencl"
    vector_bytes: int = 64  # the widest vector register
    vector_registers: int = 32
    cache_bytes: int = 1 << 20  # the cache private to one core (L2)
    # GPUs: work items per work-group, local memory per work-group, and work-groups the device runs at once
    max_local_size: int = 0
    local_bytes: int = 0
    compute_units: int = 0

    @property
    def vector_lanes(self) -> int:
        """4-byte elements per vector register."""
        return self.vector_bytes // ELEMENT_BYTES

    @property
    def tile_columns(self) -> int:
        """Contiguous columns of a matmul's register tile: two vectors, so each loaded row of B feeds both."""
        return 2 * self.vector_lanes

    @property
    def tile_rows(self) -> int:
        """Rows of a matmul's register tile: two vectors a row, every register an accumulator but the few that hold
        loads (B's two vectors, A's broadcast, one spare), and at most 16 accumulators, twice what two FMA pipes
        of 4 cycles' latency keep in flight. With 16 registers that is 6 rows (12 accumulators, as BLAS's AVX2
        kernels have: 8 leave those pipes waiting); with 32, 8 rows."""
        return min(MAX_TILE_ROWS, (self.vector_registers - LOAD_REGISTERS) // 2)

    @property
    def tile_accumulators(self) -> int:
        """The accumulators of a full register tile."""
        return self.tile_columns * self.tile_rows

    @property
    def simd_accumulators(self) -> int:
        """Vector accumulators a SIMD reduction may carry, leaving registers for its loads."""
        return self.vector_registers - 8

    @property
    def block_bytes(self) -> int:
        """A block of a matmul's rows of A that stays in the core's cache while panels of B pass by: half of it."""
        return self.cache_bytes // 2


CPU_TARGET: Final = Target()
"""The CPU target the heuristic was tuned on (see the module)."""

OPENCL_TARGET: Final = Target(
    name="opencl",
    kind="gpu",
    dialect="opencl",
    vector_bytes=16,
    max_local_size=256,
    local_bytes=32 << 10,
    compute_units=16,
)
"""An OpenCL device as every GPU of the last decade is: 16-byte loads per item, work-groups of 256 items
with 32 KB of local memory (OpenCL's minimum for a GPU), 16 work-groups at once (a small device)."""

CUDA_TARGET: Final = Target(
    name="cuda", kind="gpu", dialect="cuda", vector_bytes=16, max_local_size=256, local_bytes=48 << 10, compute_units=16
)
"""An NVIDIA GPU: blocks of 256 threads with 48 KB of shared memory (any CUDA GPU has that much per block)."""
