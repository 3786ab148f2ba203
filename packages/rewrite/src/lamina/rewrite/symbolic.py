"""`pm_symbolic`, the simplifier of integer index expressions, and `simplify`, which runs it.

The table folds constants (with C wraparound), replaces any integer node whose range is a single value
by that constant, applies identities, puts every signed-integer sum into its canonical linear form
(like terms merged, constants last, index digits recombined, a choice of a multiple by a 0-or-1 digit made a
product), and folds IDIV, MOD and comparisons
using range analysis. Float arithmetic is left alone: folding it exactly would need the target's
rounding, and a wrong answer is worse than a slow one; only choices with a constant condition fold.
"""

from __future__ import annotations

from typing import Final

from lamina.dtype import DType, dtypes
from lamina.rewrite.bounds import bounds
from lamina.rewrite.division import fold_idiv, fold_less_than, fold_mod
from lamina.rewrite.engine import GraphRewriter
from lamina.rewrite.int_semantics import INT_FOLDABLE, int_alu, is_int_like
from lamina.rewrite.linear import build_sum, is_pinned, is_signed_int, linear_form, merge_digits
from lamina.rewrite.matcher import PatternMatcher
from lamina.rewrite.upat import UPat
from lamina.uop import Ops, UOp

_FOLDABLE: Final = tuple(INT_FOLDABLE)
_SUM_OPS: Final = (Ops.ADD, Ops.SUB, Ops.NEG, Ops.MUL)
_SWAPPABLE: Final = (Ops.MAX, Ops.CMPNE, Ops.CMPEQ, Ops.AND, Ops.OR, Ops.XOR)


def _ints(*uops: UOp) -> bool:
    return all(is_int_like(uop.dtype) for uop in uops)


def _fold_to_constant(u: UOp) -> UOp | None:
    dtype = u.dtype
    if not isinstance(dtype, DType) or not is_int_like(dtype):
        return None
    if all(source.op is Ops.CONST for source in u.src) and _ints(*u.src):
        try:
            return UOp.const(dtype, int_alu(u.op, dtype, [int(source.arg) for source in u.src]))
        except (ZeroDivisionError, ValueError):  # undefined in C: leave it for the program to do
            return None
    if u.op in _SUM_OPS:
        # A sum or multiple of non-constant fixed points never has a single value (and bounds cost a dict entry).
        return None
    low, high = bounds(u)
    return UOp.const(dtype, low) if low == high else None


def _is_term(u: UOp) -> bool:
    return u.op not in _SUM_OPS and u.op is not Ops.CONST and not is_pinned(u)


def _is_scaled_term(u: UOp) -> bool:
    if u.op is Ops.MUL:
        return _is_term(u.src[0]) and u.src[1].op is Ops.CONST and int(u.src[1].arg) not in (0, 1)
    return _is_term(u)


def _canonical_sum(u: UOp) -> UOp | None:
    if not is_signed_int(u) or (u.op is Ops.MUL and Ops.CONST not in (u.src[0].op, u.src[1].op)):
        return None
    # The most common sums, `t*c` and `t + c`, are canonical as written: skip flattening and rebuilding them.
    if _is_scaled_term(u) or (u.op is Ops.ADD and _is_scaled_term(u.src[0]) and u.src[1].op is Ops.CONST):
        return None if u.op is Ops.MUL or int(u.src[1].arg) != 0 else u.src[0]
    form = merge_digits(linear_form(u))
    return build_sum(form.terms, form.const, form.dtype)


def _constant_right(u: UOp, c: UOp, x: UOp) -> UOp | None:
    if x.op is Ops.CONST or not _ints(x):
        return None
    return UOp(u.op, u.dtype, (x, c))


def _larger(a: UOp, b: UOp) -> UOp | None:
    if not _ints(a):
        return None
    if bounds(a)[0] >= bounds(b)[1]:
        return a
    return b if bounds(b)[0] >= bounds(a)[1] else None


def _cast_round_trip(x: UOp, middle: UOp, outer: UOp) -> UOp | None:
    # Widening an integer and narrowing it back (or reinterpreting the sign at equal width) loses nothing.
    if not (isinstance(x.dtype, DType) and isinstance(middle.dtype, DType) and x.dtype.is_int):
        return None
    exact = middle.dtype.is_int and middle.dtype.bits >= x.dtype.bits and outer.dtype == x.dtype
    return x if exact else None


def _same_int(x: UOp, value: bool) -> UOp | None:
    return UOp.const(dtypes.bool, value) if _ints(x) else None


