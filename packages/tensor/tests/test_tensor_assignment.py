"""Item assignment `t[key] = value` and boolean-mask indexing against numpy (and torch when importable):
every kind of key, broadcast values, dtypes, autograd through the write, the JIT, and the errors torch raises.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from lamina.dtype import DType, dtypes
from lamina.engine.runtime import buffer_of
from lamina.schedule import view_base
from lamina.tensor import Tensor, jit, no_grad, stats

I = np.array([0, 2, 0])
MASK = np.arange(20).reshape(4, 5) % 3 == 0
ROWS = np.array([True, False, True, False])

# (name, numpy key, value): the lamina key is the numpy key with arrays as Tensors.
CASES: list[tuple[str, Any, Any]] = [
    ("int", 1, 7.0),
    ("negative-int", -1, np.arange(5.0)),
    ("column", (slice(None), 2), np.arange(4.0)),
    ("steps", (slice(1, None, 2), slice(None, None, -2)), -1.0),
    ("step-overhang", (slice(None), slice(1, None, 3)), np.array([[9.0, 8.0]])),
    ("negative-step-offset", (slice(None), slice(4, 0, -3)), np.array([9.0, 8.0])),
    ("empty-slice", slice(3, 1), 5.0),
    ("none-ellipsis", (None, 1, Ellipsis), np.arange(5.0)),
    ("leading-ones", 2, np.ones((1, 1, 5))),
    ("index-rows", (I,), np.arange(15.0).reshape(3, 5)),
    ("index-columns", (slice(None), I), 3.0),
    ("index-pair", (np.array([3, 1]), np.array([-1, 0])), np.array([5.0, 6.0])),
    ("index-slice", (slice(1, 3), I), np.arange(6.0).reshape(2, 3)),
    ("list", [1, 3], 2.0),
    ("mask", MASK, 0.0),
    ("mask-values", MASK, np.arange(float(MASK.sum()))),
    ("row-mask", ROWS, np.arange(5.0)),
    ("row-mask-rows", ROWS, np.arange(10.0).reshape(2, 5)),
]


def _lamina(item: Any) -> Any:
    if isinstance(item, np.ndarray):
        return Tensor(item)
    if isinstance(item, tuple):
        return tuple(_lamina(each) for each in item)
    return item


@pytest.mark.parametrize(("key", "value"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
@pytest.mark.parametrize("dtype", [dtypes.float32, dtypes.int32, dtypes.float16], ids=lambda dtype: dtype.name)
def test_item_assignment_equals_numpy(key: Any, value: Any, dtype: DType) -> None:
    storage = np.dtype(dtype.np_name)
    expected = np.arange(20).reshape(4, 5).astype(storage)
    tensor = Tensor(expected.copy())
    tensor[_lamina(key)] = Tensor(np.asarray(value).astype(storage)) if isinstance(value, np.ndarray) else value
    expected[key] = np.asarray(value).astype(storage).reshape(np.asarray(value).shape) if np.ndim(value) else value
    got = tensor.numpy()
    assert got.dtype == storage
    np.testing.assert_array_equal(got, expected)


def test_an_int_between_index_tensors_keeps_torchs_placement() -> None:
    values = np.arange(60.0).reshape(3, 4, 5)
    tensor = Tensor(values.copy())
    tensor[Tensor(I), 1, Tensor(I)] = Tensor([1.0, 2.0, 3.0])
    values[I, 1, I] = [1.0, 2.0, 3.0]  # numpy agrees with torch here: the index dims stay adjacent
    np.testing.assert_array_equal(tensor.numpy(), values)


def test_the_last_of_repeated_indices_wins() -> None:
    tensor = Tensor(np.zeros(4))
    tensor[Tensor([1, 3, 1])] = Tensor([5.0, 6.0, 7.0])
    np.testing.assert_array_equal(tensor.numpy(), [0.0, 7.0, 0.0, 6.0])


def _address(tensor: Tensor) -> int:
    return buffer_of(view_base(tensor.uop)).address


def _kernel_runs(action: Callable[[], object]) -> int:
    before = stats.kernels_run
    action()
    return stats.kernels_run - before


def test_a_slice_write_is_one_kernel_over_the_region_in_the_tensors_own_buffer() -> None:
    tensor = Tensor.zeros(256, 256).realize()
    address = _address(tensor)
    tensor[3:9, ::2] = 1.0
    assert _kernel_runs(tensor.realize) == 1
    assert _address(tensor) == address
    expected = np.zeros((256, 256), np.float32)
    expected[3:9, ::2] = 1.0
    np.testing.assert_array_equal(tensor.numpy(), expected)


def test_writes_in_a_row_each_land() -> None:
    tensor = Tensor(np.zeros(5, np.float32))
    for position in range(5):
        tensor[position] = float(position + 1)
    np.testing.assert_array_equal(tensor.numpy(), [1.0, 2.0, 3.0, 4.0, 5.0])


def test_tensors_made_before_a_write_keep_their_values() -> None:
    tensor = Tensor(np.arange(4.0)).realize()
    row, doubled, detached = tensor[1:3], tensor * 2, tensor.detach()
    tensor[1] = 100.0
    np.testing.assert_array_equal(detached.numpy(), [0.0, 1.0, 2.0, 3.0])
    np.testing.assert_array_equal(row.numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(doubled.numpy(), [0.0, 2.0, 4.0, 6.0])
    np.testing.assert_array_equal(tensor.numpy(), [0.0, 100.0, 2.0, 3.0])


def test_a_value_read_from_the_tensor_itself_sees_the_old_values() -> None:
    values = np.arange(6.0)
    tensor = Tensor(values.copy())
    tensor[1:] = tensor[:-1]
    values[1:] = values[:-1].copy()
    np.testing.assert_array_equal(tensor.numpy(), values)


def test_gradients_flow_through_a_write() -> None:
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    w = Tensor([10.0], requires_grad=True)
    y = x * 2
    y[1] = w * 3
    (y * Tensor([1.0, 2.0, 4.0])).sum().backward()
    assert x.grad is not None
    assert w.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 0.0, 8.0])
    np.testing.assert_array_equal(w.grad.numpy(), [6.0])


def test_a_leaf_that_requires_grad_is_refused_unless_under_no_grad() -> None:
    leaf = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        leaf[0] = 5.0
    with no_grad():
        leaf[0] = 5.0
    np.testing.assert_array_equal(leaf.numpy(), [5.0, 2.0])
    assert leaf.requires_grad


WRONG: list[tuple[str, Callable[[Tensor], None], type, str]] = [
    ("shape", lambda t: t.__setitem__(slice(None), Tensor.ones(3)), ValueError, r"shape \(3,\).*\(4, 5\)"),
    ("index", lambda t: t.__setitem__(Tensor([4]), 1.0), IndexError, "index 4 is out of bounds"),
    ("mask-shape", lambda t: t.__setitem__(Tensor([True, False]), 1.0), IndexError, "mask of shape"),
    ("int-range", lambda t: t.__setitem__(9, 1.0), IndexError, "index 9"),
]


@pytest.mark.parametrize(("write", "error", "message"), [case[1:] for case in WRONG], ids=[case[0] for case in WRONG])
def test_a_bad_write_is_refused_naming_the_problem(write: Callable[[Tensor], None], error: type, message: str) -> None:
    tensor = Tensor.zeros(4, 5)

    def write_and_read() -> None:
        write(tensor)
        tensor.numpy()

    with pytest.raises(error, match=message):
        write_and_read()


def test_an_integer_value_too_large_for_the_dtype_is_refused() -> None:
    tensor = Tensor([1, 2], dtype=dtypes.int8)
    with pytest.raises(OverflowError):
        tensor[0] = 300


def test_a_jitted_write_replays_in_place_and_spares_other_readers() -> None:
    cache = Tensor(np.zeros((4, 3), np.float32)).realize()

    @jit
    def write_row(values: Tensor) -> None:
        cache[1] = values
        cache.realize()

    write_row(Tensor(np.full(3, 1.0, np.float32)))
    write_row(Tensor(np.full(3, 2.0, np.float32)))
    address = _address(cache)
    snapshot = cache.detach()  # made between replays: keeps the values it saw
    write_row(Tensor(np.full(3, 3.0, np.float32)))
    assert write_row.plan is not None
    assert _address(cache) == address
    np.testing.assert_array_equal(cache.numpy()[1], [3.0, 3.0, 3.0])
    np.testing.assert_array_equal(snapshot.numpy()[1], [2.0, 2.0, 2.0])


def test_a_jitted_write_keeps_the_view_no_graph_reads() -> None:
    # A replay gives a state written in place a new view only when some graph still reads the old one (to hand that
    # graph a copy); a state nothing else reads keeps its view, replay after replay.
    cache = Tensor(np.zeros((4, 3), np.float32)).realize()

    @jit
    def write_row(values: Tensor) -> None:
        cache[1] = values
        cache.realize()

    for step in range(3):
        write_row(Tensor(np.full(3, float(step), np.float32)))
    view = weakref.ref(cache.uop)
    for step in range(3, 6):
        write_row(Tensor(np.full(3, float(step), np.float32)))
    assert cache.uop is view()
    reader = cache * 2.0  # an unrealized graph over the view: the next replay must spare it
    write_row(Tensor(np.full(3, 9.0, np.float32)))
    assert cache.uop is not view()
    np.testing.assert_array_equal(reader.numpy()[1], [10.0, 10.0, 10.0])
    np.testing.assert_array_equal(cache.numpy()[1], [9.0, 9.0, 9.0])


def test_a_jitted_write_replays_on_new_inputs() -> None:
    state = Tensor(np.zeros((3, 4), np.float32)).realize()

    @jit
    def write_row(row: Tensor, values: Tensor) -> None:
        state[row] = values
        state.realize()

    for step in range(4):
        write_row(Tensor([step % 3]), Tensor(np.full(4, step, np.float32)))
    np.testing.assert_array_equal(state.numpy(), [[3.0] * 4, [1.0] * 4, [2.0] * 4])


def test_boolean_mask_indexing_reads_the_selected_elements() -> None:
    values = np.arange(20.0).reshape(4, 5)
    tensor = Tensor(values)
    np.testing.assert_array_equal(tensor[Tensor(MASK)].numpy(), values[MASK])
    np.testing.assert_array_equal(tensor[Tensor(ROWS)].numpy(), values[ROWS])
    np.testing.assert_array_equal(tensor[:, Tensor(MASK[0])].numpy(), values[:, MASK[0]])
    np.testing.assert_array_equal(tensor[tensor > 7].numpy(), values[values > 7])
    assert tensor[Tensor(np.zeros((4, 5), bool))].shape == (0,)


def test_writes_match_torch() -> None:
    torch: Any = pytest.importorskip("torch")
    values = np.arange(60.0, dtype=np.float32).reshape(3, 4, 5)
    ours, theirs = Tensor(values.copy()), torch.tensor(values.copy())
    index = np.array([2, 0])
    writes: list[tuple[Any, npt.NDArray[Any] | float]] = [
        ((slice(None), 1), 7.0),
        ((index, slice(1, 3)), np.ones((2, 2, 5), np.float32)),
        ((1, index, 0), np.array([5.0, 6.0], np.float32)),
        ((index, 2, index), np.array([8.0, 9.0], np.float32)),
        (values > 50, -1.0),
    ]
    for key, value in writes:
        torch_key = (
            tuple(torch.tensor(k) if isinstance(k, np.ndarray) else k for k in key)
            if isinstance(key, tuple)
            else torch.tensor(key)
        )
        ours[_lamina(key)] = Tensor(value) if isinstance(value, np.ndarray) else value
        theirs[torch_key] = torch.tensor(value) if isinstance(value, np.ndarray) else value
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
