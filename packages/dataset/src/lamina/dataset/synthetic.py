"""Small synthetic datasets of the MNIST family, made of real IDX files with their own checksums, so that tests of
this package and of the layers above it exercise the same loading path as the real data without any network."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lamina.dataset.catalog import MNIST, DatasetFile, DatasetSpec
from lamina.dataset.idx import encode_idx
from lamina.dataset.splits import MNISTSplits

__all__ = ["SyntheticDataset", "synthetic_dataset"]


@dataclass(frozen=True)
class SyntheticDataset:
    """A generated dataset: its spec (checksums included), its gzip files by name and the arrays they hold."""

    spec: DatasetSpec
    files: Mapping[str, bytes]
    splits: MNISTSplits

    def write(self, directory: str | Path, *, compressed: bool = True) -> Path:
        """Write the four files into `directory` (gzipped under their published names, else unpacked); return it."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for filename, data in self.files.items():
            if compressed:
                (directory / filename).write_bytes(data)
            else:
                (directory / filename.removesuffix(".gz")).write_bytes(gzip.decompress(data))
        return directory


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def synthetic_dataset(
    name: str = "mnist", *, train: int = 100, test: int = 20, seed: int = 0, mirrors: Sequence[str] = ()
) -> SyntheticDataset:
    """A random dataset named `name` with `train` and `test` examples, reproducible from `seed`."""
    rng = np.random.default_rng(seed)
    # Labels are stored as IDX unsigned bytes; the loaders widen them to int64.
    arrays = (
        rng.integers(0, 256, size=(train, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, size=train, dtype=np.uint8),
        rng.integers(0, 256, size=(test, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, size=test, dtype=np.uint8),
    )
    files: dict[str, bytes] = {}
    entries: list[DatasetFile] = []
    for filename, array in zip((file.filename for file in MNIST.files), arrays, strict=True):
        payload = encode_idx(array)
        # mtime=0 keeps the gzip bytes, and so their md5, the same from run to run.
        files[filename] = gzip.compress(payload, mtime=0)
        entries.append(DatasetFile(filename, _md5(files[filename]), _md5(payload), array.shape))
    train_images, train_labels, test_images, test_labels = entries
    spec = DatasetSpec(name, f"synthetic {name}", train_images, train_labels, test_images, test_labels, tuple(mirrors))
    splits = MNISTSplits(arrays[0], arrays[1].astype(np.int64), arrays[2], arrays[3].astype(np.int64))
    return SyntheticDataset(spec, files, splits)
