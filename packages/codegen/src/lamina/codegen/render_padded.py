"""How the C renderer writes loads, padded ones above all, and choices (a mixin of `render_c._CKernel`).

A padded read (an INDEX with a validity) may address memory outside its buffer exactly where the validity is
false. Three ways to write one, best first: through a pointer the validity picks, the buffer's row or a row of
zeros (one pointer for a whole upcast row, so its copies are plain loads: `_rerouted_address`); read always and
pick the padding afterwards (`lm_pick`) where the address is a constant away, within the allocation's read
guard, from one the kernel reads unconditionally; or a conditional load, which the C compiler may not
speculate and leaves scalar.

A choice between a value and zero (`keep ? x : 0`) is the same pick where the dialect says so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Final

from lamina.codegen.dialects import Dialect
from lamina.codegen.linearize import LinearProgram
from lamina.codegen.loop_rows import LoopRow, RowPlan, plan_loop_rows
from lamina.codegen.render_consts import is_positive_zero, render_const
from lamina.codegen.render_conversions import SIXTEEN_BIT_FLOATS, compute_type
from lamina.codegen.vectors import base_and_offset
from lamina.dtype import DType, PtrDType
from lamina.uop import Ops, UOp, toposort

ZERO_ROW_REACH: Final = 4096
"""Elements the row of zeros reaches either way from its middle (see `_rerouted_address`)."""


_FLOAT_BITS: Final = {"float": "unsigned int", "double": "unsigned long long"}
"""The unsigned integer of each computed float type's width, for masking its bits."""


def pick_helper(name: str, dtype: DType) -> str:
    """`name(keep, value)`: `value` where `keep`, else 0, without a branch: the value's bits masked by all ones or
    all zeros. A select here made gcc if-convert every padded tap of a loop into masked loads and blends, its
    accumulators spilled (a convolution's weight gradient 3x slower than clang's); an AND it vectorizes as one.
    A kept value is its bits unchanged (a NaN, a -0.0); a dropped one is +0, as the select gave."""
    kind = compute_type(dtype)
    mask = f"-({kind})keep"
    if kind in _FLOAT_BITS:
        bits = _FLOAT_BITS[kind]
        body = (
            f"{bits} bits; memcpy(&bits, &value, sizeof bits); bits &= -({bits})keep; "
            f"{kind} kept; memcpy(&kept, &bits, sizeof kept); return kept;"
        )
    elif dtype.is_int:
        body = f"return ({kind})(value & {mask});"
    else:
        body = f"return keep ? value : ({kind})0;"
    return f"static inline {kind} {name}(_Bool keep, {kind} value) {{ {body} }}"


