"""The cost rule for fusing elementwise work: a value that is expensive per element and would be computed
many times over is stored instead.

Fusing a producer into its consumers is free when each of its elements is computed once; it is not when a
consumer reads each element many times: `Tensor.randn(256, 784) @ w` broadcasts the random matrix across
w's 128 columns, so fused into the matmul the random number generation runs 128 times per element, inside
the multiply-add loop. Two numbers decide: what one element costs (its ALU ops, transcendental ones counted
heavier; loads, constants and sums of shifted views of stored data are free) and how many times the
kernels compute each element (`recompute_factors`: the broadcasts on the way to a stored node, and the
kernels it is computed in). A value costing at least `EXPENSIVE_OPS` computed at least `RECOMPUTED_FROM`
times per element is realized.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

from lamina.uop import GroupOp, Ops, UOp

EXPENSIVE_OPS: Final = 24
"""Ops per element from which recomputing a value costs more than storing it and reading it back: a stored
element costs a write and a read per use, a few ops' worth; cheap elementwise chains always fuse."""

RECOMPUTED_FROM: Final = 2
"""Evaluations per element from which a value counts as recomputed."""

_HEAVY_WEIGHT: Final = 8
_HEAVY: Final = frozenset(
    {
        Ops.EXP, Ops.EXP2, Ops.LOG, Ops.LOG2, Ops.SIN, Ops.COS, Ops.ERF, Ops.EXPM1, Ops.LOG1P, Ops.POW, Ops.ATAN2,
        Ops.SQRT, Ops.DIV, Ops.RECIPROCAL, Ops.IDIV, Ops.MOD,
    }
)  # fmt: skip
"""Ops that cost several plain ones (a polynomial, a division)."""


def element_costs(graph: Sequence[UOp], stored: set[UOp]) -> dict[UOp, int]:
    """For each node of `graph` (sources first), the ops one of its elements costs computed fused, down to the
    `stored` nodes. Shared subexpressions count once per use: it is an estimate, capped to stay small."""
    costs: dict[UOp, int] = {}
    for node in graph:
        if node in stored or node.op in (Ops.BUFFER, Ops.CONST) or not node.src:
            costs[node] = 0
            continue
        below = sum(costs.get(source, 0) for source in node.src)  # a buffer view's sources are not walked
        if node.op in GroupOp.MOVEMENT or node.op is Ops.CONTIGUOUS:
            costs[node] = below
        elif node.op is Ops.ADD and below == 0:
            costs[node] = 0  # a sum of shifted views of stored data (a convolution's windows) is index math
        elif node.op in GroupOp.ELEMENTWISE:
            costs[node] = min(below + (_HEAVY_WEIGHT if node.op in _HEAVY else 1), 1 << 30)
        elif node.op is Ops.TAKE:
            # A gather's read waits on its index's load and is clamped into the table: in a tiled kernel it stays
            # scalar, so one recomputed per column panel of a matmul (an embedding fed to the first layer) costs
            # the matmul several times over.
            costs[node] = min(below + EXPENSIVE_OPS, 1 << 30)
        else:  # a reduction's cost lies with the rules for reductions
            costs[node] = 0
    return costs


def recompute_factors(graph: Sequence[UOp], stored: set[UOp], kernels: dict[UOp, set[UOp]]) -> dict[UOp, int]:
    """For each node of `graph` (sources first), how many times each of its elements is computed by the kernels
    of the `stored` nodes: the broadcasts on its way to each of them multiplied, the largest of its consumers',
    times the kernels it is computed in (`kernels`). A value used twice at the same place of one kernel is
    computed once there, and the several shifted views of a convolution's window are left uncounted."""
    factors: dict[UOp, int] = {}
    for node in reversed(graph):
        factor = 1 if node in stored else factors.get(node, 0)
        growth = math.prod(node.shape) // max(math.prod(node.src[0].shape), 1) if node.op is Ops.EXPAND else 1
        for source in node.src:
            if source not in stored:
                factors[source] = max(factors.get(source, 0), factor * growth)
    return {node: factor * max(len(kernels.get(node, ())), 1) for node, factor in factors.items()}


