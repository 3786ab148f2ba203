"""How the C renderer writes index arithmetic (a mixin of `render_c._CKernel`): divisions by a constant as a
multiply and shift, and 64-bit addresses in a SIMD loop that also computes on its counter.

clang widens an `int` loop counter to 64 bits for the addresses it feeds, and its loop vectorizer then computes
everything else on that counter in 64-bit lanes as well: a padded tap's mask (`i // 28`, `i % 28 < 27`) takes
half as many lanes per register and three multiplies per product. A convolution's weight gradient (nine masked
taps over the merged pixels) ran 1.6x slower under clang than with its counter 64-bit from the start, the
addresses computed from it and the masks from a 32-bit copy, so each gets the width it needs. gcc ran that
form slower, so there the wide type is `int` and the source is what it was.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Final

from lamina.codegen.dialects import C_DIALECT, Dialect
from lamina.codegen.linearize import LinearProgram
from lamina.rewrite.bounds import bounds
from lamina.uop import AxisKind, GroupOp, Ops, UOp

WIDE_INDEX_TYPE: Final = "lm_wide_index"
WIDE_INDEX: Final = f"""#if defined(__clang__)
typedef long long {WIDE_INDEX_TYPE};
#else
typedef int {WIDE_INDEX_TYPE};
#endif"""
"""The type of a SIMD loop's counter and of the addresses computed from it (see the module docstring)."""

# Integer arithmetic that an address may be made of, and that gives the same value in any wider type.
_ADDRESS_OPS: Final = frozenset({Ops.ADD, Ops.SUB, Ops.MUL})


def division_by_multiply(divisor: int, largest: int) -> tuple[int, int] | None:
    """(m, k) with x // divisor == (x * m) >> k for every 0 <= x <= largest, x * m within int32, or None.

    m = ceil(2^k / divisor) overshoots 2^k / divisor by e / divisor (e = m * divisor - 2^k), which moves
    x * m / 2^k past the next whole number only once x * e reaches 2^k: the smallest k with largest * e < 2^k is
    exact, if largest * m still fits in 31 bits."""
    for shift in range(32):
        multiplier = -(-(1 << shift) // divisor)
        excess = multiplier * divisor - (1 << shift)
        if largest * multiplier >= 1 << 31:
            return None
        if largest * excess < 1 << shift:
            return multiplier, shift
    return None


def wide_addresses(uops: Sequence[UOp]) -> tuple[set[UOp], set[UOp]]:
    """(SIMD loops whose counter is written wide, the address arithmetic on their counters written wide).

    A loop qualifies when its counter feeds both addresses and other integer arithmetic (a mask): only then do
    the two want different widths. Address arithmetic is a 32-bit add, subtract or multiply depending on the
    counter whose every user is an INDEX taking it as its address, or more such arithmetic."""
    users: defaultdict[UOp, list[UOp]] = defaultdict(list)
    for uop in uops:
        # An accumulator's update is rendered in place: its operands are the ASSIGN's to count.
        for source in uop.src[1].src if uop.op is Ops.ASSIGN else uop.src:
            users[source].append(uop)
    loops, wide = set(), set()
    for loop in (uop for uop in uops if uop.op is Ops.RANGE and uop.arg[1] is AxisKind.SIMD):
        depends = {loop}
        for uop in uops:
            if uop.op in _ADDRESS_OPS and any(source in depends for source in uop.src):
                depends.add(uop)
        addresses: set[UOp] = set()
        for uop in reversed(uops):
            if uop in depends and uop is not loop and uop.scalar_dtype.itemsize == 4 and uop.scalar_dtype.is_int:
                found = users.get(uop, [])
                if found and all(_addresses(user, uop, addresses) for user in found):
                    addresses.add(uop)
        arithmetic = (user for user in users.get(loop, []) if user.op in GroupOp.ALU)
        other = [user for user in arithmetic if not _addresses(user, loop, addresses)]
        if addresses and other:
            loops.add(loop)
            wide |= addresses
    return loops, wide


def _addresses(user: UOp, value: UOp, addresses: set[UOp]) -> bool:
    """Whether `user` takes `value` only as (part of) an address."""
    if user.op is Ops.INDEX:
        return user.src[1] is value and value not in user.src[2:]
    return user in addresses


class IndexWriter:
    """Writes index arithmetic: reciprocal divisions and a SIMD loop's wide addresses."""

    dialect: Dialect
    helpers: dict[str, str]
    names: dict[UOp, str]
    program: LinearProgram
    index_math: set[UOp]

    def _plan_wide_addresses(self) -> None:
        self.wide_loops: set[UOp] = set()
        self.wide: set[UOp] = set()
        self.wide_names: dict[UOp, str] = {}  # each wide loop's wide counter
        self.rendering_wide = False  # while an address in `wide` is written, its loop counter is the wide one
        if self.dialect is C_DIALECT:
            self.wide_loops, self.wide = wide_addresses(self.program.uops)

    def _wide_loop_header(self, uop: UOp, name: str, bound: str, indent: str) -> str:
        """The `for` of a loop in `wide_loops`: a wide counter, and its 32-bit copy under the loop's own name."""
        self.helpers[WIDE_INDEX_TYPE] = WIDE_INDEX
        wide = f"{name}w"
        self.names[uop] = name
        self.wide_names[uop] = wide
        header = f"for ({WIDE_INDEX_TYPE} {wide} = 0; {wide} < {bound}; {wide}++) {{"
        return f"{header}\n{indent}  {uop.scalar_dtype.c_name} {name} = ({uop.scalar_dtype.c_name}){wide};"

    def _index_reciprocal(self, uop: UOp) -> tuple[int, int] | None:
        """(m, k) for writing an int32 index division by a positive constant as a multiply and shift, when its
        dividend's range allows (see division_by_multiply)."""
        if uop.src[0].scalar_dtype.itemsize != 4:
            return None
        low, high = bounds(uop.src[0])
        if low < 0:
            return None
        return division_by_multiply(int(uop.src[1].arg), high)
