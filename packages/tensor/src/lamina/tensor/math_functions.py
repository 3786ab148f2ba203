"""Math functions: exp, log, trig and their inverses, hyperbolics, rounding, clamp, NaN and infinity tests,
two-argument functions (atan2, hypot, copysign, fmod, logaddexp) and closeness tests.

Functions with no primitive op are compositions of elementwise ones, so they fuse and differentiate
for free; each is written the way that stays accurate where the obvious formula cancels or overflows
(asin near 1, sinh near 0, hypot of large values), as torch's kernels are. The inverse trigonometric
functions all go through one op, ATAN2, which C has exactly.
"""

from __future__ import annotations

import builtins
import math
from typing import Final, Self

from lamina.dtype import DType, dtypes, least_upper_float, promote_types
from lamina.tensor.elementwise import ElementwiseMixin, Operand, guard_divisor
from lamina.uop import Ops


class MathMixin(ElementwiseMixin):
    """Math functions, NaN and infinity tests, and activations."""

    __slots__ = ()

    def isnan(self) -> Self:
        return self.ne(self)

    def isinf(self) -> Self:
        return self.abs().eq(math.inf) if self.dtype.is_float else self.zeros_like(dtypes.bool)

    def isposinf(self) -> Self:
        return self.eq(math.inf) if self.dtype.is_float else self.zeros_like(dtypes.bool)

    def isneginf(self) -> Self:
        return self.eq(-math.inf) if self.dtype.is_float else self.zeros_like(dtypes.bool)

    def isfinite(self) -> Self:
        # x - x is 0 for every finite x, NaN for infinities and NaN.
        return (self - self).eq(0) if self.dtype.is_float else self.ones_like(dtypes.bool)

    def nan_to_num(
        self, nan: builtins.float = 0.0, posinf: builtins.float | None = None, neginf: builtins.float | None = None
    ) -> Self:
        """NaN, +inf and -inf replaced (by 0 and the dtype's largest and lowest finite values by default)."""
        if not self.dtype.is_float:
            return self
        largest = _finite_max(self.dtype)
        high = largest if posinf is None else posinf
        low = -largest if neginf is None else neginf
        return self.isnan()._select(nan, self.isposinf()._select(high, self.isneginf()._select(low, self)))

    def isclose(
        self,
        other: Operand,
        rtol: builtins.float = 1e-05,
        atol: builtins.float = 1e-08,
        equal_nan: builtins.bool = False,
    ) -> Self:
        """|self - other| <= atol + rtol * |other|, elementwise; equal infinities are close (torch.isclose)."""
        if rtol < 0 or atol < 0:
            raise ValueError(f"isclose needs non-negative tolerances, got rtol={rtol}, atol={atol}")
        other_tensor = self._as_tensor(other)
        if self.dtype.is_bool or not (self.dtype.is_float or other_tensor.dtype.is_float):
            return self.eq(other_tensor)
        close = (self - other_tensor).abs().le(atol + rtol * other_tensor.abs())
        finite = self.isfinite().logical_and(other_tensor.isfinite())
        result = self.eq(other_tensor).logical_or(close.logical_and(finite))
        return result.logical_or(self.isnan().logical_and(other_tensor.isnan())) if equal_nan else result

    # -- math functions --

    def abs(self) -> Self:
        if self.dtype.is_unsigned or self.dtype.is_bool:
            return self
        if not self.dtype.is_float:
            return self.maximum(-self)
        # A choice, not max(x, -x): that picks -0.0 for 0.0. Its derivative at 0 is 0, torch's sign(0).
        return self.lt(0)._select(-self, self.eq(0)._select(0.0, self))

    def sign(self) -> Self:
        positive = self.gt(0).cast(self.dtype)
        negative = self.lt(0).cast(self.dtype)
        return positive - negative

    def exp(self) -> Self:
        return self._floating()._unary(Ops.EXP)

    def exp2(self) -> Self:
        return self._floating()._unary(Ops.EXP2)

    def log(self) -> Self:
        return self._floating()._unary(Ops.LOG)

    def log1p(self) -> Self:
        """log(1 + x), accurate where x is tiny (torch.log1p)."""
        return self._floating()._unary(Ops.LOG1P)

    def expm1(self) -> Self:
        """e**x - 1, accurate where x is tiny (torch.expm1)."""
        return self._floating()._unary(Ops.EXPM1)

    def log2(self) -> Self:
        return self._floating()._unary(Ops.LOG2)

    def sqrt(self) -> Self:
        return self._floating()._unary(Ops.SQRT)

    def rsqrt(self) -> Self:
        return self.sqrt().reciprocal()

    def reciprocal(self) -> Self:
        return self._floating()._unary(Ops.RECIPROCAL)

    def sin(self) -> Self:
        return self._floating()._unary(Ops.SIN)

    def cos(self) -> Self:
        return self._floating()._unary(Ops.COS)

    def tan(self) -> Self:
        return self.sin() / self.cos()

    def atan2(self, other: Operand) -> Self:
        """The angle of the point (other, self) in (-pi, pi] (torch.atan2(self, other), C's atan2)."""
        y = self._floating()
        x = y._as_tensor(other)
        x = x.cast(least_upper_float(x.dtype))
        return y._binary(Ops.ATAN2, x, dtype=promote_types(y.dtype, x.dtype))

    def arctan2(self, other: Operand) -> Self:
        return self.atan2(other)

    def atan(self) -> Self:
        x = self._floating()
        return x.atan2(x.ones_like())

    def asin(self) -> Self:
        # atan2(x, sqrt(1 - x^2)), the root taken of (1 - x)(1 + x): exact near |x| = 1, where 1 - x^2 cancels.
        x = self._floating()
        return x.atan2(((1 - x) * (1 + x)).sqrt())

    def acos(self) -> Self:
        x = self._floating()
        return ((1 - x) * (1 + x)).sqrt().atan2(x)

    def sinh(self) -> Self:
        # Near 0, (e^x - e^-x) / 2 cancels: (expm1(x) - expm1(-x)) / 2 does not. Far out, e^|x| / 2 is formed as
        # e^(|x| - ln 2), which is finite wherever sinh is.
        x = self._floating()
        near = (x.expm1() - (-x).expm1()) * 0.5
        magnitude = x.abs()
        far = (magnitude - _LN2).exp() - (-magnitude - _LN2).exp()
        return magnitude.lt(1)._select(near, x.sign() * far)

    def cosh(self) -> Self:
        magnitude = self._floating().abs()
        return (magnitude - _LN2).exp() + (-magnitude - _LN2).exp()

    def asinh(self) -> Self:
        # log(|x| + sqrt(x^2 + 1)) as log1p(|x| + x^2 / (1 + sqrt(x^2 + 1))), exact near 0; past 2^28, where x^2
        # overflows float32 soon after, log(|x|) + ln 2 is asinh to the last bit.
        x = self._floating()
        magnitude = x.abs()
        square = magnitude * magnitude
        near = (magnitude + square / (1 + (square + 1).sqrt())).log1p()
        far = magnitude.log() + _LN2
        return magnitude.gt(2.0**28)._select(far, near).copysign(x)

    def acosh(self) -> Self:
        # log(x + sqrt(x^2 - 1)) as log1p((x - 1) + sqrt((x - 1)(x + 1))), exact near 1; NaN below 1.
        x = self._floating()
        excess = x - 1
        near = (excess + (excess * (x + 1)).sqrt()).log1p()
        far = x.log() + _LN2
        return x.lt(1)._select(math.nan, x.gt(2.0**28)._select(far, near))

    def atanh(self) -> Self:
        x = self._floating()
        return (x.log1p() - (-x).log1p()) * 0.5

    def arcsin(self) -> Self:
        return self.asin()

    def arccos(self) -> Self:
        return self.acos()

    def arctan(self) -> Self:
        return self.atan()

    def arcsinh(self) -> Self:
        return self.asinh()

    def arccosh(self) -> Self:
        return self.acosh()

    def arctanh(self) -> Self:
        return self.atanh()

    def log10(self) -> Self:
        return self._floating().log() * (1 / math.log(10))

    def hypot(self, other: Operand) -> Self:
        """sqrt(self^2 + other^2) without overflow or underflow in the squares; inf if either is infinite."""
        a = self._floating()
        b = a._as_tensor(other)
        a_abs, b_abs = a.abs(), b.abs()
        larger, smaller = a_abs.maximum(b_abs), a_abs.minimum(b_abs)
        ratio = larger.eq(0)._select(0.0, smaller / larger)
        scaled = larger * (1 + ratio * ratio).sqrt()
        return a.isinf().logical_or(b.isinf())._select(math.inf, scaled)

    def copysign(self, other: Operand) -> Self:
        """|self| with the sign of other, -0.0 included (torch.copysign)."""
        magnitude = self._floating().abs()
        sign_source = magnitude._as_tensor(other)
        negative = sign_source.lt(0)
        if sign_source.dtype.is_float:  # -0.0 is negative: 1 / -0.0 is -inf
            negative = negative.logical_or(sign_source.eq(0).logical_and((1 / sign_source).lt(0)))
        return negative._select(-magnitude, magnitude)

    def fmod(self, other: Operand) -> Self:
        """The remainder of division rounded toward zero, with the dividend's sign (torch.fmod, C's fmod)."""
        left, right, inputs = self._pair(other)
        remainder = left.alu(Ops.MOD, right)
        if left.scalar_dtype.is_float:
            return self._derive(remainder, *inputs)
        return self._derive(guard_divisor(remainder, right, "fmod"), *inputs)

    def remainder(self, other: Operand) -> Self:
        """The remainder with the divisor's sign (torch.remainder, Python's %)."""
        return self.mod(other)

    def logaddexp(self, other: Operand) -> Self:
        """log(e^self + e^other) without overflow: max + log1p(e^-|self - other|); equal infinities stay."""
        a = self._floating()
        b = a._as_tensor(other)
        larger = a.maximum(b)
        spread = (a - b).abs()
        return a.eq(b)._select(a + _LN2, larger + (-spread).exp().log1p())

    def _rounding(self, op: Ops) -> Self:
        return self._unary(op) if self.dtype.is_float else self

    def floor(self) -> Self:
        return self._rounding(Ops.FLOOR)

    def ceil(self) -> Self:
        return self._rounding(Ops.CEIL)

    def round(self) -> Self:
        return self._rounding(Ops.ROUND)

    def trunc(self) -> Self:
        return self._rounding(Ops.TRUNC)

    def square(self) -> Self:
        return self * self

    def clip(self, min_: Operand | None = None, max_: Operand | None = None) -> Self:
        if min_ is None and max_ is None:
            raise ValueError("clip needs at least one of min and max")
        # Choices, not maximum/minimum: the gradient is 1 at the bounds (torch's), NaN passes through, and a
        # min above max gives max everywhere.
        result = self
        if min_ is not None:
            result = result.lt(min_)._select(min_, result)
        if max_ is not None:
            result = result.gt(max_)._select(max_, result)
        return result

    def clamp(self, min_: Operand | None = None, max_: Operand | None = None) -> Self:
        return self.clip(min_, max_)

    def erf(self) -> Self:
        return self._floating()._unary(Ops.ERF)

    def __abs__(self) -> Self:
        return self.abs()


_LN2: Final = math.log(2)


_FINITE_MAX: Final = {
    dtypes.float16: 65504.0,
    dtypes.bfloat16: 3.3895313892515355e38,
    dtypes.float32: 3.4028234663852886e38,
    dtypes.float64: 1.7976931348623157e308,
}


def _finite_max(dtype: DType) -> builtins.float:
    """The largest finite value of a float dtype."""
    return _FINITE_MAX[dtype]
