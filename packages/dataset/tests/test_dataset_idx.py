"""The IDX reader accepts exactly well-formed files of the expected kind and shape, gzipped or raw."""

from __future__ import annotations

import gzip
import struct
import tracemalloc
import zlib
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


def _bomb(path: Path, header: bytes, inflated: int) -> Path:
    """A gzip file whose stream inflates to `inflated` bytes of zeros after `header` (a few hundred KB on disk)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(1 << 20)
    parts = [compressor.compress(header)]
    parts += [compressor.compress(chunk) for _ in range(inflated >> 20)]
    path.write_bytes(b"".join([*parts, compressor.flush()]))
    return path


@pytest.mark.parametrize("shape", [(5, 28, 28), None], ids=["catalogue-shape", "header-only"])
def test_a_gzip_bomb_is_refused_without_inflating_it(tmp_path: Path, shape: tuple[int, ...] | None) -> None:
    # A true images header for 5 images, followed by 200 MB of zeros: reading must stop at the promised size.
    header = encode_idx(_images())[:16]
    path = _bomb(tmp_path / "bomb.gz", header, 200 << 20)
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(IDXFormatError, match="decompresses to more than"):
            read_idx(path, magic=IMAGES_MAGIC, shape=shape)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"reading the bomb took {peak >> 20} MB"


def test_a_header_promising_more_than_any_dataset_is_refused(tmp_path: Path) -> None:
    header = struct.pack(">IIII", IMAGES_MAGIC, 100_000_000, 28, 28)
    with pytest.raises(IDXFormatError, match="promises"):
        read_idx(_bomb(tmp_path / "huge.gz", header, 1 << 20), magic=IMAGES_MAGIC)


def test_a_raw_file_larger_than_its_header_promises_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "images"
    path.write_bytes(encode_idx(_images()) + bytes(100))
    with pytest.raises(IDXFormatError, match="more than the"):
        read_idx(path, magic=IMAGES_MAGIC)


def test_gzip_files_written_in_several_members_are_read(tmp_path: Path) -> None:
    payload = encode_idx(_images())
    path = tmp_path / "images.gz"
    path.write_bytes(gzip.compress(payload[:1000]) + gzip.compress(payload[1000:]))
    np.testing.assert_array_equal(read_idx(path, magic=IMAGES_MAGIC, shape=(5, 28, 28)), _images())


def test_bytes_after_the_gzip_stream_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "images.gz"
    path.write_bytes(gzip.compress(encode_idx(_images())) + b"junk")
    with pytest.raises(IDXFormatError, match="broken gzip stream"):
        read_idx(path, magic=IMAGES_MAGIC)
