"""Reusing copies of unchanged buffers: a kernel that only copies a buffer into an intermediate runs once per
contents of that buffer, not once per schedule.

A CPU's matmul reads a large B through a copy of it in panels (lamina.schedule's `panels.py`), and a model's
weights are the B of every forward pass: without reuse, inference copied each weight matrix on every call (a
fifth of GPT-2's prefill, 0.6 ms of a 1024³ matmul's 9). The copy is kept and handed to the next schedule that
makes it, on three proofs:

- the kernel only copies (each STORE writes a LOAD), from one buffer, with no variables: its output is a function
  of that buffer's contents alone;
- its output is an intermediate of the schedule that no later kernel writes (the kept copy is only ever read);
- the buffer's write stamp (lamina.device's `Buffer.written_at`) is the one it had when the copy was made: every
  kernel launch, replay and `copyin` moves the stamp of what it writes.

A capture (the JIT) records every launch instead, so a replay copies the buffers it runs on. Kept copies are held
to a budget of bytes (`LAMINA_COPY_CACHE_MB`), least recently used dropped first, and dropped with their source.
"""

from __future__ import annotations

import weakref
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from lamina.device import Buffer
from lamina.uop import Ops, UOp

MIN_KEPT_BYTES: Final = 1 << 16
"""Copies smaller than this are made again: they cost microseconds, less than holding them is worth."""


def copies_one_buffer(ast: UOp, buffer_count: int, variable_count: int) -> bool:
    """Whether the kernel `ast` (over `buffer_count` buffers, taking `variable_count` ints) only copies its one input
    buffer into its output."""
    if buffer_count != 2 or variable_count:
        return False
    return all(store.op is Ops.STORE and store.src[1].op is Ops.LOAD for store in ast.src)


def reusable_outputs(outputs: Sequence[UOp], frees: Sequence[Sequence[UOp]]) -> set[UOp]:
    """The outputs of a schedule's kernels (`outputs[i]` written by kernel i) that are intermediates (freed after
    their last use, not results) written by that one kernel only."""
    writes = Counter(outputs)
    return {node for each in frees for node in each if writes[node] == 1}


@dataclass(frozen=True, slots=True)
class _Kept:
    source: weakref.ref[Buffer]
    written_at: int  # the source's write stamp when the copy was made
    copy: Buffer


class CopyCache:
    """Copies kept by (source buffer, kernel), least recently used first."""

    def __init__(self) -> None:
        self._kept: OrderedDict[tuple[int, UOp], _Kept] = OrderedDict()
        self.kept_bytes = 0
        self.reused = 0  # copies not made again, in this process

    def __len__(self) -> int:
        return len(self._kept)

    def find(self, source: Buffer, ast: UOp) -> Buffer | None:
        """The copy `ast` made of `source`'s current contents, if it is kept."""
        key = (id(source), ast)
        kept = self._kept.get(key)
        if kept is None or kept.source() is not source or kept.written_at != source.written_at:
            return None
        self._kept.move_to_end(key)
        self.reused += 1
        return kept.copy

    def keep(self, source: Buffer, ast: UOp, copy: Buffer, written_at: int, budget_bytes: int) -> None:
        """Hold `copy`, which `ast` made of `source` when its write stamp was `written_at`, within `budget_bytes`."""
        if copy.nbytes < MIN_KEPT_BYTES or copy.nbytes > budget_bytes:
            return
        key = (id(source), ast)
        self._drop(key)
        self._kept[key] = _Kept(weakref.ref(source, self._dropper(key)), written_at, copy)
        self.kept_bytes += copy.nbytes
        while self.kept_bytes > budget_bytes:
            self._drop(next(iter(self._kept)))

    def clear(self) -> None:
        self._kept.clear()
        self.kept_bytes = 0

    def _dropper(self, key: tuple[int, UOp]) -> Callable[[weakref.ref[Buffer]], None]:
        """The callback that drops `key`'s copy when its source is collected."""
        return lambda _: self._drop(key)

    def _drop(self, key: tuple[int, UOp]) -> None:
        kept = self._kept.pop(key, None)
        if kept is not None:
            self.kept_bytes -= kept.copy.nbytes
