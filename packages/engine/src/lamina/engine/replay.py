"""Replaying captured kernel launches on new buffers: the engine's half of the JIT, for any device.

A `Capture` lists launches over BUFFER nodes. `plan_replay` gives each buffer a role, as a slot: an
argument's buffer (`input`), the buffer an assigned value held before the call (`state`), a buffer
made anew on every replay (`fresh`: an assigned value's next value, a returned value), or one reused
as it is (`fixed`: intermediates, constants, check verdicts). A `Replay` runs the launches on the
buffers now in those roles, as one launch graph where the device offers one (the CPU's
`NativeGraph`), and raises the error of any failed check before anything moves on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lamina.device import Buffer, Device, Launcher, LaunchGraph
from lamina.dtype import DType
from lamina.engine.capture import Capture
from lamina.engine.runtime import buffer_of, compiler_for, kernel_cache, raise_failed_checks, stats
from lamina.uop import Check, UOp

Slot = tuple[str, int]
"""A buffer's role in a replay: ("input", i), ("state", i), ("fresh", i) or ("fixed", i)."""


@dataclass(frozen=True, slots=True)
class FreshBuffer:
    """A buffer made anew on every replay."""

    device: str
    size: int
    dtype: DType


@dataclass(frozen=True, slots=True)
class _GraphLaunches:
    """The launches as one launch graph, and which entries of its argument table change from call to call."""

    graph: LaunchGraph
    positions: npt.NDArray[np.intp]  # entries of the table holding a non-fixed buffer
    slots: tuple[Slot, ...]  # the buffer each such entry holds
    names: tuple[str, ...]  # the variable of each entry of the int table, in order


@dataclass(frozen=True, slots=True)
class Replay:
    """Captured launches with their buffers as slots; calling it runs them on the buffers now in each role."""

    launches: tuple[tuple[Launcher, tuple[Slot, ...]], ...]
    variables: tuple[tuple[str, ...], ...]  # per launch, the names of the variables it takes
    fixed: tuple[Buffer, ...]
    fresh: tuple[FreshBuffer, ...]
    checks: tuple[tuple[Buffer, Check], ...]  # verdict buffers (fixed: kernels rewrite them), read after each run
    graph: _GraphLaunches | None
    # The BUFFER node of each fixed buffer: a tensor given a new value outside the function no longer holds it,
    # which is how the JIT tells that a replay would read stale data (see lamina.tensor.state.replaced).
    fixed_nodes: tuple[UOp, ...] = ()
    # The buffers the launches write that outlive the run (inputs and states written in place, fresh results): their
    # write stamps move on, as a launch outside a replay moves them (see lamina.device's Buffer.written_at).
    written: tuple[Slot, ...] = ()

    def __call__(
        self, inputs: Sequence[Buffer], states: Sequence[Buffer], variables: Mapping[str, int] | None = None
    ) -> dict[str, list[Buffer]]:
        """Run every launch, each variable at its value in `variables`; return the buffers of each role (the fresh
        ones made for this run)."""
        values = variables or {}
        missing = sorted({name for names in self.variables for name in names if name not in values})
        if missing:
            raise KeyError(f"the replayed kernels take variables {missing}, which were given no value")
        pools = {
            "input": list(inputs),
            "state": list(states),
            "fresh": [Buffer(each.device, each.size, each.dtype) for each in self.fresh],
            "fixed": list(self.fixed),
        }
        if self.graph is not None:
            addresses = [pools[kind][index].address for kind, index in self.graph.slots]
            self.graph.graph.arguments[self.graph.positions] = addresses
            if self.graph.names:
                self.graph.graph.integers[: len(self.graph.names)] = [values[name] for name in self.graph.names]
            self.graph.graph()
        else:
            for (launcher, slots), names in zip(self.launches, self.variables, strict=True):
                launcher(*(pools[kind][index] for kind, index in slots), ints=[values[name] for name in names])
        for kind, index in self.written:
            pools[kind][index].mark_written()
        stats.kernels_run += len(self.launches)
        raise_failed_checks(self.checks)
        return pools


