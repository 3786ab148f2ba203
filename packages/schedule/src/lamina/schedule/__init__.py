"""lamina.schedule: cuts the lazy tensor graph into kernels.

`create_schedule(targets, device)` finds the realize boundaries (`find_realize_points`), rangeifies
one kernel per boundary (`build_kernel`: movement ops become index arithmetic, simplified by the
rewrite layer) and orders them; each `ScheduleItem` is a kernel AST and the buffers it touches. A
graph whose structure was scheduled before reuses that schedule (`schedule_cache`).
"""

from lamina.schedule.boundaries import find_realize_points, is_buffer_view, view_base
from lamina.schedule.cache import GraphStructure, ScheduleCache, ScheduleTemplate, graph_structure
from lamina.schedule.lowering import CPU_LOWERING, GPU_LOWERING, Lowering, lower_graph
from lamina.schedule.rangeify import KernelBuilder, build_kernel, flat_index
from lamina.schedule.scheduler import Schedule, ScheduleItem, create_schedule, schedule_cache

__all__ = [
    "CPU_LOWERING",
    "GPU_LOWERING",
    "GraphStructure",
    "KernelBuilder",
    "Lowering",
    "Schedule",
    "ScheduleCache",
    "ScheduleItem",
    "ScheduleTemplate",
    "build_kernel",
    "create_schedule",
    "find_realize_points",
    "flat_index",
    "graph_structure",
    "is_buffer_view",
    "lower_graph",
    "schedule_cache",
    "view_base",
]
