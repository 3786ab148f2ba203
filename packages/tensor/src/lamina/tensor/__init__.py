"""lamina.tensor: the lazy, PyTorch-like `Tensor`, realize, and the pipeline options.

Operations build UOp graphs; `realize()` (or `numpy()`, `item()`, `tolist()`) schedules them into
kernels, generates and compiles C, and runs it. `no_grad()` turns autograd recording off; `@jit`
replays a function's captured kernels without running its Python.
"""

from lamina.engine.capture import JitError
from lamina.engine.context import Context, context_from_environment, current_context, options
from lamina.engine.runtime import LiveCounts, live_counts, stats
from lamina.tensor.core import no_grad, realize
from lamina.tensor.einsum import einsum, meshgrid
from lamina.tensor.jit import Jit, jit
from lamina.tensor.tensor import Tensor, where
from lamina.tensor.variable import Bound, Variable

__all__ = [
    "Bound",
    "Context",
    "Jit",
    "JitError",
    "LiveCounts",
    "Tensor",
    "Variable",
    "context_from_environment",
    "current_context",
    "einsum",
    "jit",
    "live_counts",
    "meshgrid",
    "no_grad",
    "options",
    "realize",
    "stats",
    "where",
]
