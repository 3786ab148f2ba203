"""Activations: relu and its relatives, sigmoid, tanh, gelu, softplus, the hard and scaled variants.

Each is a composition of elementwise ops (so it fuses and differentiates for free), written the way that
stays finite where it saturates: no exponential of the side a choice discards, no inf/inf or 0 * inf in
the value or the derivative (sigmoid far below zero, softplus, elu), as torch's kernels are.
"""

from __future__ import annotations

import builtins
import math
from typing import Final, Self

from lamina.dtype import dtypes
from lamina.tensor.math_functions import MathMixin

# SELU's constants (Klambauer et al. 2017), as torch has them.
SELU_ALPHA: Final = 1.6732632423543772848170429916717
SELU_SCALE: Final = 1.0507009873554804934193349852946


class ActivationMixin(MathMixin):
    """Activation functions (those of one tensor; softmax and its kin reduce, see reduce.py)."""

    __slots__ = ()

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
        x = self._floating()
        nonnegative = x.ge(0)
        magnitude = nonnegative._select(x, -x)  # |x| as a choice: the derivative at 0 is 1, and -0.0 stays
        if x.dtype == dtypes.float64:
            # (1 - e^-2t) / (1 + e^-2t) through expm1: exact near 0, where 2 sigmoid(2x) - 1 loses x's digits.
            decay = (-2 * magnitude).expm1()
            far = -decay / (decay + 2)
            return nonnegative._select(far, -far)
        # float32 and below: Cephes' tanhf, an odd polynomial below 0.625 (exact near 0: tanh(1e-7) is 1e-7),
        # (1 - e^-2t) / (1 + e^-2t) above. Both vectorize (expm1's libm call may not), and neither side forms an
        # inf its derivative would multiply by the choice's 0: the polynomial sees 0 where it is not chosen.
        small = magnitude.lt(0.625)
        inner = small._select(x, 0.0)
        square = inner * inner
        polynomial = ((((-5.70498872745e-3 * square + 2.06390887954e-2) * square - 5.37397155531e-2) * square
                       + 1.33314422036e-1) * square - 3.33332819422e-1)  # fmt: skip
        near = inner * (1 + square * polynomial)  # inner times, so -0.0 keeps its sign
        decay = (-2 * magnitude).exp()
        far = (1 - decay) / (1 + decay)
        return small._select(near, nonnegative._select(far, -far))

    def silu(self) -> Self:
        return self * self.sigmoid()

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

    def relu6(self) -> Self:
        return self.hardtanh(0.0, 6.0)

    def hardtanh(self, min_val: builtins.float = -1.0, max_val: builtins.float = 1.0) -> Self:
        if min_val > max_val:
            raise ValueError(f"hardtanh needs min_val <= max_val, got {min_val} > {max_val}")
        # clip's value (its NaN and signs of zero), with torch's derivative: 1 strictly inside (min_val, max_val)
        # and 0 at either bound, where clamp passes it on (relu6, hardsigmoid and hardswish build on this).
        inside = self.gt(min_val).logical_and(self.lt(max_val))
        return inside._select(self, self.clip(min_val, max_val).detach())

    def hardsigmoid(self) -> Self:
        return (self._floating() + 3).relu6() * (1 / 6)

    def hardswish(self) -> Self:
        x = self._floating()
        return x * (x + 3).relu6() * (1 / 6)

    def selu(self) -> Self:
        return SELU_SCALE * self.elu(SELU_ALPHA)

    def celu(self, alpha: builtins.float = 1.0) -> Self:
        if alpha == 0:
            raise ValueError("celu's alpha must not be 0")
        x = self._floating()
        negative_side = x.gt(0)._select(0.0, x)
        return x.gt(0)._select(x, alpha * (negative_side / alpha).expm1())

    def mish(self) -> Self:
        x = self._floating()
        return x * x.softplus().tanh()

    def softsign(self) -> Self:
        x = self._floating()
        return x / (1 + x.abs())

    def logsigmoid(self) -> Self:
        # -softplus(-x): log(sigmoid(x)) that never forms log(0) for very negative x.
        return -(-self._floating()).softplus()

    def tanhshrink(self) -> Self:
        return self - self.tanh()

    def softshrink(self, lambd: builtins.float = 0.5) -> Self:
        x = self._floating()
        return x.gt(lambd)._select(x - lambd, x.lt(-lambd)._select(x + lambd, x * 0))  # -0.0 stays, as torch's

    def hardshrink(self, lambd: builtins.float = 0.5) -> Self:
        x = self._floating()
        return x.abs().gt(lambd)._select(x, 0.0)
