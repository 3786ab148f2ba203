"""Capturing what a function runs: the kernel launches, and the values it assigns, for the JIT.

While a `Capture` is active, the runtime appends every kernel launch (the program, its buffers and
their BUFFER nodes) and every check's verdict buffer, `assign` notes the value each tensor held
before the function first assigned it, and whatever would turn a device value into a Python one (or
Python data into a device buffer) raises `JitError`: a replay runs no Python, so such a value would
be frozen at its captured value.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from lamina.device import Buffer, Launcher
from lamina.uop import Check, UOp


class Stateful(Protocol):
    """What a capture notes of a value the function assigns (a tensor): its graph, which assignment replaces."""

    uop: UOp


class JitError(RuntimeError):
    """A jitted function did something a replay of its kernels could not reproduce."""


@dataclass(frozen=True, slots=True)
class Launch:
    """One kernel call: the program, the buffers it ran on, the BUFFER nodes they belonged to, and the names of the
    variables it took (a replay passes each the value it is given then)."""

    launcher: Launcher
    buffers: tuple[Buffer, ...]
    nodes: tuple[UOp, ...]
    variables: tuple[str, ...] = ()
    values: tuple[int, ...] = ()  # the value each variable had in this call


@dataclass
class Capture:
    """What one call of a function ran; `assigned` maps id(tensor) to the tensor and its value before."""

    launches: list[Launch] = field(default_factory=list)
    assigned: dict[int, tuple[Stateful, UOp]] = field(default_factory=dict)
    # The verdict buffers of the checks the kernels computed: a replay reads them again.
    checks: list[tuple[Buffer, Check]] = field(default_factory=list)


_active: list[Capture] = []


def active_capture() -> Capture | None:
    """The capture in progress, if any."""
    return _active[-1] if _active else None


@contextmanager
def capturing() -> Iterator[Capture]:
    """Record what runs inside the block."""
    capture = Capture()
    _active.append(capture)
    try:
        yield capture
    finally:
        _active.pop()


def refuse_host_transfer(what: str) -> None:
    """Raise JitError when a capture is in progress: `what` moves data between Python and the device."""
    if _active:
        raise JitError(
            f"{what} inside a jitted function: a replay runs only the captured kernels, so the value would be "
            "frozen at the captured call; pass such data in as a Tensor argument and read results after the call"
        )
