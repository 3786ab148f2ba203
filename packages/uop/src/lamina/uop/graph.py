"""Walking and rebuilding UOp graphs without recursion, so chains of any length work.

`toposort` orders a graph sources-first; `substitute` rebuilds a graph with some nodes replaced;
`consumers` maps each node to the nodes that use it. All are iterative: a 100,000-node chain is
as easy as a 10-node one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from lamina.uop.uop import UOp


def toposort(roots: UOp | Iterable[UOp], stop: Callable[[UOp], bool] | None = None) -> list[UOp]:
    """Every node reachable from `roots`, each after its sources; `stop(node)` keeps a node but not its sources."""
    root_list = [roots] if isinstance(roots, UOp) else list(roots)
    order: list[UOp] = []
    seen: set[UOp] = set()
    no_sources: tuple[UOp, ...] = ()
    # Depth first, sources left to right: each stack entry is a node and the iterator over the sources it has
    # left to visit, so a node is emitted when its iterator runs out. Every realize walks its graph, so the loop
    # is kept lean (bound methods, one set lookup per edge).
    visit, emit = seen.add, order.append
    for root in root_list:
        if root in seen:
            continue
        visit(root)
        stack = [(root, iter(root.src if stop is None or not stop(root) else no_sources))]
        push, pop = stack.append, stack.pop
        while stack:
            node, sources = stack[-1]
            for source in sources:
                if source not in seen:
                    visit(source)
                    push((source, iter(source.src if stop is None or not stop(source) else no_sources)))
                    break
            else:
                pop()
                emit(node)
    return order


def consumers(roots: UOp | Iterable[UOp]) -> dict[UOp, list[UOp]]:
    """For every node reachable from `roots`, the distinct nodes that take it as a source."""
    users: dict[UOp, list[UOp]] = {}
    for node in toposort(roots):
        users.setdefault(node, [])
        for source in dict.fromkeys(node.src):
            users[source].append(node)
    return users


def substitute(roots: UOp | Iterable[UOp], replacements: dict[UOp, UOp]) -> list[UOp]:
    """The graphs of `roots` rebuilt with each key of `replacements` swapped for its value (not walked into)."""
    root_list = [roots] if isinstance(roots, UOp) else list(roots)
    rebuilt: dict[UOp, UOp] = dict(replacements)
    for node in toposort(root_list, stop=lambda node: node in replacements):
        if node in rebuilt:
            continue
        new_src = tuple(rebuilt[source] for source in node.src)
        rebuilt[node] = node if new_src == node.src else UOp(node.op, node.dtype, new_src, node.arg)
    return [rebuilt[root] for root in root_list]
