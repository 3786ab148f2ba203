"""Gradient clipping with torch's names (torch.nn.utils): clip_grad_norm_ and clip_grad_value_."""

from __future__ import annotations

import math
from collections.abc import Iterable

from lamina.tensor import Tensor, no_grad, realize


def _with_grads(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [param for param in params if param.grad is not None]


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False
) -> Tensor:
    """Scale every gradient by max_norm / total_norm where the norm of all gradients together exceeds max_norm
    (torch's 1e-6 guard included); returns the total norm, computed lazily with the scaled gradients."""
    params = _with_grads(parameters)
    if not params:
        return Tensor(0.0)
    with no_grad():
        grads = [param.grad.detach() for param in params if param.grad is not None]
        if math.isinf(norm_type):
            total = Tensor.stack(*[grad.abs().amax() for grad in grads]).amax()
        else:
            total = Tensor.stack(*[(grad.abs() ** norm_type).sum() for grad in grads]).sum() ** (1.0 / norm_type)
        if error_if_nonfinite and not bool(total.isfinite().item()):
            raise RuntimeError(f"the total norm of order {norm_type} of the gradients is non-finite")
        scale = (max_norm / (total + 1e-6)).minimum(1.0)
        scaled = [grad * scale.cast(grad.dtype) for grad in grads]
        realize(total, *scaled)  # one schedule for the norm and every scaled gradient
        for param, grad in zip(params, scaled, strict=True):
            param.grad = grad
    return total


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient into [-clip_value, clip_value]."""
    with no_grad():
        for param in _with_grads(parameters):
            assert param.grad is not None
            param.grad = param.grad.detach().clip(-clip_value, clip_value).realize()
