"""Optimizers (SGD, Adam, AdamW, RMSprop, Adagrad) with torch's update formulas, applied as one scheduled batch.

`step()` builds every parameter's new value and every piece of optimizer state lazily under
`no_grad`, writes them back with `assign` (the parameter objects stay the same, so models and
other references see the update), and realizes all of them in a single `realize` call: the
scheduler sees the whole update at once and shares the work between tensors.

The learning rate (and SGD's momentum, Adam's first beta) live on the device as 0-d tensors: a learning
rate scheduler changes them every step, and as Python numbers each new value would be a new constant in
the kernels, so a new kernel to compile per step. `param_groups` exposes them under torch's keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableMapping
from typing import Any

import numpy as np

from lamina.dtype import dtypes
from lamina.tensor import Tensor, no_grad, realize


class DeviceScalar:
    """A float hyperparameter held on the device (a realized 0-d float64 tensor) and mirrored in Python."""

    def __init__(self, value: float) -> None:
        self.value = float(value)
        self.tensor = Tensor(np.array(self.value, dtype=np.float64)).realize()

    def set(self, value: float) -> None:
        if float(value) != self.value:
            self.value = float(value)
            # Uploaded, then copied in: one copy kernel serves every value.
            with no_grad():
                self.tensor.assign(Tensor(np.array(self.value, dtype=np.float64))).realize()

    def of(self, like: Tensor) -> Tensor:
        return self.tensor.cast(like.dtype)


class ParamGroup(MutableMapping[str, Any]):
    """torch's `optimizer.param_groups[0]`: "params" and the hyperparameters, written through to the optimizer."""

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer

    def _keys(self) -> list[str]:
        return ["params", *self.optimizer.hyperparameters()]

    def __getitem__(self, key: str) -> Any:
        if key == "params":
            return self.optimizer.params
        if key not in self.optimizer.hyperparameters():
            raise KeyError(key)
        return getattr(self.optimizer, key)

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in self.optimizer.hyperparameters():
            raise KeyError(f"{type(self.optimizer).__name__} has no hyperparameter {key!r}")
        setattr(self.optimizer, key, value)

    def __delitem__(self, key: str) -> None:
        raise TypeError("an optimizer's hyperparameters cannot be deleted")

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())


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
        self._lr = DeviceScalar(lr)
        self.steps = 0
        self.param_groups = [ParamGroup(self)]

    @property
    def lr(self) -> float:
        return self._lr.value

    @lr.setter
    def lr(self, value: float) -> None:
        if value < 0:
            raise ValueError(f"learning rate must be non-negative, got {value}")
        self._lr.set(value)

    def hyperparameters(self) -> tuple[str, ...]:
        """The names param_groups exposes (torch's keys)."""
        return ("lr",)

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
        self._momentum = DeviceScalar(momentum)
        self.nesterov, self.weight_decay = nesterov, weight_decay
        # A zero buffer makes torch's first step (buffer = grad) the ordinary rule: momentum * 0 + grad.
        self.buffers = [_zeros_like(param) for param in self.params] if momentum else []

    @property
    def momentum(self) -> float:
        return self._momentum.value

    @momentum.setter
    def momentum(self, value: float) -> None:
        if not self.buffers and value:
            raise ValueError("an SGD made without momentum cannot take one later")
        self._momentum.set(value)

    def hyperparameters(self) -> tuple[str, ...]:
        return ("lr", "momentum", "nesterov", "weight_decay")

    def _update(self, index: int, param: Tensor, grad: Tensor) -> list[Tensor]:
        if self.weight_decay:
            grad = grad + param * self.weight_decay
        state: list[Tensor] = []
        if self.buffers:
            momentum = self._momentum.of(param)
            buffer = self.buffers[index].assign(self.buffers[index] * momentum + grad)
            grad = grad + buffer * momentum if self.nesterov else buffer
            state.append(buffer)
        param.assign(param - grad * self._lr.of(param))
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
        self._beta1 = DeviceScalar(betas[0])
        self.beta2, self.eps, self.weight_decay = betas[1], eps, weight_decay
        self.exp_avg = [_zeros_like(param) for param in self.params]
        self.exp_avg_sq = [_zeros_like(param) for param in self.params]
        # beta**step lives on the device: as a Python number it would be a new constant, and so a
        # new kernel to compile, on every step.
        self.beta1_power = Tensor.full((), 1.0, dtype=dtypes.float64).realize()
        self.beta2_power = Tensor.full((), 1.0, dtype=dtypes.float64).realize()

    @property
    def betas(self) -> tuple[float, float]:
        return self._beta1.value, self.beta2

    @betas.setter
    def betas(self, value: tuple[float, float]) -> None:
        self._beta1.set(value[0])
        self.beta2 = value[1]

    def hyperparameters(self) -> tuple[str, ...]:
        return ("lr", "betas", "eps", "weight_decay")

    def _advance(self) -> list[Tensor]:
        beta1 = self._beta1.tensor
        return [
            self.beta1_power.assign(self.beta1_power * beta1),
            self.beta2_power.assign(self.beta2_power * self.beta2),
        ]

    def _update(self, index: int, param: Tensor, grad: Tensor) -> list[Tensor]:
        beta1, beta2 = self._beta1.of(param), self.beta2
        lr = self._lr.of(param)
        if self.weight_decay and self.decoupled:
            param.assign(param * (1 - lr * self.weight_decay))
        elif self.weight_decay:
            grad = grad + param * self.weight_decay
        exp_avg = self.exp_avg[index].assign(self.exp_avg[index] * beta1 + grad * (1 - beta1))
        exp_avg_sq = self.exp_avg_sq[index].assign(self.exp_avg_sq[index] * beta2 + grad * grad * (1 - beta2))
        # torch's order of operations: step = lr / bc1, denom = sqrt(v) / sqrt(bc2) + eps.
        step_size = (self._lr.tensor / (1 - self.beta1_power)).cast(param.dtype)
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


