"""Writes at indices (scatter and its kin, masked_fill, take_along_dim) and einsum/meshgrid, against torch when
importable and numpy otherwise: values, dtypes, gradients, kernel counts and errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import pytest

from lamina.dtype import dtypes
from lamina.tensor import Tensor, einsum, meshgrid, stats

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 5)).astype(np.float32)
SOURCE = RNG.standard_normal((2, 4)).astype(np.float32)
INDEX = np.array([[0, 1, 2, 0], [2, 2, 1, 0]])


def _np_scatter_reduce(base: Any, index: Any, source: Any, reduce: str, include_self: bool) -> Any:
    """numpy's reference for scatter_reduce along dim 0."""
    out = base.astype(np.float64).copy()
    gathered: dict[tuple[int, int], list[float]] = {}
    for i in range(index.shape[0]):
        for j in range(index.shape[1]):
            gathered.setdefault((int(index[i, j]), j), []).append(float(source[i, j]))
    for (row, column), values in gathered.items():
        pool = ([float(base[row, column])] if include_self else []) + values
        combine: dict[str, Callable[[list[float]], Any]] = {
            "sum": np.sum, "prod": np.prod, "mean": np.mean, "amax": np.max, "amin": np.min,
        }  # fmt: skip
        out[row, column] = combine[reduce](pool)
    return out.astype(base.dtype)


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_equals_numpy(reduce: str, include_self: bool) -> None:
    result = Tensor(X).scatter_reduce(0, Tensor(INDEX), Tensor(SOURCE), reduce, include_self=include_self)
    expected = _np_scatter_reduce(X, INDEX, SOURCE, reduce, include_self)
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-6)


def test_scatter_family_equals_torch() -> None:
    torch = pytest.importorskip("torch")
    t, s, i = torch.from_numpy(X), torch.from_numpy(SOURCE), torch.from_numpy(INDEX)
    unique = np.array([[0, 1, 2, 1], [2, 0, 1, 2]])
    pairs = [
        (Tensor(X).scatter(0, Tensor(unique), Tensor(SOURCE)), t.scatter(0, torch.from_numpy(unique), s)),
        (Tensor(X).scatter(0, Tensor(unique), value=7.0), t.scatter(0, torch.from_numpy(unique), 7.0)),
        (Tensor(X).scatter(0, Tensor(INDEX), Tensor(SOURCE), reduce="add"), t.scatter_add(0, i, s)),
        (Tensor(X).scatter_add(0, Tensor(INDEX), Tensor(SOURCE)), t.scatter_add(0, i, s)),
        (
            Tensor(X).index_add(0, Tensor([0, 2, 0]), Tensor(X), alpha=2),
            t.index_add(0, torch.tensor([0, 2, 0]), t, alpha=2),
        ),
        (Tensor(X).index_copy(1, Tensor([4, 0]), Tensor(X[:, :2])), t.index_copy(1, torch.tensor([4, 0]), t[:, :2])),
        (Tensor(X).index_fill(1, Tensor([1, 3]), -1.0), t.index_fill(1, torch.tensor([1, 3]), -1.0)),
        (Tensor(X).masked_fill(Tensor(X > 0), 0.5), t.masked_fill(t > 0, 0.5)),
        (Tensor(X).take_along_dim(Tensor(np.argsort(X, 1)), 1), torch.take_along_dim(t, t.argsort(1), 1)),
        (Tensor(X).take_along_dim(Tensor([0, 14, 3])), torch.take_along_dim(t, torch.tensor([0, 14, 3]))),
    ]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)
    integers = np.arange(6).reshape(2, 3)
    mean = Tensor(integers).scatter_reduce(1, Tensor([[0, 0], [2, 2]]), Tensor([[5, 2], [1, 1]]), "mean")
    assert mean.dtype == dtypes.int64
    np.testing.assert_array_equal(
        mean.numpy(),
        torch.from_numpy(integers).scatter_reduce(
            1, torch.tensor([[0, 0], [2, 2]]), torch.tensor([[5, 2], [1, 1]]), "mean"
        ),
    )


