"""broadcast_shapes against numpy.broadcast_shapes, and expand_shape (torch.expand) against numpy.broadcast_to."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import BroadcastableShapes, array_shapes, mutually_broadcastable_shapes

from lamina.shape import Shape, broadcast_shapes, expand_shape

_shapes = array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)


def _outcome(call: Callable[[], Shape]) -> Shape | None:
    """The shape `call` returns, or None if it raises the way a bad shape argument does."""
    try:
        return tuple(call())
    except (ValueError, IndexError):
        return None


@pytest.mark.parametrize(
    ("shapes", "expected"),
    [
        ((), ()),
        (((),), ()),
        (((), (3,)), (3,)),
        (((2, 1), (1, 3)), (2, 3)),
        (((4, 1, 5), (3, 1), (5,)), (4, 3, 5)),
        (((0, 1), (1,)), (0, 1)),
        (((0,), (1,)), (0,)),
        (((1, 0), (5, 1)), (5, 0)),
        (((1,), (1, 1)), (1, 1)),
    ],
)
def test_broadcast_shapes_follows_numpy_rules(shapes: tuple[Shape, ...], expected: Shape) -> None:
    assert broadcast_shapes(*shapes) == expected


@pytest.mark.parametrize("shapes", [((2,), (3,)), ((0,), (3,)), ((2, 3), (4, 3)), ((1, 2), (3, 1), (3, 3))])
def test_broadcast_shapes_clash_names_every_shape(shapes: tuple[Shape, ...]) -> None:
    with pytest.raises(ValueError, match="cannot be broadcast") as info:
        broadcast_shapes(*shapes)
    for shape in shapes:
        assert str(shape) in str(info.value)


def test_broadcast_shapes_rejects_negative_sizes() -> None:
    with pytest.raises(ValueError, match=r"\(-1, 2\)"):
        broadcast_shapes((-1, 2), (2,))


@given(st.lists(_shapes, max_size=4))
def test_broadcast_shapes_matches_numpy_on_random_shapes(shapes: list[Shape]) -> None:
    assert _outcome(lambda: broadcast_shapes(*shapes)) == _outcome(lambda: np.broadcast_shapes(*shapes))


@given(mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=4, min_side=0, max_side=4))
def test_broadcast_shapes_matches_numpy_on_compatible_shapes(case: BroadcastableShapes) -> None:
    shapes = case.input_shapes
    assert broadcast_shapes(*shapes) == np.broadcast_shapes(*shapes) == case.result_shape


@pytest.mark.parametrize(
    ("shape", "new", "expected"),
    [
        ((), (), ()),
        ((), (2, 3), (2, 3)),
        ((3,), (2, 3), (2, 3)),
        ((1, 3), (4, -1), (4, 3)),
        ((1,), (0,), (0,)),
        ((3,), (0, 3), (0, 3)),
        ((2, 1), (-1, -1), (2, 1)),
        ((1, 1), (5, 2, 7), (5, 2, 7)),
        ((0,), (-1,), (0,)),
    ],
)
def test_expand_shape_follows_torch_expand(shape: Shape, new: tuple[int, ...], expected: Shape) -> None:
    assert expand_shape(shape, new) == expected


@pytest.mark.parametrize(
    ("shape", "new", "message"),
    [
        ((2, 3), (3,), "fewer dimensions"),
        ((2,), (3,), "only size-1 dimensions"),
        ((0,), (1,), "only size-1 dimensions"),
        ((3,), (-1, 3), "-1 in new leading dimension 0"),
        ((1,), (-2,), "size -2"),
    ],
)
def test_expand_shape_errors_name_both_shapes(shape: Shape, new: tuple[int, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        expand_shape(shape, new)
    assert str(shape) in str(info.value)
    assert str(new) in str(info.value)


@st.composite
def _expansions(draw: st.DrawFn) -> tuple[Shape, tuple[int, ...]]:
    shape = draw(_shapes)
    leading = draw(st.lists(st.integers(-1, 3), max_size=2))
    existing = [draw(st.sampled_from([-1, size, 1, 0, 3])) for size in shape]
    return shape, (*leading, *existing)


@given(_expansions())
def test_expand_shape_matches_numpy_broadcast_to(case: tuple[Shape, tuple[int, ...]]) -> None:
    shape, new = case
    leading = len(new) - len(shape)
    # numpy has no -1 for "keep this dimension"; spell it out, except in new leading dims where it is an error.
    spelled = tuple(shape[i - leading] if size == -1 and i >= leading else size for i, size in enumerate(new))
    expected = _outcome(lambda: np.broadcast_to(np.zeros(shape), spelled).shape)
    assert _outcome(lambda: expand_shape(shape, new)) == expected
