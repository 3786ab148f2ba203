"""The JIT: run a function's kernels again without running the function, like tinygrad's TinyJit.

`@jit` lets the first call run as usual (it compiles every kernel), captures the second (which
kernels ran, on which buffers), and from the third call on replays the captured launches: no
graph is built, scheduled or compiled, only the kernels are called (the engine's `Replay`). Each
buffer a kernel touched plays a role in the replay: a Tensor argument's buffer is swapped for the
new argument's; a tensor the function `assign`ed (a parameter, an optimizer's state) is read from
where it lives now and written to a fresh buffer that it then points to, as a normal call would
leave it (one written in place by item assignment keeps its buffer); the function's returned
tensors get fresh buffers too; every other buffer (intermediates, constants) is reused. This module
holds the Tensor side: signatures, Python values, which tensors are states and results.

What a replay cannot reproduce raises `JitError` instead of computing something else: arguments of
another shape, dtype or device; a different value for a non-Tensor argument (it was frozen into
the kernels); reading a value into Python or uploading host data inside the function. A Python
value the function reads from elsewhere (an optimizer's learning rate, a global, a closure) was
frozen into the kernels too: each replay first compares what the function can read with what it
could read after the capture (`python_state.py`), and when it differs the call runs and is captured
again. A tensor the function reads but does not assign (a model's weights) may be given new values
between calls (`assign`, item assignment, `load_state_dict`): a replay whose buffers include one that
such a tensor no longer holds captures again too (`FrontendState.replaced`). Python state the function
itself changes (a step counter) is not advanced by replays.
Gradients the function leaves on `.grad` are not kept by a replay (they would be stale): they
become None. A returned tensor that no kernel wrote (an input, a tensor made before the call) is
returned as that same buffer.
"""

from __future__ import annotations

import functools
import sys
import weakref
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, Literal, ParamSpec, TypeVar

from lamina.device import Buffer
from lamina.engine.capture import Capture, JitError, capturing
from lamina.engine.context import current_context
from lamina.engine.replay import Replay, Slot, plan_replay
from lamina.engine.runtime import attach_buffer, buffer_of
from lamina.schedule import is_buffer_view, view_base
from lamina.tensor.core import TensorCore, realize
from lamina.tensor.python_state import python_state
from lamina.tensor.state import frontend
from lamina.tensor.tensor import Tensor
from lamina.tensor.variable import Bound
from lamina.uop import Ops, UOp

P = ParamSpec("P")
R = TypeVar("R")
JitResult = Tensor | tuple[Tensor, ...] | None
Returned = Literal["none", "tensor", "tuple"]


@dataclass(frozen=True, slots=True)
class _Plan:
    """A captured call: the engine's replay of its launches, and where the tensors' values go."""

    signature: Hashable
    replay: Replay
    states: tuple[tuple[TensorCore, Slot, tuple[int, ...]], ...]  # tensor, the slot of its new value, its shape
    outputs: tuple[tuple[Slot, tuple[int, ...]], ...]  # per returned tensor: its buffer's slot and its shape
    returns: Returned  # what the function returned: None, one Tensor, or a tuple of them
    cleared_grads: tuple[TensorCore, ...]
    python_state: list[object]  # what the function could read from Python after the captured call (python_state.py)
    outside_writes: int = 0  # frontend.outside_writes when the fixed buffers were last found current


def _describe(value: object) -> Hashable:
    if isinstance(value, TensorCore):
        return ("tensor", value.shape, value.dtype, value.device)
    if isinstance(value, Bound):
        return ("variable", value.variable, value.offset)  # its value is each call's own
    if not isinstance(value, Hashable):
        raise JitError(f"a jitted function takes Tensors and hashable values, got a {type(value).__name__}")
    return ("value", type(value), value)


def _signature(args: tuple[object, ...], kwargs: dict[str, object]) -> Hashable:
    """What a replay must match: each Tensor argument's shape, dtype and device, every other argument's value."""
    return (tuple(_describe(value) for value in args), tuple((key, _describe(kwargs[key])) for key in sorted(kwargs)))


def _tensor_arguments(args: tuple[object, ...], kwargs: dict[str, object]) -> list[TensorCore]:
    return [value for value in (*args, *kwargs.values()) if isinstance(value, TensorCore)]