class PaddedReadWriter:
    """Writes LOADs: plain, through local memory, and padded."""

    dialect: Dialect
    helpers: dict[str, str]
    open_loops: list[UOp]
    plain_reads: set[tuple[UOp, UOp]]
    program: LinearProgram
    uses: Counter[UOp]
    segment: dict[UOp, int]
    index_math: set[UOp]
    row_plan: RowPlan | None
    ref: Callable[[UOp], str]
    _address: Callable[[UOp], str]
    _to_float: Callable[[DType], str]
    _storage_type: Callable[[DType], str]

    def _plan_loop_rows(self, skipped: set[UOp]) -> None:
        """Padded reads through rows named before their loop (see loop_rows.py); their addresses go unused."""
        self.row_plan = plan_loop_rows(self.program.uops, ZERO_ROW_REACH, skipped) if self.dialect.zero_rows else None
        self.row_names: dict[LoopRow, str] = {}
        if self.row_plan is None:
            return
        for load in self.row_plan.reads:
            self._release(load.src[0].src[1])
        for rows in self.row_plan.rows.values():
            for row in rows:
                self._retain(row.validity)
                self._retain(row.rest)

    def _release(self, node: UOp) -> None:
        self.uses[node] -= 1
        if self.uses[node] <= 0 and node in self.index_math:
            for source in node.src:
                self._release(source)

    def _retain(self, node: UOp) -> None:
        if node in self.segment or node.op is Ops.CONST:
            self.uses[node] += 1
        else:
            for source in node.src:
                self._retain(source)

    def _row_declarations(self, loop: UOp) -> list[str]:
        """The rows read along `loop`, declared before it opens."""
        rows = [] if self.row_plan is None else self.row_plan.rows.get(loop, [])
        lines = []
        for row in rows:
            name = self.row_names[row] = f"row{len(self.row_names)}"
            assert isinstance(row.pointer.dtype, PtrDType)
            storage = self._storage_type(row.pointer.dtype.base)
            lines.append(f"const {storage}* {name} = {self._zero_or_row(row.pointer, row.validity, row.rest)};")
        return lines

    def _load(self, uop: UOp) -> str:
        index = uop.src[0]
        dtype = uop.scalar_dtype
        if index.src[0].op is Ops.DEFINE_LOCAL:
            return self._address(index)  # local memory holds values as computed (see _define_local)
        row_read = None if self.row_plan is None else self.row_plan.reads.get(uop)
        if row_read is not None:
            row, loop, offset = row_read
            element = (
                f"{self.row_names[row]}[{self.ref(loop)}{offset:+d}]"
                if offset
                else f"{self.row_names[row]}[{self.ref(loop)}]"
            )
            return f"{self._to_float(dtype)}({element})" if dtype in SIXTEEN_BIT_FLOATS else element
        padded = len(index.src) == 3
        rerouted = self._rerouted_address(index) if padded and self.dialect.zero_rows else None
        element = self._address(index) if rerouted is None else rerouted
        if dtype in SIXTEEN_BIT_FLOATS:
            element = f"{self._to_float(dtype)}({element})"
        if padded and rerouted is None:
            if self._guarded_read(index):
                # Read always (the address is within the allocation's guard), the padding chosen afterwards.
                name = f"lm_pick_{dtype.name}"
                self.helpers[name] = pick_helper(name, dtype)
                return f"{name}({self.ref(index.src[2])}, {element})"
            # A padded read: the address may be out of bounds exactly when the validity is false.
            return f"({self.ref(index.src[2])}?{element}:{render_const(0, dtype)})"
        return element

    def _choice(self, uop: UOp) -> str:
        """WHERE: `(c?a:b)`, or a pick (`lm_pick`) where one side is the constant +0 and the dialect masks such
        choices; -0.0 is no zero here (the pick's dropped value is +0)."""
        condition, if_true, if_false = uop.src
        dtype = uop.scalar_dtype
        if self.dialect.masked_zero_choices and (dtype.is_float or dtype.is_int):
            name = f"lm_pick_{dtype.name}"
            if is_positive_zero(if_false):
                self.helpers[name] = pick_helper(name, dtype)
                return f"{name}({self.ref(condition)}, {self.ref(if_true)})"
            if is_positive_zero(if_true):
                self.helpers[name] = pick_helper(name, dtype)
                return f"{name}(!{self.ref(condition)}, {self.ref(if_false)})"
        return f"({self.ref(condition)}?{self.ref(if_true)}:{self.ref(if_false)})"

    def _guarded_read(self, index: UOp) -> bool:
        """Whether a padded read may execute unconditionally: its address is a constant away, within the
        dialect's read guard, from an address this kernel reads unconditionally from the same buffer."""
        guard = self.dialect.read_guard_bytes
        pointer = index.src[0]
        if not guard or pointer.op is not Ops.DEFINE_GLOBAL or not isinstance(pointer.dtype, PtrDType):
            return False
        base, offset = base_and_offset(index.src[1])
        return (pointer, base) in self.plain_reads and abs(offset) * pointer.dtype.base.itemsize <= guard

    def _rerouted_address(self, index: UOp) -> str | None:
        """A padded read `base + c` as a plain read through a pointer the validity picks: the buffer's row
        at `base`, or a row of zeros (None where `c` lies beyond the zeros' reach).

        The copies of an upcast loop share the validity and base of a padded row and differ only in `c`,
        so the C compiler sees one pointer and contiguous unconditional loads, which it vectorizes; a
        conditional load it may not speculate, and leaves scalar.
        """
        validity, address = index.src[2], index.src[1]
        # Where the validity changes along the innermost loop, the lanes of a vector differ in it: a masked
        # vector load serves them, where one pointer per lane would be a gather.
        if self.open_loops and self.open_loops[-1] in toposort(validity):
            return None
        base, offset = address, 0
        if address.op is Ops.ADD and address.src[1].op is Ops.CONST:
            base, offset = address.src[0], int(address.src[1].arg)
        if abs(offset) >= ZERO_ROW_REACH:
            return None
        return f"{self._padded_row(index, base)}[{offset}]"

    def _padded_row(self, index: UOp, base: UOp) -> str:
        """The row a padded read at `base + c` reads from: the buffer's at `base` where the validity holds,
        else the middle of a row of zeros, which reaches ZERO_ROW_REACH elements either way."""
        return self._zero_or_row(index.src[0], index.src[2], base)

    def _zero_or_row(self, pointer: UOp, validity: UOp, base: UOp) -> str:
        assert isinstance(pointer.dtype, PtrDType)
        storage = self._storage_type(pointer.dtype.base)
        zeros = f"lm_zeros_{pointer.dtype.base.name}"
        self.helpers[zeros] = f"static const {storage} {zeros}[{2 * ZERO_ROW_REACH}];"
        return f"({self.ref(validity)}?{self.ref(pointer)}+{self.ref(base)}:{zeros}+{ZERO_ROW_REACH})"
