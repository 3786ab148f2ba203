"""Where the lazy graph must be cut: which nodes get a buffer of their own (the realize boundaries).

Everything not named here fuses into the kernel that consumes it. The rules: the requested
targets, every CONTIGUOUS and every WRITE (into its target's buffer) are realized; a value
containing an unrealized reduction that is then *broadcast* (an EXPAND that grows a dim) is
realized, since fusing it would recompute the reduction once per broadcast copy (softmax,
layernorm, the second layer of an MLP) — at the nodes holding it that movement ops and joins build
it from (a convolution's windows: the activation); and a value containing an unrealized reduction
that would be computed inside two or more kernels is realized, so it is computed once, as is a large
reduction that a total (a reduction to one value) would consume inside its kernel (recompute.py). Elementwise
work fuses unless it is expensive and would be computed many times over (recompute.py); movement ops
never cost a kernel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from lamina.schedule.recompute import heavy_epilogues, nested_reductions, recomputed
from lamina.uop import GroupOp, Ops, UOp, toposort


def view_base(node: UOp) -> UOp:
    """`node` under any RESHAPEs: the BUFFER of a buffer view."""
    while node.op is Ops.RESHAPE:
        node = node.src[0]
    return node


def is_buffer_view(node: UOp) -> bool:
    """True for a BUFFER, or RESHAPEs of one: data already laid out contiguously in memory."""
    return view_base(node).op is Ops.BUFFER


def _grows(expand: UOp) -> bool:
    return any(old != new for old, new in zip(expand.src[0].shape, expand.shape, strict=True))


def _reduce_holders(graph: Sequence[UOp], realized: set[UOp]) -> dict[UOp, bool]:
    """For each node: is its value computed through a REDUCE_AXIS not behind a realize boundary?"""
    holds: dict[UOp, bool] = {}
    for node in graph:
        inner = any(holds.get(source, False) and source not in realized for source in node.src)
        holds[node] = node.op is Ops.REDUCE_AXIS or inner
    return holds


def _kernels_containing(graph: Sequence[UOp], realized: set[UOp]) -> dict[UOp, set[UOp]]:
    """For each node, the realized nodes whose kernels would compute it (walking down to other boundaries)."""
    members: dict[UOp, set[UOp]] = {}
    for node in reversed(graph):
        owners = members.setdefault(node, set())
        if node in realized:
            owners.add(node)
        for source in node.src:
            if source not in realized:
                members.setdefault(source, set()).update(owners)
    return members


def _holder_frontier(start: UOp, holds: dict[UOp, bool], realized: set[UOp]) -> list[UOp]:
    """The nodes holding a reduction that `start` is built from by movement ops and ADDs alone.

    A broadcast value is realized there when they are smaller: what lies above is views and joins (a
    convolution's stack of shifted windows is 9 views of one activation, added), which the kernels
    reading it compute as index math for free, where storing it would write and read 9 copies of the
    activation. All of them are needed: realizing one tap of the stack would leave the others holding it.
    """
    frontier: list[UOp] = []
    pending, seen = [start], set()
    while pending:
        node = pending.pop()
        if node in seen or node in realized or not holds.get(node, False):
            continue
        seen.add(node)
        if node.op in GroupOp.MOVEMENT or node.op is Ops.ADD:
            pending.extend(node.src)
        else:
            frontier.append(node)
    return frontier


def find_realize_points(targets: Sequence[UOp]) -> set[UOp]:
    """The nodes under `targets` that need their own buffer (targets included, buffer views excluded)."""
    graph = toposort(targets, stop=is_buffer_view)
    required = set(targets) | {node for node in graph if node.op in (Ops.CONTIGUOUS, Ops.WRITE)}
    realized = set(required)
    holds = _reduce_holders(graph, realized)
    # A gather's indices become addresses: a reduction among them is stored first, not recomputed per read.
    gathered = {node.src[1] for node in graph if node.op is Ops.TAKE and holds[node.src[1]]}
    if gathered:
        realized |= gathered
        holds = _reduce_holders(graph, realized)
    for node in graph:
        if node.op is Ops.EXPAND and _grows(node) and holds[node.src[0]] and node.src[0] not in realized:
            frontier = _holder_frontier(node.src[0], holds, realized)
            if sum(math.prod(each.shape) for each in frontier) < math.prod(node.src[0].shape):
                realized.update(frontier)
                holds = _reduce_holders(graph, realized)
            # Where the frontier is no smaller, or does not hold it all, the broadcast value itself is stored.
            if holds[node.src[0]] and node.src[0] not in realized:
                realized.add(node.src[0])
                holds = _reduce_holders(graph, realized)
    # A large reduction a total would consume inside its kernel is a kernel of its own; see recompute.py.
    nested = nested_reductions(graph, realized)
    if nested:
        realized |= nested
        holds = _reduce_holders(graph, realized)
    while True:
        members = _kernels_containing(graph, realized)
        shared = [node for node in graph if holds[node] and node not in realized and len(members.get(node, ())) > 1]
        if not shared:
            break
        # Realize the outermost shared node first: it may make the ones inside it unshared. A view is stored
        # as its source: the same values in their own layout, and the view stays free for every reader.
        outermost = shared[-1]
        while outermost.op in GroupOp.MOVEMENT and holds[outermost.src[0]] and outermost.src[0] not in realized:
            outermost = outermost.src[0]
        realized.add(outermost)
        holds = _reduce_holders(graph, realized)
    # An expensive elementwise value the kernels would compute many times over (random numbers broadcast
    # into a matmul) is computed once instead; see recompute.py.
    while (expensive := recomputed(graph, realized, holds, _kernels_containing(graph, realized))) is not None:
        realized.add(expensive)
    # An expensive epilogue of a large reduction (gelu(x @ w + b)) runs as a kernel of its own; see recompute.py.
    realized |= heavy_epilogues(graph, realized, _kernels_containing(graph, realized))
    # A reshape of a stored value is a view of its buffer: storing it again would be a plain copy.
    realized = {
        node for node in realized if node in required or view_base(node) is node or view_base(node) not in realized
    }
    return {node for node in realized if not is_buffer_view(node)}
