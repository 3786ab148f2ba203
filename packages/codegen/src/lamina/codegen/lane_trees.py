"""Whole accumulator updates as explicit vectors: adjacent outputs whose updates are computed the same way.

A convolution's register tile updates each accumulator with a sum over the taps written out,
`acc[x] += in[x-1]*w0 + in[x]*w1 + in[x+1]*w2`, not with the single product tile_vectors.py packs, and
neither C compiler vectorizes it reliably: gcc vectorizes the OpenMP simd loop over the channels instead
(a gather per tap), 3-8x slower than the same tile written as vectors along the row. Here the lanes of a
pack are the accumulators of adjacent outputs (a run of stores); their update expressions must have the
same shape, node for node, and each position of that shape becomes one vector value:

- `scalar`: the same node in every lane (a weight), used as it is, the vector extension broadcasting it;
- `run`: loads of adjacent elements of one buffer (the row read at each tap), one vector load, through the
  zero row where the load is padded (see render_c's `_rerouted_address`);
- `op`: the same float arithmetic in every lane, whose nodes nothing else reads: one vector operation;
- `gather`: loaded or constant values that are none of these (a padded tap folded to 0 in the first lane),
  a vector built lane by lane; lanes whose arithmetic differs (a tap more in some) are no pack.

The packed arithmetic is then written only as vectors. Packing changes no value: every lane computes the
same operations on the same operands in the same order as its scalar code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from lamina.codegen.vectors import adjacent_stretches, base_and_offset
from lamina.dtype import PtrDType, dtypes
from lamina.uop import AxisKind, Ops, UOp

PACKED_OPS: Final = frozenset({Ops.ADD, Ops.SUB, Ops.MUL, Ops.NEG})
"""Float arithmetic that GCC and clang vector extensions spell as in scalar C, a scalar operand broadcast."""

SMALLEST_PACK: Final = 4
"""The narrowest pack: a 16-byte vector, which every x86-64 and Arm CPU has."""


@dataclass(frozen=True, slots=True)
class LaneTree:
    """One position of the update expression, across the lanes: `kind` says how it is computed (see module)."""

    kind: str
    nodes: tuple[UOp, ...]
    sources: tuple[LaneTree, ...] = ()


@dataclass(frozen=True, slots=True)
class TreeUpdate:
    """`accumulators += tree`, lane i updating `accumulators[i]` by its ASSIGN `members[i]`."""

    tree: LaneTree
    accumulators: tuple[UOp, ...]
    members: tuple[UOp, ...]

    @property
    def lanes(self) -> int:
        return len(self.members)

    def positions(self, kind: str) -> list[tuple[UOp, ...]]:
        """The nodes of every position of `kind` in the tree."""
        found: list[tuple[UOp, ...]] = []
        stack = [self.tree]
        while stack:
            tree = stack.pop()
            if tree.kind == kind:
                found.append(tree.nodes)
            stack.extend(tree.sources)
        return found

    def runs(self) -> list[tuple[UOp, ...]]:
        """The loads of each `run` position."""
        return self.positions("run")

    def interior(self) -> list[UOp]:
        """The nodes computed only as vectors: every node of an `op` position."""
        return [node for nodes in self.positions("op") for node in nodes]


@dataclass
class _Program:
    """What the planner knows of the linear program: each node's segment (loop body), users and SIMD loop."""

    segment: dict[UOp, int] = field(default_factory=dict)
    simd_loop: dict[UOp, UOp] = field(default_factory=dict)  # node -> the SIMD RANGE it lies in
    users: dict[UOp, int] = field(default_factory=dict)
    assigns: dict[UOp, list[UOp]] = field(default_factory=dict)  # DEFINE_ACC -> its ASSIGNs
    accumulator_of: dict[UOp, UOp] = field(default_factory=dict)  # REDUCE -> DEFINE_ACC
    reads_state: dict[UOp, bool] = field(default_factory=dict)
    reduce_in: dict[UOp, UOp | Literal[False] | None] = field(default_factory=dict)


