"""Triangles, diagonals, rolls, rotations, dim moves, splits, repeat_interleave, unfold and the small products,
against numpy (and torch when importable): values, shapes, edge shapes, gradients and errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from lamina.tensor import Tensor

MATRIX = np.arange(1.0, 13.0, dtype=np.float32).reshape(3, 4)
BATCH = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)


def _same(actual: Tensor, expected: Any) -> None:
    np.testing.assert_allclose(actual.numpy(), np.asarray(expected), rtol=1e-6, atol=1e-6)
    assert actual.shape == np.asarray(expected).shape


@pytest.mark.parametrize("k", [-2, -1, 0, 1, 3, 5])
def test_triangles_and_diagonals_equal_numpy(k: int) -> None:
    _same(Tensor(MATRIX).tril(k), np.tril(MATRIX, k))
    _same(Tensor(BATCH).triu(k), np.triu(BATCH, k))
    _same(Tensor(MATRIX).diagonal(k), np.diagonal(MATRIX, k))
    _same(Tensor(BATCH).diagonal(k, 1, 2), np.diagonal(BATCH, k, 1, 2))
    _same(Tensor(BATCH).diagonal(k, 2, 0), np.diagonal(BATCH, k, 2, 0))
    _same(Tensor(MATRIX[0]).diag(k), np.diag(MATRIX[0], k))
    _same(Tensor(MATRIX).diag(k), np.diag(MATRIX, k))


def test_diag_embed_and_trace() -> None:
    torch = pytest.importorskip("torch")
    t = torch.from_numpy(BATCH)
    for offset, dims in [(0, (-2, -1)), (1, (-2, -1)), (-2, (0, 2)), (1, (3, 1))]:
        expected = torch.diag_embed(t, offset, *dims).numpy()
        _same(Tensor(BATCH).diag_embed(offset, *dims), expected)
    assert Tensor(MATRIX).trace().item() == pytest.approx(np.trace(MATRIX))


def test_rolls_rotations_and_dim_moves_equal_numpy() -> None:
    x = Tensor(BATCH)
    _same(x.roll(2, 1), np.roll(BATCH, 2, 1))
    _same(x.roll((-1, 5), (0, 2)), np.roll(BATCH, (-1, 5), (0, 2)))
    _same(x.roll(7), np.roll(BATCH, 7))
    for k in range(-1, 5):
        _same(x.rot90(k, (1, 2)), np.rot90(BATCH, k, (1, 2)))
    _same(x.movedim(0, -1), np.moveaxis(BATCH, 0, -1))
    _same(x.movedim((0, 1), (2, 0)), np.moveaxis(BATCH, (0, 1), (2, 0)))
    _same(x.swapaxes(0, 2), np.swapaxes(BATCH, 0, 2))
    _same(x.narrow(2, -3, 2), BATCH[:, :, 1:3])


def test_splits_repeats_and_windows_equal_numpy() -> None:
    values = np.arange(10.0, dtype=np.float32)
    for sections in (3, [2, 5], [-3, 20]):
        pieces = Tensor(values).tensor_split(sections)
        expected = np.array_split(values, sections)
        assert len(pieces) == len(expected)
        for piece, part in zip(pieces, expected, strict=True):
            _same(piece, part)
    _same(Tensor(MATRIX).repeat_interleave(2, dim=1), np.repeat(MATRIX, 2, axis=1))
    _same(Tensor(MATRIX).repeat_interleave(3), np.repeat(MATRIX, 3))
    _same(Tensor(MATRIX).repeat_interleave(Tensor([1, 0, 2]), dim=0), np.repeat(MATRIX, [1, 0, 2], axis=0))
    windows = np.lib.stride_tricks.sliding_window_view(BATCH, 2, axis=2)[:, :, ::1]
    _same(Tensor(BATCH).unfold(2, 2, 1), windows)
    _same(Tensor(values).unfold(0, 3, 2), np.lib.stride_tricks.sliding_window_view(values, 3)[::2])


def test_small_products_equal_numpy() -> None:
    a, b = MATRIX[0], MATRIX[1]
    _same(Tensor(a).outer(Tensor(b)), np.outer(a, b))
    vectors = np.random.default_rng(1).standard_normal((2, 3, 4)).astype(np.float32)
    others = np.random.default_rng(2).standard_normal((2, 3, 4)).astype(np.float32)
    _same(Tensor(vectors).cross(Tensor(others), dim=1), np.cross(vectors, others, axis=1))
    _same(Tensor(vectors).cross(Tensor(others)), np.cross(vectors, others, axis=1))
    _same(Tensor(MATRIX[:2, :2]).kron(Tensor(MATRIX)), np.kron(MATRIX[:2, :2], MATRIX))
    _same(Tensor(a).kron(Tensor(MATRIX)), np.kron(a, MATRIX))
    left, right = BATCH, BATCH.transpose(0, 2, 1)
    _same(Tensor(left).bmm(Tensor(right)), left @ right)
    base = np.ones((3, 3), dtype=np.float32)
    _same(Tensor(base).addmm(Tensor(MATRIX), Tensor(MATRIX.T), beta=0.5, alpha=2.0), 0.5 * base + 2 * MATRIX @ MATRIX.T)
    _same(
        Tensor(np.full((2, 3, 3), np.nan, np.float32)).baddbmm(Tensor(left), Tensor(right), beta=0.0),
        left @ right,
    )
    _same(Tensor(MATRIX).index_select(1, Tensor([3, 0, 3])), MATRIX[:, [3, 0, 3]])


def test_gradients_flow_through_structure() -> None:
    x = Tensor(MATRIX.astype(np.float64), requires_grad=True)
    loss = (x.tril(-1) * 2).sum() + x.diagonal(1).sum() + x.roll(1, 1)[0].sum() + x.unfold(1, 2, 2).sum()
    loss.backward()
    # unfold's windows of 2, 2 apart, cover each column once; the rolled first row is the first row.
    expected = 2 * np.tril(np.ones((3, 4)), -1) + np.eye(3, 4, 1) + np.vstack([np.ones(4), np.zeros((2, 4))]) + 1
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), expected)


def test_edge_shapes() -> None:
    assert Tensor.zeros(0, 3).tril().shape == (0, 3)
    assert Tensor.zeros(2, 3).diagonal(5).shape == (0,)
    assert Tensor.zeros(2, 0).roll(1, 1).shape == (2, 0)
    assert Tensor.zeros(4).tensor_split(6)[5].shape == (0,)


def test_bad_arguments_name_the_problem() -> None:
    with pytest.raises(ValueError, match="at least 2 dims"):
        Tensor.ones(3).tril()
    with pytest.raises(ValueError, match="two different dims"):
        Tensor.ones(2, 2).diagonal(0, 1, 1)
    with pytest.raises(IndexError, match="narrow"):
        Tensor.ones(3).narrow(0, 2, 2)
    with pytest.raises(ValueError, match="size 3 along dim"):
        Tensor.ones(2, 4).cross(Tensor.ones(2, 4), dim=1)
    with pytest.raises(ValueError, match=r"bmm needs \(b, n, k\)"):
        Tensor.ones(2, 3).bmm(Tensor.ones(3, 2))
    with pytest.raises(ValueError, match="unfold"):
        Tensor.ones(3).unfold(0, 4, 1)
    with pytest.raises(ValueError, match="repeats"):
        Tensor.ones(3).repeat_interleave(Tensor([1, 2]))
    with pytest.raises(ValueError, match="trace needs a 2-D"):
        Tensor.ones(3).trace()