def recomputed(
    graph: Sequence[UOp], stored: set[UOp], holds_reduce: dict[UOp, bool], kernels: dict[UOp, set[UOp]]
) -> UOp | None:
    """The outermost elementwise node (or gather) of `graph` that is expensive and computed `RECOMPUTED_FROM` times per
    element or more by the kernels of `stored` (None: there is none); nodes holding a reduction are left to
    the rules for reductions."""
    costs = element_costs(graph, stored)
    factors = recompute_factors(graph, stored, kernels)
    for node in reversed(graph):
        candidate = node.op in GroupOp.ELEMENTWISE or node.op is Ops.TAKE
        if node in stored or not candidate or holds_reduce.get(node, False):
            continue
        if costs[node] >= EXPENSIVE_OPS and factors.get(node, 0) >= RECOMPUTED_FROM:
            return node
    return None


EPILOGUE_FROM_ELEMENTS: Final = 4096
"""Outputs of a reduction from which an expensive epilogue is computed in a kernel of its own."""


def heavy_epilogues(graph: Sequence[UOp], stored: set[UOp], kernels: dict[UOp, set[UOp]]) -> set[UOp]:
    """The reductions of `graph` (with `EPILOGUE_FROM_ELEMENTS` outputs or more) that a stored elementwise value
    costing `EXPENSIVE_OPS` or more per element is computed from, in its kernel: `gelu(x @ w + b)`.

    A reduction's kernel is tiled, its outputs unrolled in registers, and an epilogue fused there is written
    out once per output, scalar code the compiler does not vectorize (a GELU's tanh per element cost a
    transformer's MLP matmul as much again). Stored first, the reduction keeps its tiles and the epilogue
    runs as an elementwise loop the compiler vectorizes, for one write and read of the reduction's output."""
    costs = element_costs(graph, stored | {node for node in graph if node.op is Ops.REDUCE_AXIS})

    def epilogue_cost(owner: UOp) -> int:
        # The stored value's own cost (element_costs counts a stored node as free to read), under any views.
        while owner.op in GroupOp.MOVEMENT:
            owner = owner.src[0]
        if owner.op not in GroupOp.ELEMENTWISE:
            return 0
        return sum(costs.get(source, 0) for source in owner.src) + (_HEAVY_WEIGHT if owner.op in _HEAVY else 1)

    found: set[UOp] = set()
    for node in graph:
        if node.op is not Ops.REDUCE_AXIS or node in stored or math.prod(node.shape) < EPILOGUE_FROM_ELEMENTS:
            continue
        if any(epilogue_cost(owner) >= EXPENSIVE_OPS for owner in kernels.get(node, set())):
            found.add(node)
    return found


NESTED_FROM_ELEMENTS: Final = 1 << 16
"""Elements a reduction reads from which, consumed by a total's reduction in the same kernel, it is stored first."""


def nested_reductions(graph: Sequence[UOp], stored: set[UOp]) -> set[UOp]:
    """The reductions of `graph` reading `NESTED_FROM_ELEMENTS` elements or more that a reduction to a single
    value (a total: a loss, `(x @ w).relu().sum()`) would consume inside its own kernel.

    Fused, the inner reduction runs as a loop nest inside the total's loop, in a kernel with no output loop for
    the optimizer to tile, vectorize or share between cores (a 64x128x64 matmul summed ran at 1 GFLOP/s).
    Stored first, it is a kernel of its own, optimized like any, for one write and read of its outputs. A
    reduction consumed by one with outputs to spare (a max pool over a convolution, a bias gradient) keeps
    its fusion: those kernels are tiled over their outputs, and storing the inner one measured slower."""
    found: set[UOp] = set()
    for outer in graph:
        if outer.op is not Ops.REDUCE_AXIS or math.prod(outer.shape) != 1:
            continue
        pending, seen = list(outer.src), set()
        while pending:
            node = pending.pop()
            if node in seen or node in stored:
                continue
            seen.add(node)
            if node.op is Ops.REDUCE_AXIS:
                if math.prod(node.src[0].shape) >= NESTED_FROM_ELEMENTS:
                    found.add(node)
                continue  # its own inner reductions are its kernel's concern, once it is stored
            pending.extend(node.src)
    return found