def _variable_values(args: tuple[object, ...], kwargs: dict[str, object]) -> dict[str, int]:
    """The value of each variable the arguments bind, by name (what a replay passes its kernels)."""
    values: dict[str, int] = {}
    for value in (*args, *kwargs.values()):
        if isinstance(value, Bound) and values.setdefault(value.name, int(value.bind.arg)) != value.bind.arg:
            raise JitError(f"variable {value.name!r} is bound to two values in one call")
    return values


def _returned(result: object) -> tuple[list[Tensor], Returned]:
    if result is None:
        return [], "none"
    if isinstance(result, Tensor):
        return [result], "tensor"
    if isinstance(result, tuple) and all(isinstance(item, Tensor) for item in result):
        return list(result), "tuple"
    raise JitError(f"a jitted function must return a Tensor, a tuple of Tensors or None, not {type(result).__name__}")


class Jit(Generic[P, R]):
    """A function whose kernels are captured on its second call and replayed from its third."""

    def __init__(self, function: Callable[P, R]) -> None:
        self.function = function
        self.calls = 0
        self.recaptures = 0
        self.plan: _Plan | None = None
        functools.update_wrapper(self, function)

    def reset(self) -> None:
        """Forget the capture: the next call runs the function normally, the one after captures again."""
        self.calls = 0
        self.recaptures = 0
        self.plan = None

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        self.calls += 1
        signature = _signature(args, kwargs)
        inputs = _tensor_arguments(args, kwargs)
        realize(*inputs)
        if self.plan is not None:
            if signature != self.plan.signature:
                raise JitError(
                    "a jitted function was called with arguments unlike the captured call "
                    f"(captured {self.plan.signature}, got {signature}); call reset() to capture again"
                )
            if self._fresh_buffers() and self._reads(self.plan.states, inputs) == self.plan.python_state:
                return self._replay(inputs, _variable_values(args, kwargs))  # type: ignore[return-value]
            # A Python value the kernels were built with changed (a learning rate, a flag), or a tensor's value was
            # replaced outside the function (new weights loaded into a model it reads): replaying would compute with
            # the old ones, so the call runs and is captured again.
            self.recaptures += 1
            if current_context().debug >= 1:
                print("jit: a Python value or a tensor the function reads changed; capturing again")
        elif self.calls == 1:
            return self.function(*args, **kwargs)
        return self._capture(signature, inputs, args, kwargs)

    def _fresh_buffers(self) -> bool:
        """Whether no buffer the replay reads as it is was replaced outside the function since the capture (a
        tensor given new values: new weights loaded into the model the function reads)."""
        plan = self.plan
        assert plan is not None
        if frontend.outside_writes == plan.outside_writes:
            return True
        if any(node in frontend.replaced for node in plan.replay.fixed_nodes):
            return False
        self.plan = replace(plan, outside_writes=frontend.outside_writes)  # unrelated writes: no need to look again
        return True

    def _reads(
        self, states: Sequence[tuple[TensorCore, Slot, tuple[int, ...]]], inputs: list[TensorCore]
    ) -> list[object]:
        moved = frozenset(id(tensor) for tensor in (*(state for state, _, _ in states), *inputs))
        return python_state(self.function, moved)

    def _capture(
        self, signature: Hashable, inputs: list[TensorCore], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> R:
        leaves_before = {id(leaf): leaf.grad for leaf in frontend.grad_leaves.values()}
        with capturing() as capture:
            result = self.function(*args, **kwargs)
            returned, returns = _returned(result)
            realize(*returned, *(tensor for tensor, _ in _assigned(capture)))
        cleared = tuple(leaf for leaf in frontend.grad_leaves.values() if leaf.grad is not leaves_before.get(id(leaf)))
        given = _variable_values(args, kwargs)
        taken = sorted({name for launch in capture.launches for name in launch.variables if name not in given})
        if taken:
            raise JitError(
                f"the jitted function's kernels take variables {taken} that are not its arguments: a replay would "
                "run them at the captured value; pass each Bound variable in as an argument"
            )
        for launch in capture.launches:
            for name, value in zip(launch.variables, launch.values, strict=True):
                if value != given[name]:
                    raise JitError(
                        f"a kernel of the jitted call ran with variable {name!r} at {value}, not at the argument's "
                        f"{given[name]}: a replay would give it the argument's value"
                    )
        plan = _make_plan(signature, capture, inputs, returned, returns, cleared)
        self.plan = replace(plan, python_state=self._reads(plan.states, inputs), outside_writes=frontend.outside_writes)
        return result

    def _replay(self, inputs: list[TensorCore], variables: dict[str, int]) -> JitResult:
        plan = self.plan
        assert plan is not None
        for tensor, (kind, _), _ in plan.states:
            if kind == "state":
                _detach_other_readers(tensor)
        state_buffers = [buffer_of(view_base(tensor.uop)) for tensor, _, _ in plan.states]
        pools = plan.replay([buffer_of(view_base(tensor.uop)) for tensor in inputs], state_buffers, variables)
        for tensor, (kind, index), shape in plan.states:
            # A state written in place already views its buffer (the view _detach_other_readers gave it).
            if kind != "state":
                tensor.uop = _view_of(pools[kind][index], shape)
        for leaf in plan.cleared_grads:
            leaf.grad = None
        if current_context().debug >= 1:
            print(f"jit: replayed {len(plan.replay.launches)} kernels")
        outputs = [Tensor(_view_of(pools[kind][index], shape)) for (kind, index), shape in plan.outputs]
        if plan.returns == "none":
            return None
        return outputs[0] if plan.returns == "tensor" else tuple(outputs)


def _detach_other_readers(tensor: TensorCore) -> None:
    """Before a replay writes into `tensor`'s buffer in place: graphs other than the tensor's that still read its
    values (a tensor made from it, say) get a copy of them, as an eager write would have left them."""
    if _read_by_tensor_alone(tensor.uop):
        return  # the usual case: the view the last replay gave the tensor, which nothing else took up
    old = view_base(tensor.uop)
    memory, probe = buffer_of(old), weakref.ref(old)
    tensor.uop = _view_of(memory, tensor.shape)
    del old
    other = probe()
    if other is not None:
        attach_buffer(other, Buffer(memory.device, memory.size, memory.dtype).copyin(memory.numpy()))


def _read_by_tensor_alone(view: UOp) -> bool:
    """Whether nothing holds `view` (a tensor's buffer view, a BUFFER or one RESHAPE of it) but the tensor: no graph
    reads it. Counted by references, which is exact in CPython: a graph over it holds it in a source tuple, and
    every table that maps nodes (realized results, device memory, the intern table) holds them weakly. Anything
    else, a longer chain of views say, takes the path that makes a new view and sees whether the old one dies."""
    # References to `view`: the tensor, this parameter, getrefcount's argument.
    if view.op is Ops.BUFFER:
        return sys.getrefcount(view) <= 3
    # And to its BUFFER: the RESHAPE's source tuple, getrefcount's argument.
    if view.op is not Ops.RESHAPE or view.src[0].op is not Ops.BUFFER:
        return False
    return sys.getrefcount(view) <= 3 and sys.getrefcount(view.src[0]) <= 2


def _view_of(buffer: Buffer, shape: tuple[int, ...]) -> UOp:
    node = UOp.new_buffer_view(buffer.device, buffer.size, buffer.dtype, shape)
    attach_buffer(view_base(node), buffer)
    return node


def _assigned(capture: Capture) -> list[tuple[TensorCore, UOp]]:
    """The tensors the captured call assigned, each with the graph it held before the call."""
    assigned: list[tuple[TensorCore, UOp]] = []
    for tensor, before in capture.assigned.values():
        assert isinstance(tensor, TensorCore)
        assigned.append((tensor, before))
    return assigned


def _make_plan(
    signature: Hashable,
    capture: Capture,
    inputs: list[TensorCore],
    returned: list[Tensor],
    returns: Returned,
    cleared: tuple[TensorCore, ...],
) -> _Plan:
    assigned = _assigned(capture)
    for tensor, before in assigned:
        if not is_buffer_view(before):
            raise JitError(
                f"a jitted function assigned a tensor of shape {tensor.shape} whose value was not computed "
                "before the call; realize it before the first call"
            )
    replay, state_slots, output_slots = plan_replay(
        capture,
        [view_base(tensor.uop) for tensor in inputs],
        [(view_base(before), view_base(tensor.uop)) for tensor, before in assigned],
        [view_base(tensor.uop) for tensor in returned],
    )
    states = tuple((tensor, slot, tensor.shape) for (tensor, _), slot in zip(assigned, state_slots, strict=True))
    outputs = tuple((slot, tensor.shape) for tensor, slot in zip(returned, output_slots, strict=True))
    return _Plan(signature, replay, states, outputs, returns, cleared, python_state=[])


def jit(function: Callable[P, R]) -> Jit[P, R]:
    """Capture `function`'s kernels on its second call and replay them on later calls (see the module)."""
    return Jit(function)
