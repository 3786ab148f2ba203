"""The public loaders: a dataset of the MNIST family as four numpy arrays (uint8 images N x 28 x 28, int64 labels) in a
frozen `MNISTSplits`. This is the one place that reads the environment ($LAMINA_DATA, $XDG_CACHE_HOME), so every
layer below receives its directories and mirrors as arguments."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict, Unpack

import numpy as np
import numpy.typing as npt

from lamina.dataset.catalog import DATASETS, FASHION_MNIST, MNIST, DatasetName, DatasetSpec
from lamina.dataset.download import DEFAULT_TIMEOUT
from lamina.dataset.resolve import (
    SYSTEM_DATASETS_DIR,
    FetchOptions,
    Interface,
    ResolveLog,
    not_found_error,
    resolve_file,
    search_paths,
)

__all__ = ["LoadOptions", "MNISTSplits", "load", "load_dataset", "load_fashion_mnist", "load_mnist"]


@dataclass(frozen=True)
class MNISTSplits:
    """The train and test splits of an MNIST-family dataset."""

    train_images: npt.NDArray[np.uint8]
    train_labels: npt.NDArray[np.int64]
    test_images: npt.NDArray[np.uint8]
    test_labels: npt.NDArray[np.int64]


class LoadOptions(TypedDict, total=False):
    """The keyword arguments every loader accepts; see `load_dataset`."""

    download: bool
    cache_dir: str | Path | None
    system_dir: str | Path
    mirrors: Sequence[str] | None
    timeout: float
    progress: bool
    interface: Interface


def load_dataset(
    spec: DatasetSpec,
    root: str | Path | None = None,
    *,
    download: bool = True,
    cache_dir: str | Path | None = None,
    system_dir: str | Path = SYSTEM_DATASETS_DIR,
    mirrors: Sequence[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    progress: bool = True,
    interface: Interface = "python",
) -> MNISTSplits:
    """Load `spec` from `root` (else $LAMINA_DATA/<name>), the cache, `system_dir`/<name>, or else its mirrors."""
    paths = search_paths(spec, root, cache_dir, system_dir, os.environ)
    options = FetchOptions(tuple(spec.mirrors if mirrors is None else mirrors), download, timeout, progress, interface)
    log = ResolveLog()
    arrays: list[npt.NDArray[np.uint8]] = []
    missing: list[str] = []
    for file in spec.files:
        array = resolve_file(file, paths, options, log)
        if array is None:
            missing.append(file.filename)
        else:
            arrays.append(array)
    if missing:
        others = [other for other in DATASETS.values() if other is not spec and other.system_package is not None]
        raise not_found_error(spec, missing, paths, options, log, others)
    train_images, train_labels, test_images, test_labels = arrays
    return MNISTSplits(train_images, train_labels.astype(np.int64), test_images, test_labels.astype(np.int64))


def load(name: DatasetName, root: str | Path | None = None, **options: Unpack[LoadOptions]) -> MNISTSplits:
    """Load the dataset called `name` ("mnist" or "fashion-mnist")."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
    return load_dataset(DATASETS[name], root, **options)


def load_mnist(root: str | Path | None = None, **options: Unpack[LoadOptions]) -> MNISTSplits:
    """Load MNIST (handwritten digits)."""
    return load_dataset(MNIST, root, **options)


def load_fashion_mnist(root: str | Path | None = None, **options: Unpack[LoadOptions]) -> MNISTSplits:
    """Load Fashion-MNIST (Zalando's clothing images)."""
    return load_dataset(FASHION_MNIST, root, **options)
