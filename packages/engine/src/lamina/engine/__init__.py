"""lamina.engine: running schedules on a device, whatever built them.

`run_schedule` compiles a schedule's kernels (generated code and binaries cached on disk; BEAM
searches their opts when asked), gives every BUFFER node device memory, launches the kernels in
order, frees intermediates after their last use and raises the error of any failed check. A
`Capture` records what runs, and `plan_replay` turns it into a `Replay` of those launches on new
buffers, for any device (as one launch graph where the device has one). `Context` holds the options,
read from the environment once (`context_from_environment`) and passed down: no lower layer reads it.
"""

from lamina.engine.capture import Capture, JitError, Launch, Stateful, active_capture, capturing, refuse_host_transfer
from lamina.engine.context import Context, context_from_environment, current_context, options
from lamina.engine.replay import FreshBuffer, Replay, Slot, plan_replay
from lamina.engine.runtime import (
    CompiledKernel,
    LiveCounts,
    RuntimeStats,
    attach_buffer,
    buffer_of,
    compile_kernels,
    compiler_for,
    kernel_cache,
    kernel_source,
    live_counts,
    lowering_for,
    raise_failed_checks,
    realize_graphs,
    run_schedule,
    stats,
    target_for,
)

__all__ = [
    "Capture",
    "CompiledKernel",
    "Context",
    "FreshBuffer",
    "JitError",
    "Launch",
    "LiveCounts",
    "Replay",
    "RuntimeStats",
    "Slot",
    "Stateful",
    "active_capture",
    "attach_buffer",
    "buffer_of",
    "capturing",
    "compile_kernels",
    "compiler_for",
    "context_from_environment",
    "current_context",
    "kernel_cache",
    "kernel_source",
    "live_counts",
    "lowering_for",
    "options",
    "plan_replay",
    "raise_failed_checks",
    "realize_graphs",
    "refuse_host_transfer",
    "run_schedule",
    "stats",
    "target_for",
]
