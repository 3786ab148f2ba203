"""Walking graphs: toposort's order (sources first, depth first, sources left to right), its `stop`, and chains
far deeper than Python's recursion limit."""

from __future__ import annotations

import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from lamina.dtype import dtypes
from lamina.uop import Ops, UOp, consumers, toposort

BINARY = (Ops.ADD, Ops.MUL, Ops.MAX)


def _reference_order(roots: list[UOp]) -> list[UOp]:
    """Depth-first post-order, sources left to right, each node once: what toposort promises, recursively."""
    order: list[UOp] = []
    seen: set[UOp] = set()

    def visit(node: UOp) -> None:
        if node in seen:
            return
        seen.add(node)
        for source in node.src:
            visit(source)
        order.append(node)

    for root in roots:
        visit(root)
    return order


@st.composite
def dags(draw: st.DrawFn) -> list[UOp]:
    """Random DAGs with shared nodes: each new node combines one or two earlier ones; some of them are roots."""
    nodes = [UOp.const(dtypes.float32, float(value)) for value in range(draw(st.integers(1, 4)))]
    for _ in range(draw(st.integers(0, 30))):
        left = nodes[draw(st.integers(0, len(nodes) - 1))]
        if draw(st.booleans()):
            nodes.append(left.alu(Ops.NEG))
        else:
            right = nodes[draw(st.integers(0, len(nodes) - 1))]
            nodes.append(left.alu(draw(st.sampled_from(BINARY)), right))
    return [nodes[index] for index in draw(st.lists(st.integers(0, len(nodes) - 1), min_size=1, max_size=4))]


@settings(max_examples=300, deadline=None)
@given(dags())
def test_toposort_is_the_depth_first_post_order(roots: list[UOp]) -> None:
    order = toposort(roots)
    assert order == _reference_order(roots)
    position = {node: index for index, node in enumerate(order)}
    assert len(position) == len(order)  # each node once
    assert all(position[source] < position[node] for node in order for source in node.src)


@settings(max_examples=100, deadline=None)
@given(dags())
def test_stop_keeps_a_node_but_not_its_sources(roots: list[UOp]) -> None:
    def stop(node: UOp) -> bool:
        return node.op is Ops.NEG

    order = toposort(roots, stop=stop)
    walked = set(order)
    for node in order:
        if not stop(node):
            assert all(source in walked for source in node.src)
    # Everything walked is reachable without passing through a stopped node's sources.
    reachable: set[UOp] = set()
    frontier = list(dict.fromkeys(roots))
    while frontier:
        node = frontier.pop()
        if node not in reachable:
            reachable.add(node)
            if not stop(node):
                frontier.extend(node.src)
    assert walked == reachable


def test_a_chain_deeper_than_the_recursion_limit() -> None:
    length = max(100_000, 10 * sys.getrecursionlimit())
    node = UOp.const(dtypes.float32, 1.0)
    first = node
    for _ in range(length):
        node = node.alu(Ops.NEG)
    order = toposort(node)
    assert len(order) == length + 1
    assert order[0] is first
    assert order[-1] is node
    assert len(consumers(node)) == length + 1


def test_a_root_reached_from_another_root_comes_once_after_its_sources() -> None:
    x = UOp.const(dtypes.float32, 2.0)
    y = x.alu(Ops.NEG)
    z = y.alu(Ops.ADD, x)
    assert toposort([y, z, y]) == [x, y, z]
    assert toposort([z, y]) == [x, y, z]