def test_scatter_takes_the_last_of_repeated_indices() -> None:
    result = Tensor(np.zeros(3, dtype=np.float32)).scatter(0, Tensor([1, 1, 2]), Tensor([5.0, 6.0, 7.0]))
    np.testing.assert_array_equal(result.numpy(), [0.0, 6.0, 7.0])


def test_scatter_gradients_reach_self_and_source() -> None:
    base = Tensor(X.astype(np.float64), requires_grad=True)
    source = Tensor(SOURCE.astype(np.float64), requires_grad=True)
    (base.scatter_add(0, Tensor(INDEX), source) * Tensor(np.arange(15.0).reshape(3, 5))).sum().backward()
    assert base.grad is not None
    assert source.grad is not None
    np.testing.assert_allclose(base.grad.numpy(), np.arange(15.0).reshape(3, 5))
    np.testing.assert_allclose(source.grad.numpy(), np.arange(15.0).reshape(3, 5)[INDEX, np.arange(4)])


def test_scatter_is_one_fused_kernel_and_checks_indices() -> None:
    base, source = Tensor(X).realize(), Tensor(SOURCE).realize()
    index = Tensor(INDEX).realize()
    before = stats.kernels_run
    base.scatter_add(0, index, source).realize()
    assert stats.kernels_run - before <= 2
    with pytest.raises(IndexError, match="scatter"):
        base.scatter_add(0, Tensor([[3, 0, 0, 0]]), source[:1]).realize()
    with pytest.raises(ValueError, match="reduce must be one of"):
        base.scatter_reduce(0, index, source, "max")
    with pytest.raises(TypeError, match="integer indices"):
        base.scatter_add(0, Tensor([[0.0]]), source[:1, :1])
    with pytest.raises(TypeError, match="bool mask"):
        base.masked_fill(Tensor(X), 0.0)


EQUATIONS = [
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("ii->i", [(4, 4)]),
    ("ii", [(4, 4)]),
    ("ij->ji", [(3, 4)]),
    ("i,j->ij", [(3,), (4,)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (4, 5)]),
    ("bij,bjk", [(2, 3, 4), (2, 4, 5)]),
    ("ij,ij->", [(3, 4), (3, 4)]),
    ("bij,j->bi", [(2, 3, 4), (4,)]),
    ("...j,j->...", [(2, 3, 4), (4,)]),
]


@pytest.mark.parametrize(("equation", "shapes"), EQUATIONS, ids=[case[0] for case in EQUATIONS])
def test_einsum_equals_numpy(equation: str, shapes: list[tuple[int, ...]]) -> None:
    operands = [RNG.standard_normal(shape) for shape in shapes]
    result = einsum(equation, *[Tensor(operand) for operand in operands])
    np.testing.assert_allclose(result.numpy(), np.einsum(equation, *operands), rtol=1e-10)


def test_einsum_fuses_like_a_matmul_and_differentiates() -> None:
    a, b = Tensor(RNG.standard_normal((2, 3, 4))).realize(), Tensor(RNG.standard_normal((2, 4, 5))).realize()
    before = stats.kernels_run
    einsum("bij,bjk->bik", [a, b]).realize()
    assert stats.kernels_run - before == 1
    x = Tensor(RNG.standard_normal((3, 4)), requires_grad=True)
    einsum("ij,ij->", x, x).backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy())


def test_einsum_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="names 2 operands, got 1"):
        einsum("ij,jk->ik", Tensor.ones(2, 2))
    with pytest.raises(ValueError, match="names 3 dims"):
        einsum("ijk->i", Tensor.ones(2, 2))
    with pytest.raises(ValueError, match="sizes 2 and 3"):
        einsum("ij,jk->ik", Tensor.ones(2, 2), Tensor.ones(3, 2))
    with pytest.raises(ValueError, match="no operand has"):
        einsum("ij->iz", Tensor.ones(2, 2))


@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid_equals_numpy(indexing: Literal["ij", "xy"]) -> None:
    grids = meshgrid(Tensor(np.arange(3.0)), Tensor(np.arange(4.0)), Tensor(np.arange(2.0)), indexing=indexing)
    expected = np.meshgrid(np.arange(3.0), np.arange(4.0), np.arange(2.0), indexing=indexing)
    for grid, reference in zip(grids, expected, strict=True):
        np.testing.assert_array_equal(grid.numpy(), reference)
