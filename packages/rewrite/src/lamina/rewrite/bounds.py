"""Range analysis: the smallest and largest value an integer or bool node can take.

Bounds come from interval arithmetic over the graph: a CONST is its value, a DEFINE_VAR its declared
range, a RANGE [0, end-1], and each op combines its sources' intervals (bools are 0 and 1). When an
interval leaves its dtype's range the op may wrap around, so the node gets its dtype's full range:
that keeps every bound sound under C wraparound, and it means a node whose bounds are narrower than
its dtype's full range was computed without overflow. Results are cached per node (nodes are
immutable and hash-consed), and uncached subgraphs are walked with a stack, not recursion.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Final

from lamina.dtype import DType
from lamina.rewrite.int_semantics import c_div, dtype_range, is_int_like
from lamina.uop import Ops, UOp

Interval = tuple[int, int]

# Stands in for the bounds of a float source, which has none.
_NO_BOUNDS: Final = (1, 0)


class _BoundsCache:
    """Bounds per live node, keyed by id: cheaper to probe than a WeakKeyDictionary, which makes a weakref per lookup.

    Each entry holds a weak reference whose callback drops the entry when its node dies, before the id
    can be reused by another object.
    """

    def __init__(self) -> None:
        self._entries: dict[int, tuple[weakref.ref[UOp], Interval]] = {}

    def get(self, uop: UOp) -> Interval | None:
        entry = self._entries.get(id(uop))
        return None if entry is None else entry[1]

    def put(self, uop: UOp, interval: Interval) -> None:
        key = id(uop)
        entries = self._entries

        def forget(_: weakref.ref[UOp]) -> None:
            entries.pop(key, None)

        entries[key] = (weakref.ref(uop, forget), interval)


_cache: Final = _BoundsCache()


def bounds(uop: UOp) -> Interval:
    """(vmin, vmax) of an integer or bool node over every assignment of its variables."""
    cached = _cache.get(uop)
    if cached is not None:
        return cached
    if not is_int_like(uop.dtype):
        raise TypeError(f"bounds are defined for integer and bool nodes, not {uop.op} of {uop.dtype}")
    stack: list[tuple[UOp, bool]] = [(uop, False)]
    while stack:
        node, sources_done = stack.pop()
        if _cache.get(node) is not None:
            continue
        if sources_done:
            # Only integer sources have bounds; ops over floats (comparisons, casts) do not ask for them.
            source_bounds = [_cache.get(source) or _NO_BOUNDS for source in node.src]
            _cache.put(node, _node_bounds(node, source_bounds))
            continue
        stack.append((node, True))
        stack.extend((source, False) for source in node.src if is_int_like(source.dtype) and _cache.get(source) is None)
    result = _cache.get(uop)
    assert result is not None
    return result


def vmin(uop: UOp) -> int:
    """The smallest value `uop` can take."""
    return bounds(uop)[0]


def vmax(uop: UOp) -> int:
    """The largest value `uop` can take."""
    return bounds(uop)[1]


def is_exact(uop: UOp) -> bool:
    """True when `uop`'s bounds are narrower than its dtype: no overflow happened anywhere in its sums."""
    assert isinstance(uop.dtype, DType)
    return bounds(uop) != dtype_range(uop.dtype)


# -- per-op interval rules: from the sources' intervals, before the clamp to the dtype --


def _mul(a: Interval, b: Interval) -> Interval:
    corners = [x * y for x in a for y in b]
    return min(corners), max(corners)


def _idiv(a: Interval, b: Interval) -> Interval:
    if b[0] > 0 or b[1] < 0:
        # With the divisor's sign fixed, truncated division is monotonic in each operand: extremes sit at corners.
        corners = [c_div(x, y) for x in a for y in b]
        return min(corners), max(corners)
    # The divisor may be zero (undefined); any nonzero divisor keeps |quotient| <= |dividend|.
    largest = max(abs(a[0]), abs(a[1]))
    return -largest, largest


def _mod(a: Interval, b: Interval) -> Interval:
    if b[0] == b[1] != 0:
        quotient = c_div(a[0], b[0])
        if quotient == c_div(a[1], b[0]):
            # Every value divides to the same quotient, so x % c = x - quotient*c exactly.
            return a[0] - quotient * b[0], a[1] - quotient * b[0]
    largest = max(abs(b[0]), abs(b[1])) - 1
    low = 0 if a[0] >= 0 else max(a[0], -largest)
    high = 0 if a[1] <= 0 else min(a[1], largest)
    return low, high


