"""The benchmark cases of `lamina bench`: each builds its inputs once and times lamina against numpy (and torch).

A case says what it computes in up to three forms (lamina, numpy, torch), how much work one run is
(FLOPs or bytes moved) and which figure it reports. Inputs are made outside the timed region; every
lamina run builds its lazy graph and realizes it, as a user's code would, except the training steps,
which run jitted as `lamina mnist` runs them. The first-step cases time fresh processes.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lamina.cli.models import MODELS, train_step
from lamina.engine.runtime import OPENMP_SPINNING
from lamina.nn.convolution import conv2d
from lamina.nn.optim import SGD
from lamina.tensor import Tensor, current_context, jit, realize

Runner = Callable[[], Any]


@dataclass(frozen=True)
class Case:
    """One benchmark: runners for each library, the work per run, and the unit reported."""

    name: str
    lamina: Runner
    numpy: Runner | None
    torch: Runner | None
    work: float
    unit: str  # "GFLOP/s" or "GB/s"
    result: Callable[[], npt.NDArray[Any]]
    reference: Callable[[], npt.NDArray[Any]] | None  # numpy's answer (torch's where numpy has none)
    self_timed: bool = False  # the runners return their own seconds (a subprocess's, say)


def torch_module() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch


def matmul_case(n: int, k: int, m: int) -> Case:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, k), dtype=np.float32), rng.standard_normal((k, m), dtype=np.float32)
    ta, tb = Tensor(a), Tensor(b)
    torch = torch_module()
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

    torch = torch_module()
    torch_run: Runner | None = None
    if torch is not None:
        xa, xb, xc = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)

        def torch_run() -> Any:
            return ((xa * xb + xc).relu() * 2).exp()

    return Case(
        f"((a*b+c).relu()*2).exp() {size // (1 << 20)}M", lamina_run, numpy_run, torch_run, 4.0 * 4 * size, "GB/s",
        lambda: last[0].numpy(), numpy_run,
    )  # fmt: skip


def small_op_case(side: int) -> Case:
    """A two-op graph on small tensors: the time is Python's (building the graph, finding its cached schedule,
    the launch), not the kernel's."""
    rng = np.random.default_rng(3)
    a, b = (rng.standard_normal((side, side), dtype=np.float32) for _ in range(2))
    ta, tb = Tensor(a), Tensor(b)
    last: list[Tensor] = []

    def lamina_run() -> Any:
        last[:] = [((ta + tb) * 2).realize()]
        return last[0]

    def numpy_run() -> Any:
        return (a + b) * 2

    torch = torch_module()
    torch_run: Runner | None = None
    if torch is not None:
        xa, xb = torch.from_numpy(a), torch.from_numpy(b)

        def torch_run() -> Any:
            return (xa + xb) * 2

    return Case(
        f"(a+b)*2 {side}x{side} (build + realize)", lamina_run, numpy_run, torch_run, 3.0 * 4 * side * side, "GB/s",
        lambda: last[0].numpy(), numpy_run,
    )  # fmt: skip


def sum_case(size: int) -> Case:
    a = np.random.default_rng(2).standard_normal(size, dtype=np.float32)
    ta = Tensor(a)
    last: list[Tensor] = []

    def lamina_run() -> Any:
        last[:] = [ta.sum().realize()]
        return last[0]

    torch = torch_module()
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

    torch = torch_module()
    torch_run: Runner | None = None
    if torch is not None:
        xa = torch.from_numpy(a)

        def torch_run() -> Any:
            return xa.softmax(-1)

    return Case(
        f"softmax {rows}x{columns}", lamina_run, numpy_run, torch_run, 2.0 * 4 * rows * columns, "GB/s",
        lambda: last[0].numpy(), numpy_run,
    )  # fmt: skip


