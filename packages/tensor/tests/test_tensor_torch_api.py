"""torch code ported to lamina means the same thing: names, argument orders and the shapes results take.

Each case is written the way a torch user writes it; the expected values are torch's (checked against
torch itself when it is importable).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from lamina.dtype import dtypes
from lamina.tensor import Tensor, where


def test_reductions_take_torch_dim_and_keepdim_names() -> None:
    values = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    x = Tensor(values)
    assert x.sum(dim=1, keepdim=True).shape == (2, 1, 4)
    np.testing.assert_allclose(x.sum(dim=(0, 2)).numpy(), values.sum(axis=(0, 2)))
    np.testing.assert_allclose(x.mean(dim=-1).numpy(), values.mean(axis=-1))
    np.testing.assert_allclose(x.var(dim=1, keepdim=True).numpy(), values.var(axis=1, ddof=1, keepdims=True))
    np.testing.assert_allclose(x.std(dim=0).numpy(), values.std(axis=0, ddof=1), rtol=1e-6)
    np.testing.assert_allclose(x.prod(dim=2).numpy(), values.prod(axis=2), rtol=1e-6)
    np.testing.assert_allclose(x.amax(dim=(1, 2)).numpy(), values.max(axis=(1, 2)))
    np.testing.assert_allclose(x.amin(dim=1).numpy(), values.min(axis=1))
    np.testing.assert_allclose(x.logsumexp(dim=2).numpy(), np.log(np.exp(values).sum(axis=2)), rtol=1e-6)
    np.testing.assert_allclose(x.softmax(dim=0).numpy().sum(axis=0), np.ones((3, 4)), rtol=1e-6)
    np.testing.assert_allclose(x.cumsum(dim=1).numpy(), values.cumsum(axis=1))
    assert x.argmax(dim=2).tolist() == values.argmax(axis=2).tolist()
    assert x.gt(5).any(dim=1).tolist() == (values > 5).any(axis=1).tolist()
    assert x.gt(5).all(dim=2, keepdim=True).shape == (2, 3, 1)
    # numpy's name still works, and both at once is a mistake.
    np.testing.assert_allclose(x.sum(axis=1).numpy(), values.sum(axis=1))
    with pytest.raises(TypeError, match="dim or axis"):
        x.sum(dim=0, axis=1)


def test_max_and_min_along_a_dim_return_values_and_indices_like_torch() -> None:
    values = np.array([[3.0, 7.0, 7.0], [-1.0, -5.0, 2.0]], dtype=np.float32)
    x = Tensor(values)
    result = x.max(1)
    assert result.values.tolist() == [7.0, 2.0]
    assert result.indices.tolist() == [1, 2]
    assert result.indices.dtype == dtypes.int64
    low, where_low = x.min(dim=0, keepdim=True)
    assert low.tolist() == [[-1.0, -5.0, 2.0]]
    assert where_low.tolist() == [[1, 1, 1]]
    assert x.max().item() == 7.0
    assert x.max(Tensor([[5.0, 0.0, 9.0]])).tolist() == [[5.0, 7.0, 9.0], [5.0, 0.0, 9.0]]
    scalar_values, scalar_index = Tensor(4.0).max(0)
    assert (scalar_values.item(), scalar_index.item()) == (4.0, 0)


def test_tensor_where_and_free_where_follow_torch() -> None:
    x = Tensor([1.0, -2.0, 3.0])
    assert x.where(x > 0, 0.0).tolist() == [1.0, 0.0, 3.0]
    assert where(x > 0, x, Tensor([10.0])).tolist() == [1.0, 10.0, 3.0]
    assert where(x > 0, 1, 0).dtype == dtypes.int64


@pytest.mark.parametrize(
    "join",
    [
        lambda a, b: Tensor.cat([a, b], dim=1),
        lambda a, b: Tensor.cat((a, b), 1),
        lambda a, b: a.cat(b, dim=1),
    ],
    ids=["list", "tuple-positional-dim", "method"],
)
def test_cat_takes_a_list_or_tuple_like_torch(join: Callable[[Tensor, Tensor], Tensor]) -> None:
    a, b = Tensor([[1, 2]]), Tensor([[3]])
    assert join(a, b).tolist() == [[1, 2, 3]]


def test_stack_takes_a_list_and_bad_joins_name_the_problem() -> None:
    a, b = Tensor([1, 2]), Tensor([3, 4])
    assert Tensor.stack([a, b], dim=1).tolist() == [[1, 3], [2, 4]]
    with pytest.raises(ValueError, match="at least one"):
        Tensor.cat([])
    with pytest.raises(TypeError, match="joins Tensors"):
        Tensor.cat([a, [3, 4]])  # type: ignore[type-var]
    with pytest.raises(ValueError, match="one shape"):
        Tensor.stack([a, Tensor([1])])


@pytest.mark.cpu_default
def test_to_type_and_python_conversions_like_torch() -> None:
    x = Tensor([1.7, -2.2])
    assert x.to(dtypes.int32).tolist() == [1, -2]
    assert x.to(dtypes.float64).dtype == dtypes.float64
    assert x.to("cpu") is x
    assert x.to("CPU", dtypes.float16).dtype == dtypes.float16
    assert x.to(Tensor([1], dtype=dtypes.int64)).dtype == dtypes.int64
    assert x.to(dtype=dtypes.bool).tolist() == [True, True]
    assert x.type(dtypes.int64).dtype == dtypes.int64
    assert x.type() == "dtypes.float32"
    assert float(Tensor([2.5])) == 2.5
    assert int(Tensor(7.9)) == 7
    assert bool(Tensor([0])) is False
    assert len(Tensor.zeros(4, 2)) == 4
    assert [10, 20, 30][Tensor(1)] == 20
    with pytest.raises(TypeError, match="integer tensors"):
        [1, 2][Tensor(1.0)]
    with pytest.raises(ValueError, match="exactly one element"):
        float(Tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="len"):
        len(Tensor(3.0))
    with pytest.raises(ValueError, match="unknown device 'NOSUCHDEVICE'"):
        x.to("NOSUCHDEVICE")


# torch's placement of the dims an index tensor produces: an int selects its dim away (it does not separate index
# tensors), while a slice or None between them moves their dims to the front.
ADVANCED = {
    "x[None, i, 2, i]": (1, 2, 5),
    "x[i, None, i]": (2, 1, 3, 5),
    "x[i, :, i]": (2, 4, 5),
    "x[:, i, 2]": (3, 2, 5),
    "x[1, :, i]": (4, 2, 5),
    "x[:, i, :, 1]": (3, 2, 3),
    "x[i, 1, i, 1]": (2,),
    "x[..., i, 1]": (3, 4, 2),
    "x[i, 2, :, i]": (2, 3),
    "x[1, None, i]": (1, 2, 3, 5),
}


@pytest.mark.parametrize(("expression", "shape"), ADVANCED.items(), ids=list(ADVANCED))
def test_advanced_indexing_places_dims_like_torch(expression: str, shape: tuple[int, ...]) -> None:
    values = np.arange(3 * 4 * 3 * 5).reshape(3, 4, 3, 5)
    result = eval(expression, {"x": Tensor(values), "i": Tensor([0, 1])})
    assert result.shape == shape
    torch: Any = pytest.importorskip("torch")
    expected = eval(expression, {"x": torch.tensor(values), "i": torch.tensor([0, 1])})
    assert tuple(expected.shape) == shape
    np.testing.assert_array_equal(result.numpy(), expected.numpy())
