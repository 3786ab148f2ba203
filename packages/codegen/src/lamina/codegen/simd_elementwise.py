"""Which loop of an elementwise kernel may be an OpenMP simd loop: its iterations are independent by construction.

The C compilers vectorize an elementwise loop only where their cost model and dependence analysis agree, and they
disagree: clang left a max pool's gradient (four stores two apart in each iteration, fourteen iterations a row)
scalar where gcc vectorized it, 3x slower. `#pragma omp simd` tells both that the iterations are independent;
that is true here when every store moves with the loop by a constant, nonzero step (no two iterations write one
element) and a buffer the loop writes is read only at the element the same iteration writes. Loops calling libm
(sin, log...) are left alone: under `omp simd` gcc calls glibc's vector math library, another library to link,
whose results may differ from the scalar functions' in the last bit.
"""

from __future__ import annotations

from typing import Final

from lamina.uop import Ops, UOp, toposort

ELEMENTWISE_OPS: Final = frozenset(
    {
        Ops.CONST, Ops.INDEX, Ops.LOAD, Ops.STORE, Ops.SINK, Ops.RANGE, Ops.DEFINE_GLOBAL, Ops.DEFINE_VAR,
        Ops.ADD, Ops.SUB, Ops.MUL, Ops.DIV, Ops.RECIPROCAL, Ops.IDIV, Ops.MOD, Ops.NEG, Ops.MAX, Ops.WHERE,
        Ops.CAST, Ops.BITCAST,
        Ops.CMPLT, Ops.CMPNE, Ops.CMPEQ, Ops.AND, Ops.OR, Ops.XOR, Ops.NOT, Ops.SHL, Ops.SHR,
    }
)  # fmt: skip
"""What a simd loop's kernel may hold: arithmetic, choices and conversions the C renderer writes inline."""

SHORTEST_SIMD_LOOP: Final = 4
"""Iterations a simd loop needs at least: a vector of four floats (the narrowest) per pass."""


def _step(address: UOp, loop: UOp) -> int | None:
    """How far `address` moves when `loop` steps by one, where it is a sum of constant multiples of loops; None
    otherwise. Exact, unlike the heuristic's strides (heuristic_cpu's `_Strides` counts `x % d` as moving with
    `x`, true only inside blocks of `d`): independence must hold for every pair of iterations."""
    if address is loop:
        return 1
    if loop not in toposort(address):
        return 0
    if address.op in (Ops.ADD, Ops.SUB):
        left, right = _step(address.src[0], loop), _step(address.src[1], loop)
        if left is None or right is None:
            return None
        return left + right if address.op is Ops.ADD else left - right
    if address.op is Ops.MUL:
        for constant, other in (address.src, address.src[::-1]):
            if constant.op is Ops.CONST:
                inner = _step(other, loop)
                return None if inner is None else inner * int(constant.arg)
    return None


def simd_elementwise(sink: UOp, loop: UOp) -> bool:
    """Whether `loop` of the kernel `sink` may be an OpenMP simd loop (see the module): the kernel reduces
    nothing and calls no libm function, `loop` is its innermost loop, and its iterations are independent."""
    nodes = toposort(sink)
    if any(node.op not in ELEMENTWISE_OPS for node in nodes):
        return False
    ranges = [node for node in nodes if node.op is Ops.RANGE]
    if loop not in ranges or max(ranges, key=lambda node: node.arg[0]) is not loop:
        return False
    if loop.src[0].op is not Ops.CONST or int(loop.src[0].arg) < SHORTEST_SIMD_LOOP:
        return False
    # Each element of an output is stored once (the stores of an upcast's copies partition the output), so
    # stores that move with the loop never meet another iteration's; a store that stays put would.
    steps: dict[UOp, int] = {}
    addresses: dict[UOp, set[UOp]] = {}
    for store in sink.src:
        buffer, address = store.src[0].src[0], store.src[0].src[1]
        step = _step(address, loop)
        if step is None or step == 0 or steps.setdefault(buffer, step) != step:
            return False
        addresses.setdefault(buffer, set()).add(address)
    for node in nodes:
        if node.op is Ops.LOAD and node.src[0].src[0] in addresses:
            index = node.src[0]
            if len(index.src) != 2 or index.src[1] not in addresses[index.src[0]]:
                return False
    return True


def clang_width_hint(trip: UOp, lanes: int) -> str:
    """A clang loop pragma (inside `#if defined(__clang__)`) narrowing a simd loop of `trip` iterations (a constant)
    to the vector width that leaves the fewest passes, vector and scalar: clang runs a remainder scalar where gcc
    adds a narrower vector epilogue, so a pooled row of 14 under AVX2 ran 8 lanes and 6 scalars, twice gcc's time
    (4 + 4 + 4 + 2 is 5 passes to 7). Empty where the full width is best or the count is known only at launch."""
    if trip.op is not Ops.CONST:
        return ""
    iterations = int(trip.arg)

    def passes(width: int) -> int:
        return iterations // width + iterations % width

    widths = [lanes >> shift for shift in range(lanes.bit_length()) if lanes >> shift >= SHORTEST_SIMD_LOOP]
    best = min(widths, key=lambda width: (passes(width), -width), default=lanes)
    if best == lanes:
        return ""
    return f"\n#if defined(__clang__)\n#pragma clang loop vectorize_width({best})\n#endif"
