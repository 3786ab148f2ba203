"""Movement operations against numpy: reshape, permute, expand, pad, shrink, flip, repeat and friends.

Each case applies the op to a contiguous tensor and to a non-contiguous view of one, in several
dtypes; shape errors must be raised when the op is built and name the shapes involved.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from lamina.dtype import DType, dtypes
from lamina.tensor import Tensor

Sampler = Callable[..., npt.NDArray[Any]]
Matcher = Callable[..., None]
Array = npt.NDArray[Any]

# name, lamina op on a (2, 3, 4) tensor, numpy op on the same values
MOVEMENTS: list[tuple[str, Callable[[Any], Any], Callable[[Array], Any]]] = [
    ("reshape", lambda t: t.reshape(4, 6), lambda v: v.reshape(4, 6)),
    ("reshape-minus-one", lambda t: t.reshape((-1, 2)), lambda v: v.reshape(-1, 2)),
    ("view", lambda t: t.view(24), lambda v: v.reshape(24)),
    ("permute", lambda t: t.permute(2, 0, 1), lambda v: v.transpose(2, 0, 1)),
    ("permute-negative", lambda t: t.permute((-1, -3, -2)), lambda v: v.transpose(2, 0, 1)),
    ("transpose", lambda t: t.transpose(0, 2), lambda v: v.swapaxes(0, 2)),
    ("transpose-default", lambda t: t.transpose(), lambda v: v.swapaxes(-1, -2)),
    ("T", lambda t: t.T, lambda v: v.T),
    ("flatten", lambda t: t.flatten(), lambda v: v.reshape(-1)),
    ("flatten-range", lambda t: t.flatten(1), lambda v: v.reshape(2, 12)),
    ("unflatten", lambda t: t.unflatten(2, (2, 2)), lambda v: v.reshape(2, 3, 2, 2)),
    ("unsqueeze", lambda t: t.unsqueeze(1), lambda v: v[:, None]),
    ("unsqueeze-negative", lambda t: t.unsqueeze(-1), lambda v: v[..., None]),
    ("squeeze", lambda t: t[:, :1].squeeze(1), lambda v: v[:, 0]),
    ("squeeze-all", lambda t: t[:1, :, :1].squeeze(), lambda v: v[0, :, 0]),
    ("squeeze-non-one-is-a-no-op", lambda t: t.squeeze(0), lambda v: v),
    ("expand", lambda t: t[:, :1].expand(2, 5, 4), lambda v: np.broadcast_to(v[:, :1], (2, 5, 4))),
    ("expand-new-dims", lambda t: t.expand(3, 2, 3, 4), lambda v: np.broadcast_to(v, (3, 2, 3, 4))),
    ("expand-minus-one", lambda t: t[:1].expand(-1, 3, 4), lambda v: v[:1]),
    ("pad", lambda t: t.pad((1, 2)), lambda v: np.pad(v, ((0, 0), (0, 0), (1, 2)))),
    ("pad-pairs", lambda t: t.pad(((1, 0), (0, 0), (2, 1))), lambda v: np.pad(v, ((1, 0), (0, 0), (2, 1)))),
    (
        "pad-value",
        lambda t: t.pad((0, 1, 2, 0), value=7),
        lambda v: np.pad(v, ((0, 0), (2, 0), (0, 1)), constant_values=7),
    ),
    ("shrink", lambda t: t.shrink(((1, 2), None, (1, 3))), lambda v: v[1:2, :, 1:3]),
    ("flip", lambda t: t.flip(1), lambda v: v[:, ::-1]),
    ("flip-several", lambda t: t.flip((0, -1)), lambda v: v[::-1, :, ::-1]),
    ("repeat", lambda t: t.repeat(2, 1, 3), lambda v: np.tile(v, (2, 1, 3))),
    ("repeat-new-dim", lambda t: t.repeat(2, 1, 1, 1), lambda v: np.tile(v, (2, 1, 1, 1))),
]
MOVEMENT_CASES = [
    pytest.param(op, reference, dtype, id=f"{name}-{dtype.name}")
    for name, op, reference in MOVEMENTS
    for dtype in (dtypes.float32, dtypes.int8)
]


@pytest.mark.parametrize(("op", "reference", "dtype"), MOVEMENT_CASES)
def test_movement_matches_numpy(
    op: Callable[[Any], Any], reference: Callable[[Array], Any], dtype: DType, sample: Sampler, matches: Matcher
) -> None:
    values = sample((2, 3, 4), dtype)
    matches(op(Tensor(values)), np.asarray(reference(values)), dtype=dtype)


@pytest.mark.parametrize(("name", "op", "reference"), MOVEMENTS, ids=[name for name, _, _ in MOVEMENTS])
def test_movement_of_a_non_contiguous_view(
    name: str, op: Callable[[Any], Any], reference: Callable[[Array], Any], sample: Sampler, matches: Matcher
) -> None:
    # (4, 3, 2) permuted to (2, 3, 4), flipped in dim 1: a view whose strides are all unusual.
    values = sample((4, 3, 2), dtypes.float32)
    view = Tensor(values).permute(2, 1, 0).flip(1)
    matches(op(view), np.asarray(reference(values.transpose(2, 1, 0)[:, ::-1])))


def test_movement_of_bool_tensors(sample: Sampler, matches: Matcher) -> None:
    values = sample((2, 3, 4), dtypes.bool)
    matches(
        Tensor(values).permute(2, 0, 1).flip(0)[1:].pad((1, 0), value=True),
        np.pad(values.transpose(2, 0, 1)[::-1][1:], ((0, 0), (0, 0), (1, 0)), constant_values=True),
    )


def test_movements_of_a_0d_tensor(matches: Matcher) -> None:
    scalar = Tensor(4.0)
    matches(scalar.reshape(1, 1), [[4.0]])
    matches(scalar.unsqueeze(0), [4.0])
    matches(scalar.expand(2, 3), np.full((2, 3), 4.0))
    matches(scalar.flatten(), [4.0])
    matches(scalar.reshape(()), np.float32(4.0))
    matches(scalar.T, np.float32(4.0))


def test_movements_of_zero_size_tensors(matches: Matcher) -> None:
    empty = Tensor(np.zeros((2, 0, 3), np.float32))
    matches(empty.permute(2, 1, 0), np.zeros((3, 0, 2)))
    matches(empty.reshape(0, 5), np.zeros((0, 5)))
    matches(empty.pad((1, 1)), np.zeros((2, 0, 5)))
    matches(empty.flip(1), np.zeros((2, 0, 3)))
    matches(empty.pad(((0, 0), (1, 0), (0, 0)), value=2.0), np.full((2, 1, 3), 2.0))


@pytest.mark.cpu_default
def test_properties() -> None:
    tensor = Tensor.zeros(2, 3, 4)
    assert tensor.shape == (2, 3, 4)
    assert tensor.ndim == 3
    assert tensor.numel() == 24
    assert len(tensor) == 2
    assert tensor.dtype == dtypes.float32
    assert tensor.device == "CPU"
    assert tensor.T.shape == (4, 3, 2)
    assert Tensor(1.0).numel() == 1
    with pytest.raises(TypeError):
        len(Tensor(1.0))


# name, op that must fail on a (2, 3, 4) tensor, the exception, a text the message must contain
MOVEMENT_ERRORS: list[tuple[str, Callable[[Any], Any], type[Exception], str]] = [
    ("reshape-size", lambda t: t.reshape(5, 5), ValueError, "(2, 3, 4)"),
    ("reshape-two-minus-one", lambda t: t.reshape(-1, -1), ValueError, "(2, 3, 4)"),
    ("permute-repeat", lambda t: t.permute(0, 0, 1), ValueError, "(0, 0, 1)"),
    ("permute-length", lambda t: t.permute(0, 1), ValueError, "(0, 1)"),
    ("expand-size", lambda t: t.expand(2, 5, 4), ValueError, "(2, 3, 4)"),
    ("expand-fewer-dims", lambda t: t.expand(3, 4), ValueError, "(2, 3, 4)"),
    ("unsqueeze-range", lambda t: t.unsqueeze(5), IndexError, "(2, 3, 4)"),
    ("flip-range", lambda t: t.flip(3), IndexError, "3"),
    ("pad-odd", lambda t: t.pad((1, 2, 3)), ValueError, "(2, 3, 4)"),
    ("shrink-range", lambda t: t.shrink(((0, 3), None, None)), ValueError, "(2, 3, 4)"),
    ("shrink-count", lambda t: t.shrink(((0, 1),)), ValueError, "(2, 3, 4)"),
    ("repeat-few", lambda t: t.repeat(2, 2), ValueError, "(2, 3, 4)"),
    ("unflatten-size", lambda t: t.unflatten(1, (2, 2)), ValueError, "(3,)"),
    ("transpose-range", lambda t: t.transpose(0, 3), IndexError, "3"),
]


@pytest.mark.parametrize(
    ("op", "error", "text"), [case[1:] for case in MOVEMENT_ERRORS], ids=[case[0] for case in MOVEMENT_ERRORS]
)
def test_bad_movement_is_rejected_when_built(op: Callable[[Any], Any], error: type[Exception], text: str) -> None:
    with pytest.raises(error, match=re.escape(text)):
        op(Tensor.zeros(2, 3, 4))
