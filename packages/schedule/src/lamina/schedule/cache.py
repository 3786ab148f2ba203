"""The schedule cache: a graph scheduled once is never scheduled again, whatever buffers it runs on.

A training step builds the same graph every time over different buffers (a new batch, the
parameters the last step wrote). Its *structure* (every node's op, dtype, argument and sources,
with each BUFFER replaced by its position among the graph's buffers) is a key; the schedule made
for it is kept as a template whose kernels (buffer-free ASTs) and buffer slots are reused, so a
repeat costs one walk over the graph instead of finding boundaries and rangeifying every kernel.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Final

from lamina.dtype import DType
from lamina.uop import Check, Ops, UOp

# Distinct graph structures kept; a program has a handful (train step, eval step), so this is a leak bound.
CACHE_LIMIT: Final = 512

# Under Python 3.11 an enum member read through its class (`Ops.BUFFER`) costs a Python-level __getattr__ hook;
# the walk every realize makes reads these once per node.
BUFFER: Final = Ops.BUFFER
BIND: Final = Ops.BIND


@dataclass(frozen=True, slots=True)
class GraphStructure:
    """A graph's structure as a hashable key, and its BUFFER nodes in the order the key numbers them."""

    key: Hashable
    buffers: tuple[UOp, ...]
    variables: dict[str, int]  # each bound variable's value in this graph, by name (not part of the key)


def graph_structure(targets: Sequence[UOp], device: str, lowering: Hashable = None) -> GraphStructure:
    """The structure of the graphs of `targets` (and how they are lowered, which changes their schedule); raises
    ValueError for a buffer not on `device`."""
    position: dict[UOp, int] = {}
    buffers: list[UOp] = []
    variables: dict[str, int] = {}
    rows: list[Hashable] = []
    # Every realize of a seen graph costs this walk, so it is one pass that emits each node's row as the depth-first
    # order reaches it (toposort's order: sources left to right), each argument as its intern key holds it.
    row, number = rows.append, position.__getitem__
    for root in targets:
        if root in position:
            continue
        stack = [(root, iter(root.src))]
        position[root] = -1  # on the stack: seen, numbered when emitted
        while stack:
            node, sources = stack[-1]
            for source in sources:
                if source not in position:
                    position[source] = -1
                    stack.append((source, iter(source.src)))
                    break
            else:
                stack.pop()
                op, arg = node.op, node.arg
                if op is BUFFER:
                    if arg.device != device:
                        raise ValueError(f"cannot compute on {device} with a buffer on {arg.device}; move it first")
                    row((BUFFER, node.dtype, len(buffers), arg.size))
                    buffers.append(node)
                elif op is BIND:
                    # The variable is structure, its value is not: every value shares one schedule and its kernels.
                    name = node.src[0].arg[0]
                    if variables.setdefault(name, arg) != arg:
                        raise ValueError(f"variable {name!r} is bound to both {variables[name]} and {arg} in one graph")
                    row((BIND, node.dtype, None, (number(node.src[0]),)))
                else:
                    row((op, node.dtype, node.keyed_arg, tuple([number(source) for source in node.src])))
                position[node] = len(rows) - 1
    key = (device, lowering, tuple(rows), tuple(position[target] for target in targets))
    return GraphStructure(key, tuple(buffers), variables)


@dataclass(frozen=True, slots=True)
class ScheduleTemplate:
    """A schedule with buffers as slots: first the graph's own buffers, then the ones the schedule made."""

    kernels: tuple[tuple[UOp, tuple[int, ...]], ...]  # each kernel's AST and its buffers' slots
    made: tuple[tuple[int, DType], ...]  # size and dtype of each buffer the schedule made
    results: tuple[tuple[int, tuple[int, ...]] | None, ...]  # per target: (slot, shape) of its view, None if itself
    frees: tuple[tuple[int, ...], ...]
    checks: tuple[tuple[int, Check], ...]  # each verdict's slot and what it checked


class ScheduleCache:
    """Templates by graph structure, dropped all at once past CACHE_LIMIT entries."""

    def __init__(self) -> None:
        self.templates: dict[Hashable, ScheduleTemplate] = {}
        self.hits = 0
        self.misses = 0

    def get(self, structure: GraphStructure) -> ScheduleTemplate | None:
        template = self.templates.get(structure.key)
        if template is None:
            self.misses += 1
        else:
            self.hits += 1
        return template

    def put(self, structure: GraphStructure, template: ScheduleTemplate) -> None:
        if len(self.templates) >= CACHE_LIMIT:
            self.templates.clear()
        self.templates[structure.key] = template
