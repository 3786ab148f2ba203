"""Runs of adjacent elements a GPU work item loads or stores: written as one vector access (`vload4`, `vstore4`).

An upcast copies a kernel's loads and stores for adjacent elements, and the cleanup writes their addresses
`base + c` (see cleanup.py): n of them with the same base and offsets 0..n-1, in one stretch of code
between loop bounds and barriers, are one vector of n elements. A C compiler finds such runs itself; an
OpenCL compiler for a GPU issues one wide load or store for them only when the source says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from lamina.dtype import PtrDType, dtypes
from lamina.uop import Ops, UOp

VECTOR_LANES: Final = (16, 8, 4, 2)
"""The vector widths OpenCL C has, widest first."""

VECTOR_DTYPES: Final = frozenset({dtypes.float32, dtypes.int32, dtypes.float64})
"""Element types whose C name is also the stem of their vector type's (`float4`, `int4`, `double4`)."""


@dataclass(frozen=True, slots=True)
class VectorRun:
    """n adjacent elements of one buffer from `base`, accessed by `members` (lane i at element base + i)."""

    buffer: UOp
    base: UOp
    members: tuple[UOp, ...]

    @property
    def lanes(self) -> int:
        return len(self.members)

    @property
    def element(self) -> str:
        """The C name of an element, the stem of the vector type's (`float` of `float4`)."""
        assert isinstance(self.buffer.dtype, PtrDType)
        return self.buffer.dtype.base.c_name


def base_and_offset(address: UOp) -> tuple[UOp, int]:
    """`base + c` as (base, c), a constant address c as (0, c), any other address as (address, 0)."""
    if address.op is Ops.ADD and address.src[1].op is Ops.CONST:
        return address.src[0], int(address.src[1].arg)
    if address.op is Ops.CONST:
        return address.const_like(0), int(address.arg)
    return address, 0


def adjacent_stretches(uops: Sequence[UOp], op: Ops) -> list[tuple[UOp, UOp, int, list[UOp]]]:
    """The stretches of LOADs (or STOREs, by `op`) in `uops` at adjacent elements, as (buffer, base, first
    offset, members): global buffers of `VECTOR_DTYPES` only, addresses without a validity, all of a
    stretch between the same loop bounds and barriers (a tile's rows lie apart: a stretch each)."""
    candidates: dict[tuple[UOp, UOp, int], dict[int, UOp]] = {}
    segment = 0
    for uop in uops:
        if uop.op in (Ops.RANGE, Ops.END, Ops.BARRIER):
            segment += 1
        if uop.op is not op:
            continue
        index = uop.src[0]
        pointer = index.src[0]
        if len(index.src) != 2 or pointer.op is not Ops.DEFINE_GLOBAL:
            continue
        assert isinstance(pointer.dtype, PtrDType)
        if pointer.dtype.base not in VECTOR_DTYPES:
            continue
        base, offset = base_and_offset(index.src[1])
        candidates.setdefault((pointer, base, segment), {}).setdefault(offset, uop)
    stretches: list[tuple[UOp, UOp, int, list[UOp]]] = []
    for (pointer, base, _), by_offset in candidates.items():
        for offset in sorted(by_offset):
            if offset - 1 in by_offset:
                stretches[-1][3].append(by_offset[offset])
            else:
                stretches.append((pointer, base, offset, [by_offset[offset]]))
    return stretches


def vector_runs(uops: Sequence[UOp], op: Ops, widths: Sequence[int] = VECTOR_LANES) -> list[VectorRun]:
    """The runs of LOADs (or STOREs, by `op`) in `uops` to write as vector accesses of the `widths` (widest
    first): each stretch of adjacent accesses (see adjacent_stretches) cut into runs, widest first."""
    runs: list[VectorRun] = []
    for pointer, base, first, members in adjacent_stretches(uops, op):
        start = 0
        while start < len(members):
            lanes = next((n for n in widths if start + n <= len(members)), 1)
            if lanes > 1:
                offset = first + start
                runs.append(
                    VectorRun(pointer, base if offset == 0 else base + offset, tuple(members[start : start + lanes]))
                )
            start += lanes
    return runs
