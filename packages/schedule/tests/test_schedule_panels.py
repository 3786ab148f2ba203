"""The CPU's panel lowering of a matmul: a wide right operand is read from a copy in panels (one kernel more),
with the same values; narrow, short or ragged operands and a lowering without panels are left alone."""

from __future__ import annotations

import numpy as np
import pytest

from lamina.dtype import dtypes
from lamina.schedule import CPU_LOWERING, create_schedule, lower_graph
from lamina.schedule.lowering import Lowering
from lamina.uop import Ops, UOp, evaluate, toposort

PANELS = Lowering(panel_columns=32)


def _matmul(rows: int, depth: int, columns: int, transposed_storage: bool = False) -> tuple[UOp, UOp, UOp]:
    """`a @ b` built as the tensor layer builds it: (rows, 1, depth) * (1, columns, depth), summed over depth."""
    a = UOp.new_buffer("CPU", rows * depth, dtypes.float32).reshape((rows, depth))
    if transposed_storage:  # b stored as (columns, depth), read through a transpose
        b = UOp.new_buffer("CPU", depth * columns, dtypes.float32).reshape((columns, depth)).permute((1, 0))
    else:
        b = UOp.new_buffer("CPU", depth * columns, dtypes.float32).reshape((depth, columns))
    left = a.reshape((rows, 1, depth)).expand((rows, columns, depth))
    right = b.permute((1, 0)).reshape((1, columns, depth)).expand((rows, columns, depth))
    product = (left * right).reduce_axis(Ops.ADD, (2,)).reshape((rows, columns))
    return product, a, b


@pytest.mark.parametrize("transposed_storage", [False, True], ids=["b", "b stored transposed"])
def test_a_wide_right_operand_is_copied_into_panels(transposed_storage: bool) -> None:
    product, _, _ = _matmul(64, 600, 448, transposed_storage)
    (lowered,) = lower_graph([product], PANELS)
    copies = [node for node in toposort(lowered) if node.op is Ops.CONTIGUOUS]
    assert len(copies) == 1
    assert copies[0].shape == (448 // 32, 600, 32)
    assert len(create_schedule([product], "CPU", PANELS).items) == 2
    assert len(create_schedule([product], "CPU", CPU_LOWERING).items) == 1


def test_the_panels_compute_the_same_product() -> None:
    product, a, b = _matmul(64, 600, 448)
    rng = np.random.default_rng(0)
    values = {
        a: rng.standard_normal((64, 600)).astype(np.float32),
        b: rng.standard_normal((600, 448)).astype(np.float32),
    }
    (lowered,) = lower_graph([product], PANELS)
    inputs = {view.src[0]: array.ravel() for view, array in values.items()}
    (result,) = evaluate([lowered], inputs)
    np.testing.assert_allclose(result, values[a] @ values[b], rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize(
    "shape",
    [(32, 600, 448), (64, 600, 440), (64, 256, 512), (64, 600, 32)],
    ids=["few rows", "ragged", "small", "narrow"],
)
def test_a_matmul_the_copy_would_not_pay_for_is_left_alone(shape: tuple[int, int, int]) -> None:
    product, _, _ = _matmul(*shape)
    (lowered,) = lower_graph([product], PANELS)
    assert not any(node.op is Ops.CONTIGUOUS for node in toposort(lowered))


def test_a_small_right_operand_stored_along_the_sum_is_copied_into_panels() -> None:
    # x @ w.T with a linear layer's small weight (128, 784): read as it is stored, a tile gets no run of adjacent
    # columns (the kernel becomes dot products), so it is copied into panels whatever its size; stored as
    # (depth, columns), a small one stays in cache and is read in place.
    product, _, _ = _matmul(256, 784, 128, transposed_storage=True)
    (lowered,) = lower_graph([product], PANELS)
    copies = [node for node in toposort(lowered) if node.op is Ops.CONTIGUOUS]
    assert [copy.shape for copy in copies] == [(128 // 32, 784, 32)]
    plain, _, _ = _matmul(256, 784, 128)
    (lowered,) = lower_graph([plain], PANELS)
    assert not any(node.op is Ops.CONTIGUOUS for node in toposort(lowered))
