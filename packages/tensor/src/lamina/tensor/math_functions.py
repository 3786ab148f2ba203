"""Math functions and activations: exp, log, trig, rounding, clamp, relu, sigmoid, gelu, softplus...

Functions with no primitive op are compositions of elementwise ones, so they fuse and differentiate
for free; where the obvious composition saturates into inf/inf or 0*inf (sigmoid far below zero,
softplus, elu), they are written the way that stays finite, as torch's kernels are.
"""

from __future__ import annotations

import builtins
import math
from typing import Self

from lamina.dtype import dtypes
from lamina.tensor.elementwise import ElementwiseMixin, Operand
from lamina.uop import Ops


class MathMixin(ElementwiseMixin):
    """Math functions, NaN and infinity tests, and activations."""

    __slots__ = ()

    def isnan(self) -> Self:
        return self.ne(self)

    def isinf(self) -> Self:
        return self.abs().eq(math.inf) if self.dtype.is_float else self.zeros_like(dtypes.bool)

    # -- math functions --

    def abs(self) -> Self:
        if self.dtype.is_unsigned or self.dtype.is_bool:
            return self
        return self.maximum(-self)

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

    # -- activations --

    def relu(self) -> Self:
        # NaN passes through, as in torch: `x > 0 or x is NaN` is one unordered compare, !(x <= 0).
        positive = self.gt(0).logical_or(self.isnan()) if self.dtype.is_float else self.gt(0)
        return positive._select(self, 0)

    def leaky_relu(self, negative_slope: builtins.float = 0.01) -> Self:
        return self.gt(0)._select(self, self * negative_slope)

    def sigmoid(self) -> Self:
        # 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) below: the exponential never overflows, so neither the
        # value nor its derivative forms inf/inf or 0 * inf at large |x| (the sign split is no |x|, whose tie
        # at 0 would give the derivative there no share).
        x = self._floating()
        nonnegative = x.ge(0)
        decay = nonnegative._select(-x, x).exp()
        return nonnegative._select(1.0, decay) / (1 + decay)

    def tanh(self) -> Self:
        return 2 * (2 * self._floating()).sigmoid() - 1

    def silu(self) -> Self:
        return self * self.sigmoid()

    def erf(self) -> Self:
        return self._floating()._unary(Ops.ERF)

    def gelu(self, approximate: str = "none") -> Self:
        x = self._floating()
        if approximate == "tanh":
            return 0.5 * x * (1 + (math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x)).tanh())
        if approximate != "none":
            raise ValueError(f"gelu approximate must be 'none' or 'tanh', got {approximate!r}")
        return 0.5 * x * (1 + (x * (1 / math.sqrt(2))).erf())

    def softplus(self, beta: builtins.float = 1.0, threshold: builtins.float = 20.0) -> Self:
        x = self._floating()
        scaled = x * beta
        # log(1 + e^s) = max(s, 0) + log1p(e^-|s|): never overflows. The sign split is written as a choice, as
        # in sigmoid, so the derivative at 0 is 1/2 (|s| would give its tie no share).
        nonnegative = scaled.ge(0)
        tail = nonnegative._select(-scaled, scaled).exp().log1p()
        stable = (nonnegative._select(scaled, 0.0) + tail) / beta
        return scaled.gt(threshold)._select(x, stable)

    def elu(self, alpha: builtins.float = 1.0) -> Self:
        x = self._floating()
        # The exponential of the positive side is never used, and would overflow into 0 * inf in the derivative.
        negative_side = x.gt(0)._select(0.0, x)
        return x.gt(0)._select(x, alpha * negative_side.expm1())

    def __abs__(self) -> Self:
        return self.abs()
