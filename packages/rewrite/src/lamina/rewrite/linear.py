"""Linear forms: a signed-integer sum seen as `coeff*term + ... + const`, and its one canonical UOp.

The simplifier reads every ADD/SUB/NEG/multiply-by-constant tree as a linear form, merges like terms,
and writes it back as a left-leaning chain of ADDs: terms in order of first appearance (so an index
someone wrote as `r0*6 + r1` is already canonical and comes back as the very same node), each term
times its coefficient when that is not 1, and the constant last. Because signed integers wrap modulo
2**bits, merging and distributing coefficients is exact whatever the values: the ring is the same.

`merge_digits` recombines the pieces that unravelling an index produces: `(x//c)*c + x%c` is `x`,
and more generally the "digits" `(x % hi) // lo` of one `x` merge when their positions line up.
"""

from __future__ import annotations

from dataclasses import dataclass

from lamina.dtype import DType
from lamina.rewrite.bounds import bounds
from lamina.uop import Ops, UOp, normalize_const


@dataclass(frozen=True, slots=True)
class LinearForm:
    """sum(coeff * term for term, coeff in terms.items()) + const, in `dtype`; terms are in first-seen order."""

    terms: dict[UOp, int]
    const: int
    dtype: DType


def is_signed_int(uop: UOp) -> bool:
    """True for nodes of a signed integer dtype: the only ones read as linear forms."""
    return isinstance(uop.dtype, DType) and uop.dtype.is_int and not uop.dtype.is_unsigned


def is_pinned(uop: UOp) -> bool:
    """True for a variable pinned to one value, or the index of a one-iteration loop: constants in disguise."""
    if uop.op is not Ops.DEFINE_VAR and uop.op is not Ops.RANGE:
        return False
    low, high = bounds(uop)
    return low == high


def _const_operand(uop: UOp) -> tuple[UOp, int] | None:
    # A multiply by a constant on either side scales the other operand.
    first, second = uop.src
    if second.op is Ops.CONST:
        return first, int(second.arg)
    if first.op is Ops.CONST:
        return second, int(first.arg)
    return None


def accumulate(terms: dict[UOp, int], uop: UOp, coeff: int) -> int:
    """Add `coeff * uop`, flattened, into `terms`; returns the constant part to add to the form's constant."""
    const = 0
    stack = [(uop, coeff)]
    while stack:
        node, scale = stack.pop()
        op = node.op
        if op is Ops.CONST:
            const += scale * int(node.arg)
        elif op is Ops.ADD:
            # Pushed right first so the left operand's terms are seen first: first-appearance order.
            stack.append((node.src[1], scale))
            stack.append((node.src[0], scale))
        elif op is Ops.SUB:
            stack.append((node.src[1], -scale))
            stack.append((node.src[0], scale))
        elif op is Ops.NEG:
            stack.append((node.src[0], -scale))
        elif op is Ops.MUL and (scaled := _const_operand(node)) is not None:
            stack.append((scaled[0], scale * scaled[1]))
        elif is_pinned(node):
            const += scale * bounds(node)[0]
        else:
            terms[node] = terms.get(node, 0) + scale
    return const


def linear_form(uop: UOp) -> LinearForm:
    """`uop` (a signed integer node) as a linear form over its non-sum terms."""
    assert isinstance(uop.dtype, DType)
    terms: dict[UOp, int] = {}
    const = accumulate(terms, uop, 1)
    return LinearForm(terms, const, uop.dtype)


def build_sum(terms: dict[UOp, int], const: int, dtype: DType) -> UOp:
    """The canonical UOp of a linear form: ADDs left to right, coefficients and constant wrapped to `dtype`."""
    # Values that fit every signed dtype need no wrapping; normalize_const is comparatively slow.
    result: UOp | None = None
    for term, coeff in terms.items():
        wrapped = coeff if -128 <= coeff <= 127 else int(normalize_const(coeff, dtype))
        if wrapped == 0:
            continue
        part = term if wrapped == 1 else UOp(Ops.MUL, dtype, (term, UOp.const(dtype, wrapped)))
        result = part if result is None else UOp(Ops.ADD, dtype, (result, part))
    wrapped_const = const if -128 <= const <= 127 else int(normalize_const(const, dtype))
    if result is None:
        return UOp.const(dtype, wrapped_const)
    return result if wrapped_const == 0 else UOp(Ops.ADD, dtype, (result, UOp.const(dtype, wrapped_const)))


# -- digits: (x % hi) // lo, with hi None meaning "no modulo" --

Digit = tuple[UOp, int, int | None]


def _positive_const(uop: UOp) -> int | None:
    return int(uop.arg) if uop.op is Ops.CONST and int(uop.arg) > 0 else None


def digit_of(term: UOp) -> Digit | None:
    """(x, lo, hi) when `term` is (x % hi) // lo in one of its canonical spellings, else None."""
    if term.op is Ops.IDIV and (lo := _positive_const(term.src[1])) is not None:
        return term.src[0], lo, None
    if term.op is Ops.MOD and (modulus := _positive_const(term.src[1])) is not None:
        inner = term.src[0]
        if inner.op is Ops.IDIV and (lo := _positive_const(inner.src[1])) is not None:
            return inner.src[0], lo, lo * modulus
        return inner, 1, modulus
    return None


def build_digit(x: UOp, lo: int, hi: int | None) -> UOp:
    """The canonical spelling of (x % hi) // lo: x // lo, x % hi, or (x // lo) % (hi // lo)."""
    dtype = x.dtype
    assert isinstance(dtype, DType)
    divided = x if lo == 1 else UOp(Ops.IDIV, dtype, (x, UOp.const(dtype, lo)))
    return divided if hi is None else UOp(Ops.MOD, dtype, (divided, UOp.const(dtype, hi // lo)))


def _find_digit_pair(terms: dict[UOp, int]) -> tuple[UOp, UOp, Digit] | None:
    # The identity (C semantics, any sign of x, lo | mid | hi):
    #   ((x % hi) // mid) * (mid // lo) + ((x % mid) // lo)  ==  (x % hi) // lo
    # so an upper digit with coefficient s*(mid//lo) and a lower digit with coefficient s merge into s * digit(lo, hi).
    digits = {term: digit for term in terms if (digit := digit_of(term)) is not None}
    lowers_by_top: dict[tuple[UOp, int], list[UOp]] = {}
    for term, (x, _, hi) in digits.items():
        if hi is not None:
            lowers_by_top.setdefault((x, hi), []).append(term)
    for upper, (x, mid, hi) in digits.items():
        if hi is not None and hi % mid != 0:
            continue
        for lower in lowers_by_top.get((x, mid), []):
            lo = digits[lower][1]
            if lower is not upper and mid % lo == 0 and terms[upper] * lo == terms[lower] * mid:
                return upper, lower, (x, lo, hi)
    return None


def merge_digits(form: LinearForm) -> LinearForm:
    """`form` with every pair of adjacent digits of one value merged into one digit (or the value itself)."""
    terms = {term: coeff for term, coeff in form.terms.items() if coeff != 0}
    const = form.const
    while (pair := _find_digit_pair(terms)) is not None:
        upper, lower, (x, lo, hi) = pair
        merged: dict[UOp, int] = {}
        for term, coeff in terms.items():
            if term is upper:
                # The merged digit takes the upper digit's place, so the order of the other terms survives.
                const += accumulate(merged, build_digit(x, lo, hi), terms[lower])
            elif term is not lower:
                merged[term] = merged.get(term, 0) + coeff
        terms = merged
    return LinearForm(terms, const, form.dtype)
