"""The linearizer: a kernel AST (SINK of STOREs over RANGE/LOAD/REDUCE) as a linear program.

The program is a flat list of UOps with explicit control flow: a RANGE opens a loop and its END
closes it; a REDUCE becomes an accumulator (DEFINE_ACC) before its loops, an ASSIGN inside the
innermost one, and the REDUCE itself after them, naming the accumulated value. Every node is
placed in the outermost loop where all the ranges it depends on are open, so loop-invariant work
is hoisted by construction. Loops nest as blocks that are attached to their parent when they
close: whatever is hoisted into a parent meanwhile lands before the loop, where it belongs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lamina.codegen.opts import loop_dependencies
from lamina.dtype import DType
from lamina.uop import GRID_AXES, SPREAD_AXES, AxisKind, ConstValue, Ops, UOp, substitute, toposort


@dataclass(frozen=True, slots=True)
class LinearProgram:
    """A kernel as a straight-line list of UOps with explicit loops, ready to render."""

    name: str
    uops: tuple[UOp, ...]
    parameters: tuple[UOp, ...]  # the DEFINE_GLOBALs, in argument order
    variables: tuple[UOp, ...] = ()  # the DEFINE_VARs, int arguments after the buffers, in order of name


@dataclass
class _Block:
    loop: UOp | None
    depth: int
    items: list[UOp | _Block] = field(default_factory=list)


def reduce_identity(op: Ops, dtype: DType) -> ConstValue:
    """The value a reduction starts from: 0 for ADD, 1 for MUL, the lowest value of `dtype` for MAX."""
    if op is Ops.ADD:
        return 0
    if op is Ops.MUL:
        return 1
    return dtype.min_value


def _is_output_axis(node: UOp) -> bool:
    kind = node.arg[1] if node.op is Ops.RANGE else None
    return kind in (AxisKind.LOOP, AxisKind.GLOBAL, AxisKind.VECTOR) or kind in SPREAD_AXES or kind in GRID_AXES


class _Linearizer:
    def __init__(self, sink: UOp) -> None:
        self.sink = sink
        self.ranges = loop_dependencies(sink)
        self.root = _Block(None, 0)
        self.block_of: dict[UOp, _Block] = {}
        self.emitted: set[UOp] = set()
        self.accumulators = 0
        # REDUCEs over the same loops share one loop nest, one accumulator each (what an upcast makes).
        self.reduce_groups: dict[tuple[UOp, ...], list[UOp]] = {}
        for node in toposort(sink):
            if node.op is Ops.REDUCE:
                self.reduce_groups.setdefault(node.src[1:], []).append(node)

    def open_loop(self, loop: UOp, parent: _Block) -> _Block:
        block = _Block(loop, parent.depth + 1, [loop])
        self.block_of[loop] = block
        return block

    def close_loop(self, block: _Block, parent: _Block) -> None:
        assert block.loop is not None
        block.items.append(UOp(Ops.END, block.loop.dtype, (block.loop,)))
        parent.items.append(block)

    def home(self, node: UOp) -> _Block:
        """The outermost open block in which every range `node` depends on is open."""
        blocks = [self.block_of[loop] for loop in self.ranges[node]]
        return max(blocks, key=lambda block: block.depth) if blocks else self.root

    def emit(self, targets: list[UOp]) -> None:
        skip = (Ops.CONST, Ops.DEFINE_GLOBAL, Ops.RANGE, Ops.DEFINE_VAR)
        for node in toposort(targets, stop=lambda node: node in self.emitted or node.op is Ops.REDUCE):
            if node in self.emitted or node.op in skip:
                continue
            if node.op is Ops.REDUCE:
                self.emit_reduce(node)
            else:
                self.home(node).items.append(node)
            self.emitted.add(node)

    def emit_reduce(self, reduce: UOp) -> None:
        parent = self.home(reduce)
        group = [member for member in self.reduce_groups[reduce.src[1:]] if member not in self.emitted]
        if any(self.home(member) is not parent for member in group):
            raise ValueError(f"REDUCEs over the same loops (axes {_axes(reduce)}) sit in different loops")
        updates: list[UOp] = []
        for member in group:
            dtype = member.scalar_dtype
            identity = UOp.const(dtype, reduce_identity(member.arg, dtype))
            accumulator = UOp(Ops.DEFINE_ACC, dtype, (identity,), (self.accumulators, member))
            self.accumulators += 1
            parent.items.append(accumulator)
            updates.append(UOp(Ops.ASSIGN, dtype, (accumulator, UOp(member.arg, dtype, (accumulator, member.src[0])))))
            self.emitted.add(member)
        chain = [parent]
        for loop in reduce.src[1:]:
            chain.append(self.open_loop(loop, chain[-1]))
        self.emit([member.src[0] for member in group])
        chain[-1].items.extend(updates)
        for inner, outer in zip(reversed(chain[1:]), reversed(chain[:-1]), strict=True):
            self.close_loop(inner, outer)
        parent.items.extend(group)

    def run(self) -> list[UOp]:
        output_axes = sorted((node for node in self.ranges[self.sink] if _is_output_axis(node)), key=lambda r: r.arg[0])
        chain = [self.root]
        for loop in output_axes:
            chain.append(self.open_loop(loop, chain[-1]))
        self.emit(list(self.sink.src))
        for inner, outer in zip(reversed(chain[1:]), reversed(chain[:-1]), strict=True):
            self.close_loop(inner, outer)
        flat: list[UOp] = []
        pending: list[UOp | _Block] = list(reversed(self.root.items))
        while pending:
            item = pending.pop()
            if isinstance(item, _Block):
                pending.extend(reversed(item.items))
            else:
                flat.append(item)
        return flat


def kernel_name(sink: UOp) -> str:
    """A readable name from the loop sizes: `E_256_128` (elementwise) or `r_256_128_784` (with reductions)."""
    if isinstance(sink.arg, str):
        return sink.arg
    loops = sorted((node for node in toposort(sink) if node.op is Ops.RANGE), key=lambda r: r.arg[0])
    has_reduce = any(not _is_output_axis(loop) for loop in loops)
    sizes = "_".join(str(loop.src[0].arg) for loop in loops if loop.src[0].op is Ops.CONST)
    return f"{'r' if has_reduce else 'E'}_{sizes or 'scalar'}"


def _axes(reduce: UOp) -> tuple[int, ...]:
    return tuple(loop.arg[0] for loop in reduce.src[1:])


def _check_reduce_ranges(sink: UOp) -> None:
    # A REDUCE owns its loops, together with the other REDUCEs over exactly the same loops: they share
    # one loop nest. A REDUCE over some of another's loops, or one reading another of its group, would
    # need a second loop over the same index, where the values computed in the first are out of scope.
    owner: dict[UOp, tuple[UOp, ...]] = {}
    group: dict[tuple[UOp, ...], set[UOp]] = {}
    for node in toposort(sink):
        if node.op is not Ops.REDUCE:
            continue
        members = group.setdefault(node.src[1:], set())
        if any(source in members for source in toposort(node.src[0], stop=members.__contains__)):
            raise ValueError(f"a REDUCE over axes {_axes(node)} reads another REDUCE over the same loops")
        members.add(node)
        for loop in node.src[1:]:
            if owner.setdefault(loop, node.src[1:]) != node.src[1:]:
                raise ValueError(f"RANGE axis {loop.arg[0]} is reduced by two REDUCEs; give each REDUCE its own ranges")


def _separate_reduce_groups(sink: UOp) -> UOp:
    """`sink` where REDUCEs over the same loops but inside different outer loops get loops of their own.

    They cannot share a loop nest (one would be computed where the other's outer loops are not open),
    which happens when upcast copies differ in what they depend on (a copy whose index folded away).
    """
    dependencies = loop_dependencies(sink)
    groups: dict[tuple[UOp, ...], dict[frozenset[UOp], list[UOp]]] = {}
    nodes = toposort(sink)
    for node in nodes:
        if node.op is Ops.REDUCE:
            groups.setdefault(node.src[1:], {}).setdefault(dependencies[node], []).append(node)
    next_axis = 1 + max((node.arg[0] for node in nodes if node.op is Ops.RANGE), default=0)
    replacements: dict[UOp, UOp] = {}
    for loops, by_outer in groups.items():
        for members in list(by_outer.values())[1:]:
            fresh = {
                loop: UOp.range(loop.src[0], next_axis + offset, loop.arg[1], loop.scalar_dtype)
                for offset, loop in enumerate(loops)
            }
            next_axis += len(loops)
            replacements.update(zip(members, substitute(members, fresh), strict=True))
    return substitute([sink], replacements)[0] if replacements else sink


def linearize(sink: UOp) -> LinearProgram:
    """The kernel `sink` as a linear program with explicit loops and accumulators."""
    if sink.op is not Ops.SINK:
        raise ValueError(f"linearize needs a kernel SINK, got {sink.op}")
    sink = _separate_reduce_groups(sink)
    _check_reduce_ranges(sink)
    uops = _Linearizer(sink).run()
    nodes = toposort(sink)
    parameters = sorted((node for node in nodes if node.op is Ops.DEFINE_GLOBAL), key=lambda p: p.arg)
    variables = sorted((node for node in nodes if node.op is Ops.DEFINE_VAR), key=lambda v: str(v.arg[0]))
    names = [variable.arg[0] for variable in variables]
    if len(set(names)) != len(names):
        raise ValueError(f"a kernel declares one variable name with two ranges: {[v.arg for v in variables]}")
    return LinearProgram(kernel_name(sink), tuple(uops), tuple(parameters), tuple(variables))
