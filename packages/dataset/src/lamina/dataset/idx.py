"""The IDX file format of the MNIST family: reading a file (gzipped or raw) into its payload bytes, parsing that
payload into a uint8 array (and encoding one back), refusing anything whose magic number, dimensions or byte count
disagree, so that a truncated or corrupted file raises `IDXFormatError` instead of becoming an array of garbage."""

from __future__ import annotations

import math
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO, Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "IMAGES_MAGIC",
    "LABELS_MAGIC",
    "MAX_IDX_BYTES",
    "IDXFormatError",
    "encode_idx",
    "idx_size",
    "parse_idx",
    "read_idx",
    "read_idx_payload",
]

# The magic number is two zero bytes, a dtype code (0x08 = unsigned byte) and the number of dimensions.
IMAGES_MAGIC: Final = 0x00000803
LABELS_MAGIC: Final = 0x00000801
_UBYTE_CODE: Final = 0x08
_GZIP_SIGNATURE: Final = b"\x1f\x8b"


class IDXFormatError(ValueError):
    """A file that is not a well-formed IDX file of the expected kind and shape."""


MAX_IDX_BYTES: Final = 1 << 30
"""The most bytes an IDX file of unknown shape may hold (the largest of the family is 47 MB)."""
_CHUNK: Final = 1 << 20


def idx_size(shape: tuple[int, ...]) -> int:
    """The exact byte count of an unsigned-byte IDX file of `shape` (header included)."""
    return 4 + 4 * len(shape) + math.prod(shape)


def read_idx_payload(path: Path, limit: int | None = None) -> bytes:
    """The IDX bytes of `path`, decompressed when the file is gzipped (told by its signature, not its name).

    Reading stops as soon as the bytes exceed `limit` (by default what the file's own IDX header promises,
    at most MAX_IDX_BYTES), so a file that inflates without end (a gzip bomb) costs no more than that.
    """
    with path.open("rb") as file:
        head = file.read(1024)
        file.seek(0)
        if not head.startswith(_GZIP_SIGNATURE):
            bound = _promised_size(path, head) if limit is None else limit
            size = os.fstat(file.fileno()).st_size
            if size > bound:
                raise IDXFormatError(f"{path}: {size} bytes, more than the {bound} an IDX file of its shape has")
            return file.read()
        return _inflate(path, file, limit)


def _promised_size(path: Path, head: bytes) -> int:
    """The size the IDX header at the start of `head` promises (MAX_IDX_BYTES while the header is incomplete)."""
    if len(head) < 4:
        return MAX_IDX_BYTES
    ndim = head[3]
    if len(head) < 4 + 4 * ndim:
        return MAX_IDX_BYTES
    dims: tuple[int, ...] = struct.unpack(f">{ndim}I", head[4 : 4 + 4 * ndim])
    promised = idx_size(dims)
    if promised > MAX_IDX_BYTES:
        raise IDXFormatError(f"{path}: its header promises {promised} bytes, more than the {MAX_IDX_BYTES} allowed")
    return promised


def _inflate(path: Path, file: BinaryIO, limit: int | None) -> bytes:
    """Every gzip member of `file` decompressed, stopping past `limit` (or the size the IDX header promises)."""
    output = bytearray()
    bound = MAX_IDX_BYTES if limit is None else limit
    # wbits 16+: a gzip stream, whose trailer (CRC-32 and length) zlib checks, so a flipped byte raises.
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    pending = b""
    try:
        while True:
            if not pending:
                pending = file.read(_CHUNK)
                if not pending:
                    break
            # At most a chunk of output per call: an input chunk of a bomb inflates a thousandfold.
            output += decompressor.decompress(pending, min(bound + 1 - len(output), _CHUNK))
            pending = decompressor.unconsumed_tail
            if limit is None and bound == MAX_IDX_BYTES:
                bound = _promised_size(path, bytes(output[:1024]))
            if len(output) > bound:
                raise IDXFormatError(
                    f"{path}: decompresses to more than the {bound} bytes an IDX file of its shape has (stopped there)"
                )
            if decompressor.eof:
                # Another gzip member may follow (a file written in pieces); anything else is damage.
                pending = decompressor.unused_data + pending
                decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
                if not pending and not (pending := file.read(_CHUNK)):
                    return bytes(output)
        raise IDXFormatError(f"{path}: broken gzip stream (truncated)")
    except zlib.error as error:
        raise IDXFormatError(f"{path}: broken gzip stream ({error})") from error


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
    limit = None if shape is None else idx_size(shape)
    return parse_idx(read_idx_payload(path, limit), magic=magic, shape=shape, source=str(path))


def encode_idx(array: npt.NDArray[np.uint8]) -> bytes:
    """The IDX payload of a uint8 array: the inverse of `parse_idx`."""
    if array.dtype != np.uint8 or array.ndim == 0:
        raise ValueError(
            f"encode_idx writes uint8 arrays of at least one dimension, not {array.dtype} of shape {array.shape}"
        )
    header = struct.pack(f">I{array.ndim}I", (_UBYTE_CODE << 8) | array.ndim, *array.shape)
    return header + np.ascontiguousarray(array).tobytes()
