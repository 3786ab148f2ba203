"""BUFFER nodes: every new buffer is its own node, and a view of a fresh buffer knows its shape."""

from __future__ import annotations

import pytest

from lamina.dtype import dtypes
from lamina.uop import Ops, UOp


def test_new_buffers_are_distinct_nodes_even_when_alike() -> None:
    assert UOp.new_buffer("CPU", 4, dtypes.float32) is not UOp.new_buffer("CPU", 4, dtypes.float32)


def test_a_buffer_view_is_a_reshape_of_a_fresh_buffer_with_both_shapes_known() -> None:
    view = UOp.new_buffer_view("CPU", 12, dtypes.float32, (3, 4))
    assert view.op is Ops.RESHAPE
    assert view.shape == (3, 4)
    base = view.src[0]
    assert base.op is Ops.BUFFER
    assert base.shape == (12,)
    assert base.buffer.size == 12
    # The shapes set directly are the ones inference would give.
    assert base.reshape((3, 4)).shape == (3, 4)


def test_a_flat_view_is_the_buffer_itself() -> None:
    node = UOp.new_buffer_view("CPU", 5, dtypes.int32, (5,))
    assert node.op is Ops.BUFFER
    assert node.shape == (5,)


@pytest.mark.parametrize("shape", [(3, 5), (-2, -6), (13,)])
def test_a_view_of_another_size_is_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="cannot be viewed as shape"):
        UOp.new_buffer_view("CPU", 12, dtypes.float32, shape)
