"""The IDX file format of the MNIST family: reading a file (gzipped or raw) into its payload bytes, parsing that
payload into a uint8 array (and encoding one back), refusing anything whose magic number, dimensions or byte count
disagree, so that a truncated or corrupted file raises `IDXFormatError` instead of becoming an array of garbage."""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["IMAGES_MAGIC", "LABELS_MAGIC", "IDXFormatError", "encode_idx", "parse_idx", "read_idx", "read_idx_payload"]

# The magic number is two zero bytes, a dtype code (0x08 = unsigned byte) and the number of dimensions.
IMAGES_MAGIC: Final = 0x00000803
LABELS_MAGIC: Final = 0x00000801
_UBYTE_CODE: Final = 0x08
_GZIP_SIGNATURE: Final = b"\x1f\x8b"


class IDXFormatError(ValueError):
    """A file that is not a well-formed IDX file of the expected kind and shape."""


def read_idx_payload(path: Path) -> bytes:
    """The IDX bytes of `path`, decompressed when the file is gzipped (told by its signature, not its name)."""
    data = path.read_bytes()
    if not data.startswith(_GZIP_SIGNATURE):
        return data
    # gzip checks the trailer's CRC-32 and length, so a flipped or missing byte in the stream raises here.
    try:
        return gzip.decompress(data)
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise IDXFormatError(f"{path}: broken gzip stream ({error or 'truncated'})") from error


def parse_idx(
    payload: bytes, *, magic: int, shape: tuple[int, ...] | None = None, source: str = "<bytes>"
) -> npt.NDArray[np.uint8]:
    """Parse an unsigned-byte IDX payload, checking its magic number, its dims against `shape` and its exact size."""
    if len(payload) < 4:
        raise IDXFormatError(f"{source}: {len(payload)} bytes is too short for an IDX header")
    (found_magic,) = struct.unpack(">I", payload[:4])
    if found_magic != magic:
        raise IDXFormatError(f"{source}: magic number 0x{found_magic:08x}, expected 0x{magic:08x}")
    ndim = magic & 0xFF
    if (magic >> 8) != _UBYTE_CODE or ndim == 0:
        raise ValueError(f"parse_idx reads unsigned-byte arrays of at least one dimension, not magic 0x{magic:08x}")
    header_size = 4 + 4 * ndim
    if len(payload) < header_size:
        raise IDXFormatError(f"{source}: {len(payload)} bytes is too short for a {ndim}-dimensional IDX header")
    dims = struct.unpack(f">{ndim}I", payload[4:header_size])
    if shape is not None and dims != shape:
        raise IDXFormatError(f"{source}: dims {dims}, expected {shape}")
    expected_size = header_size + math.prod(dims)
    if len(payload) != expected_size:
        raise IDXFormatError(f"{source}: {len(payload)} bytes, expected {expected_size} for dims {dims}")
    # Copy so callers own a writable array instead of a read-only view of the payload.
    return np.frombuffer(payload, dtype=np.uint8, offset=header_size).reshape(dims).copy()


def read_idx(path: str | Path, *, magic: int, shape: tuple[int, ...] | None = None) -> npt.NDArray[np.uint8]:
    """Read and validate the IDX file at `path` (gzipped or raw)."""
    path = Path(path)
    return parse_idx(read_idx_payload(path), magic=magic, shape=shape, source=str(path))


def encode_idx(array: npt.NDArray[np.uint8]) -> bytes:
    """The IDX payload of a uint8 array: the inverse of `parse_idx`."""
    if array.dtype != np.uint8 or array.ndim == 0:
        raise ValueError(
            f"encode_idx writes uint8 arrays of at least one dimension, not {array.dtype} of shape {array.shape}"
        )
    header = struct.pack(f">I{array.ndim}I", (_UBYTE_CODE << 8) | array.ndim, *array.shape)
    return header + np.ascontiguousarray(array).tobytes()