def _indicator_times(u: UOp, flag: UOp, weight: UOp) -> UOp | None:
    """`flag ? weight : 0` (written `0 < flag`) as `flag * weight` where `flag` is an integer that is 0 or 1: a sum
    of such choices over the digits of one index (how `arange` counts, digit by digit) then recombines into the
    index itself (see linear.merge_digits), where each choice would be a branch in every kernel that counts."""
    if not is_signed_int(u) or flag.dtype != u.dtype:
        return None
    low, high = bounds(flag)
    return UOp(Ops.MUL, u.dtype, (flag, weight)) if low >= 0 and high <= 1 else None


_x = UPat.var("x")
_c = UPat.cvar("c")

pm_symbolic: Final = PatternMatcher(
    [
        # -- constants: fold all-constant integer ops (C wraparound), and any integer op whose range is one value --
        (UPat(_FOLDABLE, name="u"), _fold_to_constant),
        # -- choices and logic (a constant condition folds whatever the dtype) --
        (
            UPat(Ops.WHERE, src=(UPat.cvar("cond"), UPat.var("a"), UPat.var("b"))),
            lambda cond, a, b: a if cond.arg else b,
        ),
        (UPat(Ops.WHERE, src=(UPat.var("cond"), _x, _x)), lambda cond, x: x),
        (
            UPat(
                Ops.WHERE,
                src=(
                    UPat(Ops.CMPLT, src=(UPat.const(None, 0), UPat.var("flag"))),
                    UPat.cvar("weight"),
                    UPat.const(None, 0),
                ),
                name="u",
            ),
            _indicator_times,
        ),
        (
            UPat(
                Ops.WHERE,
                dtypes.bool,
                src=(UPat.var("cond"), UPat.const(dtypes.bool, True), UPat.const(dtypes.bool, False)),
            ),
            lambda cond: cond,
        ),
        (UPat(Ops.AND, src=[_x, UPat.const(dtypes.bool, True)]), lambda x: x),
        (UPat(Ops.OR, src=[_x, UPat.const(dtypes.bool, False)]), lambda x: x),
        (UPat((Ops.AND, Ops.OR, Ops.MAX), src=(_x, _x)), lambda x: x),
        (UPat(Ops.NOT, src=(UPat(Ops.NOT, src=(_x,)),)), lambda x: x),
        (UPat(Ops.MAX, src=(UPat.var("a"), UPat.var("b"))), _larger),
        (UPat(Ops.CMPLT, src=(_x, _x)), lambda x: _same_int(x, False)),
        (UPat(Ops.CMPNE, src=(_x, _x)), lambda x: _same_int(x, False)),
        (UPat(Ops.CMPEQ, src=(_x, _x)), lambda x: _same_int(x, True)),
        (UPat(_SWAPPABLE, src=(_c, _x), name="u"), _constant_right),
        (UPat(Ops.CAST, src=(UPat(Ops.CAST, src=(_x,), name="middle"),), name="outer"), _cast_round_trip),
        # -- index arithmetic: division, remainder and bounds checks by constants, then canonical sums --
        (UPat(Ops.IDIV, src=(_x, UPat.const(None, 1))), lambda x: x),
        (UPat(Ops.IDIV, src=(_x, UPat.cvar("d"))), fold_idiv),
        (UPat(Ops.MOD, src=(_x, UPat.cvar("d"))), fold_mod),
        (UPat(Ops.CMPLT, src=(_x, UPat.cvar("bound"))), fold_less_than),
        (UPat(_SUM_OPS, name="u"), _canonical_sum),
    ]
)


SHARED_MEMO_LIMIT: Final = 200_000
"""Nodes the shared simplifier remembers before it starts afresh (it holds them alive)."""

_shared: list[GraphRewriter] = []


def simplify(u: UOp) -> UOp:
    """`u` with pm_symbolic applied to a fixed point.

    Every call shares one memo: a kernel's addresses and validities, and the kernels of one model, are built
    from the same subexpressions, and simplifying each expression on its own redid them all (quadratic in a
    pooling gradient's taps). The simplification of a node never depends on where it appears, so sharing is
    exact; the memo starts afresh past `SHARED_MEMO_LIMIT` nodes."""
    if not _shared or len(_shared[0].done) > SHARED_MEMO_LIMIT:
        _shared[:] = [GraphRewriter(pm_symbolic, None)]
    return _shared[0].rewrite(u)


def simplifier() -> GraphRewriter:
    """A simplifier for many expressions that share subexpressions (a kernel's addresses and validities):
    `simplifier().rewrite(u)` is `simplify(u)`, and what one call simplified is not simplified again."""
    return GraphRewriter(pm_symbolic, None)
