"""Elementwise operations: broadcasting and type promotion, casts, arithmetic, comparisons and operators.

Binary ops promote like torch (`result_type`, Python scalars weak) and broadcast like numpy; the
broadcast is an explicit reshape + expand, so it costs no memory and autograd's one EXPAND rule
sums gradients back. The math functions and activations built on these live in `math_functions.py`.
"""

from __future__ import annotations

import builtins
import math
from typing import Self, overload

from lamina.dtype import DType, dtypes, least_upper_float, promote_types, result_type
from lamina.shape import broadcast_shapes
from lamina.tensor.core import TensorCore, scalar_full, scalar_uop
from lamina.tensor.movement import MovementMixin
from lamina.uop import Check, CheckKind, ConstValue, GroupOp, Ops, UOp, checked

Operand = TensorCore | ConstValue


def broadcast_uop(uop: UOp, shape: tuple[int, ...]) -> UOp:
    """`uop` broadcast to `shape` (numpy rules; the shapes were checked already)."""
    aligned = uop.reshape((1,) * (len(shape) - len(uop.shape)) + uop.shape)
    return aligned.expand(shape)


_BROADCAST_CONSTANTS: dict[tuple[object, ...], UOp] = {}
_BROADCAST_CONSTANTS_LIMIT = 1024


def broadcast_constant(dtype: DType, value: ConstValue, shape: tuple[int, ...]) -> UOp:
    """The constant `value` of `dtype` broadcast to `shape`, remembered: a step's `x * 0.5` and `x + 1` build the
    same three nodes every time, which the interning table would otherwise drop and rebuild."""
    # The value's type and sign are part of the key: 1, 1.0 and True are equal in Python, and so are 0.0 and -0.0.
    sign = math.copysign(1.0, value) if isinstance(value, builtins.float) else 0.0
    key = (dtype, type(value), value, sign, shape)
    known = _BROADCAST_CONSTANTS.get(key)
    if known is None:
        if len(_BROADCAST_CONSTANTS) >= _BROADCAST_CONSTANTS_LIMIT:
            _BROADCAST_CONSTANTS.clear()
        known = _BROADCAST_CONSTANTS[key] = broadcast_uop(scalar_uop(dtype, value), shape)
    return known


def guard_divisor(result: UOp, divisor: UOp, op: str) -> UOp:
    """`result` of an integer division by `divisor`, raising ZeroDivisionError (like torch) where it is zero: now
    for a constant divisor, when the kernels run for any other (a runtime check, see lamina.uop.check)."""
    constant = divisor
    while constant.op in GroupOp.MOVEMENT:
        constant = constant.src[0]
    if constant.op is Ops.CONST:
        if constant.arg == 0:
            raise ZeroDivisionError(f"{op}: integer division by zero")
        return result
    return checked(result, divisor, Check(CheckKind.DIVISOR, op))


def _floor_divide_floats(a: UOp, b: UOp) -> UOp:
    """a // b for floats as Python and torch compute it: from the remainder, not floor(a / b), which rounds
    (a quotient just below an integer rounds up to it) and gives 0 for 1 // -inf where Python gives -1."""
    zero, one = a.const_like(0), a.const_like(1)
    remainder = a.alu(Ops.MOD, b)
    quotient = (a - remainder).alu(Ops.DIV, b)
    signs_differ = b.lt(zero).alu(Ops.XOR, remainder.lt(zero))
    quotient = remainder.ne(zero).alu(Ops.AND, signs_differ).where(quotient - one, quotient)
    floored = quotient.alu(Ops.FLOOR)
    floored = (quotient - floored).lt(a.const_like(0.5)).where(floored, floored + one)
    # A zero quotient takes the sign of a / b (0.0 or -0.0); a zero divisor gives a / b (inf or NaN).
    ratio = a.alu(Ops.DIV, b)
    negative = ratio.lt(zero).alu(Ops.OR, ratio.eq(zero).alu(Ops.AND, one.alu(Ops.DIV, ratio).lt(zero)))
    signed_zero = negative.where(a.const_like(-0.0), zero)
    result = quotient.ne(zero).where(floored, signed_zero)
    return b.eq(zero).where(ratio, result)


