"""What the frontend remembers between operations, in one documented object (`frontend`).

Every other piece of Tensor state lives on the tensors themselves. These outlive single
operations: which graphs were realized into which buffers (so a graph built again from the same
nodes reuses the buffer), the graphs autograd still needs behind realized results, the no_grad
stack, the tensors whose value a backward() promised to the next realize, and the leaves that
require gradients. Everything keyed by a graph or a tensor is held weakly, so this state never
keeps alive what the program dropped (the memory tests count live UOps and buffers).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from lamina.uop import Ops, UOp

if TYPE_CHECKING:
    from lamina.tensor.core import TensorCore


Value = TypeVar("Value")


class GraphMemo(Generic[Value]):
    """Values by graph node identity, the node held weakly: an entry goes when its node does. Every realize looks
    up each node of its graph, and a lookup here is one dict access (a WeakKeyDictionary builds a weak reference
    for each)."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[weakref.ref[UOp], Value]] = {}

    def get(self, node: UOp) -> Value | None:
        entry = self._entries.get(id(node))
        # A dead node's id may be reused by a new one: the entry counts only if its reference is to this node.
        return entry[1] if entry is not None and entry[0]() is node else None

    def __setitem__(self, node: UOp, value: Value) -> None:
        key, entries = id(node), self._entries

        def forget(reference: weakref.ref[UOp]) -> None:
            entry = entries.get(key)
            if entry is not None and entry[0] is reference:
                del entries[key]

        entries[key] = (weakref.ref(node, forget), value)

    def __len__(self) -> int:
        return len(self._entries)


class CleanGraphs:
    """Nodes walked since the last realize and found holding no realized graph (see `FrontendState.unrealized`).

    Emptied by every realize, so entries need no callbacks: a node's plain weak reference (shared by every
    plain reference to it) tells whether it is still the node recorded; dead ones are pruned as the set grows."""

    def __init__(self) -> None:
        self._nodes: dict[int, weakref.ref[UOp]] = {}
        self._prune_at = 1024

    def __contains__(self, node: UOp) -> bool:
        reference = self._nodes.get(id(node))
        return reference is not None and reference() is node

    def update(self, nodes: Iterable[UOp]) -> None:
        self._nodes.update((id(node), weakref.ref(node)) for node in nodes)
        if len(self._nodes) > self._prune_at:
            self._nodes = {key: reference for key, reference in self._nodes.items() if reference() is not None}
            self._prune_at = 2 * max(len(self._nodes), 512)

    def clear(self) -> None:
        self._nodes.clear()

    def __len__(self) -> int:
        return len(self._nodes)


@dataclass
class FrontendState:
    """The frontend's memory across operations (see the module)."""

    # A realized graph -> the buffer view it became. Weak both ways: `graphs` holds the graph of a result that
    # autograd needs, so a strong view here would tie each entry of one map to an entry of the other forever.
    realized: GraphMemo[weakref.ref[UOp]] = field(default_factory=GraphMemo)
    # A realized result that autograd needs -> the graph that computed it, for backward() to differentiate.
    graphs: weakref.WeakKeyDictionary[UOp, UOp] = field(default_factory=weakref.WeakKeyDictionary)
    # The no_grad() stack: whether new graphs record autograd information.
    grad_enabled: list[bool] = field(default_factory=lambda: [True])
    # Tensors backward() ran on, until the next realize computes them too: a loss is read after the optimizer's
    # step, and computing it in the step's schedule shares the forward pass instead of running it again.
    awaiting_value: weakref.WeakValueDictionary[int, TensorCore] = field(default_factory=weakref.WeakValueDictionary)
    # Graphs with_realized walked since the last realize and found holding no realized graph: until a realize adds
    # one, a walk stops at them (item assignments in a loop would otherwise walk the whole graph so far each time).
    unrealized: CleanGraphs = field(default_factory=CleanGraphs)
    # Outside a jitted call's capture, the buffers whose tensor was given a new value (assign, item assignment), and
    # how many times that happened: a replay reads the buffers its capture saw, so a replay whose buffers include a
    # replaced one (new weights loaded into a model the function reads) captures again instead.
    replaced: weakref.WeakSet[UOp] = field(default_factory=weakref.WeakSet)
    outside_writes: int = 0
    # Leaves that require gradients, by id (a WeakSet would compare tensors with ==, which builds a tensor).
    grad_leaves: weakref.WeakValueDictionary[int, TensorCore] = field(default_factory=weakref.WeakValueDictionary)


def note_outside_write(old_value: UOp) -> None:
    """Record that a tensor whose value was `old_value` got a new one outside any capture (see `replaced`)."""
    while old_value.op is Ops.RESHAPE:
        old_value = old_value.src[0]
    frontend.replaced.add(old_value)
    frontend.outside_writes += 1


frontend = FrontendState()
"""The process's frontend state."""