class RMSprop(Optimizer):
    """RMSprop with torch's formula: a running mean of squared gradients (centered: minus the squared mean),
    optional momentum and L2 decay."""

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        super().__init__(params, lr)
        if not alpha >= 0.0:
            raise ValueError(f"RMSprop alpha must be non-negative, got {alpha}")
        self.alpha, self.eps, self.weight_decay, self.momentum, self.centered = (
            alpha,
            eps,
            weight_decay,
            momentum,
            centered,
        )
        self.square_avg = [_zeros_like(param) for param in self.params]
        self.grad_avg = [_zeros_like(param) for param in self.params] if centered else []
        self.momentum_buffer = [_zeros_like(param) for param in self.params] if momentum else []

    def hyperparameters(self) -> tuple[str, ...]:
        return ("lr", "alpha", "eps", "weight_decay", "momentum", "centered")

    def _update(self, index: int, param: Tensor, grad: Tensor) -> list[Tensor]:
        if self.weight_decay:
            grad = grad + param * self.weight_decay
        square_avg = self.square_avg[index].assign(self.square_avg[index] * self.alpha + grad * grad * (1 - self.alpha))
        state = [square_avg]
        if self.centered:
            grad_avg = self.grad_avg[index].assign(self.grad_avg[index] * self.alpha + grad * (1 - self.alpha))
            state.append(grad_avg)
            average = (square_avg - grad_avg * grad_avg).sqrt() + self.eps
        else:
            average = square_avg.sqrt() + self.eps
        lr = self._lr.of(param)
        if self.momentum:
            buffer = self.momentum_buffer[index].assign(self.momentum_buffer[index] * self.momentum + grad / average)
            state.append(buffer)
            param.assign(param - buffer * lr)
        else:
            param.assign(param - grad / average * lr)
        return state


class Adagrad(Optimizer):
    """Adagrad with torch's formula: the sum of squared gradients scales each step; lr decays as
    lr / (1 + (step - 1) * lr_decay)."""

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ) -> None:
        super().__init__(params, lr)
        self.lr_decay, self.weight_decay, self.eps = lr_decay, weight_decay, eps
        self.sum = [
            Tensor.full(param.shape, initial_accumulator_value, dtype=param.dtype, device=param.device).realize()
            for param in self.params
        ]
        self.step_count = Tensor.full((), 0.0, dtype=dtypes.float64).realize()

    def hyperparameters(self) -> tuple[str, ...]:
        return ("lr", "lr_decay", "weight_decay", "eps")

    def _advance(self) -> list[Tensor]:
        return [self.step_count.assign(self.step_count + 1)]

    def _update(self, index: int, param: Tensor, grad: Tensor) -> list[Tensor]:
        if self.weight_decay:
            grad = grad + param * self.weight_decay
        decayed = (self._lr.tensor / (1 + (self.step_count - 1) * self.lr_decay)).cast(param.dtype)
        total = self.sum[index].assign(self.sum[index] + grad * grad)
        param.assign(param - grad / (total.sqrt() + self.eps) * decayed)
        return [total]
