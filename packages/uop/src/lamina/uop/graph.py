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
    # A node stays on the stack while its sources are walked above it and is emitted when it is on top again.
    # Every compiler pass and every realize walks graphs, so the loop allocates nothing per node.
    expanded: set[UOp] = set()
    done: set[UOp] = set()
    stack = root_list[::-1]
    while stack:
        node = stack[-1]
        if node in done:
            stack.pop()
        elif node in expanded:
            stack.pop()
            done.add(node)
            order.append(node)
        else:
            expanded.add(node)
            if stop is None or not stop(node):
                stack.extend(source for source in reversed(node.src) if source not in expanded)
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