def _compare(op: Ops, a: Interval, b: Interval) -> Interval:
    if op is Ops.CMPLT:
        if a[1] < b[0]:
            return 1, 1
        return (0, 0) if a[0] >= b[1] else (0, 1)
    disjoint = a[1] < b[0] or b[1] < a[0]
    same_constant = a[0] == a[1] == b[0] == b[1]
    if op is Ops.CMPNE:
        return (1, 1) if disjoint else (0, 0) if same_constant else (0, 1)
    return (0, 0) if disjoint else (1, 1) if same_constant else (0, 1)


def _bitwise(op: Ops, dtype: DType, a: Interval, b: Interval) -> Interval:
    if dtype.is_bool:
        # On 0/1 values AND is the minimum and OR the maximum; XOR is left at [0, 1].
        if op is Ops.AND:
            return min(a[0], b[0]), min(a[1], b[1])
        return (max(a[0], b[0]), max(a[1], b[1])) if op is Ops.OR else (0, 1)
    if op is Ops.AND and (a[0] >= 0 or b[0] >= 0):
        # AND clears bits: a nonnegative operand bounds the result from above.
        high = min(x[1] for x in (a, b) if x[0] >= 0)
        return 0, high
    if a[0] >= 0 and b[0] >= 0:
        # OR and XOR of nonnegatives stay below the next power of two of the larger operand.
        return (max(a[0], b[0]) if op is Ops.OR else 0), (1 << max(a[1], b[1]).bit_length()) - 1
    return dtype_range(dtype)


def _cast(dtype: DType, source: UOp, interval: Interval) -> Interval:
    if not is_int_like(source.dtype):
        return dtype_range(dtype)
    low, high = interval
    if dtype.is_bool:
        return (0, 0) if low == high == 0 else (1, 1) if low > 0 or high < 0 else (0, 1)
    # Out of the target's range the cast wraps: the clamp in _node_bounds turns that into the full range.
    return low, high


def _where(condition: Interval, if_true: Interval, if_false: Interval) -> Interval:
    if condition[0] >= 1:
        return if_true
    if condition[1] <= 0:
        return if_false
    return min(if_true[0], if_false[0]), max(if_true[1], if_false[1])


def _not(a: Interval) -> Interval:
    return (1, 1) if a[0] == a[1] == 0 else (0, 0) if a[0] > 0 or a[1] < 0 else (0, 1)


_BINARY: Final[dict[Ops, Callable[[Interval, Interval], Interval]]] = {
    Ops.ADD: lambda a, b: (a[0] + b[0], a[1] + b[1]),
    Ops.SUB: lambda a, b: (a[0] - b[1], a[1] - b[0]),
    Ops.MUL: _mul,
    Ops.MAX: lambda a, b: (max(a[0], b[0]), max(a[1], b[1])),
    Ops.IDIV: _idiv,
    Ops.MOD: _mod,
    Ops.CMPLT: lambda a, b: _compare(Ops.CMPLT, a, b),
    Ops.CMPNE: lambda a, b: _compare(Ops.CMPNE, a, b),
    Ops.CMPEQ: lambda a, b: _compare(Ops.CMPEQ, a, b),
}


def _unclamped(uop: UOp, dtype: DType, sources: list[Interval]) -> Interval:
    op = uop.op
    if op is Ops.CONST:
        return int(uop.arg), int(uop.arg)
    if op is Ops.DEFINE_VAR:
        return int(uop.arg[1]), int(uop.arg[2])
    if op is Ops.RANGE:
        # A loop that never runs gives its index no values; [0, 0] keeps the interval well-formed.
        return 0, max(0, sources[0][1] - 1)
    if op is Ops.CAST:
        return _cast(dtype, uop.src[0], sources[0])
    if _NO_BOUNDS in sources:
        # Comparisons of floats give a bool; anything else computed from floats can be any value.
        return dtype_range(dtype)
    binary = _BINARY.get(op)
    if binary is not None:
        return binary(sources[0], sources[1])
    if op is Ops.NEG:
        return -sources[0][1], -sources[0][0]
    if op is Ops.NOT:
        return _not(sources[0])
    if op in (Ops.AND, Ops.OR, Ops.XOR):
        return _bitwise(uop.op, dtype, sources[0], sources[1])
    if op is Ops.WHERE:
        return _where(sources[0], sources[1], sources[2])
    return dtype_range(dtype)


def _node_bounds(uop: UOp, sources: list[Interval]) -> Interval:
    dtype = uop.dtype
    assert isinstance(dtype, DType)
    low, high = _unclamped(uop, dtype, sources)
    smallest, largest = dtype_range(dtype)
    if low < smallest or high > largest:
        return smallest, largest
    return low, high
