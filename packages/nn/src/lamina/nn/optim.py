"""Optimizers (SGD, Adam, AdamW) with torch's update formulas, applied as one scheduled batch.

`step()` builds every parameter's new value and every piece of optimizer state lazily under
`no_grad`, writes them back with `assign` (the parameter objects stay the same, so models and
other references see the update), and realizes all of them in a single `realize` call: the
scheduler sees the whole update at once and shares the work between tensors.
"""

from __future__ import annotations

from collections.abc import Iterable

from lamina.dtype import dtypes
from lamina.tensor import Tensor, no_grad, realize


class Optimizer:
    """Holds the parameters and their state; subclasses define `_update` for one parameter."""

    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        self.params: list[Tensor] = []
        for param in params:
            if not any(param is known for known in self.params):
                self.params.append(param)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        if lr < 0:
            raise ValueError(f"learning rate must be non-negative, got {lr}")
        for param in self.params:
            if not param.dtype.is_float:
                raise TypeError(f"only floating point tensors can be optimized, got {param.dtype}")
            if not param.requires_grad:
                param.requires_grad = True
        self.lr = lr
        self.steps = 0

    def zero_grad(self) -> None:
        """Forget every parameter's gradient."""
        for param in self.params:
            param.grad = None

    def step(self) -> None:
        """Apply one update to every parameter that has a gradient."""
        self.steps += 1
        updated: list[Tensor] = []
        with no_grad():
            updated.extend(self._advance())
            for index, param in enumerate(self.params):
                if param.grad is None:
                    continue
                state = self._update(index, param, param.grad.detach().cast(param.dtype))
                updated.append(param)
                updated.extend(state)
            realize(*updated)

    def _advance(self) -> list[Tensor]:
        """Assign the per-step state shared by all parameters; return the tensors assigned."""
        return []

    def _update(self, index: int, param: Tensor, grad: Tensor) -> list[Tensor]:
        """Assign param's new value; return the state tensors that were assigned too."""
        raise NotImplementedError


def _zeros_like(param: Tensor) -> Tensor:
    return Tensor.zeros(param.shape, dtype=param.dtype, device=param.device)


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (torch's form, dampening 0), Nesterov and L2 decay."""

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        if nesterov and momentum <= 0:
            raise ValueError("Nesterov momentum needs momentum > 0")
        self.momentum, self.nesterov, self.weight_decay = momentum, nesterov, weight_decay
        # A zero buffer makes torch's first step (buffer = grad) the ordinary rule: momentum * 0 + grad.
        self.buffers = [_zeros_like(param) for param in self.params] if momentum else []

    def _update(self, index: int, param: Tensor, grad: Tensor) -> list[Tensor]:
        if self.weight_decay:
            grad = grad + param * self.weight_decay
        state: list[Tensor] = []
        if self.momentum:
            buffer = self.buffers[index].assign(self.buffers[index] * self.momentum + grad)
            grad = grad + buffer * self.momentum if self.nesterov else buffer
            state.append(buffer)
        param.assign(param - grad * self.lr)
        return state


class Adam(Optimizer):
    """Adam (Kingma & Ba) with torch's bias correction; weight_decay adds L2 to the gradient."""

    decoupled = False

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"Adam betas must be in [0, 1), got {betas}")
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay
        self.exp_avg = [_zeros_like(param) for param in self.params]
        self.exp_avg_sq = [_zeros_like(param) for param in self.params]
        # beta**step lives on the device: as a Python number it would be a new constant, and so a
        # new kernel to compile, on every step.
        self.beta1_power = Tensor.full((), 1.0, dtype=dtypes.float64).realize()
        self.beta2_power = Tensor.full((), 1.0, dtype=dtypes.float64).realize()

    def _advance(self) -> list[Tensor]:
        beta1, beta2 = self.betas
        return [self.beta1_power.assign(self.beta1_power * beta1), self.beta2_power.assign(self.beta2_power * beta2)]

    def _update(self, index: int, param: Tensor, grad: Tensor) -> list[Tensor]:
        beta1, beta2 = self.betas
        if self.weight_decay and self.decoupled:
            param.assign(param * (1 - self.lr * self.weight_decay))
        elif self.weight_decay:
            grad = grad + param * self.weight_decay
        exp_avg = self.exp_avg[index].assign(self.exp_avg[index] * beta1 + grad * (1 - beta1))
        exp_avg_sq = self.exp_avg_sq[index].assign(self.exp_avg_sq[index] * beta2 + grad * grad * (1 - beta2))
        # torch's order of operations: step = lr / bc1, denom = sqrt(v) / sqrt(bc2) + eps.
        step_size = (self.lr / (1 - self.beta1_power)).cast(param.dtype)
        correction2_sqrt = (1 - self.beta2_power).sqrt().cast(param.dtype)
        denominator = exp_avg_sq.sqrt() / correction2_sqrt + self.eps
        param.assign(param - exp_avg / denominator * step_size)
        return [exp_avg, exp_avg_sq]


class AdamW(Adam):
    """Adam with decoupled weight decay: the parameter shrinks by lr * weight_decay before the Adam step."""

    decoupled = True

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)
