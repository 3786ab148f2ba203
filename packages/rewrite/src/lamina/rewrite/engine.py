"""`graph_rewrite`: apply a PatternMatcher to a whole graph, bottom-up, until no rule fires.

Sources are rewritten before the node that uses them; a node whose sources changed is rebuilt, and
a node a rule replaced is rewritten again (its new sources too) until it is a fixed point. The walk
keeps its own stack instead of recursing, so a 100,000-node chain costs no Python frames, and it
memoizes every node it finished, so shared subgraphs are rewritten once per call. Rules that never
settle are reported instead of hanging: a rewrite whose result contains a node still being rewritten
is a cycle, and a chain of more than `MAX_REWRITE_DEPTH` nested rewrites is treated as one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from lamina.rewrite.matcher import PatternMatcher, Rule
from lamina.uop import UOp

MAX_REWRITE_DEPTH: Final = 10_000

# Stack frame phases: visit a node (push its sources), build it (rebuild or apply a rule), link it to its result.
_VISIT: Final = 0
_BUILD: Final = 1
_LINK: Final = 2


class RewriteLoopError(RuntimeError):
    """Rules rewrote a node forever: they form a cycle, or keep producing new nodes."""


class GraphRewriter:
    """Rewrites roots with one matcher and context, sharing one memo: a subgraph common to several roots (or met
    again in a later root) is rewritten once. One graph_rewrite call is one of these."""

    def __init__(self, matcher: PatternMatcher, ctx: object) -> None:
        self.matcher = matcher
        self.ctx = ctx
        self.done: dict[UOp, UOp] = {}

    def rewrite(self, root: UOp) -> UOp:
        done = self.done
        # Nodes whose final form is still being worked out; meeting one again means its result contains itself.
        active: set[UOp] = set()
        fired: dict[UOp, Rule] = {}
        last_rule: Rule | None = None
        # Frames: (phase, node, target, depth); depth counts the nested rewrites that produced `node`.
        stack: list[tuple[int, UOp, UOp, int]] = [(_VISIT, root, root, 0)]
        while stack:
            phase, node, target, depth = stack.pop()
            if phase == _VISIT:
                if node in done:
                    continue
                if node in active:
                    raise _cycle_error(node, fired.get(node), last_rule)
                active.add(node)
                stack.append((_BUILD, node, node, depth))
                stack.extend((_VISIT, source, source, depth) for source in reversed(node.src) if source not in done)
            elif phase == _BUILD:
                new_src = tuple(done[source] for source in node.src)
                if new_src != node.src:
                    rebuilt = UOp(node.op, node.dtype, new_src, node.arg)
                    stack.append((_LINK, node, rebuilt, depth))
                    stack.append((_VISIT, rebuilt, rebuilt, depth))
                    continue
                found = self.matcher.rewrite_with_rule(node, self.ctx)
                if found is None:
                    done[node] = node
                    active.discard(node)
                    continue
                result, last_rule = found
                if depth >= MAX_REWRITE_DEPTH:
                    raise RewriteLoopError(
                        f"graph_rewrite: more than {MAX_REWRITE_DEPTH} nested rewrites of one node; "
                        f"the last by rule {last_rule.describe()}, producing {result!r}"
                    )
                fired[node] = last_rule
                stack.append((_LINK, node, result, depth))
                stack.append((_VISIT, result, result, depth + 1))
            else:
                done[node] = done[target]
                active.discard(node)
                fired.pop(node, None)
        return done[root]


def _cycle_error(node: UOp, started: Rule | None, last: Rule | None) -> RewriteLoopError:
    first = "" if started is None else f"rule {started.describe()} rewrote it, and "
    closing = "" if last is None else f"rule {last.describe()} "
    return RewriteLoopError(
        f"graph_rewrite loops on {node!r}: {first}{closing}produced a graph containing it again, "
        f"so it would be rewritten forever"
    )


def graph_rewrite(root: UOp, matcher: PatternMatcher, ctx: object = None) -> UOp:
    """`root` with `matcher` applied bottom-up to every node until no rule fires."""
    return GraphRewriter(matcher, ctx).rewrite(root)


def graph_rewrite_many(roots: Sequence[UOp], matcher: PatternMatcher, ctx: object = None) -> list[UOp]:
    """Each root rewritten as by graph_rewrite, sharing one memo (common subgraphs are rewritten once)."""
    rewriter = GraphRewriter(matcher, ctx)
    return [rewriter.rewrite(root) for root in roots]
