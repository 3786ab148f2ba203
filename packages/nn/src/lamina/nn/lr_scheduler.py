"""Learning rate schedulers with torch's names and formulas: StepLR, MultiStepLR, ExponentialLR, LambdaLR,
CosineAnnealingLR, OneCycleLR.

Each sets `optimizer.lr` (a device scalar, so a new rate compiles nothing) from the number of `step()`
calls so far, computed in closed form rather than torch's recursive updates (the same values, up to the
last bit of CosineAnnealingLR's). OneCycleLR also cycles the momentum (SGD's momentum, Adam's first beta)
when the optimizer has one, as torch's does by default.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from lamina.nn.optim import Optimizer


class LRScheduler:
    """Counts steps (`last_epoch`, torch's name) and sets the optimizer's learning rate for each."""

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_epoch = 0
        self._apply()

    def rate(self, step: int) -> float:
        raise NotImplementedError

    def _apply(self) -> None:
        self.optimizer.lr = self.rate(self.last_epoch)

    def step(self) -> None:
        self.last_epoch += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        return [self.optimizer.lr]


class StepLR(LRScheduler):
    """lr * gamma ** (step // step_size)."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        if step_size <= 0:
            raise ValueError(f"StepLR needs a positive step_size, got {step_size}")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer)

    def rate(self, step: int) -> float:
        return self.base_lr * self.gamma ** (step // self.step_size)


class MultiStepLR(LRScheduler):
    """lr * gamma ** (the milestones passed)."""

    def __init__(self, optimizer: Optimizer, milestones: Sequence[int], gamma: float = 0.1) -> None:
        self.milestones, self.gamma = sorted(milestones), gamma
        super().__init__(optimizer)

    def rate(self, step: int) -> float:
        return self.base_lr * self.gamma ** sum(1 for milestone in self.milestones if step >= milestone)


class ExponentialLR(LRScheduler):
    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        self.gamma = gamma
        super().__init__(optimizer)

    def rate(self, step: int) -> float:
        return self.base_lr * self.gamma**step


class LambdaLR(LRScheduler):
    """lr * lr_lambda(step)."""

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float]) -> None:
        self.lr_lambda = lr_lambda
        super().__init__(optimizer)

    def rate(self, step: int) -> float:
        return self.base_lr * self.lr_lambda(step)


class CosineAnnealingLR(LRScheduler):
    """eta_min + (lr - eta_min) * (1 + cos(pi * step / T_max)) / 2, continuing past T_max as torch's does."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:  # noqa: N803 - torch's name
        if T_max <= 0:
            raise ValueError(f"CosineAnnealingLR needs a positive T_max, got {T_max}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer)

    def rate(self, step: int) -> float:
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * step / self.T_max)) / 2


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin): the rate rises from max_lr / div_factor to max_lr over pct_start of
    the steps, then falls to initial / final_div_factor (three_phase: back to the initial rate first), by
    cosine or linear annealing; the momentum moves the opposite way between max_momentum and base_momentum."""

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float,
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float = 0.85,
        max_momentum: float = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
    ) -> None:
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError("OneCycleLR needs total_steps, or epochs and steps_per_epoch")
            total_steps = epochs * steps_per_epoch
        if total_steps <= 0 or not 0 < pct_start < 1:
            raise ValueError(f"OneCycleLR needs total_steps > 0 and 0 < pct_start < 1, got {total_steps}, {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.total_steps, self.anneal_strategy = total_steps, anneal_strategy
        initial = max_lr / div_factor
        low = initial / final_div_factor
        up = float(pct_start * total_steps) - 1
        # (end step, rate at start, rate at end, momentum at start, momentum at end) per phase, as torch's.
        if three_phase:
            self.phases = [
                (up, initial, max_lr, max_momentum, base_momentum),
                (2 * up, max_lr, initial, base_momentum, max_momentum),
                (total_steps - 1, initial, low, max_momentum, max_momentum),
            ]
        else:
            self.phases = [
                (up, initial, max_lr, max_momentum, base_momentum),
                (total_steps - 1, max_lr, low, base_momentum, max_momentum),
            ]
        self.cycle_momentum = cycle_momentum and _momentum_name(optimizer) is not None
        super().__init__(optimizer)

    def _anneal(self, start: float, end: float, fraction: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2 * (math.cos(math.pi * fraction) + 1)
        return (end - start) * fraction + start

    def _at(self, step: int) -> tuple[float, float]:
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR stepped {step} times, past its total_steps {self.total_steps}")
        begin = 0.0
        for index, (end, rate_start, rate_end, momentum_start, momentum_end) in enumerate(self.phases):
            if step <= end or index == len(self.phases) - 1:
                fraction = (step - begin) / (end - begin) if end != begin else 1.0
                return (
                    self._anneal(rate_start, rate_end, fraction),
                    self._anneal(momentum_start, momentum_end, fraction),
                )
            begin = end
        raise AssertionError("unreachable")

    def rate(self, step: int) -> float:
        return self._at(step)[0]

    def _apply(self) -> None:
        rate, momentum = self._at(self.last_epoch)
        self.optimizer.lr = rate
        name = _momentum_name(self.optimizer)
        if self.cycle_momentum and name == "betas":
            self.optimizer.betas = (momentum, self.optimizer.betas[1])  # type: ignore[attr-defined]
        elif self.cycle_momentum and name == "momentum":
            self.optimizer.momentum = momentum  # type: ignore[attr-defined]


def _momentum_name(optimizer: Optimizer) -> str | None:
    names = optimizer.hyperparameters()
    if "betas" in names:
        return "betas"
    if "momentum" in names and getattr(optimizer, "buffers", None):
        return "momentum"
    return None