def _power_by_squaring(base: UOp, exponent: int) -> UOp:
    """base ** exponent for a whole exponent >= 0, by repeated squaring (integer products wrap like torch's)."""
    result: UOp | None = None
    power = base
    while exponent:
        if exponent & 1:
            result = power if result is None else result * power
        exponent >>= 1
        if exponent:
            power = power * power
    return base.const_like(1) if result is None else result


def _integer_power(base: UOp, exponent: UOp) -> UOp:
    """base ** exponent elementwise for integer tensors: square-and-multiply over every bit of the exponent.

    A negative exponent gives what torch gives: 1 for a base of 1, +-1 for -1, and 0 for every other base.
    """
    dtype = base.scalar_dtype
    one, zero = base.const_like(1), base.const_like(0)
    result, power = one, base
    for bit in range(dtype.bits - (0 if dtype.is_unsigned else 1)):
        odd = exponent.alu(Ops.SHR, exponent.const_like(bit)).alu(Ops.AND, one).ne(zero)
        result = odd.where(result * power, result)
        power = power * power
    if dtype.is_unsigned:
        return result
    odd_exponent = exponent.alu(Ops.AND, one).ne(zero)
    minus_one = base.eq(-one).where(odd_exponent.where(-one, one), zero)
    negative = base.eq(one).where(one, minus_one)
    return exponent.lt(zero).where(negative, result)


def _choice(condition: TensorCore, if_true: Operand, if_false: Operand) -> tuple[UOp, list[TensorCore]]:
    """`condition ? if_true : if_false` broadcast together, the branches promoted like torch.where; and the
    tensor branches."""
    operands = [each for each in (if_true, if_false) if isinstance(each, TensorCore)]
    scalars = [each for each in (if_true, if_false) if not isinstance(each, TensorCore)]
    dtype = result_type(*(each.dtype for each in operands), *scalars)
    shape = broadcast_shapes(condition.shape, *(each.shape for each in operands))
    true_uop = if_true.uop.cast(dtype) if isinstance(if_true, TensorCore) else scalar_uop(dtype, if_true)
    false_uop = if_false.uop.cast(dtype) if isinstance(if_false, TensorCore) else scalar_uop(dtype, if_false)
    selected = broadcast_uop(condition.uop.cast(dtypes.bool), shape).where(
        broadcast_uop(true_uop, shape), broadcast_uop(false_uop, shape)
    )
    return selected, operands


