"""`lamina mnist`: train a network on MNIST or Fashion-MNIST, end to end through lamina's compiler.

Loads the dataset (downloading or finding the system copy), trains with a progress bar showing
loss and throughput, measures test accuracy after every epoch, and ends with a summary: accuracy,
wall time, kernels compiled and steps per second.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from lamina.cli.models import MODELS, train_step
from lamina.dataset import load
from lamina.nn import Module
from lamina.nn.optim import SGD, Adam, Optimizer
from lamina.tensor import Tensor, jit, no_grad, stats

# The usual MNIST normalisation: pixel mean and standard deviation over the training set.
PIXEL_MEAN = 0.1307
PIXEL_STD = 0.3081
EVAL_BATCH = 1000


@dataclass(frozen=True)
class TrainResult:
    """What a run achieved."""

    test_accuracy: float
    seconds: float
    steps: int
    programs_built: int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", choices=["mnist", "fashion-mnist"], default="mnist")
    parser.add_argument("--model", choices=sorted(MODELS), default="mlp")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=None, help="learning rate (default: 1e-3 for adam, 0.05 for sgd)")
    parser.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None, help="directory holding the dataset files (else LAMINA_DATA, caches)")
    parser.add_argument("--no-download", action="store_true", help="never download: use local copies only")
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images only (for quick runs)")
    parser.add_argument("--no-progress", action="store_true", help="print one line per epoch instead of a progress bar")
    parser.add_argument("--no-jit", action="store_true", help="run every step through the whole pipeline (no replay)")


def normalize(images: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    scaled = images.reshape(images.shape[0], -1).astype(np.float32) / np.float32(255.0)
    return (scaled - np.float32(PIXEL_MEAN)) / np.float32(PIXEL_STD)


def batches(count: int, batch_size: int, rng: np.random.Generator) -> Iterator[npt.NDArray[np.int64]]:
    """Shuffled index batches; the last partial batch is dropped so every step has one shape."""
    order = rng.permutation(count)
    for start in range(0, count - batch_size + 1, batch_size):
        yield order[start : start + batch_size]


def make_optimizer(name: str, model: Module, lr: float | None) -> Optimizer:
    if name == "adam":
        return Adam(model.parameters(), lr=lr if lr is not None else 1e-3)
    return SGD(model.parameters(), lr=lr if lr is not None else 0.05, momentum=0.9)


def evaluate(model: Module, images: npt.NDArray[np.float32], labels: npt.NDArray[np.int64]) -> float:
    """Test accuracy, computed in fixed-size batches so evaluation kernels are compiled once."""
    model.eval()
    correct = 0
    with no_grad():
        for start in range(0, len(images), EVAL_BATCH):
            logits = model(Tensor(images[start : start + EVAL_BATCH]))
            predicted = logits.argmax(axis=1).numpy()
            correct += int((predicted == labels[start : start + EVAL_BATCH]).sum())
    model.train()
    return correct / len(images)


def _progress(total: int, description: str, enabled: bool) -> Any:
    from tqdm import tqdm  # type: ignore[import-untyped]

    return tqdm(total=total, desc=description, unit="step", disable=not enabled, leave=True)


def train(arguments: argparse.Namespace) -> TrainResult:
    """Train as `arguments` say and report as it goes."""
    Tensor.manual_seed(arguments.seed)
    rng = np.random.default_rng(arguments.seed)
    splits = load(arguments.dataset, root=arguments.data, download=not arguments.no_download, interface="command line")
    train_images, train_labels = normalize(splits.train_images), splits.train_labels.astype(np.int64)
    if arguments.limit is not None:
        train_images, train_labels = train_images[: arguments.limit], train_labels[: arguments.limit]
    test_images, test_labels = normalize(splits.test_images), splits.test_labels.astype(np.int64)
    model = MODELS[arguments.model]()
    optimizer = make_optimizer(arguments.optimizer, model, arguments.lr)
    # After two steps every step only replays the captured kernels (see lamina.tensor.jit).
    plain = train_step(model, optimizer)
    step = plain if arguments.no_jit else jit(plain)
    started = time.perf_counter()
    steps, accuracy = 0, 0.0
    steps_per_epoch = len(train_images) // arguments.batch_size
    for epoch in range(1, arguments.epochs + 1):
        bar = _progress(steps_per_epoch, f"epoch {epoch}/{arguments.epochs}", not arguments.no_progress)
        epoch_started = time.perf_counter()
        for indices in batches(len(train_images), arguments.batch_size, rng):
            loss = step(Tensor(train_images[indices]), Tensor(train_labels[indices]))
            steps += 1
            bar.update(1)
            if steps % 10 == 0:
                rate = bar.n * arguments.batch_size / max(time.perf_counter() - epoch_started, 1e-9)
                bar.set_postfix(loss=f"{float(loss.item()):.3f}", img_per_s=f"{rate:,.0f}")
        bar.close()
        accuracy = evaluate(model, test_images, test_labels)
        print(f"epoch {epoch}: test accuracy {accuracy:.2%} ({time.perf_counter() - started:.1f} s)", flush=True)
    seconds = time.perf_counter() - started
    return TrainResult(accuracy, seconds, steps, stats.programs_built)


def run(arguments: argparse.Namespace) -> int:
    result = train(arguments)
    print(
        f"done: {arguments.model} on {arguments.dataset}: test accuracy {result.test_accuracy:.2%}, "
        f"{result.seconds:.1f} s, {result.steps} steps ({result.steps / max(result.seconds, 1e-9):.1f} steps/s), "
        f"{result.programs_built} kernels compiled"
    )
    return 0
