"""Sums of reductions over loops of equal length, written as one reduction of the summed bodies.

The gradient of a convolution's stack of windows is a sum of one shifted view per tap, each the
reduction over the output channels of that tap's product, and each placed by a padding (a
validity outside the reduction). Kept apart, those are nine loops of sixteen iterations, each
with its own accumulators; joined, `sum_t (v_t ? sum_c f_t(c) : 0)` becomes
`sum_c sum_t (v_t ? f_t(c) : 0)`, one loop whose body the optimizer tiles like a convolution's
forward pass. The two are equal for sums: the validity does not depend on the reduction's loop,
and zero is the identity of the sum.
"""

from __future__ import annotations

from lamina.uop import Ops, UOp, substitute, toposort


def merge_summed_reduces(root: UOp) -> UOp:
    """`root` with every ADD of two (optionally zero-padded) sums over equally long loops made one sum."""
    rebuilt: dict[UOp, UOp] = {}
    for node in toposort(root):
        sources = tuple(rebuilt[source] for source in node.src)
        current = node if sources == node.src else UOp(node.op, node.dtype, sources, node.arg)
        rebuilt[node] = _merged(current) if current.op is Ops.ADD else current
    return rebuilt[root]


def _summand(node: UOp) -> tuple[UOp | None, UOp] | None:
    """(validity or None, the sum) for a sum or a `validity ? sum : 0`; None for anything else."""
    if node.op is Ops.REDUCE and node.arg is Ops.ADD:
        return None, node
    if node.op is Ops.WHERE:
        validity, chosen, otherwise = node.src
        if chosen.op is Ops.REDUCE and chosen.arg is Ops.ADD and otherwise.op is Ops.CONST and otherwise.arg == 0:
            return validity, chosen
    return None


def _loop_sizes(reduce: UOp) -> tuple[int, ...] | None:
    sizes = [loop.src[0].arg for loop in reduce.src[1:] if loop.src[0].op is Ops.CONST]
    return tuple(sizes) if len(sizes) == len(reduce.src) - 1 else None


def _merged(add: UOp) -> UOp:
    left, right = (_summand(source) for source in add.src)
    if left is None or right is None:
        return add
    (left_validity, left_sum), (right_validity, right_sum) = left, right
    sizes = _loop_sizes(left_sum)
    if sizes is None or sizes != _loop_sizes(right_sum) or left_sum.dtype != right_sum.dtype:
        return add
    loops, other_loops = left_sum.src[1:], right_sum.src[1:]
    left_nodes, right_nodes = set(toposort(left_sum.src[0])), set(toposort(right_sum.src[0]))
    # Each body must be free of the other's loops, or renaming one set of loops would tangle them.
    if any(loop in right_nodes for loop in loops) or any(loop in left_nodes for loop in other_loops):
        return add
    (renamed,) = substitute([right_sum.src[0]], dict(zip(other_loops, loops, strict=True)))
    zero = UOp.const(add.scalar_dtype, 0)
    bodies = [
        body if validity is None else validity.where(body, zero)
        for validity, body in ((left_validity, left_sum.src[0]), (right_validity, renamed))
    ]
    return UOp(Ops.REDUCE, left_sum.dtype, (bodies[0] + bodies[1], *loops), Ops.ADD)
