"""The heart of `Tensor`: a lazy value (a UOp graph) on a device, how it is made real, and autograd state.

Every operation only builds UOps; `realize()` hands the graphs to the scheduler and the engine and
swaps each tensor's graph for a view of its new buffer. The graph a gradient-needing result was
computed from is remembered (weakly, keyed by its buffer view), so `backward()` can differentiate
through tensors that were realized along the way, as torch keeps its autograd graph.
Realized graphs are remembered weakly, so another tensor built on the same nodes reuses the
buffer instead of recomputing it. What is remembered across operations is one object, `frontend`
(`state.py`).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from lamina.device import Buffer, Device
from lamina.dtype import DType, bfloat16_bits_to_float32, dtypes, float32_to_bfloat16_bits, from_numpy_dtype
from lamina.engine.capture import refuse_host_transfer
from lamina.engine.context import current_context
from lamina.engine.runtime import attach_buffer, buffer_of, realize_graphs
from lamina.gradient import compute_gradient
from lamina.schedule import is_buffer_view, view_base
from lamina.tensor.state import frontend
from lamina.tensor.variable import Bound
from lamina.uop import ConstValue, Ops, UOp, substitute, toposort

TensorData = UOp | ConstValue | Bound | Sequence[Any] | npt.NDArray[Any]


@contextmanager
def no_grad() -> Iterator[None]:
    """Build graphs that record nothing for autograd (optimizer steps, evaluation)."""
    frontend.grad_enabled.append(False)
    try:
        yield
    finally:
        frontend.grad_enabled.pop()


def grad_enabled() -> bool:
    return frontend.grad_enabled[-1]


def scalar_uop(dtype: DType, value: ConstValue) -> UOp:
    """The constant `value` of `dtype`, refusing a number an integer dtype cannot hold (torch raises too).

    The IR's constants wrap like C (see `normalize_const`); a user's number that does not fit would
    silently become another one, so it is an OverflowError here, at the API's edge.
    """
    if dtype.is_int and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            if math.isnan(value):
                raise ValueError(f"cannot convert NaN to the integer dtype {dtype}")
            raise OverflowError(f"cannot convert {value} to the integer dtype {dtype}")
        whole = int(value)
        if not dtype.holds(whole):
            raise OverflowError(
                f"the value {value!r} does not fit in {dtype} (range [{dtype.min_value}, {dtype.max_value}])"
            )
    return UOp.const(dtype, value)


def scalar_full(shape: tuple[int, ...], dtype: DType, value: ConstValue) -> UOp:
    """`scalar_uop` broadcast to `shape`."""
    scalar = scalar_uop(dtype, value)
    return scalar.reshape((1,) * len(shape)).expand(shape) if shape else scalar


def _check_integer_range(values: npt.NDArray[Any], dtype: DType) -> None:
    """Refuse host data an integer dtype cannot hold (numpy would wrap or truncate it without a word)."""
    if not dtype.is_int or values.size == 0:
        return
    if values.dtype.kind in "iu":
        low, high = int(values.min()), int(values.max())
    elif values.dtype.kind == "f":
        if not np.isfinite(values).all():
            raise OverflowError(f"cannot convert non-finite values to the integer dtype {dtype}")
        low, high = int(np.trunc(values.min())), int(np.trunc(values.max()))
    else:
        return
    if not (dtype.holds(low) and dtype.holds(high)):
        bad = low if not dtype.holds(low) else high
        raise OverflowError(f"the value {bad} does not fit in {dtype} (range [{dtype.min_value}, {dtype.max_value}])")


def _infer_dtype(data: Any) -> DType:
    if isinstance(data, (np.ndarray, np.generic)):
        return from_numpy_dtype(data.dtype)
    flat = np.asarray(data)
    if flat.dtype == np.bool_:
        return dtypes.bool
    if np.issubdtype(flat.dtype, np.integer):
        return dtypes.default_int
    if np.issubdtype(flat.dtype, np.floating):
        return dtypes.default_float
    if flat.dtype == object and flat.size and all(type(item) is int for item in flat.reshape(-1)):
        return dtypes.default_int  # ints too large for numpy: the upload names the one that does not fit
    raise TypeError(f"cannot make a Tensor from {type(data).__name__} holding {flat.dtype}")


def _storage_array(values: npt.NDArray[Any], dtype: DType) -> npt.NDArray[Any]:
    if dtype == dtypes.bfloat16:
        return float32_to_bfloat16_bits(np.asarray(values, dtype=np.float32))
    return np.ascontiguousarray(values, dtype=dtype.np_name)


def _resolve_device(device: str | None) -> str:
    name = (device or current_context().device).upper()
    Device.get(name)
    return name


class TensorCore:
    """Storage, realization and autograd bookkeeping; the operations come in the classes built on it."""

    __slots__ = ("__weakref__", "_leaf", "_requires_grad", "device", "grad", "uop")

    uop: UOp
    device: str
    grad: Self | None

    def __init__(
        self,
        data: TensorData,
        dtype: DType | None = None,
        device: str | None = None,
        requires_grad: bool = False,
    ) -> None:
        self.device = _resolve_device(device)
        self.grad = None
        self._leaf = True
        self._requires_grad = False
        if isinstance(data, Bound):
            data = data.uop  # a variable's value: a scalar int32 graph over its BIND
        if isinstance(data, UOp):
            self.uop = data if dtype is None else data.cast(dtype)
        elif isinstance(data, (bool, int, float)):
            self.uop = scalar_uop(dtype or _infer_dtype(data), data)
        else:
            self.uop = self._upload(data, dtype)
        self.requires_grad = requires_grad

    def _upload(self, data: Any, dtype: DType | None) -> UOp:
        if isinstance(data, TensorCore):
            raise TypeError("Tensor(Tensor) is not supported: use .detach(), .clone() or .cast()")
        resolved = dtype or _infer_dtype(data)
        try:
            values = np.asarray(data)
        except ValueError as error:
            raise ValueError(f"cannot make a Tensor from ragged nested sequences: {error}") from None
        if values.dtype == object:
            if all(isinstance(item, int) for item in values.reshape(-1)):
                biggest = max(values.reshape(-1), key=abs)
                raise OverflowError(f"the value {biggest} does not fit in {resolved} (or any integer dtype)")
            raise TypeError(f"cannot make a Tensor from {type(data).__name__}: its elements are not all numbers")
        _check_integer_range(values, resolved)
        refuse_host_transfer("making a Tensor from host data")
        storage = _storage_array(values, resolved)
        node = UOp.new_buffer(self.device, storage.size, resolved)
        attach_buffer(node, Buffer(self.device, storage.size, resolved).copyin(storage.reshape(-1)))
        return node.reshape(tuple(int(size) for size in values.shape))

    # -- construction of results --

    def _derive(self, uop: UOp, *inputs: TensorCore) -> Self:
        """A new tensor computed from self (and `inputs`) as `uop`."""
        for other in inputs:
            if other.device != self.device:
                raise ValueError(f"tensors on different devices: {self.device} and {other.device}")
        result = type(self)(uop, device=self.device)
        if grad_enabled() and (self._requires_grad or any(other._requires_grad for other in inputs)):
            result._requires_grad = True
            result._leaf = False
        return result

    # -- properties --

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and not self._leaf:
            self._requires_grad = True
            return
        if value and not (self.dtype.is_float):
            raise TypeError(f"only floating point tensors can require gradients, not {self.dtype}")
        self._requires_grad = value
        if value:
            frontend.grad_leaves[id(self)] = self

    def requires_grad_(self, requires_grad: bool = True) -> Self:
        self.requires_grad = requires_grad
        return self

    @property
    def shape(self) -> tuple[int, ...]:
        return self.uop.shape

    @property
    def dtype(self) -> DType:
        return self.uop.scalar_dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def numel(self) -> int:
        return math.prod(self.shape)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self._requires_grad else ""
        return f"<Tensor shape={self.shape} dtype={self.dtype!r} device={self.device}{grad}>"

    def __hash__(self) -> int:
        return id(self)

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous; use .any() or .all()")
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if not (self.dtype.is_int or self.dtype.is_bool):
            raise TypeError(f"only integer tensors of one element can be used as an index, not {self.dtype}")
        return int(self.item())

    def to_device(self, device: str) -> Self:
        """The same values on `device` (this tensor itself when it is there already)."""
        target = _resolve_device(device)
        if target == self.device:
            return self
        if self._requires_grad:
            raise RuntimeError(
                f"moving a tensor that requires gradients from {self.device} to {target} is not supported: "
                "its autograd graph would be cut; detach() it first"
            )
        return type(self)(self.numpy(), dtype=self.dtype, device=target)

    # -- realization --

    def realize(self) -> Self:
        """Compute this tensor now (and keep the result)."""
        realize(self)
        return self

    def data_ptr(self) -> int:
        """The address of the first element of self's memory (torch's data_ptr), realizing self first: equal
        addresses before and after an operation mean it wrote in place."""
        self.realize()
        return buffer_of(view_base(self.uop)).address

    def numpy(self) -> npt.NDArray[Any]:
        """The values as a numpy array (bfloat16 comes back as float32, which numpy can hold)."""
        refuse_host_transfer("reading a tensor's values (numpy, item, tolist)")
        self.realize()
        flat = buffer_of(view_base(self.uop)).numpy()
        if self.dtype == dtypes.bfloat16:
            flat = bfloat16_bits_to_float32(flat.view(np.uint16))
        return flat.reshape(self.shape)

    def item(self) -> ConstValue:
        if self.numel() != 1:
            raise ValueError(f"item() needs exactly one element, this tensor has shape {self.shape}")
        value: ConstValue = self.numpy().reshape(-1)[0].item()
        return value

    def tolist(self) -> Any:
        return self.numpy().tolist()

    # -- autograd --

    def detach(self) -> Self:
        """The same value, cut from the autograd graph."""
        # A same-dtype BITCAST is an identity that autograd's rule table gives no gradient; it must be a new
        # node, since reusing self.uop would let gradients reach self through the detached copy.
        return type(self)(UOp(Ops.BITCAST, self.uop.dtype, (self.uop,)), device=self.device)

    def backward(self, gradient: TensorCore | None = None) -> None:
        """Accumulate d(self)/d(leaf) into `.grad` of every leaf that requires gradients."""
        if not self._requires_grad:
            raise RuntimeError("backward() on a tensor that does not require gradients")
        if gradient is None:
            if self.numel() != 1:
                raise RuntimeError(f"backward() needs a gradient for a non-scalar tensor of shape {self.shape}")
            seed = UOp.full(self.shape, self.dtype, 1.0)
        else:
            if gradient.shape != self.shape:
                raise ValueError(f"gradient of shape {gradient.shape} for a tensor of shape {self.shape}")
            seed = gradient.uop
        frontend.awaiting_value[id(self)] = self
        root = _autograd_graph(self.uop)
        leaves = [leaf for leaf in frontend.grad_leaves.values() if leaf._requires_grad and leaf._leaf]
        gradients = compute_gradient(root, seed, [leaf.uop for leaf in leaves])
        for leaf in leaves:
            grad_uop = gradients.get(leaf.uop)
            if grad_uop is None:
                continue
            update = type(leaf)(grad_uop.cast(leaf.dtype), device=leaf.device)
            leaf.grad = update if leaf.grad is None else type(leaf)(leaf.grad.uop + update.uop, device=leaf.device)


def _autograd_graph(root: UOp) -> UOp:
    """`root` with each realized intermediate that autograd needs replaced by the graph that computed it."""
    while True:
        known = {node: frontend.graphs[node] for node in toposort([root]) if node in frontend.graphs}
        if not known:
            return root
        root = substitute([root], known)[0]


def with_realized(targets: list[UOp]) -> list[UOp]:
    """`targets` with every node that was realized before replaced by the buffer view it became."""
    known: dict[UOp, UOp] = {}
    clean, realized = frontend.unrealized, frontend.realized

    def stop(node: UOp) -> bool:
        # A realized node is replaced whole, so the walk need not go under it; nor under a graph found clean.
        if node in clean:
            return True
        reference = realized.get(node)
        result = reference() if reference is not None else None
        if result is None:
            return False
        known[node] = result
        return True

    walked = toposort(targets, stop=stop)
    if not known:
        clean.update(walked)
    return substitute(targets, known) if known else targets


def realize(*tensors: TensorCore) -> None:
    """Compute several tensors together: shared work is scheduled (and fused) once."""
    # By identity: a tensor named twice is realized once (the second look would see its new buffer).
    by_id = {id(tensor): tensor for tensor in tensors if not is_buffer_view(tensor.uop)}
    if by_id:
        devices = {tensor.device for tensor in by_id.values()}
        # Tensors on other devices keep waiting for a realize on theirs.
        for key, tensor in list(frontend.awaiting_value.items()) if frontend.awaiting_value else ():
            if tensor.device in devices:
                del frontend.awaiting_value[key]
                if not is_buffer_view(tensor.uop):
                    by_id.setdefault(id(tensor), tensor)
    pending = list(by_id.values())
    context = current_context()
    for device in dict.fromkeys(tensor.device for tensor in pending):
        group = [tensor for tensor in pending if tensor.device == device]
        originals = [tensor.uop for tensor in group]
        targets = with_realized(list(dict.fromkeys(originals)))
        results = dict(zip(dict.fromkeys(originals), realize_graphs(targets, device, context), strict=True))
        for tensor in group:
            original = tensor.uop
            frontend.realized[original] = weakref.ref(results[original])
            frontend.unrealized.clear()  # a graph walked clean may hold this one
            if tensor._requires_grad and not tensor._leaf:
                frontend.graphs[results[original]] = original
            tensor.uop = results[original]