def _numpy_conv2d(x: npt.NDArray[np.float32], w: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """A 3x3, stride 1, padding 1 cross-correlation of NCHW `x` with OIHW `w`, via sliding windows."""
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(2, 3))  # N C H W kh kw
    return np.asarray(np.einsum("nchwij,ocij->nohw", windows, w, optimize=True), dtype=np.float32)


def conv_case(batch: int, channels: int, out_channels: int, size: int) -> Case:
    """conv2d forward and backward (both gradients) of a 3x3 convolution with padding 1."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((batch, channels, size, size), dtype=np.float32)
    w = rng.standard_normal((out_channels, channels, 3, 3), dtype=np.float32) * 0.1
    upstream = rng.standard_normal((batch, out_channels, size, size), dtype=np.float32)
    last: list[Tensor] = []

    def lamina_run() -> Any:
        tx, tw = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
        (conv2d(tx, tw, padding=1) * Tensor(upstream)).sum().backward()
        grads = [tensor.grad for tensor in (tw, tx) if tensor.grad is not None]
        realize(*grads)
        last[:] = grads[:1]
        return grads

    def numpy_run() -> Any:
        _numpy_conv2d(x, w)
        # dW: correlate the input windows with the upstream gradient; dX: the full correlation with w flipped.
        padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(2, 3))
        grad_w = np.einsum("nchwij,nohw->ocij", windows, upstream, optimize=True)
        _numpy_conv2d(upstream, np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)))
        return grad_w

    torch = torch_module()
    torch_run: Runner | None = None
    if torch is not None:
        xu = torch.from_numpy(upstream)

        def torch_run() -> Any:
            xt = torch.from_numpy(x).requires_grad_()
            wt = torch.from_numpy(w).requires_grad_()
            (torch.nn.functional.conv2d(xt, wt, padding=1) * xu).sum().backward()
            return wt.grad

    flops = 3 * 2.0 * batch * out_channels * size * size * channels * 9
    return Case(
        f"conv2d 3x3 fwd+bwd {batch}x{channels}->{out_channels}x{size}x{size}", lamina_run, numpy_run, torch_run,
        flops, "GFLOP/s", lambda: last[0].numpy(), numpy_run,
    )  # fmt: skip


def _numpy_mlp_step(
    params: list[npt.NDArray[np.float32]], x: npt.NDArray[np.float32], y: npt.NDArray[np.int64], lr: float
) -> None:
    """One SGD step of the 784-128-10 MLP with a mean cross-entropy loss, written out by hand."""
    w1, b1, w2, b2 = params
    hidden = x @ w1.T + b1
    active = np.maximum(hidden, 0)
    logits = active @ w2.T + b2
    shifted = np.exp(logits - logits.max(1, keepdims=True))
    grad_logits = shifted / shifted.sum(1, keepdims=True)
    grad_logits[np.arange(len(y)), y] -= 1
    grad_logits /= len(y)
    grad_active = grad_logits @ w2
    grad_hidden = grad_active * (hidden > 0)
    params[0] -= lr * (grad_hidden.T @ x)
    params[1] -= lr * grad_hidden.sum(0)
    params[2] -= lr * (grad_logits.T @ active)
    params[3] -= lr * grad_logits.sum(0)


def _train_case(name: str, model_name: str, batch: int, lr: float, forward_flops: float) -> Case:
    """One SGD training step (forward, cross-entropy, backward, update) as `lamina mnist` runs it (jitted)."""
    rng = np.random.default_rng(5)
    images = rng.standard_normal((batch, 784), dtype=np.float32)
    labels = rng.integers(0, 10, batch)
    Tensor.manual_seed(0)
    model = MODELS[model_name]()
    initial = [param.numpy().copy() for param in model.parameters()]
    jitted = jit(train_step(model, SGD(model.parameters(), lr=lr)))
    # The batch is on the device before timing, as torch's tensors are made outside its timed steps.
    inputs = (Tensor(images), Tensor(labels))

    def lamina_run() -> Any:
        return jitted(*inputs)

    def one_step_from_start() -> npt.NDArray[np.float32]:
        for param, values in zip(model.parameters(), initial, strict=True):
            param.assign(Tensor(values))
        realize(*model.parameters())
        jitted(Tensor(images), Tensor(labels))
        return model.parameters()[0].numpy()

    numpy_params = [values.copy() for values in initial]
    numpy_run: Runner | None = None
    reference: Callable[[], npt.NDArray[Any]] | None = None
    if model_name == "mlp":

        def numpy_run() -> Any:
            _numpy_mlp_step(numpy_params, images, labels, lr)

        def reference() -> npt.NDArray[Any]:
            params = [values.copy() for values in initial]
            _numpy_mlp_step(params, images, labels, lr)
            return params[0]

    torch = torch_module()
    torch_run: Runner | None = None
    if torch is not None:
        torch_model = _torch_twin(torch, model_name, initial)
        torch_optimizer = torch.optim.SGD(torch_model.parameters(), lr=lr)
        xt, yt = torch.from_numpy(images), torch.from_numpy(labels)

        def torch_run() -> Any:
            loss = torch.nn.functional.cross_entropy(torch_model(xt), yt)
            torch_optimizer.zero_grad()
            loss.backward()
            torch_optimizer.step()
            return loss

        if reference is None:

            def reference() -> npt.NDArray[Any]:
                twin = _torch_twin(torch, model_name, initial)
                loss = torch.nn.functional.cross_entropy(twin(xt), yt)
                loss.backward()
                with torch.no_grad():
                    first = next(iter(twin.parameters()))
                    return np.asarray((first - lr * first.grad).numpy())

    # The backward pass costs about twice the forward's multiply-adds.
    return Case(name, lamina_run, numpy_run, torch_run, 3 * forward_flops, "GFLOP/s", one_step_from_start, reference)


def _torch_twin(torch: Any, model_name: str, initial: list[npt.NDArray[np.float32]]) -> Any:
    """The torch version of a `lamina mnist` model, starting from the same weights."""
    nn = torch.nn
    if model_name == "mlp":
        twin = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    else:
        twin = nn.Sequential(
            nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 14 * 14, 10),
        )  # fmt: skip
    with torch.no_grad():
        for param, values in zip(twin.parameters(), initial, strict=True):
            param.copy_(torch.from_numpy(values))
    return twin


def mlp_train_case() -> Case:
    forward = 2.0 * 256 * (784 * 128 + 128 * 10)
    return _train_case("MLP 784-128-10 train step, batch 256", "mlp", 256, 0.01, forward)


def cnn_train_case() -> Case:
    pixels = 64 * 28 * 28
    forward = 2.0 * pixels * (8 * 1 * 9 + 16 * 8 * 9) + 2.0 * 64 * 16 * 14 * 14 * 10
    return _train_case("CNN conv8-conv16-pool-linear train step, batch 64", "cnn", 64, 0.01, forward)


_FIRST_STEP = """
import sys, time
import numpy as np
if sys.argv[1] == "torch":
    import torch
    torch.set_num_threads(int(sys.argv[2]))
    started = time.perf_counter()
    model = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(256, 784), torch.randint(0, 10, (256,))
    loss = torch.nn.functional.cross_entropy(model(x), y)
    optimizer.zero_grad(); loss.backward(); optimizer.step()
    loss.item()
