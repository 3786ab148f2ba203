"""Facts two layers that may not import each other rely on, checked where both are visible."""

from __future__ import annotations

from lamina.codegen.dialects import C_DIALECT, READ_GUARD_BYTES
from lamina.device import GUARD_BYTES


def test_the_c_read_guard_is_what_the_cpu_allocator_keeps() -> None:
    # C kernels read up to READ_GUARD_BYTES past a buffer's ends (padded taps, then discarded): the CPU allocator
    # must keep at least that much readable memory there.
    assert C_DIALECT.read_guard_bytes == READ_GUARD_BYTES <= GUARD_BYTES
