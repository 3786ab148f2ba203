"""Reverse-mode differentiation as a graph transform: from a root's gradient to lazy gradients of chosen targets.

`compute_gradient` walks the root's graph once in reverse topological order, applying the rule of
`gradient_rules` for each node that lies between the root and a target and adding up the gradients a
node receives from all its consumers. Nothing is evaluated: the result is more UOps, which schedule
and compile like any other tensor graph. The walk is iterative, so chains of any length work.
"""

from __future__ import annotations

from collections.abc import Iterable

from lamina.gradient.rules import gradient_rules
from lamina.uop import UOp, toposort


def _nodes_reaching(order: list[UOp], targets: set[UOp]) -> set[UOp]:
    """The nodes of `order` (sources first) that are a target or depend on one."""
    reaching: set[UOp] = set()
    for node in order:
        if node in targets or any(source in reaching for source in node.src):
            reaching.add(node)
    return reaching


def _check_rule_output(node: UOp, source: UOp, grad: UOp) -> None:
    if grad.shape != source.shape or grad.dtype != source.dtype:
        raise ValueError(
            f"the gradient rule for {node.op} gave {grad.shape} {grad.dtype} "
            f"for a source of {source.shape} {source.dtype}"
        )


def compute_gradient(root: UOp, root_grad: UOp, targets: Iterable[UOp]) -> dict[UOp, UOp]:
    """Gradients of `root` (seeded with `root_grad`) w.r.t. each target it depends on, shaped like the targets."""
    target_list = list(dict.fromkeys(targets))
    order = toposort(root)
    # Shapes sources-first, so that no later shape query recurses down a long chain.
    for node in order:
        _ = node.shape
    if root_grad.shape != root.shape or root_grad.dtype != root.dtype:
        raise ValueError(f"root_grad is {root_grad.shape} {root_grad.dtype} but root is {root.shape} {root.dtype}")
    on_path = _nodes_reaching(order, set(target_list))
    grads: dict[UOp, UOp] = {root: root_grad}
    for node in reversed(order):
        grad = grads.get(node)
        # Only floating-point values carry gradients; a leaf or a node off every path to a target has no work.
        if grad is None or not node.scalar_dtype.is_float or not any(source in on_path for source in node.src):
            continue
        rule = gradient_rules.get(node.op)
        if rule is None:
            raise NotImplementedError(f"no gradient rule for {node.op} (a node of shape {node.shape}, {node.dtype})")
        for source, source_grad in zip(node.src, rule(node, grad), strict=True):
            if source_grad is None or source not in on_path or not source.scalar_dtype.is_float:
                continue
            _check_rule_output(node, source, source_grad)
            total = grads[source] + source_grad if source in grads else source_grad
            # Checking the sum also caches its shape, so a node with thousands of consumers never recurses.
            _check_rule_output(node, source, total)
            grads[source] = total
    # A target that the root depends on only through ops without a gradient gets an explicit zero.
    return {target: grads.get(target, target.const_like(0)) for target in target_list if target in on_path}
