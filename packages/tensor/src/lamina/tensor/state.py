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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lamina.uop import Ops, UOp

if TYPE_CHECKING:
    from lamina.tensor.core import TensorCore


@dataclass
class FrontendState:
    """The frontend's memory across operations (see the module)."""

    # A realized graph -> the buffer view it became. Weak both ways: `graphs` holds the graph of a result that
    # autograd needs, so a strong view here would tie each entry of one map to an entry of the other forever.
    realized: weakref.WeakKeyDictionary[UOp, weakref.ref[UOp]] = field(default_factory=weakref.WeakKeyDictionary)
    # A realized result that autograd needs -> the graph that computed it, for backward() to differentiate.
    graphs: weakref.WeakKeyDictionary[UOp, UOp] = field(default_factory=weakref.WeakKeyDictionary)
    # The no_grad() stack: whether new graphs record autograd information.
    grad_enabled: list[bool] = field(default_factory=lambda: [True])
    # Tensors backward() ran on, until the next realize computes them too: a loss is read after the optimizer's
    # step, and computing it in the step's schedule shares the forward pass instead of running it again.
    awaiting_value: weakref.WeakValueDictionary[int, TensorCore] = field(default_factory=weakref.WeakValueDictionary)
    # Graphs with_realized walked since the last realize and found holding no realized graph: until a realize adds
    # one, a walk stops at them (item assignments in a loop would otherwise walk the whole graph so far each time).
    unrealized: weakref.WeakSet[UOp] = field(default_factory=weakref.WeakSet)
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
