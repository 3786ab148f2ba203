"""The main job end to end: `lamina mnist` trains on the real Fashion-MNIST files Debian installs.

Skips where `dataset-fashion-mnist` is not installed (CI installs it); never touches the network.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lamina.cli.main import build_parser

SYSTEM_FASHION = Path("/usr/share/datasets/fashion-mnist")


def test_parser_knows_the_documented_options() -> None:
    arguments = build_parser().parse_args(
        ["mnist", "--dataset", "fashion-mnist", "--model", "cnn", "--epochs", "2", "--batch-size", "64", "--lr", "0.01",
         "--optimizer", "sgd", "--seed", "3"]
    )  # fmt: skip
    assert (arguments.dataset, arguments.model, arguments.epochs, arguments.batch_size) == (
        "fashion-mnist",
        "cnn",
        2,
        64,
    )
    assert (arguments.lr, arguments.optimizer, arguments.seed) == (0.01, "sgd", 3)


def test_missing_dataset_is_one_clear_error(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "lamina.cli.main",
        "mnist",
        "--data",
        str(tmp_path),
        "--no-progress",
        "--no-download",
    ]
    environment = {"LAMINA_DATA": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    finished = subprocess.run(command, capture_output=True, text=True, timeout=120, env=environment, check=False)
    assert finished.returncode == 1
    assert "error" in finished.stderr
    assert "Traceback" not in finished.stderr


@pytest.mark.skipif(not SYSTEM_FASHION.is_dir(), reason="dataset-fashion-mnist is not installed")
def test_one_epoch_on_fashion_mnist_reaches_80_percent() -> None:
    flags = ["--dataset", "fashion-mnist", "--epochs", "1", "--no-progress", "--no-download"]
    command = [sys.executable, "-m", "lamina.cli.main", "mnist", *flags]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=1200, check=False)
    assert finished.returncode == 0, finished.stderr[-3000:]
    summary = finished.stdout.strip().splitlines()[-1]
    accuracy = float(summary.split("test accuracy ")[1].split("%")[0]) / 100
    assert accuracy >= 0.80, summary
