"""Padded rows chosen once before the loop that walks them: `row = valid ? in + base : zeros; ... row[x + c]`.

A padded read whose validity does not change along the innermost loop reads through a pointer the validity
picks, the buffer's row or a row of zeros (see render_padded's `_rerouted_address`). Written inside the loop,
`(valid ? in + base + x : zeros)[c]` is a pointer chosen again at every iteration: gcc then gives up on the
loop's data references and leaves it scalar, and clang vectorizes it 3x slower than plain loads (a 3x3
convolution's forward pass, 28 columns a row: gcc 1.3 -> 0.11 ms, clang 0.55 -> 0.2 ms in a C harness, AVX2).
Named before the loop, the pointer is loop-invariant and each read a plain `row[x + c]`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from lamina.codegen.vectors import base_and_offset
from lamina.uop import Ops, UOp, toposort


@dataclass(frozen=True, slots=True)
class LoopRow:
    """The pointer a validity picks for reads along a loop: `pointer + rest` where valid, else the zero row."""

    pointer: UOp
    validity: UOp
    rest: UOp  # the address without the loop's own term


@dataclass
class RowPlan:
    rows: dict[UOp, list[LoopRow]] = field(default_factory=dict)  # loop -> the rows declared before it
    reads: dict[UOp, tuple[LoopRow, UOp, int]] = field(default_factory=dict)  # LOAD -> (row, loop, offset)


def plan_loop_rows(uops: Sequence[UOp], reach: int, skipped: set[UOp]) -> RowPlan:
    """The padded global reads of `uops` (a linear program) to read through a row named before their innermost
    loop, leaving out the loads in `skipped` (read as vectors); `reach`: how far the zero row reaches either way.

    A read qualifies when its validity does not depend on its innermost loop, its address is `rest + loop + c`,
    every offset the loop gives stays within the zero row's reach, and the validity and `rest` are computed
    before the loop opens."""
    scopes: dict[UOp, tuple[UOp, ...]] = {}  # each node: the loops open where it is computed
    plan = RowPlan()
    open_loops: list[UOp] = []
    for uop in uops:
        scopes[uop] = tuple(open_loops)
        if uop.op is Ops.RANGE:
            open_loops.append(uop)
        elif uop.op is Ops.END and open_loops and uop.src[0] is open_loops[-1]:
            open_loops.pop()
        elif uop.op is Ops.LOAD and open_loops and uop not in skipped:
            found = _row_read(uop, open_loops[-1], reach, scopes)
            if found is not None:
                row, offset = found
                rows = plan.rows.setdefault(open_loops[-1], [])
                if row not in rows:
                    rows.append(row)
                plan.reads[uop] = (row, open_loops[-1], offset)
    return plan


def _row_read(load: UOp, loop: UOp, reach: int, scopes: dict[UOp, tuple[UOp, ...]]) -> tuple[LoopRow, int] | None:
    index = load.src[0]
    if len(index.src) != 3 or index.src[0].op is not Ops.DEFINE_GLOBAL or loop.src[0].op is not Ops.CONST:
        return None
    validity = index.src[2]
    if loop in toposort(validity):
        return None
    base, offset = base_and_offset(index.src[1])
    rest = _without(base, loop)
    if rest is None or offset < -reach or offset + int(loop.src[0].arg) > reach:
        return None
    if not (_in_scope(validity, loop, scopes) and _in_scope(rest, loop, scopes)):
        return None
    return LoopRow(index.src[0], validity, rest), offset


def _without(address: UOp, loop: UOp) -> UOp | None:
    """`address - loop` where `loop` is one of the terms `address` sums (with the rest free of it), else None."""
    if address is loop:
        return address.const_like(0)
    if address.op is not Ops.ADD:
        return None
    left, right = address.src
    if right is loop:
        return None if loop in toposort(left) else left
    if left is loop:
        return None if loop in toposort(right) else right
    if loop in toposort(right):
        return None
    inner = _without(left, loop)
    return None if inner is None else UOp(Ops.ADD, address.dtype, (inner, right))


def _in_scope(node: UOp, loop: UOp, scopes: dict[UOp, tuple[UOp, ...]]) -> bool:
    """Whether every node of the program that `node` is computed from is computed before `loop` opens, in a loop
    around it (so its C variable is declared there and still in scope)."""
    around = scopes[loop]
    stack = [node]
    while stack:
        current = stack.pop()
        if current in scopes:
            # Computed already (the program is in order, and `loop` was open when the reading load was seen),
            # and not inside a loop that has closed.
            if current is loop or loop in scopes[current] or scopes[current] != around[: len(scopes[current])]:
                return False
        elif current.op not in (Ops.CONST, Ops.DEFINE_GLOBAL, Ops.DEFINE_VAR):
            stack.extend(current.src)
    return True
