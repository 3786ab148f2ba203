"""Variables: integers that change from call to call without changing the kernels (a decode step's position).

`Variable("pos", 0, 1023)` names an integer and the range it may take; `.bind(7)` gives a `Bound`, that
variable at 7 for the graphs built with it. A graph holds the variable itself (a BIND of its DEFINE_VAR), so
the schedule cache and the compiled kernels key on the name and range, never the value: each kernel takes
the value as an int argument when it runs, and `@jit` replays a function taking a `Bound` with the value of
each call. Where a `Bound` goes:

- `Tensor(bound)`: a scalar int32 tensor of its value, for arithmetic (`Tensor.arange(n) + Tensor(pos)`);
- item assignment `t[:, pos] = v` and `t[:, pos : pos + n] = v` (n fixed): a write into t's own buffer at
  the position the variable holds when the kernel runs. Every value the range allows must fit: the kernel is
  the same for all of them, so the range is checked against the shape when the write is made.

`bound + 3` is the same variable with an offset, as a slice's end needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from lamina.dtype import dtypes
from lamina.uop import Ops, UOp


class Variable:
    """A named integer in [min_value, max_value] whose value is bound per call (see the module)."""

    __slots__ = ("uop",)

    def __init__(self, name: str, min_value: int, max_value: int) -> None:
        if not name.isidentifier():
            raise ValueError(f"a variable's name must be an identifier, got {name!r}")
        self.uop = UOp.variable(name, min_value, max_value, dtypes.int32)

    @property
    def name(self) -> str:
        return str(self.uop.arg[0])

    @property
    def min(self) -> int:
        return int(self.uop.arg[1])

    @property
    def max(self) -> int:
        return int(self.uop.arg[2])

    def bind(self, value: int) -> Bound:
        """This variable at `value` (ValueError outside its range)."""
        return Bound(self.uop.bind(value))

    def __repr__(self) -> str:
        return f"Variable({self.name!r}, {self.min}, {self.max})"


@dataclass(frozen=True, slots=True)
class Bound:
    """A variable at a value, plus a fixed offset: `pos + 3` is the variable pos, offset 3."""

    bind: UOp  # the BIND of the variable at its value
    offset: int = 0

    @property
    def name(self) -> str:
        return str(self.bind.src[0].arg[0])

    @property
    def value(self) -> int:
        return int(self.bind.arg) + self.offset

    @property
    def min(self) -> int:
        """The smallest value any binding of the variable gives this expression."""
        return int(self.bind.src[0].arg[1]) + self.offset

    @property
    def max(self) -> int:
        return int(self.bind.src[0].arg[2]) + self.offset

    @property
    def variable(self) -> UOp:
        """The DEFINE_VAR: what the kernels and the JIT key on."""
        return self.bind.src[0]

    @property
    def uop(self) -> UOp:
        """The expression as a scalar int32 graph: the BIND, plus the offset."""
        return self.bind if self.offset == 0 else self.bind.alu(Ops.ADD, UOp.const(self.bind.scalar_dtype, self.offset))

    def __add__(self, other: int) -> Bound:
        if isinstance(other, bool) or not isinstance(other, int):
            return NotImplemented
        return Bound(self.bind, self.offset + other)

    __radd__ = __add__

    def __sub__(self, other: int) -> Bound:
        if isinstance(other, bool) or not isinstance(other, int):
            return NotImplemented
        return self + -other

    def __repr__(self) -> str:
        shown = f"{self.name}={self.bind.arg}"
        return f"<{shown}{self.offset:+d}>" if self.offset else f"<{shown}>"
