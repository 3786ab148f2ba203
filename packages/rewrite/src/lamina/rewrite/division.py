"""The simplifier's rules for IDIV and MOD by a constant, and for `x < c`: where index arithmetic folds.

All of them are exact under C semantics (truncating division, remainder with the dividend's sign) and
C wraparound. The reasoning each relies on is written next to it; the recurring condition "`x` is
exact" means its bounds are narrower than its dtype, so its sum was computed without overflow and
equals the integer combination of its terms (see `bounds`).
"""

from __future__ import annotations

import math

from lamina.dtype import DType
from lamina.rewrite.bounds import bounds, is_exact
from lamina.rewrite.int_semantics import c_div, c_mod, dtype_range
from lamina.rewrite.linear import LinearForm, accumulate, build_sum, is_signed_int, linear_form
from lamina.uop import Ops, UOp


def _positive_const(uop: UOp) -> int | None:
    return int(uop.arg) if uop.op is Ops.CONST and int(uop.arg) > 0 else None


def _scaled(form: LinearForm, divisor: int) -> UOp:
    return build_sum({term: coeff // divisor for term, coeff in form.terms.items()}, form.const // divisor, form.dtype)


def _common_factor(form: LinearForm, divisor: int) -> int:
    return math.gcd(divisor, form.const, *form.terms.values())


def _split(x: UOp, form: LinearForm, c: int) -> tuple[UOp, UOp] | None:
    """x as c*quotient + remainder where x // c == quotient + remainder // c holds, or None.

    With x = c*q + r exactly: if x >= 0 and r >= 0 both divisions floor, so x//c = q + r//c; if x <= 0 and
    r <= 0 both round up, and the same holds. Then x % c = x - c*(x//c) = r % c as well. Each coefficient
    gives its multiple of c to q and keeps the rest in r (below c, with the sign r needs): a window index
    `kh*31 + h` splits by 30 into `kh` and `kh + h`, which the bounds then fold.
    """
    low, high = bounds(x)
    if low >= 0:
        rest_const = form.const % c
    elif high <= 0:
        rest_const = -(-form.const % c)
    else:
        return None
    sign = 1 if low >= 0 else -1
    rest_coefficients = {term: sign * (sign * coeff % c) for term, coeff in form.terms.items()}
    quotient_terms = {
        term: (coeff - rest_coefficients[term]) // c
        for term, coeff in form.terms.items()
        if coeff != rest_coefficients[term]
    }
    quotient_const = (form.const - rest_const) // c
    if not quotient_terms and quotient_const == 0:
        return None
    rest_terms = {term: coeff for term, coeff in rest_coefficients.items() if coeff != 0}
    remainder = build_sum(rest_terms, rest_const, form.dtype)
    rest_low, rest_high = bounds(remainder)
    if (low >= 0 and rest_low < 0) or (high <= 0 and rest_high > 0):
        return None
    return build_sum(quotient_terms, quotient_const, form.dtype), remainder


def _split_below(x: UOp, form: LinearForm, c: int) -> tuple[int, UOp, UOp] | None:
    """(g, q, r) with x == g*q + r, g a proper divisor of c and 0 <= r < g, or None (needs x >= 0).

    Then x // c == q // (c/g): with 0 <= r/g < 1 the fraction never carries into the quotient; and
    x % c == (q % (c/g))*g + r. This is how a flat index `r0*6 + r1` divides by 12: into `r0 // 2`.
    """
    if bounds(x)[0] < 0:
        return None
    # Only a factor shared by c and some coefficient can leave terms in q: try those, largest first.
    for g in sorted({math.gcd(c, coeff) for coeff in form.terms.values()} - {1, c}, reverse=True):
        rest_terms = {term: coeff for term, coeff in form.terms.items() if coeff % g != 0}
        if len(rest_terms) == len(form.terms):
            continue
        remainder = build_sum(rest_terms, form.const % g, form.dtype)
        low, high = bounds(remainder)
        if low >= 0 and high < g:
            quotient_terms = {term: coeff // g for term, coeff in form.terms.items() if coeff % g == 0}
            return g, build_sum(quotient_terms, form.const // g, form.dtype), remainder
    return None


def _binary(op: Ops, x: UOp, c: int) -> UOp:
    assert isinstance(x.dtype, DType)
    if x.op is Ops.CONST:
        value = c_div(int(x.arg), c) if op is Ops.IDIV else c_mod(int(x.arg), c)
        return UOp.const(x.dtype, value)
    return UOp(op, x.dtype, (x, UOp.const(x.dtype, c)))


def _add(*parts: tuple[UOp, int]) -> UOp:
    """The canonical sum of coeff * part over `parts`."""
    dtype = parts[0][0].dtype
    assert isinstance(dtype, DType)
    terms: dict[UOp, int] = {}
    const = sum(accumulate(terms, part, coeff) for part, coeff in parts)
    return build_sum(terms, const, dtype)


def fold_idiv(x: UOp, d: UOp) -> UOp | None:
    """Simplify x // d for a constant d."""
    if not is_signed_int(x):
        return None
    assert isinstance(x.dtype, DType)
    c = int(d.arg)
    smallest, largest = dtype_range(x.dtype)
    if c == 1:
        return x
    if c == 0 or c == smallest:
        return None
    if c < 0:
        # Truncation is odd: x / -c == -(x / c).
        return _add((_binary(Ops.IDIV, x, -c), -1))
    if x.op is Ops.IDIV and (inner := _positive_const(x.src[1])) is not None and inner * c <= largest:
        # For positive divisors, truncating twice equals truncating once (floor for x >= 0, ceiling for x <= 0).
        return _binary(Ops.IDIV, x.src[0], inner * c)
    if x.op is Ops.MOD and (modulus := _positive_const(x.src[1])) is not None and modulus % c == 0:
        # (y % (c*k)) // c == (y // c) % k: the digit at position c, for either sign of y.
        return _binary(Ops.MOD, _binary(Ops.IDIV, x.src[0], c), modulus // c)
    if not is_exact(x):
        return None
    form = linear_form(x)
    factor = _common_factor(form, c)
    if factor > 1:
        # Dividing numerator and divisor by a common factor leaves the rational quotient, so its truncation, alone.
        return _binary(Ops.IDIV, _scaled(form, factor), c // factor)
    split = _split(x, form, c)
    if split is not None:
        quotient, remainder = split
        return _add((quotient, 1), (_binary(Ops.IDIV, remainder, c), 1))
    below = _split_below(x, form, c)
    return None if below is None else _binary(Ops.IDIV, below[1], c // below[0])


def fold_mod(x: UOp, d: UOp) -> UOp | None:
    """Simplify x % d for a constant d."""
    if not is_signed_int(x):
        return None
    assert isinstance(x.dtype, DType)
    c = int(d.arg)
    if c == 0 or c == dtype_range(x.dtype)[0]:
        return None
    if c < 0:
        # The remainder takes the dividend's sign; the divisor's sign does not matter.
        return _binary(Ops.MOD, x, -c)
    if x.op is Ops.MOD and (modulus := _positive_const(x.src[1])) is not None and modulus % c == 0:
        return _binary(Ops.MOD, x.src[0], c)
    low, high = bounds(x)
    quotient = c_div(low, c)
    if quotient == c_div(high, c):
        # Every value of x has the same quotient q, so x % c == x - q*c.
        return x if quotient == 0 else _add((x, 1), (UOp.const(x.dtype, quotient * c), -1))
    if not is_exact(x):
        return None
    form = linear_form(x)
    factor = _common_factor(form, c)
    if factor > 1:
        # x % c == x - c*(x//c); with x = g*y and c = g*k that is g*(y - k*(y//k)) == g*(y % k).
        return _add((_binary(Ops.MOD, _scaled(form, factor), c // factor), factor))
    split = _split(x, form, c)
    if split is not None:
        return _binary(Ops.MOD, split[1], c)
    below = _split_below(x, form, c)
    if below is None:
        return None
    step, high_part, remainder = below
    return _add((_binary(Ops.MOD, high_part, c // step), step), (remainder, 1))


def fold_less_than(x: UOp, bound: UOp) -> UOp | None:
    """Simplify x < c for a constant c by moving constants, common factors and divisions to the right."""
    if not is_signed_int(x):
        return None
    assert isinstance(x.dtype, DType)
    c = int(bound.arg)
    smallest, largest = dtype_range(x.dtype)
    if x.op is Ops.IDIV and (d := _positive_const(x.src[1])) is not None:
        # y//d < c: for c >= 1 exactly when y < c*d; for c <= 0 (quotients round up) when y <= (c-1)*d.
        limit = c * d if c >= 1 else (c - 1) * d + 1
        return x.src[0].lt(limit) if smallest <= limit <= largest else None
    if not is_exact(x):
        return None
    form = linear_form(x)
    if form.const != 0 and form.terms:
        rest = build_sum(form.terms, 0, form.dtype)
        moved = c - form.const
        # x = rest + k exactly; rest must be exact too, and the moved bound representable.
        if is_exact(rest) and smallest <= moved <= largest:
            return rest.lt(moved)
        return None
    factor = math.gcd(*form.terms.values())
    if factor > 1:
        # g*y < c  <=>  y < ceil(c / g); y = x/g is exact because x is.
        return _scaled(form, factor).lt(-(-c // factor))
    return None
