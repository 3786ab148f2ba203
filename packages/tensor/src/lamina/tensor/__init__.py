"""lamina.tensor: the lazy, PyTorch-like `Tensor`, realize, and the pipeline options.

Operations build UOp graphs; `realize()` (or `numpy()`, `item()`, `tolist()`) schedules them into
kernels, generates and compiles C, and runs it. `no_grad()` turns autograd recording off.
"""

from lamina.tensor.context import Context, context_from_environment, current_context, options
from lamina.tensor.core import no_grad, realize
from lamina.tensor.runtime import stats
from lamina.tensor.tensor import Tensor

__all__ = ["Context", "Tensor", "context_from_environment", "current_context", "no_grad", "options", "realize", "stats"]
