"""Scans, sorting, selection and the data-dependent ops against numpy (and torch when importable): values,
indices (torch's tie and NaN rules), dtypes, edge shapes, gradients, and clear errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from lamina.dtype import dtypes
from lamina.tensor import Tensor, stats
from lamina.tensor.sorting import SORT_ON_DEVICE

ROWS = np.array(
    [[1.0, 3.0, 3.0, 2.0, 5.0, 5.0, np.nan, 1.0], [0.5, -1.0, -0.0, 0.0, 7.0, np.inf, -np.inf, 2.0]], dtype=np.float32
)


def _torch() -> Any:
    return pytest.importorskip("torch")


def _same(actual: Any, expected: Any) -> None:
    np.testing.assert_array_equal(np.asarray(actual), np.asarray(expected))


def test_scans_equal_numpy() -> None:
    values = np.random.default_rng(0).uniform(0.5, 1.5, (3, 5)).astype(np.float32)
    x = Tensor(values)
    np.testing.assert_allclose(x.cumsum(1).numpy(), np.cumsum(values, 1), rtol=1e-6)
    np.testing.assert_allclose(x.cumprod(0).numpy(), np.cumprod(values, 0), rtol=1e-6)
    np.testing.assert_allclose(x.logcumsumexp(1).numpy(), np.logaddexp.accumulate(values, 1), rtol=1e-6)
    _same(x.cummax(1).values.numpy(), np.maximum.accumulate(values, 1))
    _same(x.cummin(0).values.numpy(), np.minimum.accumulate(values, 0))
    ints = Tensor(np.array([[2, -3, 4]], dtype=np.int32))
    assert ints.cumprod(1).dtype == dtypes.int64
    _same(ints.cumprod(1).numpy(), [[2, -6, -24]])
    _same(ints.cumsum(1, dtype=dtypes.float32).numpy(), np.array([[2, -1, 3]], dtype=np.float32))
    assert Tensor.zeros(0, 3).cumsum(0).shape == (0, 3)
    assert Tensor(2.0).cumprod(0).item() == 2.0


def test_cummax_and_cummin_pick_torchs_indices() -> None:
    # Ties take the latest index; once a NaN is seen, it is the extreme and its index stays.
    result = Tensor(ROWS).cummax(1)
    _same(result.indices.numpy(), [[0, 1, 2, 2, 4, 5, 6, 6], [0, 0, 0, 0, 4, 5, 5, 5]])
    minimum = Tensor(ROWS).cummin(1)
    _same(minimum.indices.numpy(), [[0, 0, 0, 0, 0, 0, 6, 6], [0, 1, 1, 1, 1, 1, 6, 6]])
    torch = _torch()
    for name in ("cummax", "cummin"):
        expected = getattr(torch, name)(torch.from_numpy(ROWS), 1)
        ours = getattr(Tensor(ROWS), name)(1)
        np.testing.assert_array_equal(ours.values.numpy(), expected.values.numpy())
        _same(ours.indices.numpy(), expected.indices.numpy())


@pytest.mark.parametrize("descending", [False, True])
def test_sort_is_stable_with_nan_the_largest(descending: bool) -> None:
    result = Tensor(ROWS).sort(1, descending=descending)
    order = np.argsort(-ROWS if descending else ROWS, axis=1, kind="stable")
    if descending:  # NaN first; numpy's -NaN still sorts last, so place it by hand
        order = np.array([[6, 4, 5, 1, 2, 3, 0, 7], [5, 4, 7, 0, 2, 3, 1, 6]])
    _same(result.indices.numpy(), order)
    np.testing.assert_array_equal(result.values.numpy(), np.take_along_axis(ROWS, order, 1))
    assert result.indices.dtype == dtypes.int64


def test_sorting_functions_equal_torch() -> None:
    torch = _torch()
    values = np.random.default_rng(1).standard_normal((4, 9)).astype(np.float32)
    values[1, 3] = values[1, 5]  # a tie
    x, t = Tensor(values), torch.from_numpy(values)
    for ours, theirs in [
        (x.sort(0), torch.sort(t, dim=0, stable=True)),
        (x.topk(3, 1), torch.topk(t, 3, 1)),
        (x.topk(2, 0, largest=False), torch.topk(t, 2, 0, largest=False)),
        (x.kthvalue(4, 1), torch.kthvalue(t, 4, 1)),
        (x.kthvalue(2, 0, keepdim=True), torch.kthvalue(t, 2, 0, keepdim=True)),
        (x.median(1), torch.median(t, 1)),
        (Tensor(ROWS).median(1), torch.median(torch.from_numpy(ROWS), 1)),
    ]:
        np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
        _same(ours.indices.numpy(), theirs.indices.numpy())
    _same(x.argsort(1, descending=True).numpy(), torch.argsort(t, dim=1, descending=True, stable=True).numpy())
    assert x.median().item() == torch.median(t).item()
    _same(x.msort().numpy(), torch.sort(t, dim=0).values.numpy())


def test_long_rows_sort_on_the_host_and_agree() -> None:
    values = np.random.default_rng(2).standard_normal((2, SORT_ON_DEVICE + 5)).astype(np.float32)
    values[0, :3] = 0.25  # ties
    order = Tensor(values).argsort(1)
    _same(order.numpy(), np.argsort(values, 1, kind="stable"))
    top = Tensor(values).topk(4, 1)
    _same(top.values.numpy(), -np.sort(-values, 1)[:, :4])


def test_sorts_of_integers_bools_and_edge_shapes() -> None:
    ints = np.array([[3, -2, 7, 7, 0]], dtype=np.int64)
    _same(Tensor(ints).sort(1).values.numpy(), np.sort(ints, 1))
    _same(Tensor(np.array([True, False, True])).sort().values.numpy(), [False, True, True])
    assert Tensor.zeros(2, 0).sort(1).values.shape == (2, 0)
    scalar = Tensor(4.0).sort()
    assert scalar.values.item() == 4.0
    assert scalar.indices.item() == 0
    view = Tensor(np.arange(12.0).reshape(3, 4)).T[::-1]  # non-contiguous
    _same(view.sort(1).values.numpy(), np.sort(np.arange(12.0).reshape(3, 4).T[::-1], 1))


def test_sorted_values_carry_the_gradient_to_the_moved_elements() -> None:
    x = Tensor(np.array([3.0, 1.0, 2.0]), requires_grad=True)
    (x.sort(descending=True).values * Tensor([1.0, 10.0, 100.0])).sum().backward()
    assert x.grad is not None
    _same(x.grad.numpy(), [1.0, 100.0, 10.0])
    y = Tensor(np.array([1.0, 3.0, 2.0, 3.0]), requires_grad=True)
    y.cummax(0).values.sum().backward()
    assert y.grad is not None
    _same(y.grad.numpy(), [1.0, 2.0, 0.0, 1.0])  # torch's: each running max's gradient to its index


def test_sorting_by_ranks_is_one_fused_kernel() -> None:
    x = Tensor(np.random.default_rng(3).standard_normal((3, 16)).astype(np.float32)).realize()
    before = stats.kernels_run
    x.argsort(1).realize()
    assert stats.kernels_run - before <= 2


def test_searchsorted_and_bucketize_equal_numpy() -> None:
    boundaries = np.array([1.0, 2.0, 2.0, 3.0, 5.0], dtype=np.float32)
    probes = np.array([[0.0, 2.0, 2.5, 6.0], [5.0, 1.0, -1.0, 3.0]], dtype=np.float32)
    _same(Tensor(boundaries).searchsorted(Tensor(probes)).numpy(), np.searchsorted(boundaries, probes))
    _same(
        Tensor(boundaries).searchsorted(Tensor(probes), side="right").numpy(),
        np.searchsorted(boundaries, probes, side="right"),
    )
    _same(Tensor(probes).bucketize(Tensor(boundaries)).numpy(), np.searchsorted(boundaries, probes))
    _same(
        Tensor(probes).bucketize(Tensor(boundaries), right=True).numpy(), np.searchsorted(boundaries, probes, "right")
    )
    rows = np.sort(np.random.default_rng(4).standard_normal((2, 6)).astype(np.float32), 1)
    found = Tensor(rows).searchsorted(Tensor(probes[:, :3]))
    _same(found.numpy(), [np.searchsorted(rows[row], probes[row, :3]) for row in range(2)])
    assert found.dtype == dtypes.int64


def test_data_dependent_ops_equal_numpy() -> None:
    values = np.random.default_rng(5).standard_normal((3, 4)).astype(np.float32)
    mask = values > 0
    x = Tensor(values)
    _same(Tensor(mask).nonzero().numpy(), np.argwhere(mask))
    rows, columns = Tensor(mask).nonzero(as_tuple=True)
    _same(rows.numpy(), np.nonzero(mask)[0])
    _same(columns.numpy(), np.nonzero(mask)[1])
    _same(x.masked_select(Tensor(mask)).numpy(), values[mask])
    items = np.array([3, 1, 2, 3, 1, 5])
    unique, inverse, counts = Tensor(items).unique(return_inverse=True, return_counts=True)
    expected = np.unique(items, return_inverse=True, return_counts=True)
    for ours, theirs in zip((unique, inverse, counts), expected, strict=True):
        _same(ours.numpy(), theirs)
    _same(Tensor(np.array([[1, 2], [1, 2], [0, 1]])).unique(dim=0).numpy(), [[0, 1], [1, 2]])


def test_masked_select_carries_the_gradient() -> None:
    x = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    x.masked_select(Tensor(np.array([True, False, True]))).sum().backward()
    assert x.grad is not None
    _same(x.grad.numpy(), [1.0, 0.0, 1.0])


def test_reductions_with_dtype_and_pairs() -> None:
    values = np.random.default_rng(6).standard_normal((3, 4)).astype(np.float32)
    x = Tensor(values)
    assert x.sum(dtype=dtypes.float64).dtype == dtypes.float64
    assert Tensor([1, 2]).prod(dtype=dtypes.int32).dtype == dtypes.int32
    np.testing.assert_allclose(x.mean(1, dtype=dtypes.float64).numpy(), values.astype(np.float64).mean(1))
    minimum, maximum = x.aminmax(dim=1)
    _same(minimum.numpy(), values.min(1))
    _same(maximum.numpy(), values.max(1))
    variance, mean = x.var_mean(0, correction=0)
    np.testing.assert_allclose(variance.numpy(), values.var(0), rtol=1e-5)
    np.testing.assert_allclose(mean.numpy(), values.mean(0), rtol=1e-6)
    deviation, _ = x.std_mean(1)
    np.testing.assert_allclose(deviation.numpy(), values.std(1, ddof=1), rtol=1e-5)
    _same(Tensor(np.array([[0, 1, 2], [0, 0, 3]])).count_nonzero(1).numpy(), [2, 1])
    with pytest.raises(TypeError, match="float dtype"):
        x.mean(dtype=dtypes.int32)


def test_bad_arguments_name_the_problem() -> None:
    x = Tensor.ones(2, 3)
    with pytest.raises(ValueError, match=r"k=4 is out of range for dim -1 of size 3"):
        x.topk(4)
    with pytest.raises(ValueError, match=r"kthvalue: k=0"):
        x.kthvalue(0)
    with pytest.raises(ValueError, match="empty dim"):
        Tensor.zeros(2, 0).median(1)
    with pytest.raises(ValueError, match="1-D boundaries"):
        x.bucketize(Tensor.ones(2, 2))
    with pytest.raises(TypeError, match="bool mask"):
        x.masked_select(Tensor.ones(2, 3))
    with pytest.raises(ValueError, match="side"):
        x.searchsorted(x, side="middle")
