"""`UPat`: a pattern over UOp graphs that matches a node and binds names to the nodes it matched.

A pattern constrains a node's op, dtype, argument and sources; sources are matched in order (a
tuple), in any order (a list: every permutation is tried, for commutative ops), all against one
pattern (a single `UPat`), or not at all (None). Matching returns every consistent set of captures,
because a permuted source list can match more than one way and a rule may accept only some of them.
A name bound twice must bind the same node, which is how a pattern says "the same x on both sides".
"""

from __future__ import annotations

import itertools
from typing import Final

from lamina.dtype import DType
from lamina.uop import Ops, UOp, UOpDType


class _AnyArg:
    """The default `arg` of a pattern: any argument matches."""

    def __repr__(self) -> str:
        return "<any>"


_ANY: Final = _AnyArg()

Captures = dict[str, UOp]


def _same_arg(actual: object, wanted: object) -> bool:
    # 1 == True in Python, but a pattern for the integer 1 must not match the boolean True.
    if isinstance(actual, bool) or isinstance(wanted, bool):
        return type(actual) is type(wanted) and actual == wanted
    return actual == wanted


class UPat:
    """A pattern: op, dtype, sources and argument to match, and the name to bind the matched node to."""

    __slots__ = ("allow_any_len", "arg", "dtype", "dtypes", "name", "op", "ops", "orders", "repeat")

    ops: frozenset[Ops] | None
    dtypes: frozenset[UOpDType] | None
    # The single op (dtype) when the pattern names exactly one: matched by identity, the common case.
    op: Ops | None
    dtype: UOpDType | None
    # Each entry is one order of source patterns to try; None when sources are unconstrained or repeated.
    orders: tuple[tuple[UPat, ...], ...] | None
    repeat: UPat | None

    def __init__(
        self,
        op: Ops | tuple[Ops, ...] | frozenset[Ops] | None = None,
        dtype: UOpDType | tuple[UOpDType, ...] | None = None,
        src: tuple[UPat, ...] | list[UPat] | UPat | None = None,
        arg: object = _ANY,
        name: str | None = None,
        allow_any_len: bool = False,
    ) -> None:
        self.ops = None if op is None else frozenset((op,) if isinstance(op, Ops) else op)
        self.dtypes = None if dtype is None else frozenset(dtype if isinstance(dtype, tuple) else (dtype,))
        self.op = next(iter(self.ops)) if self.ops is not None and len(self.ops) == 1 else None
        self.dtype = next(iter(self.dtypes)) if self.dtypes is not None and len(self.dtypes) == 1 else None
        self.arg = arg
        self.name = name
        self.allow_any_len = allow_any_len
        self.repeat = src if isinstance(src, UPat) else None
        if isinstance(src, list):
            # Permutations of a list holding the same pattern twice repeat; try each distinct order once.
            distinct = {tuple(id(p) for p in order): order for order in itertools.permutations(src)}
            self.orders = tuple(distinct.values())
        elif isinstance(src, tuple):
            self.orders = (src,)
        else:
            self.orders = None

    # -- conveniences --

    @staticmethod
    def var(name: str, dtype: UOpDType | tuple[UOpDType, ...] | None = None) -> UPat:
        """Any node (of `dtype`, if given), bound to `name`."""
        return UPat(dtype=dtype, name=name)

    @staticmethod
    def cvar(name: str, dtype: UOpDType | tuple[UOpDType, ...] | None = None) -> UPat:
        """Any CONST (of `dtype`, if given), bound to `name`."""
        return UPat(Ops.CONST, dtype, name=name)

    @staticmethod
    def const(dtype: DType | tuple[DType, ...] | None, value: object) -> UPat:
        """A CONST holding `value` (of `dtype`, if given)."""
        return UPat(Ops.CONST, dtype, arg=value)

    # -- matching --

    def match(self, uop: UOp, captures: Captures | None = None) -> list[Captures]:
        """Every set of captures under which `uop` matches this pattern (empty when it does not match)."""
        return self._match(uop, {} if captures is None else captures)

    def _match(self, uop: UOp, captures: Captures) -> list[Captures]:
        # Identity first: Ops and DType hash in Python code, and most patterns name a single op or dtype.
        if self.op is not None:
            if uop.op is not self.op:
                return []
        elif self.ops is not None and uop.op not in self.ops:
            return []
        if self.dtype is not None:
            if uop.dtype is not self.dtype and uop.dtype != self.dtype:
                return []
        elif self.dtypes is not None and uop.dtype not in self.dtypes:
            return []
        if self.arg is not _ANY and not _same_arg(uop.arg, self.arg):
            return []
        if self.name is not None:
            bound = captures.get(self.name)
            if bound is not None:
                if bound is not uop:
                    return []
            else:
                # A fresh dict per binding: sibling permutations must not see each other's captures.
                captures = {**captures, self.name: uop}
        if self.repeat is not None:
            return _match_sources((self.repeat,) * len(uop.src), uop.src, captures)
        if self.orders is None:
            return [captures]
        results: list[Captures] = []
        for order in self.orders:
            if len(order) != len(uop.src) and not (self.allow_any_len and len(uop.src) >= len(order)):
                continue
            results.extend(_match_sources(order, uop.src, captures))
        return results

    def __repr__(self) -> str:
        parts: list[str] = []
        if self.ops is not None:
            parts.append(" | ".join(sorted(str(op) for op in self.ops)))
        if self.dtypes is not None:
            parts.append(f"dtype={' | '.join(sorted(repr(d) for d in self.dtypes))}")
        if self.repeat is not None:
            parts.append(f"src=all {self.repeat!r}")
        elif self.orders is not None:
            parts.append(f"src=({', '.join(repr(p) for p in self.orders[0])})")
        if self.arg is not _ANY:
            parts.append(f"arg={self.arg!r}")
        if self.name is not None:
            parts.append(f"name={self.name!r}")
        return f"UPat({', '.join(parts)})"


def _match_sources(patterns: tuple[UPat, ...], sources: tuple[UOp, ...], captures: Captures) -> list[Captures]:
    # zip stops at the shorter: with allow_any_len, sources beyond the patterns are unconstrained.
    partial = [captures]
    for pattern, source in zip(patterns, sources, strict=False):
        partial = [found for done in partial for found in pattern._match(source, done)]
        if not partial:
            return []
    return partial