else:
    from lamina.cli.models import MLP
    from lamina.nn import functional as F
    from lamina.nn.optim import SGD
    from lamina.tensor import Tensor
    started = time.perf_counter()
    model = MLP()
    optimizer = SGD(model.parameters(), lr=0.01)
    rng = np.random.default_rng(0)
    x, y = Tensor(rng.standard_normal((256, 784), dtype=np.float32)), Tensor(rng.integers(0, 10, 256))
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad(); loss.backward(); optimizer.step()
    loss.item()
print(time.perf_counter() - started)
"""


def _first_step_seconds(library: str, cache: Path, threads: int) -> float:
    """Seconds to build the MLP and run its first train step in a fresh process (imports done before)."""
    environment = {
        **os.environ, "LAMINA_CACHE": str(cache), "LAMINA_THREADS": str(threads), "DEVICE": current_context().device,
    }  # fmt: skip
    environment |= {"OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads)}
    if library == "torch":  # torch waits as its OpenMP runtime does by default, not as lamina's kernels do
        for name, value in OPENMP_SPINNING.items():
            if environment.get(name) == value:
                del environment[name]
    command = [sys.executable, "-c", _FIRST_STEP, library, str(threads)]
    finished = subprocess.run(command, capture_output=True, text=True, env=environment, check=False, timeout=600)
    if finished.returncode != 0:
        raise RuntimeError(f"the first-step process for {library} failed:\n{finished.stderr[-2000:]}")
    return float(finished.stdout.strip().splitlines()[-1])


def first_step_case(warm: bool) -> Case:
    """The first MLP train step of a fresh process (after its imports), with an empty or a filled kernel cache."""
    scratch = Path(tempfile.mkdtemp(prefix="lamina-bench-cache-"))
    threads = current_context().threads
    if warm:
        _first_step_seconds("lamina", scratch, threads)
    runs = itertools.count()

    def lamina_run() -> float:
        cache = scratch if warm else scratch / f"cold-{next(runs)}"
        return _first_step_seconds("lamina", cache, threads)

    torch_run: Runner | None = None
    if torch_module() is not None:

        def torch_run() -> float:
            return _first_step_seconds("torch", scratch, threads)

    state = "warm" if warm else "empty"
    return Case(
        f"first train step, fresh process, {state} cache", lamina_run, None, torch_run, 1.0, "steps/s",
        lambda: np.zeros(1), None, self_timed=True,
    )  # fmt: skip


_BACKWARD_PASSES = """
import sys, time
import numpy as np
from lamina.nn import functional as F
from lamina.nn.convolution import conv2d
from lamina.tensor import Tensor
rng = np.random.default_rng(0)
weight = Tensor(rng.standard_normal((4, 2, 3, 3), dtype=np.float32))
passes = [
    lambda x: F.max_pool2d(x, (5, 5), stride=(2, 3)),
    lambda x: F.max_pool2d(x, (3, 3), stride=1),
    lambda x: conv2d(x, weight, stride=(2, 3), padding=2, dilation=2),
]
started = time.perf_counter()
for forward in passes:
    x = Tensor(rng.standard_normal((3, 2, 17, 14), dtype=np.float32), requires_grad=True)
    forward(x).sum().backward()
    x.grad.realize()
print(time.perf_counter() - started)
"""


def backward_compile_case() -> Case:
    """Scheduling, generating and compiling the backward passes of a strided max pool, a unit-stride max pool
    and a strided, dilated convolution in a fresh process with an empty kernel cache (small inputs: the time is
    the compiler's)."""
    scratch = Path(tempfile.mkdtemp(prefix="lamina-bench-backward-"))
    runs = itertools.count()

    def lamina_run() -> float:
        environment = {**os.environ, "LAMINA_CACHE": str(scratch / f"cold-{next(runs)}")}
        command = [sys.executable, "-c", _BACKWARD_PASSES]
        finished = subprocess.run(command, capture_output=True, text=True, env=environment, check=False, timeout=900)
        if finished.returncode != 0:
            raise RuntimeError(f"the backward-pass process failed:\n{finished.stderr[-2000:]}")
        return float(finished.stdout.strip().splitlines()[-1])

    return Case(
        "compile max_pool2d/conv2d backward passes, empty cache", lamina_run, None, None, 1.0, "runs/s",
        lambda: np.zeros(1), None, self_timed=True,
    )  # fmt: skip