def _survey(uops: Sequence[UOp]) -> _Program:
    program = _Program()
    segment = 0
    open_simd: list[UOp] = []
    for uop in uops:
        if uop.op in (Ops.RANGE, Ops.END, Ops.BARRIER):
            segment += 1
            if uop.op is Ops.RANGE and uop.arg[1] is AxisKind.SIMD:
                open_simd.append(uop)
            elif uop.op is Ops.END and open_simd and uop.src[0] is open_simd[-1]:
                open_simd.pop()
        program.segment[uop] = segment
        if open_simd:
            program.simd_loop[uop] = open_simd[-1]
        if uop.op is Ops.DEFINE_ACC:
            program.accumulator_of[uop.arg[1]] = uop
        if uop.op is Ops.ASSIGN:
            program.assigns.setdefault(uop.src[0], []).append(uop)
        if uop.op is Ops.REDUCE:
            continue
        for source in uop.src[1].src if uop.op is Ops.ASSIGN else uop.src:
            program.users[source] = program.users.get(source, 0) + 1
    return program


def _reads_state(node: UOp, program: _Program) -> bool:
    """Whether `node` depends on an accumulator: such a leaf would be read before the lanes before it update."""
    known = program.reads_state.get(node)
    if known is None:
        known = node.op in (Ops.DEFINE_ACC, Ops.ASSIGN, Ops.REDUCE) or any(
            _reads_state(source, program) for source in node.src
        )
        program.reads_state[node] = known
    return known


def _is_run(nodes: tuple[UOp, ...], reach: int) -> bool:
    """Loads of adjacent float32 elements of one global buffer, one validity for all (padded loads within
    `reach` of their row, for the zero row to serve them)."""
    first = nodes[0]
    if first.op is not Ops.LOAD or any(node.op is not Ops.LOAD for node in nodes):
        return False
    index = first.src[0]
    pointer = index.src[0]
    if pointer.op is not Ops.DEFINE_GLOBAL or not isinstance(pointer.dtype, PtrDType):
        return False
    if pointer.dtype.base is not dtypes.float32:
        return False
    base, start = base_and_offset(index.src[1])
    for lane, node in enumerate(nodes):
        other = node.src[0]
        if other.src[0] is not pointer or len(other.src) != len(index.src) or other.src[2:] != index.src[2:]:
            return False
        if base_and_offset(other.src[1]) != (base, start + lane):
            return False
    padded = len(index.src) == 3
    return not padded or (reach > 0 and -reach <= start and start + len(nodes) <= reach)


def _tree(nodes: tuple[UOp, ...], segment: int, program: _Program, reach: int) -> LaneTree | None:
    first = nodes[0]
    if all(node is first for node in nodes):
        return None if _reads_state(first, program) else LaneTree("scalar", nodes)
    if all(program.segment.get(node) == segment for node in nodes) and _is_run(nodes, reach):
        return LaneTree("run", nodes)
    packable = (
        first.op in PACKED_OPS
        and first.dtype is dtypes.float32
        and all(node.op is first.op and node.dtype is first.dtype for node in nodes)
        and all(program.users.get(node) == 1 and program.segment.get(node) == segment for node in nodes)
        and len(set(nodes)) == len(nodes)
    )
    if packable:
        sources = []
        for position in range(len(first.src)):
            source = _tree(tuple(node.src[position] for node in nodes), segment, program, reach)
            if source is None:
                return None
            sources.append(source)
        return LaneTree("op", nodes, tuple(sources))
    # Lanes that differ in their arithmetic (one more tap in some) are no pack: a gather holds loaded values.
    if any(_reads_state(node, program) or node.op in PACKED_OPS for node in nodes):
        return None
    return LaneTree("gather", nodes)


def _runs_below(tree: LaneTree) -> int:
    return (tree.kind == "run") + sum(_runs_below(source) for source in tree.sources)


def _reduce_in(root: UOp, program: _Program) -> UOp | Literal[False] | None:
    """The one REDUCE `root` is computed from (through anything but loads), None, or False for several:
    memoized, since the stores of a tile share most of their values (iterative: value chains run deep)."""
    memo = program.reduce_in
    stack: list[tuple[UOp, bool]] = [(root, False)]
    while stack:
        node, sources_done = stack.pop()
        if node in memo:
            continue
        if node.op is Ops.REDUCE or node.op is Ops.LOAD:
            memo[node] = node if node.op is Ops.REDUCE else None
            continue
        if not sources_done:
            stack.append((node, True))
            stack.extend((source, False) for source in node.src if source not in memo)
            continue
        found: UOp | Literal[False] | None = None
        for source in node.src:
            inner = memo[source]
            if inner is False or (inner is not None and found is not None and inner is not found):
                found = False
                break
            if inner is not None:
                found = inner
        memo[node] = found
    return memo[root]


