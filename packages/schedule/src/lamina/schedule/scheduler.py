"""The scheduler: from the lazy graphs to be realized, an ordered list of kernels over buffers.

`create_schedule` finds the realize boundaries, gives each boundary a fresh BUFFER, rangeifies one
kernel per boundary and orders the kernels so each runs after the kernels it reads from. It
returns which buffer view each target became, and when each intermediate buffer is last used so
its memory can go back as soon as nothing needs it. A graph whose structure was scheduled before
reuses that schedule's kernels with its own buffers (see `cache.py`).

The graph is first lowered (`lowering.py`): a CHECK never reaches a kernel (each is replaced by the
value it guards, and its verdict is scheduled as one more target, listed in `Schedule.checks` for the
engine to read after the run), and long float sums are computed in blocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from lamina.dtype import DType
from lamina.schedule.boundaries import find_realize_points, is_buffer_view, view_base
from lamina.schedule.cache import GraphStructure, ScheduleCache, ScheduleTemplate, graph_structure
from lamina.schedule.lowering import CPU_LOWERING, Lowering, lower_graph
from lamina.schedule.rangeify import build_kernel
from lamina.shape import prod
from lamina.uop import Check, Ops, UOp, toposort


@dataclass(frozen=True, slots=True)
class ScheduleItem:
    """One kernel: its AST (a SINK) and its BUFFERs in parameter order; `buffers[0]` is written."""

    ast: UOp
    buffers: tuple[UOp, ...]

    @property
    def output(self) -> UOp:
        return self.buffers[0]


@dataclass(frozen=True, slots=True)
class Schedule:
    """Kernels in run order, the buffer view each target became, and what to free after each kernel."""

    items: tuple[ScheduleItem, ...]
    results: dict[UOp, UOp]
    # frees[i]: intermediate buffers no kernel after item i reads (and no target became).
    frees: tuple[tuple[UOp, ...], ...]
    # Each CHECK's verdict (a one-element int64 buffer view) and what it checked: read them after the run.
    checks: tuple[tuple[UOp, Check], ...] = ()
    # The value of each variable the kernels take (their DEFINE_VARs, by name), bound in the graph by a BIND.
    variables: dict[str, int] = field(default_factory=dict)


def _plan_frees(items: Sequence[ScheduleItem], made_here: set[UOp], keep: set[UOp]) -> tuple[tuple[UOp, ...], ...]:
    last_use: dict[UOp, int] = {}
    for position, item in enumerate(items):
        for buffer in item.buffers:
            last_use[buffer] = position
    frees: list[list[UOp]] = [[] for _ in items]
    for buffer, position in last_use.items():
        if buffer in made_here and buffer not in keep:
            frees[position].append(buffer)
    return tuple(tuple(each) for each in frees)


schedule_cache = ScheduleCache()


def create_schedule(targets: Sequence[UOp], device: str, lowering: Lowering = CPU_LOWERING) -> Schedule:
    """The kernels that compute `targets` on `device`, long reductions lowered as `lowering` says (the device's
    wish, see lowering.py); all their buffers must already be on `device`."""
    structure = graph_structure(targets, device, lowering)
    template = schedule_cache.get(structure)
    if template is not None:
        return _instantiate(template, structure, targets, device)
    schedule = replace(_schedule(targets, device, lowering), variables=structure.variables)
    schedule_cache.put(structure, _template(schedule, structure, targets))
    return schedule


def _schedule(targets: Sequence[UOp], device: str, lowering: Lowering) -> Schedule:
    checks = [node for node in toposort(targets, stop=is_buffer_view) if node.op is Ops.CHECK]
    verdicts = list(dict.fromkeys(check.src[1] for check in checks))
    roots = [*targets, *verdicts]
    lowered = lower_graph(roots, lowering)
    schedule = _schedule_plain(lowered, device)
    view_of = dict(zip(roots, (schedule.results[node] for node in lowered), strict=True))
    return Schedule(
        schedule.items,
        {target: view_of[target] for target in targets},
        schedule.frees,
        tuple((view_of[check.src[1]], check.arg) for check in checks),
    )


def _written_view(node: UOp) -> bool:
    """A reshape of a WRITE: a view of the buffer the WRITE writes into, so realizing it copies nothing."""
    return node.op is Ops.RESHAPE and view_base(node).op is Ops.WRITE


def _schedule_plain(targets: Sequence[UOp], device: str) -> Schedule:
    graph = toposort(targets, stop=is_buffer_view)
    points = {node for node in find_realize_points(targets) if not _written_view(node)}
    buffer_of: dict[UOp, UOp] = {node: node for node in graph if node.op is Ops.BUFFER}
    for node in graph:
        if node.op is Ops.WRITE:
            # In place: into the target's own buffer (a BUFFER the graph has, or the copy a CONTIGUOUS made).
            buffer_of[node] = buffer_of[node.src[0]]
        elif node in points:
            buffer_of[node] = UOp.new_buffer(device, prod(node.shape), node.scalar_dtype)
    # A value with no elements needs a buffer (of size 0) but no kernel: there is nothing to compute.
    computed = [node for node in graph if node in points and prod(node.shape) > 0]
    items = [ScheduleItem(*build_kernel(node, buffer_of[node], buffer_of)) for node in computed]
    results = {target: _result_view(target, buffer_of) for target in targets}
    keep = {view_base(view) for view in results.values()}
    # A WRITE into a BUFFER the graph had writes a tensor's own storage, which this schedule did not make.
    made = {buffer_of[node] for node in points if node.op is not Ops.WRITE}
    return Schedule(tuple(items), results, _plan_frees(items, made, keep))


def _result_view(target: UOp, buffer_of: dict[UOp, UOp]) -> UOp:
    if is_buffer_view(target):
        return target
    return buffer_of[view_base(target) if _written_view(target) else target].reshape(target.shape)


def _template(schedule: Schedule, structure: GraphStructure, targets: Sequence[UOp]) -> ScheduleTemplate:
    slot_of = {buffer: slot for slot, buffer in enumerate(structure.buffers)}
    made: list[tuple[int, DType]] = []

    def slot(buffer: UOp) -> int:
        if buffer not in slot_of:
            slot_of[buffer] = len(slot_of)
            made.append((buffer.buffer.size, buffer.scalar_dtype))
        return slot_of[buffer]

    kernels = tuple((item.ast, tuple(slot(buffer) for buffer in item.buffers)) for item in schedule.items)
    results: list[tuple[int, tuple[int, ...]] | None] = []
    for target in targets:
        view = schedule.results[target]
        results.append(None if view is target else (slot(view_base(view)), view.shape))
    frees = tuple(tuple(slot_of[buffer] for buffer in each) for each in schedule.frees)
    checks = tuple((slot(view_base(view)), check) for view, check in schedule.checks)
    return ScheduleTemplate(kernels, tuple(made), tuple(results), frees, checks)


def _instantiate(
    template: ScheduleTemplate, structure: GraphStructure, targets: Sequence[UOp], device: str
) -> Schedule:
    buffers = [*structure.buffers, *(UOp.new_buffer(device, size, dtype) for size, dtype in template.made)]
    items = tuple(ScheduleItem(ast, tuple(buffers[slot] for slot in slots)) for ast, slots in template.kernels)
    results = {
        target: target if result is None else buffers[result[0]].view_as(result[1])
        for target, result in zip(targets, template.results, strict=True)
    }
    frees = tuple(tuple(buffers[slot] for slot in each) for each in template.frees)
    checks = tuple((buffers[slot], check) for slot, check in template.checks)
    return Schedule(items, results, frees, checks, structure.variables)
