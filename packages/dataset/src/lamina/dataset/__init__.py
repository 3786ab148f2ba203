"""lamina.dataset: the MNIST family (MNIST, Fashion-MNIST) as numpy arrays, found in a given directory, the user cache
or the system's dataset directory, else downloaded from a mirror, checked against the published checksums and
cached; it imports nothing from the rest of lamina."""

from __future__ import annotations

from lamina.dataset.catalog import DATASETS, FASHION_MNIST, MNIST, DatasetFile, DatasetName, DatasetSpec
from lamina.dataset.download import DEFAULT_TIMEOUT, DownloadError
from lamina.dataset.idx import IMAGES_MAGIC, LABELS_MAGIC, IDXFormatError, encode_idx, parse_idx, read_idx
from lamina.dataset.resolve import SYSTEM_DATASETS_DIR, ChecksumError, DatasetNotFoundError, default_cache_dir
from lamina.dataset.splits import LoadOptions, MNISTSplits, load, load_dataset, load_fashion_mnist, load_mnist
from lamina.dataset.synthetic import SyntheticDataset, synthetic_dataset

__all__ = [
    "DATASETS",
    "DEFAULT_TIMEOUT",
    "FASHION_MNIST",
    "IMAGES_MAGIC",
    "LABELS_MAGIC",
    "MNIST",
    "SYSTEM_DATASETS_DIR",
    "ChecksumError",
    "DatasetFile",
    "DatasetName",
    "DatasetNotFoundError",
    "DatasetSpec",
    "DownloadError",
    "IDXFormatError",
    "LoadOptions",
    "MNISTSplits",
    "SyntheticDataset",
    "default_cache_dir",
    "encode_idx",
    "load",
    "load_dataset",
    "load_fashion_mnist",
    "load_mnist",
    "parse_idx",
    "read_idx",
    "synthetic_dataset",
]