def _accumulator_of_store(store: UOp, program: _Program) -> UOp | None:
    """The one ADD accumulator a stored value is computed from (a tile's output plus a bias), or None."""
    reduce = _reduce_in(store.src[1], program)
    if not reduce:
        return None
    accumulator = program.accumulator_of.get(reduce)
    if accumulator is None or accumulator.arg[1].arg is not Ops.ADD or accumulator.dtype is not dtypes.float32:
        return None
    return accumulator


def _update(accumulators: tuple[UOp, ...], program: _Program, reach: int) -> TreeUpdate | None:
    if len(set(accumulators)) != len(accumulators):
        return None
    assigns: list[UOp] = []
    added: list[UOp] = []
    for accumulator in accumulators:
        updates = program.assigns.get(accumulator, [])
        if len(updates) != 1:
            return None
        assign = updates[0]
        value = assign.src[1]
        if value.op is not Ops.ADD or accumulator not in value.src or value.src[0] is value.src[1]:
            return None
        assigns.append(assign)
        added.append(value.src[1] if value.src[0] is accumulator else value.src[0])
    segment = program.segment[assigns[0]]
    if any(program.segment[assign] != segment for assign in assigns):
        return None
    if len({program.segment[accumulator] for accumulator in accumulators}) != 1:
        return None
    if len({program.simd_loop.get(assign) for assign in assigns}) != 1:
        return None
    tree = _tree(tuple(added), segment, program, reach)
    if tree is None or _runs_below(tree) == 0:
        return None
    return TreeUpdate(tree, accumulators, tuple(assigns))


def plan_tree_updates(uops: Sequence[UOp], lanes: int, taken: set[UOp], reach: int) -> list[TreeUpdate]:
    """The tree updates of `uops`, packs of `lanes` (down to SMALLEST_PACK) adjacent outputs, leaving out the
    accumulators in `taken` (packed already); `reach`: how far a padded load may lie from its row (0: none).

    Each stretch of adjacent stores is cut into packs widest first; a lane that fits no pack (a convolution's
    first column, whose update lacks the taps its padding folded away) stays scalar, and the next is tried."""
    if lanes < SMALLEST_PACK:
        return []
    program = _survey(uops)
    widths = []
    width = lanes
    while width >= SMALLEST_PACK:
        widths.append(width)
        width //= 2
    updates: list[TreeUpdate] = []
    for _, _, _, stores in adjacent_stretches(uops, Ops.STORE):
        found = [_accumulator_of_store(store, program) for store in stores]
        start = 0
        while start + SMALLEST_PACK <= len(stores):
            update = None
            for width in widths:
                accumulators = found[start : start + width]
                if len(accumulators) == width and all(each is not None and each not in taken for each in accumulators):
                    update = _update(tuple(each for each in accumulators if each is not None), program, reach)
                    if update is not None:
                        break
            if update is None:
                start += 1
                continue
            updates.append(update)
            taken.update(update.accumulators)
            start += update.lanes
    return _mostly_packed_simd_loops(updates, uops, program)


def _mostly_packed_simd_loops(updates: list[TreeUpdate], uops: Sequence[UOp], program: _Program) -> list[TreeUpdate]:
    """The updates outside SIMD loops, and those in a SIMD loop whose accumulators are at least half packed:
    such a loop loses its `omp simd` (its vectors are explicit, and a vector carried from one iteration to the
    next may not sit in one), so a loop mostly left to the compiler's vectorizer keeps it, and no packs."""
    packed = {assign for update in updates for assign in update.members}
    counts: dict[UOp, list[int]] = {}
    for uop in uops:
        loop = program.simd_loop.get(uop)
        if uop.op is Ops.ASSIGN and loop is not None:
            tally = counts.setdefault(loop, [0, 0])
            tally[0] += uop in packed
            tally[1] += 1
    kept = {loop for loop, (packed_count, total) in counts.items() if 2 * packed_count >= total}

    def keeps(update: TreeUpdate) -> bool:
        loop = program.simd_loop.get(update.members[0])
        return loop is None or loop in kept

    return [update for update in updates if keeps(update)]
