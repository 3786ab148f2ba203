"""Runtime checks: the verdict of an index or divisor check names a bad value exactly when there is one."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lamina.dtype import dtypes
from lamina.uop import CHECK_PASSED, BufferRef, Check, CheckKind, Ops, UOp, checked, evaluate

_uids = itertools.count(20_000)
INT64_EDGES = [-(2**63), -(2**63) + 1, -5, -4, -3, -1, 0, 1, 2, 3, 4, 2**63 - 2, 2**63 - 1]


def _indices(values: list[int]) -> tuple[UOp, dict[UOp, np.ndarray]]:
    buffer = UOp(Ops.BUFFER, dtypes.int64, (), BufferRef(next(_uids), "CPU", len(values)))
    return buffer.reshape((len(values),)), {buffer: np.array(values, dtype=np.int64)}


def _verdict(values: list[int], check: Check) -> int:
    suspects, inputs = _indices(values)
    node = checked(suspects, suspects, check)
    (verdict,) = evaluate([node.src[1]], inputs)
    return int(verdict)


@pytest.mark.parametrize(("low", "high"), [(-3, 3), (0, 3), (-1, 1), (0, 1)])
@pytest.mark.parametrize("pair", list(itertools.product(INT64_EDGES, repeat=2)), ids=str)
def test_an_index_verdict_decodes_to_a_bad_value_exactly_when_one_exists(
    low: int, high: int, pair: tuple[int, int]
) -> None:
    check = Check(CheckKind.INDEX, "index", low, high, 0, high)
    bad = [value for value in pair if not low <= value < high]
    verdict = _verdict(list(pair), check)
    if not bad:
        assert verdict == CHECK_PASSED
    else:
        assert verdict != CHECK_PASSED
        assert check.bad_value(verdict) in bad


def test_a_divisor_verdict_fails_only_on_zero() -> None:
    check = Check(CheckKind.DIVISOR, "floor_divide")
    assert _verdict([3, -1, 2**63 - 1, -(2**63)], check) == CHECK_PASSED
    assert _verdict([3, 0], check) != CHECK_PASSED


def test_an_empty_tensor_passes() -> None:
    assert _verdict([], Check(CheckKind.INDEX, "index", 0, 3, 0, 3)) == CHECK_PASSED


def test_the_reference_evaluator_raises_a_failed_check() -> None:
    suspects, inputs = _indices([0, 7])
    node = checked(suspects, suspects, Check(CheckKind.INDEX, "gather", 0, 3, 1, 3))
    assert node.shape == (2,)
    assert node.dtype == dtypes.int64
    with pytest.raises(IndexError, match="gather: index 7 is out of bounds for dimension 1 with size 3"):
        evaluate([node], inputs)
    suspects, inputs = _indices([1, 0])
    with pytest.raises(ZeroDivisionError, match="remainder"):
        evaluate([checked(suspects, suspects, Check(CheckKind.DIVISOR, "remainder"))], inputs)
