"""Indexing and joining against numpy: `t[...]` with ints, slices, None, `...` and integer tensors,
`gather`, `one_hot`, `cat`, `stack`, `split` and `chunk`.
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

# numpy-style keys into a (4, 5, 6) array; integer-array keys are turned into Tensors for lamina
KEYS: list[tuple[str, Any]] = [
    ("int", 1),
    ("negative-int", -1),
    ("ints", (1, 2, 3)),
    ("slice", slice(1, 3)),
    ("slice-step", (slice(None), slice(None, None, 2))),
    ("slice-step-offset", (slice(1, None, 3), slice(4, 0, -2))),
    ("slice-negative-step", (slice(None, None, -1), slice(None), slice(None, None, -4))),
    ("slice-empty", slice(3, 1)),
    ("slice-out-of-range", (slice(-10, 10), slice(2, 100, 2))),
    ("none", (None, 1)),
    ("none-middle", (slice(None), None, 2)),
    ("ellipsis", (Ellipsis, 2)),
    ("ellipsis-middle", (1, Ellipsis, slice(1, 3))),
    ("ellipsis-none", (Ellipsis, None)),
    ("mixed", (-2, None, slice(None, None, -2), Ellipsis)),
    ("tensor", np.array([3, 0, 0, -1])),
    ("tensor-2d", np.array([[1, 2], [0, -4]])),
    ("tensor-second-dim", (slice(None), np.array([4, 0]))),
    ("tensor-pair", (np.array([0, 3]), np.array([1, 4]))),
    ("tensor-broadcast", (np.array([[0], [3]]), slice(None), np.array([1, 5, 0]))),
    ("tensor-after-slice", (slice(1, 3), np.array([0, 2]), 4)),
]


def _lamina_key(key: Any) -> Any:
    if isinstance(key, tuple):
        return tuple(_lamina_key(item) for item in key)
    if isinstance(key, np.ndarray):
        return Tensor(key.astype(np.int32))
    return key


INDEX_CASES = [
    pytest.param(key, dtype, id=f"{name}-{dtype.name}")
    for name, key in KEYS
    for dtype in (dtypes.float32, dtypes.int64)
]


@pytest.mark.parametrize(("key", "dtype"), INDEX_CASES)
def test_getitem_matches_numpy(key: Any, dtype: DType, sample: Sampler, matches: Matcher) -> None:
    values = sample((4, 5, 6), dtype)
    matches(Tensor(values)[_lamina_key(key)], values[key], dtype=dtype)


@pytest.mark.parametrize(("name", "key"), KEYS[::3], ids=[name for name, _ in KEYS[::3]])
def test_getitem_of_a_non_contiguous_view(name: str, key: Any, sample: Sampler, matches: Matcher) -> None:
    values = sample((6, 5, 4), dtypes.float32)
    view = Tensor(values).permute(2, 1, 0)[::-1]
    matches(view[_lamina_key(key)], values.transpose(2, 1, 0)[::-1][key])


def test_int_with_a_tensor_index_selects_first_like_torch(sample: Sampler, matches: Matcher) -> None:
    # numpy moves the advanced dims to the front here ((2, 5)); torch applies the int first, giving (5, 2).
    values = sample((4, 5, 6), dtypes.float32)
    matches(Tensor(values)[1, :, Tensor([5, 0])], values[1][:, [5, 0]])


def test_getitem_with_a_list_of_ints(sample: Sampler, matches: Matcher) -> None:
    values = sample((4, 3), dtypes.float32)
    matches(Tensor(values)[[2, 0, 2]], values[[2, 0, 2]])


def test_getitem_of_0d_and_zero_size(matches: Matcher) -> None:
    matches(Tensor(3.0)[None], [3.0])
    matches(Tensor(3.0)[...], np.float32(3.0))
    matches(Tensor(np.zeros((0, 3), np.float32))[:, 1], np.zeros(0))
    matches(Tensor(np.arange(6, dtype=np.float32))[Tensor(np.zeros(0, np.int32))], np.zeros(0))


# a bad key into a (2, 3) tensor, the exception, a text the message must contain
INDEX_ERRORS: list[tuple[str, Any, type[Exception], str]] = [
    ("int-range", 2, IndexError, "(2, 3)"),
    ("negative-range", (0, -4), IndexError, "(2, 3)"),
    ("too-many", (0, 0, 0), IndexError, "(2, 3)"),
    ("two-ellipses", (Ellipsis, Ellipsis), IndexError, "ellipsis"),
    ("float-tensor", Tensor([0.0]), IndexError, "float32"),
    ("string", "a", TypeError, "'a'"),
    ("zero-step", slice(None, None, 0), ValueError, "zero"),
]


@pytest.mark.parametrize(
    ("key", "error", "text"), [case[1:] for case in INDEX_ERRORS], ids=[case[0] for case in INDEX_ERRORS]
)
def test_bad_index_is_rejected_when_built(key: Any, error: type[Exception], text: str) -> None:
    with pytest.raises(error, match=re.escape(text)):
        Tensor.zeros(2, 3)[key]


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_gather_matches_numpy(dim: int, sample: Sampler, matches: Matcher) -> None:
    values = sample((3, 4), dtypes.float32)
    index = np.array([[0, 2, 1], [2, 2, 0]]) % values.shape[dim]
    # torch.gather reads only the index's extent in the dims other than `dim`.
    source = values[:, :3] if dim == 0 else values[:2]
    matches(Tensor(values).gather(dim, Tensor(index.astype(np.int32))), np.take_along_axis(source, index, dim))


def test_gather_of_integers_keeps_the_dtype(matches: Matcher) -> None:
    values = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int8)
    index = np.array([[2, 0], [1, 1]], dtype=np.int32)
    matches(Tensor(values).gather(1, Tensor(index)), np.take_along_axis(values, index, 1), dtype=dtypes.int8)


def test_gather_rejects_mismatched_ranks_when_built() -> None:
    with pytest.raises(ValueError, match=re.escape("(2,)")):
        Tensor.zeros(2, 3).gather(1, Tensor([0, 1]))


@pytest.mark.parametrize("num_classes", [-1, 5])
def test_one_hot_matches_numpy(num_classes: int, matches: Matcher) -> None:
    labels = np.array([[0, 2], [3, 1]], dtype=np.int32)
    classes = 4 if num_classes < 0 else num_classes
    matches(Tensor(labels).one_hot(num_classes), np.eye(classes, dtype=np.int64)[labels])


def test_one_hot_rejects_floats() -> None:
    with pytest.raises(TypeError, match="float32"):
        Tensor([1.0]).one_hot(3)


# shapes to join and the dim
CATS = [
    ([(2, 3), (4, 3)], 0),
    ([(2, 3), (2, 1), (2, 2)], 1),
    ([(2, 3), (2, 3)], -1),
    ([(2, 0), (2, 3)], 1),
    ([(1, 2, 3)], 2),
]


@pytest.mark.parametrize(("shapes", "dim"), CATS, ids=str)
@pytest.mark.parametrize("dtype", [dtypes.float32, dtypes.int32, dtypes.bool], ids=lambda d: d.name)
def test_cat_matches_numpy(
    shapes: list[tuple[int, ...]], dim: int, dtype: DType, sample: Sampler, matches: Matcher
) -> None:
    parts = [sample(shape, dtype, seed=seed) for seed, shape in enumerate(shapes)]
    expected = np.concatenate(parts, axis=dim)
    tensors = [Tensor(part) for part in parts]
    matches(tensors[0].cat(*tensors[1:], dim=dim), expected, dtype=dtype)
    matches(Tensor.cat(*tensors, dim=dim), expected, dtype=dtype)


def test_cat_of_non_contiguous_views(sample: Sampler, matches: Matcher) -> None:
    values = sample((3, 4), dtypes.float32)
    tensor = Tensor(values)
    matches(tensor.T.cat(tensor[::-1, ::2].T.flip(0)), np.concatenate([values.T, values[::-1, ::2].T[::-1]]))


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_stack_matches_numpy(dim: int, sample: Sampler, matches: Matcher) -> None:
    parts = [sample((2, 3), dtypes.float32, seed=seed) for seed in range(3)]
    tensors = [Tensor(part) for part in parts]
    matches(tensors[0].stack(*tensors[1:], dim=dim), np.stack(parts, axis=dim))
    matches(Tensor.stack(*tensors, dim=dim), np.stack(parts, axis=dim))


def test_stack_of_0d_tensors(matches: Matcher) -> None:
    matches(Tensor.stack(Tensor(1.0), Tensor(2.0)), [1.0, 2.0])


@pytest.mark.parametrize(
    ("op", "text"),
    [
        (lambda: Tensor.zeros(2, 3).cat(Tensor.zeros(3, 2)), "(2, 3)"),
        (lambda: Tensor.zeros(2, 3).cat(Tensor.zeros(2, 3, 1)), "(2, 3, 1)"),
        (lambda: Tensor.zeros(2, 3).stack(Tensor.zeros(2, 2)), "(2, 2)"),
        (lambda: Tensor.zeros(2, 3).cat(Tensor.zeros(2, 3), dim=2), "2"),
    ],
    ids=["cat-sizes", "cat-ranks", "stack-sizes", "cat-dim"],
)
def test_bad_join_is_rejected_when_built(op: Callable[[], Any], text: str) -> None:
    with pytest.raises((ValueError, IndexError), match=re.escape(text)):
        op()


@pytest.mark.parametrize(("sizes", "dim"), [(2, 0), (3, 0), ([1, 4], 0), (2, 1), ([0, 3], -1), (10, 0)], ids=str)
def test_split_matches_torch_semantics(sizes: int | list[int], dim: int, sample: Sampler, matches: Matcher) -> None:
    values = sample((5, 3), dtypes.float32)
    length = values.shape[dim]
    bounds = list(range(sizes, length, sizes)) if isinstance(sizes, int) else list(np.cumsum(sizes)[:-1])
    pieces = Tensor(values).split(sizes, dim)
    expected = np.split(values, bounds, axis=dim)
    assert len(pieces) == len(expected)
    for piece, reference in zip(pieces, expected, strict=True):
        matches(piece, reference)


@pytest.mark.parametrize(
    ("chunks", "expected_sizes"), [(2, [3, 2]), (3, [2, 2, 1]), (5, [1, 1, 1, 1, 1]), (6, [1] * 5)]
)
def test_chunk_matches_torch_semantics(chunks: int, expected_sizes: list[int], matches: Matcher) -> None:
    values = np.arange(10, dtype=np.float32).reshape(5, 2)
    pieces = Tensor(values).chunk(chunks)
    assert [piece.shape[0] for piece in pieces] == expected_sizes
    matches(pieces[-1], values[sum(expected_sizes[:-1]) :])


def test_split_rejects_sizes_that_do_not_add_up() -> None:
    with pytest.raises(ValueError, match=re.escape("(5, 3)")):
        Tensor.zeros(5, 3).split([2, 2])
