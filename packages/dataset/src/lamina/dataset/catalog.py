"""What the MNIST family is made of: for each dataset its four IDX files, their published checksums, their shapes
and the mirrors that serve them. Everything else in the package works from a `DatasetSpec`, so tests describe small
datasets of their own in the same terms."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

from lamina.dataset.idx import IMAGES_MAGIC, LABELS_MAGIC

__all__ = ["DATASETS", "FASHION_MNIST", "MNIST", "DatasetFile", "DatasetName", "DatasetSpec"]

DatasetName = Literal["mnist", "fashion-mnist"]


@dataclass(frozen=True)
class DatasetFile:
    """One IDX file: its published name, the md5 of the published gzip file and of the IDX bytes inside it."""

    filename: str
    md5: str
    # Distributions may recompress or unpack the files (Debian's gzip members differ from the published ones), so a
    # local copy is checked by the digest of its IDX bytes, which survives both.
    idx_md5: str
    shape: tuple[int, ...]

    @property
    def magic(self) -> int:
        """The IDX magic number this file must start with."""
        return IMAGES_MAGIC if len(self.shape) == 3 else LABELS_MAGIC


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset of the MNIST family: where to look for it, what its files must be and where to download them."""

    name: str
    title: str
    train_images: DatasetFile
    train_labels: DatasetFile
    test_images: DatasetFile
    test_labels: DatasetFile
    mirrors: tuple[str, ...]
    num_classes: int = 10
    system_package: str | None = None

    @property
    def files(self) -> tuple[DatasetFile, DatasetFile, DatasetFile, DatasetFile]:
        """The four files in split order: train images, train labels, test images, test labels."""
        return (self.train_images, self.train_labels, self.test_images, self.test_labels)


# Every dataset of the family ships the same four files with the same shapes; only their contents differ.
_LAYOUT: Final = (
    ("train-images-idx3-ubyte.gz", (60000, 28, 28)),
    ("train-labels-idx1-ubyte.gz", (60000,)),
    ("t10k-images-idx3-ubyte.gz", (10000, 28, 28)),
    ("t10k-labels-idx1-ubyte.gz", (10000,)),
)


def _mnist_family(
    name: str, title: str, digests: tuple[tuple[str, str], ...], mirrors: tuple[str, ...], system_package: str | None
) -> DatasetSpec:
    train_images, train_labels, test_images, test_labels = (
        DatasetFile(filename, md5, idx_md5, shape)
        for (filename, shape), (md5, idx_md5) in zip(_LAYOUT, digests, strict=True)
    )
    return DatasetSpec(
        name, title, train_images, train_labels, test_images, test_labels, mirrors, system_package=system_package
    )


# Digests in _LAYOUT's order as (md5 of the published .gz, md5 of the IDX bytes inside). The gzip md5s are those the
# publishers list (Zalando's README) or that every MNIST loader pins (LeCun's page gives none); the IDX md5s are
# widely pinned too, and those of Fashion-MNIST match the files Debian's dataset-fashion-mnist installs.
MNIST: Final = _mnist_family(
    "mnist",
    "MNIST",
    digests=(
        ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "6bbc9ace898e44ae57da46a324031adb"),
        ("d53e105ee54ea40749a09fcbcd1e9432", "a25bea736e30d166cdddb491f175f624"),
        ("9fb629c4189551a2d022fa330f9573f3", "2646ac647ad5339dbf082846283269ea"),
        ("ec29112dd5afa0611ce80d1b7f02629c", "27ae3e4e09519cfbb04c329615203637"),
    ),
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    system_package=None,
)

FASHION_MNIST: Final = _mnist_family(
    "fashion-mnist",
    "Fashion-MNIST",
    digests=(
        ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
        ("25c81989df183df01b3e8a0aad5dffbe", "9018921c3c673c538a1fc5bad174d6f9"),
        ("bef4ecab320f06d8554ea6380940ec79", "8181f5470baa50b63fa0f6fddb340f0a"),
        ("bb300cfdad3c16e7a12a480ee83cd310", "15d484375f8d13e6eb1aabb0c3f46965"),
    ),
    # The bucket's website endpoint, the address Zalando publishes: it speaks plain HTTP only, so the pinned md5 is
    # what vouches for the bytes.
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    # Debian recompresses the files (its .gz md5s differ from the published ones; the IDX bytes are identical).
    system_package="dataset-fashion-mnist",
)

DATASETS: Final[Mapping[str, DatasetSpec]] = MappingProxyType({spec.name: spec for spec in (MNIST, FASHION_MNIST)})
