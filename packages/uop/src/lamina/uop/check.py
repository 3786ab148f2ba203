"""Runtime checks of data-dependent errors: what a CHECK node verifies and how its verdict is read.

Some errors depend on values only a kernel sees: an index tensor holding an index out of range, an
integer divisor holding zero. torch raises there (IndexError, ZeroDivisionError); a lazy graph cannot
raise where it is built, so the op wraps its result in a CHECK whose verdict, a scalar int64 computed
from the suspect values by one MAX reduction, is realized with the result. The engine reads each
verdict after the run and raises the error `Check.error` describes, naming the op and a bad value.

The verdict is `CHECK_PASSED` (int64's lowest value) when every value is good. An index check for the
range [low, high), low <= 0 < high, reduces `v` for a value past the top, `v + 1` for one below the
bottom and `CHECK_PASSED` for a good one: the three sets do not meet (`v + 1 <= low < high <= v`, and
`v + 1 > CHECK_PASSED`), so the maximum is a bad value (decoded by `bad_value`) exactly when one exists.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum, auto
from typing import Final

from lamina.dtype import dtypes
from lamina.uop.ops import Ops
from lamina.uop.uop import UOp

CHECK_PASSED: Final = -(2**63)
"""The verdict of a check every value passed: int64's lowest value, the identity of a MAX reduction."""


class CheckKind(Enum):
    """What a check verifies."""

    __hash__ = object.__hash__  # members are singletons (see Ops)

    INDEX = auto()  # every index lies in [low, high)
    DIVISOR = auto()  # no integer divisor is zero


@dataclass(frozen=True, slots=True)
class Check:
    """A CHECK's argument: what it verifies, for which op, and how a failure reads.

    `op` is the user-facing operation (`index`, `gather`, `one_hot`, `floor_divide`...); for an index,
    `dim` and `size` name the indexed dimension as torch's message does (`dim` None when there is none),
    and `low`/`high` bound the valid values ([-size, size) where negative indices count from the end).
    """

    kind: CheckKind
    op: str
    low: int = 0
    high: int = 0
    dim: int | None = None
    size: int = 0

    def bad_value(self, verdict: int) -> int:
        """The bad value a failed verdict stands for (see the module's encoding)."""
        return verdict if verdict >= self.high else verdict - 1

    def error(self, verdict: int) -> Exception:
        """The exception a failed verdict raises, naming the op and the bad value."""
        if self.kind is CheckKind.DIVISOR:
            return ZeroDivisionError(f"{self.op}: integer division by zero")
        where = f" for dimension {self.dim}" if self.dim is not None else ""
        return IndexError(
            f"{self.op}: index {self.bad_value(verdict)} is out of bounds{where} with size {self.size} "
            f"(valid: {self.low} to {self.high - 1})"
        )


def checked(value: UOp, suspects: UOp, check: Check) -> UOp:
    """`value` guarded by `check` over every element of the tensor graph `suspects` (see the module)."""
    wide = suspects.cast(dtypes.int64)
    passed = wide.const_like(CHECK_PASSED)
    if check.kind is CheckKind.DIVISOR:
        key = wide.eq(wide.const_like(0)).where(wide.const_like(0), passed)
    else:
        below = wide.lt(wide.const_like(check.low)).where(wide + wide.const_like(1), passed)
        key = wide.const_like(check.high - 1).lt(wide).where(wide, below)
    flat = key.reshape((math.prod(key.shape),))
    verdict = flat.reduce_axis(Ops.MAX, (0,)).reshape(())
    return UOp(Ops.CHECK, value.dtype, (value, verdict), check)