class ElementwiseMixin(MovementMixin):
    """Arithmetic, comparisons, logic and elementwise math."""

    __slots__ = ()

    # -- the machinery --

    def _pair(
        self, other: Operand, dtype: DType | None = None, reverse: builtins.bool = False
    ) -> tuple[UOp, UOp, tuple[TensorCore, ...]]:
        """self and other as UOps of one dtype and one broadcast shape (in operation order)."""
        if isinstance(other, (builtins.bool, builtins.int, builtins.float)):
            # A scalar takes self's shape: the constant, already broadcast to it, is kept from the last time.
            common = dtype or result_type(self.dtype, other)
            left, right = self.uop.cast(common), broadcast_constant(common, other, self.shape)
            return (right, left, ()) if reverse else (left, right, ())
        if not isinstance(other, TensorCore):
            raise TypeError(f"cannot combine a Tensor with {type(other).__name__}")
        common = dtype or promote_types(self.dtype, other.dtype)
        other_uop, inputs, other_shape = other.uop, (other,), other.shape
        try:
            shape = broadcast_shapes(self.shape, other_shape)
        except ValueError:
            raise ValueError(f"shapes {self.shape} and {other_shape} do not broadcast") from None
        left = broadcast_uop(self.uop.cast(common), shape)
        right = broadcast_uop(other_uop.cast(common), shape)
        return (right, left, inputs) if reverse else (left, right, inputs)

    def _binary(self, op: Ops, other: Operand, reverse: builtins.bool = False, dtype: DType | None = None) -> Self:
        left, right, inputs = self._pair(other, dtype, reverse)
        return self._derive(left.alu(op, right), *inputs)

    def _unary(self, op: Ops) -> Self:
        return self._derive(self.uop.alu(op))

    def _floating(self) -> Self:
        """self in the float dtype math functions compute in."""
        return self.cast(least_upper_float(self.dtype))

    def _require_integral(self, name: str) -> None:
        if self.dtype.is_float:
            raise TypeError(f"{name} needs an integer or bool tensor, got {self.dtype}")

    # -- dtype --

    def cast(self, dtype: DType) -> Self:
        return self if dtype == self.dtype else self._derive(self.uop.cast(dtype))

    def to(self, *args: DType | str | TensorCore, dtype: DType | None = None, device: str | None = None) -> Self:
        """torch's `to`: `to(dtype)`, `to(device)`, `to(device, dtype)`, `to(other)` (other's dtype and device)."""
        for arg in args:
            if isinstance(arg, DType):
                dtype = arg
            elif isinstance(arg, str):
                device = arg
            elif isinstance(arg, TensorCore):
                dtype, device = arg.dtype, arg.device
            else:
                raise TypeError(f"to() takes dtypes, device names or a Tensor, got {type(arg).__name__}")
        moved = self if device is None else self.to_device(device)
        return moved if dtype is None else moved.cast(dtype)

    @overload
    def type(self) -> str: ...
    @overload
    def type(self, dtype: DType) -> Self: ...

    def type(self, dtype: DType | None = None) -> Self | str:
        """The dtype's name without an argument, else a cast (torch's `type`)."""
        return repr(self.dtype) if dtype is None else self.cast(dtype)

    def float(self) -> Self:
        return self.cast(dtypes.float32)

    def half(self) -> Self:
        return self.cast(dtypes.float16)

    def double(self) -> Self:
        return self.cast(dtypes.float64)

    def int(self) -> Self:
        return self.cast(dtypes.int32)

    def long(self) -> Self:
        return self.cast(dtypes.int64)

    def bool(self) -> Self:
        return self.cast(dtypes.bool)

    # -- arithmetic --

    def add(self, other: Operand) -> Self:
        return self._binary(Ops.ADD, other)

    def sub(self, other: Operand) -> Self:
        return self._binary(Ops.SUB, other)

    def mul(self, other: Operand) -> Self:
        return self._binary(Ops.MUL, other)

    def div(self, other: Operand, reverse: builtins.bool = False, *, rounding_mode: str | None = None) -> Self:
        """True division (integers divide as floats), or with `rounding_mode` "trunc" or "floor" the quotient
        rounded toward zero or down, in the operands' dtype (torch.div)."""
        if rounding_mode == "floor":
            return self.floordiv(other, reverse)
        if rounding_mode == "trunc":
            left, right, inputs = self._pair(other, reverse=reverse)
            if left.scalar_dtype.is_float:
                return self._derive(left.alu(Ops.DIV, right).alu(Ops.TRUNC), *inputs)
            return self._derive(guard_divisor(left.alu(Ops.IDIV, right), right, "div"), *inputs)
        if rounding_mode is not None:
            raise ValueError(f"div's rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")
        dtype = result_type(self.dtype, other.dtype if isinstance(other, TensorCore) else other)
        return self._binary(Ops.DIV, other, reverse, dtype=least_upper_float(dtype))

    def divide(self, other: Operand, *, rounding_mode: str | None = None) -> Self:
        return self.div(other, rounding_mode=rounding_mode)

    def floordiv(self, other: Operand, reverse: builtins.bool = False) -> Self:
        """Division rounded toward negative infinity (Python's //)."""
        left, right, inputs = self._pair(other, reverse=reverse)
        if left.scalar_dtype.is_float:
            return self._derive(_floor_divide_floats(left, right), *inputs)
        quotient = left.alu(Ops.IDIV, right)
        remainder = left.alu(Ops.MOD, right)
        signs_differ = remainder.lt(remainder.const_like(0)).alu(Ops.XOR, right.lt(right.const_like(0)))
        adjust = remainder.ne(remainder.const_like(0)).alu(Ops.AND, signs_differ)
        floored = quotient - adjust.cast(quotient.scalar_dtype)
        return self._derive(guard_divisor(floored, right, "floor_divide"), *inputs)

    def mod(self, other: Operand, reverse: builtins.bool = False) -> Self:
        """Remainder with the sign of the divisor (Python's %)."""
        left, right, inputs = self._pair(other, reverse=reverse)
        remainder = left.alu(Ops.MOD, right)
        zero = remainder.const_like(0)
        signs_differ = remainder.lt(zero).alu(Ops.XOR, right.lt(zero))
        wrap = remainder.ne(zero).alu(Ops.AND, signs_differ)
        result = wrap.where(remainder + right, remainder)
        if left.scalar_dtype.is_float:
            return self._derive(result, *inputs)
        return self._derive(guard_divisor(result, right, "remainder"), *inputs)

    def pow(self, exponent: Operand, reverse: builtins.bool = False) -> Self:
        """self ** exponent (base ** self when `reverse`); integer powers of integers are exact and wrap, like torch."""
        dtype = result_type(self.dtype, exponent.dtype if isinstance(exponent, TensorCore) else exponent)
        whole_exponent = isinstance(exponent, builtins.int) and not isinstance(exponent, builtins.bool)
        if not reverse and whole_exponent and (dtype.is_int or 1 <= exponent <= 8):  # type: ignore[operator]
            if exponent < 0:  # type: ignore[operator]
                raise ValueError(f"integers to negative integer powers are not allowed ({self.dtype} ** {exponent})")
            # Small powers of floats are exact products too (and differentiate like them).
            return self._derive(_power_by_squaring(self.uop.cast(dtype), exponent))  # type: ignore[arg-type]
        if not reverse and isinstance(exponent, builtins.float) and exponent == 0.5:
            return self._floating()._unary(Ops.SQRT)
        if dtype.is_int:
            left, right, inputs = self._pair(exponent, dtype, reverse)
            return self._derive(_integer_power(left, right), *inputs)
        return self._binary(Ops.POW, exponent, reverse, dtype=least_upper_float(dtype))

    def full_like(self, value: ConstValue, dtype: DType | None = None) -> Self:
        """A constant tensor of self's shape and device, outside the autograd graph (torch.full_like)."""
        return type(self)(scalar_full(self.shape, dtype or self.dtype, value), device=self.device)

    def zeros_like(self, dtype: DType | None = None) -> Self:
        return self.full_like(0, dtype)

    def ones_like(self, dtype: DType | None = None) -> Self:
        return self.full_like(1, dtype)

    def empty_like(self, dtype: DType | None = None) -> Self:
        return self.full_like(0, dtype)

    def neg(self) -> Self:
        if self.dtype.is_bool:
            raise TypeError("negation of a bool tensor: use logical_not() or ~")
        return self._unary(Ops.NEG)

    def maximum(self, other: Operand) -> Self:
        return self._binary(Ops.MAX, other)

    def minimum(self, other: Operand) -> Self:
        left, right, inputs = self._pair(other)
        if not left.scalar_dtype.is_float:
            # A choice, not negated maxima: -INT_MIN wraps to INT_MIN.
            return self._derive(left.lt(right).where(left, right), *inputs)
        return self._derive(-((-left).alu(Ops.MAX, -right)), *inputs)

    def where(self, condition: TensorCore, other: Operand) -> Self:
        """torch's `Tensor.where`: self where `condition` holds, else `other` (see the free `where`)."""
        if not isinstance(condition, TensorCore):
            raise TypeError(f"where needs a condition Tensor, got {type(condition).__name__}")
        selected, operands = _choice(condition, self, other)
        return self._derive(selected, condition, *operands)

    def _select(self, if_true: Operand, if_false: Operand) -> Self:
        """Elementwise `self ? if_true : if_false`: self is the condition (torch.where(self, if_true, if_false))."""
        selected, operands = _choice(self, if_true, if_false)
        return self._derive(selected, *operands)

    def lerp(self, end: Operand, weight: Operand) -> Self:
        return self + (self._as_tensor(end) - self) * weight

    def _as_tensor(self, value: Operand) -> Self:
        if isinstance(value, TensorCore):
            return value  # type: ignore[return-value]
        return self._derive(scalar_uop(result_type(self.dtype, value), value))

    # -- comparisons and logic --

    def lt(self, other: Operand) -> Self:
        return self._binary(Ops.CMPLT, other)

    def gt(self, other: Operand) -> Self:
        return self._binary(Ops.CMPLT, other, reverse=True)

    def le(self, other: Operand) -> Self:
        return self.lt(other).logical_or(self.eq(other))

    def ge(self, other: Operand) -> Self:
        return self.gt(other).logical_or(self.eq(other))

    def eq(self, other: Operand) -> Self:
        return self._binary(Ops.CMPEQ, other)

    def ne(self, other: Operand) -> Self:
        return self._binary(Ops.CMPNE, other)

    def logical_not(self) -> Self:
        return self._derive(self.uop.cast(dtypes.bool).alu(Ops.NOT))

    def logical_or(self, other: Operand) -> Self:
        return self.bool()._binary(Ops.OR, other, dtype=dtypes.bool)

    def logical_and(self, other: Operand) -> Self:
        return self.bool()._binary(Ops.AND, other, dtype=dtypes.bool)

    def bitwise_and(self, other: Operand) -> Self:
        self._require_integral("&")
        return self._binary(Ops.AND, other)

    def bitwise_or(self, other: Operand) -> Self:
        self._require_integral("|")
        return self._binary(Ops.OR, other)

    def bitwise_xor(self, other: Operand) -> Self:
        self._require_integral("^")
        return self._binary(Ops.XOR, other)

    def bitwise_not(self) -> Self:
        self._require_integral("~")
        if self.dtype.is_bool:
            return self.logical_not()
        return self._derive(self.uop.alu(Ops.XOR, self.uop.const_like(-1)))

    def lshift(self, bits: Operand) -> Self:
        self._require_integral("<<")
        return self._binary(Ops.SHL, bits)

    def rshift(self, bits: Operand) -> Self:
        self._require_integral(">>")
        return self._binary(Ops.SHR, bits)

    # -- operators --

    def __add__(self, other: Operand) -> Self:
        return self.add(other)

    def __radd__(self, other: Operand) -> Self:
        return self._binary(Ops.ADD, other, reverse=True)

    def __sub__(self, other: Operand) -> Self:
        return self.sub(other)

    def __rsub__(self, other: Operand) -> Self:
        return self._binary(Ops.SUB, other, reverse=True)

    def __mul__(self, other: Operand) -> Self:
        return self.mul(other)

    def __rmul__(self, other: Operand) -> Self:
        return self._binary(Ops.MUL, other, reverse=True)

    def __truediv__(self, other: Operand) -> Self:
        return self.div(other)

    def __rtruediv__(self, other: Operand) -> Self:
        return self.div(other, reverse=True)

    def __floordiv__(self, other: Operand) -> Self:
        return self.floordiv(other)

    def __rfloordiv__(self, other: Operand) -> Self:
        return self.floordiv(other, reverse=True)

    def __mod__(self, other: Operand) -> Self:
        return self.mod(other)

    def __rmod__(self, other: Operand) -> Self:
        return self.mod(other, reverse=True)

    def __pow__(self, exponent: Operand) -> Self:
        return self.pow(exponent)

    def __rpow__(self, base: Operand) -> Self:
        return self.pow(base, reverse=True)

    def __neg__(self) -> Self:
        return self.neg()

    def __invert__(self) -> Self:
        return self.bitwise_not()

    def __and__(self, other: Operand) -> Self:
        return self.bitwise_and(other)

    def __rand__(self, other: Operand) -> Self:
        return self.bitwise_and(other)

    def __or__(self, other: Operand) -> Self:
        return self.bitwise_or(other)

    def __ror__(self, other: Operand) -> Self:
        return self.bitwise_or(other)

    def __xor__(self, other: Operand) -> Self:
        return self.bitwise_xor(other)

    def __rxor__(self, other: Operand) -> Self:
        return self.bitwise_xor(other)

    def __lshift__(self, bits: Operand) -> Self:
        return self.lshift(bits)

    def __rshift__(self, bits: Operand) -> Self:
        return self.rshift(bits)

    def __lt__(self, other: Operand) -> Self:
        return self.lt(other)

    def __gt__(self, other: Operand) -> Self:
        return self.gt(other)

    def __le__(self, other: Operand) -> Self:
        return self.le(other)

    def __ge__(self, other: Operand) -> Self:
        return self.ge(other)

    def __eq__(self, other: object) -> Self:  # type: ignore[override]
        return self.eq(other)  # type: ignore[arg-type]

    def __ne__(self, other: object) -> Self:  # type: ignore[override]
        return self.ne(other)  # type: ignore[arg-type]

    __hash__ = TensorCore.__hash__