def plan_replay(
    capture: Capture, inputs: Sequence[UOp], states: Sequence[tuple[UOp, UOp]], outputs: Sequence[UOp]
) -> tuple[Replay, list[Slot], list[Slot]]:
    """The replay of `capture` and the slots of each state's next value and of each output.

    `inputs` are the arguments' BUFFER nodes; `states` the (before, after) BUFFER nodes of each value the
    function assigned, where after is before when the value was written in place; `outputs` the BUFFER
    nodes of the values it returned.
    """
    roles: dict[UOp, Slot] = {}
    for position, node in enumerate(inputs):
        roles.setdefault(node, ("input", position))
    for position, (before, _) in enumerate(states):
        roles.setdefault(before, ("state", position))
    written = {launch.nodes[0] for launch in capture.launches}
    fresh: list[FreshBuffer] = []
    fixed: list[Buffer] = []
    fixed_nodes: list[UOp] = []

    def result_slot(node: UOp) -> Slot:
        """Where a result lives: a fresh buffer per replay if a kernel wrote it; else an input or state buffer
        (a function may return its input) or a buffer made before the call, which replays hand back as is."""
        role = roles.get(node)
        if role is not None and (role[0] != "state" or node not in written):
            return role
        if node in written:
            roles[node] = ("fresh", len(fresh))
            fresh.append(FreshBuffer(node.buffer.device, node.buffer.size, node.scalar_dtype))
        else:
            roles[node] = ("fixed", len(fixed))
            fixed.append(buffer_of(node))
            fixed_nodes.append(node)
        return roles[node]

    # Written in place (item assignment): the state keeps its buffer, which the replay writes into.
    state_slots = [roles[after] if after is before else result_slot(after) for before, after in states]
    output_slots = [result_slot(node) for node in outputs]
    launches: list[tuple[Launcher, tuple[Slot, ...]]] = []
    for launch in capture.launches:
        slots: list[Slot] = []
        for node, buffer in zip(launch.nodes, launch.buffers, strict=True):
            role = roles.get(node)
            if role is None:
                role = roles[node] = ("fixed", len(fixed))
                fixed.append(buffer)
                fixed_nodes.append(node)
            slots.append(role)
        launches.append((launch.launcher, tuple(slots)))
    devices = {buffer.device for launch in capture.launches for buffer in launch.buffers}
    variables = tuple(launch.variables for launch in capture.launches)
    graph = _launch_graph(devices.pop(), launches, variables, fixed) if len(devices) == 1 else None
    written_slots = tuple(dict.fromkeys(slots[0] for _, slots in launches if slots[0][0] != "fixed"))
    replay = Replay(
        tuple(launches),
        variables,
        tuple(fixed),
        tuple(fresh),
        tuple(capture.checks),
        graph,
        tuple(fixed_nodes),
        written_slots,
    )
    return replay, state_slots, output_slots


def _launch_graph(
    device: str,
    launches: Sequence[tuple[Launcher, tuple[Slot, ...]]],
    variables: Sequence[tuple[str, ...]],
    fixed: Sequence[Buffer],
) -> _GraphLaunches | None:
    """The launches as one launch graph of `device`, with the fixed buffers' addresses filled in; None where the
    device has none or its graph does not take these launchers."""
    make_graph = Device.get(device).graph
    if make_graph is None or not launches:
        return None
    graph = make_graph([launcher for launcher, _ in launches], compiler_for(device), kernel_cache())
    if graph is None:
        return None
    positions: list[int] = []
    slots: list[Slot] = []
    entry = 0
    for _, launch_slots in launches:
        for kind, index in launch_slots:
            if kind == "fixed":
                graph.arguments[entry] = fixed[index].address
            else:
                positions.append(entry)
                slots.append((kind, index))
            entry += 1
    names = tuple(name for launch_names in variables for name in launch_names)
    return _GraphLaunches(graph, np.array(positions, dtype=np.intp), tuple(slots), names)
