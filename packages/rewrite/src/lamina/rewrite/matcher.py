"""`PatternMatcher`: an ordered table of (pattern, callback) rules, indexed by op.

Every pass in lamina is one of these tables. A lookup only tries the rules whose pattern can match
the node's op, in table order, and the first callback that returns a node wins; returning None
(or the node itself) means "this rule does not apply here". Callbacks receive the pattern's captures
as keyword arguments, and the rewrite's context as `ctx=` when they declare a `ctx` parameter,
decided once when the table is built rather than on every call.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lamina.rewrite.upat import UPat
from lamina.uop import Ops, UOp

RewriteFn = Callable[..., UOp | None]


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of a PatternMatcher: a pattern, what to do with a match, and whether it takes `ctx`."""

    pattern: UPat
    callback: RewriteFn
    wants_ctx: bool

    def describe(self) -> str:
        """The callback's qualified name and the pattern, for error messages."""
        name = getattr(self.callback, "__qualname__", repr(self.callback))
        return f"{name} on {self.pattern!r}"


def _wants_ctx(callback: RewriteFn) -> bool:
    try:
        return "ctx" in inspect.signature(callback).parameters
    except (TypeError, ValueError):  # builtins without a signature cannot ask for ctx
        return False


class PatternMatcher:
    """Rules tried in order; `rewrite` returns the first non-None result."""

    __slots__ = ("_by_op", "_rules")

    def __init__(self, rules: Sequence[tuple[UPat, RewriteFn]]) -> None:
        self._rules = tuple(Rule(pattern, callback, _wants_ctx(callback)) for pattern, callback in rules)
        self._by_op: dict[Ops, tuple[Rule, ...]] = {}
        for op in Ops:
            # A pattern without an op can match any node, so it joins every op's list, keeping table order.
            matching = tuple(rule for rule in self._rules if rule.pattern.ops is None or op in rule.pattern.ops)
            if matching:
                self._by_op[op] = matching

    @property
    def rules(self) -> tuple[tuple[UPat, RewriteFn], ...]:
        """The rules as given, in order."""
        return tuple((rule.pattern, rule.callback) for rule in self._rules)

    def __add__(self, other: PatternMatcher) -> PatternMatcher:
        return PatternMatcher(self.rules + other.rules)

    def __len__(self) -> int:
        return len(self._rules)

    def rewrite(self, uop: UOp, ctx: object = None) -> UOp | None:
        """The first rule's replacement for `uop`, or None when no rule applies."""
        found = self.rewrite_with_rule(uop, ctx)
        return None if found is None else found[0]

    def rewrite_with_rule(self, uop: UOp, ctx: object = None) -> tuple[UOp, Rule] | None:
        """Like `rewrite`, also naming the rule that fired (graph_rewrite reports it when rules loop)."""
        for rule in self._by_op.get(uop.op, ()):
            for captures in rule.pattern.match(uop):
                result = rule.callback(**captures, ctx=ctx) if rule.wants_ctx else rule.callback(**captures)
                if result is not None and result is not uop:
                    return result, rule
        return None
