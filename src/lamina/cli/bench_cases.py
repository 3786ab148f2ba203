"""The benchmark cases of `lamina bench`: each builds its inputs once and times lamina against numpy (and torch).

A case says what it computes in three forms (lamina, numpy, optionally torch), how much work one
run is (FLOPs or bytes moved) and which figure it reports. Inputs are made outside the timed
region; every lamina run builds its lazy graph and realizes it, as a user's code would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from lamina.tensor import Tensor

Runner = Callable[[], Any]


@dataclass(frozen=True)
class Case:
    """One benchmark: runners for each library, the work per run, and the unit reported."""

    name: str
    lamina: Runner
    numpy: Runner
    torch: Runner | None
    work: float
    unit: str  # "GFLOP/s" or "GB/s"
    result: Callable[[], npt.NDArray[Any]]
    reference: Callable[[], npt.NDArray[Any]]


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch


def matmul_case(n: int, k: int, m: int) -> Case:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, k), dtype=np.float32), rng.standard_normal((k, m), dtype=np.float32)
    ta, tb = Tensor(a), Tensor(b)
    torch = _torch()
    torch_run: Runner | None = None
    if torch is not None:
        xa, xb = torch.from_numpy(a), torch.from_numpy(b)

        def torch_run() -> Any:
            return xa @ xb

    last: list[Tensor] = []

    def lamina_run() -> Any:
        last[:] = [(ta @ tb).realize()]
        return last[0]

    return Case(
        f"matmul {n}x{k}x{m}", lamina_run, lambda: a @ b, torch_run, 2.0 * n * k * m, "GFLOP/s",
        lambda: last[0].numpy(), lambda: a @ b,
    )  # fmt: skip


def elementwise_case(size: int) -> Case:
    rng = np.random.default_rng(1)
    a, b, c = (rng.standard_normal(size, dtype=np.float32) for _ in range(3))
    ta, tb, tc = Tensor(a), Tensor(b), Tensor(c)
    last: list[Tensor] = []

    def lamina_run() -> Any:
        last[:] = [((ta * tb + tc).relu() * 2).exp().realize()]
        return last[0]

    def numpy_run() -> Any:
        return np.exp(np.maximum(a * b + c, 0) * 2)

    torch = _torch()
    torch_run: Runner | None = None
    if torch is not None:
        xa, xb, xc = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)

        def torch_run() -> Any:
            return ((xa * xb + xc).relu() * 2).exp()

    return Case(
        f"((a*b+c).relu()*2).exp() {size // (1 << 20)}M", lamina_run, numpy_run, torch_run, 4.0 * 4 * size, "GB/s",
        lambda: last[0].numpy(), numpy_run,
    )  # fmt: skip


def sum_case(size: int) -> Case:
    a = np.random.default_rng(2).standard_normal(size, dtype=np.float32)
    ta = Tensor(a)
    last: list[Tensor] = []

    def lamina_run() -> Any:
        last[:] = [ta.sum().realize()]
        return last[0]

    torch = _torch()
    torch_run: Runner | None = None
    if torch is not None:
        xa = torch.from_numpy(a)

        def torch_run() -> Any:
            return xa.sum()

    return Case(
        f"sum {size // (1 << 20)}M", lamina_run, lambda: a.sum(), torch_run, 4.0 * size, "GB/s",
        lambda: np.asarray(last[0].numpy(), dtype=np.float64), lambda: np.asarray(a.astype(np.float64).sum()),
    )  # fmt: skip


def softmax_case(rows: int, columns: int) -> Case:
    a = np.random.default_rng(3).standard_normal((rows, columns), dtype=np.float32)
    ta = Tensor(a)
    last: list[Tensor] = []

    def lamina_run() -> Any:
        last[:] = [ta.softmax(-1).realize()]
        return last[0]

    def numpy_run() -> Any:
        shifted = np.exp(a - a.max(-1, keepdims=True))
        return shifted / shifted.sum(-1, keepdims=True)

    torch = _torch()
    torch_run: Runner | None = None
    if torch is not None:
        xa = torch.from_numpy(a)

        def torch_run() -> Any:
            return xa.softmax(-1)

    return Case(
        f"softmax {rows}x{columns}", lamina_run, numpy_run, torch_run, 2.0 * 4 * rows * columns, "GB/s",
        lambda: last[0].numpy(), numpy_run,
    )  # fmt: skip
