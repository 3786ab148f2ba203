"""The files Debian's dataset-fashion-mnist package installs load as Fashion-MNIST; skipped where it is absent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lamina.dataset import FASHION_MNIST, SYSTEM_DATASETS_DIR, load_fashion_mnist

_DEBIAN_DIR = SYSTEM_DATASETS_DIR / "fashion-mnist"

pytestmark = pytest.mark.skipif(
    not all((_DEBIAN_DIR / file.filename).is_file() for file in FASHION_MNIST.files),
    reason="dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)",
)


def test_debian_fashion_mnist_loads_with_the_published_shapes_and_labels(tmp_path: Path) -> None:
    splits = load_fashion_mnist(cache_dir=tmp_path / "cache", download=False, progress=False)
    assert splits.train_images.shape == (60000, 28, 28)
    assert splits.test_images.shape == (10000, 28, 28)
    assert splits.train_images.dtype == np.uint8
    assert splits.train_labels.shape == (60000,)
    assert splits.test_labels.shape == (10000,)
    assert splits.train_labels.dtype == np.int64
    # Fashion-MNIST is balanced: each of its ten classes has 6,000 training and 1,000 test images.
    np.testing.assert_array_equal(np.bincount(splits.train_labels), np.full(10, 6000))
    np.testing.assert_array_equal(np.bincount(splits.test_labels), np.full(10, 1000))
    assert not (tmp_path / "cache").exists()
