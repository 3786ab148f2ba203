"""Index expressions from reshapes of reshapes simplify back to the identical minimal UOp the scheduler expects."""

from __future__ import annotations

from lamina.rewrite import simplify
from lamina.uop import AxisKind, UOp

R0 = UOp.range(4, 0, AxisKind.LOOP)
R1 = UOp.range(6, 1, AxisKind.LOOP)
FLAT = R0 * 6 + R1


def _unravel(flat: UOp, shape: tuple[int, ...]) -> list[UOp]:
    strides = [1] * len(shape)
    for axis in range(len(shape) - 2, -1, -1):
        strides[axis] = strides[axis + 1] * shape[axis + 1]
    return [
        (flat // stride) % size if axis else flat // stride
        for axis, (stride, size) in enumerate(zip(strides, shape, strict=True))
    ]


def _ravel(indices: list[UOp], shape: tuple[int, ...]) -> UOp:
    flat = indices[0]
    for index, size in zip(indices[1:], shape[1:], strict=True):
        flat = flat * size + index
    return flat


def test_flat_index_is_already_canonical() -> None:
    assert simplify(FLAT) is FLAT


def test_unravel_then_ravel_gives_back_the_flat_index() -> None:
    assert simplify((FLAT // 12) * 12 + FLAT % 12) is FLAT


def test_division_by_the_inner_size_gives_the_outer_index() -> None:
    assert simplify(FLAT // 6) is R0


def test_remainder_by_the_inner_size_gives_the_inner_index() -> None:
    assert simplify(FLAT % 6) is R1


def test_reshape_chain_through_flat_and_another_shape_returns_the_ranges() -> None:
    # (4,6) -> (24,) -> (3,8) -> (4,6): each step unravels the previous flat index and ravels it again.
    in_3x8 = _unravel(FLAT, (3, 8))
    flat_again = _ravel(in_3x8, (3, 8))
    back = _unravel(flat_again, (4, 6))
    assert [simplify(index) for index in back] == [R0, R1]


def test_unravel_into_three_dims_and_merge_two_gives_coarser_digits() -> None:
    i0, i1, i2 = _unravel(FLAT, (2, 2, 6))
    assert simplify(i0 * 2 + i1) is simplify(FLAT // 6)
    assert simplify(i1 * 6 + i2) is simplify(FLAT % 12)
    assert simplify(_ravel([i0, i1, i2], (2, 2, 6))) is FLAT


def test_digit_of_a_digit_stays_correct_and_minimal() -> None:
    # (r0*6 + r1) // 3 == r0*2 + r1//3, whose parity is r1//3 since r1 < 6.
    simplified = simplify((FLAT // 3) % 2)
    assert simplified is R1 // 3
    for r0 in range(4):
        for r1 in range(6):
            assert (r0 * 6 + r1) // 3 % 2 == r1 // 3


def test_permuted_flat_index_round_trips() -> None:
    # A (6,4) view of the transposed ranges, flattened and split again.
    flat_t = R1 * 4 + R0
    assert simplify((flat_t // 4) * 4 + flat_t % 4) is flat_t
    assert simplify(flat_t // 4) is R1
    assert simplify(flat_t % 4) is R0


def test_offset_index_splits_its_constant() -> None:
    # (r0*6 + r1 + 6) // 6 == r0 + 1 for r1 in [0, 6).
    assert simplify((FLAT + 6) // 6) is R0 + 1
    assert simplify((FLAT + 6) % 6) is R1
