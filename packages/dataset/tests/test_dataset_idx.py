"""The IDX reader accepts exactly well-formed files of the expected kind and shape, gzipped or raw."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from lamina.dataset import IMAGES_MAGIC, LABELS_MAGIC, IDXFormatError, encode_idx, parse_idx, read_idx


def _images(count: int = 5) -> np.ndarray[tuple[int, int, int], np.dtype[np.uint8]]:
    return np.random.default_rng(1).integers(0, 256, size=(count, 28, 28), dtype=np.uint8)


def test_images_round_trip_through_encode_and_parse() -> None:
    images = _images()
    parsed = parse_idx(encode_idx(images), magic=IMAGES_MAGIC, shape=(5, 28, 28))
    np.testing.assert_array_equal(parsed, images)
    assert parsed.dtype == np.uint8
    assert parsed.flags.writeable


def test_labels_round_trip_through_encode_and_parse() -> None:
    labels = np.arange(10, dtype=np.uint8)
    np.testing.assert_array_equal(parse_idx(encode_idx(labels), magic=LABELS_MAGIC), labels)


def test_header_carries_the_published_magic_numbers() -> None:
    assert encode_idx(_images())[:4] == b"\x00\x00\x08\x03"
    assert encode_idx(np.zeros(3, dtype=np.uint8))[:4] == b"\x00\x00\x08\x01"


@pytest.mark.parametrize("compressed", [True, False])
def test_read_idx_accepts_gzipped_and_raw_files(tmp_path: Path, compressed: bool) -> None:
    images = _images()
    payload = encode_idx(images)
    path = tmp_path / "images"
    path.write_bytes(gzip.compress(payload) if compressed else payload)
    np.testing.assert_array_equal(read_idx(path, magic=IMAGES_MAGIC), images)


def test_labels_file_is_refused_where_images_are_expected() -> None:
    with pytest.raises(IDXFormatError, match="magic number 0x00000801, expected 0x00000803"):
        parse_idx(encode_idx(np.zeros(3, dtype=np.uint8)), magic=IMAGES_MAGIC)


def test_dims_other_than_the_expected_shape_are_refused() -> None:
    with pytest.raises(IDXFormatError, match=r"dims \(5, 28, 28\), expected \(60000, 28, 28\)"):
        parse_idx(encode_idx(_images()), magic=IMAGES_MAGIC, shape=(60000, 28, 28))


def test_truncated_payload_is_refused() -> None:
    with pytest.raises(IDXFormatError, match="bytes, expected 3936"):
        parse_idx(encode_idx(_images())[:-1], magic=IMAGES_MAGIC)


def test_trailing_bytes_are_refused() -> None:
    with pytest.raises(IDXFormatError, match="3937 bytes, expected 3936"):
        parse_idx(encode_idx(_images()) + b"\x00", magic=IMAGES_MAGIC)


@pytest.mark.parametrize("length", [0, 3, 8, 15])
def test_truncated_header_is_refused(length: int) -> None:
    with pytest.raises(IDXFormatError):
        parse_idx(encode_idx(_images())[:length], magic=IMAGES_MAGIC)


def test_truncated_gzip_file_is_refused(tmp_path: Path) -> None:
    data = gzip.compress(encode_idx(_images()))
    path = tmp_path / "images.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IDXFormatError, match="broken gzip stream"):
        read_idx(path, magic=IMAGES_MAGIC)


def test_gzip_file_with_a_flipped_byte_is_refused(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(encode_idx(_images())))
    data[len(data) // 2] ^= 0xFF
    path = tmp_path / "images.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(IDXFormatError, match="broken gzip stream"):
        read_idx(path, magic=IMAGES_MAGIC)


def test_encode_idx_refuses_other_dtypes() -> None:
    with pytest.raises(ValueError, match="uint8"):
        encode_idx(np.zeros(3, dtype=np.int64))
