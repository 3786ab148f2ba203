"""Saving and loading tensors in the safetensors format, and module state dicts through it.

The format: an 8-byte little-endian header length, a JSON header mapping each name to its dtype
string, shape and [begin, end) byte offsets into the data section that follows (plus an optional
"__metadata__" map of strings), then the raw little-endian data. Loading memory-maps the file and
validates everything the header claims before touching data, so a damaged or hostile file gives
a `ValueError` naming the file and the problem rather than a crash or a huge allocation.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Mapping
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from lamina.dtype import DType, bfloat16_bits_to_float32, dtypes, float32_to_bfloat16_bits
from lamina.nn.module import Module
from lamina.tensor import Tensor

# A header this large is not a real checkpoint's; refusing it bounds what a bad file can make us allocate.
MAX_HEADER_BYTES: Final = 100 * 1024 * 1024
_ALIGNMENT: Final = 8

SAFETENSORS_DTYPES: Final[dict[str, DType]] = {
    "BOOL": dtypes.bool,
    "U8": dtypes.uint8,
    "I8": dtypes.int8,
    "U16": dtypes.uint16,
    "I16": dtypes.int16,
    "F16": dtypes.float16,
    "BF16": dtypes.bfloat16,
    "U32": dtypes.uint32,
    "I32": dtypes.int32,
    "F32": dtypes.float32,
    "U64": dtypes.uint64,
    "I64": dtypes.int64,
    "F64": dtypes.float64,
}
_NAMES: Final[dict[DType, str]] = {dtype: name for name, dtype in SAFETENSORS_DTYPES.items()}


def _storage_dtype(dtype: DType) -> np.dtype[Any]:
    # bfloat16 travels as its raw 16 bits; everything is little-endian on disk.
    name = "uint16" if dtype == dtypes.bfloat16 else dtype.np_name
    return np.dtype(name).newbyteorder("<")


def _raw_bytes(tensor: Tensor) -> bytes:
    values = tensor.numpy()
    if tensor.dtype == dtypes.bfloat16:
        values = float32_to_bfloat16_bits(values)
    return np.ascontiguousarray(values, dtype=_storage_dtype(tensor.dtype)).tobytes()


def save_safetensors(
    tensors: Mapping[str, Tensor], path: str | os.PathLike[str], metadata: Mapping[str, str] | None = None
) -> None:
    """Write `tensors` (and optional string `metadata`) to `path` as a safetensors file."""
    header: dict[str, Any] = {}
    if metadata is not None:
        header["__metadata__"] = {str(key): str(value) for key, value in metadata.items()}
    chunks: list[bytes] = []
    offset = 0
    for name, tensor in tensors.items():
        if name == "__metadata__":
            raise ValueError(f"{os.fspath(path)}: '__metadata__' is reserved and cannot name a tensor")
        if tensor.dtype not in _NAMES:
            raise ValueError(
                f"{os.fspath(path)}: tensor {name!r} has dtype {tensor.dtype}, which safetensors cannot hold"
            )
        data = _raw_bytes(tensor)
        header[name] = {
            "dtype": _NAMES[tensor.dtype],
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    # Pad the header with spaces so the data section starts 8-byte aligned, as the format asks.
    encoded += b" " * (-len(encoded) % _ALIGNMENT)
    with open(path, "wb") as file:
        file.write(struct.pack("<Q", len(encoded)))
        file.write(encoded)
        for chunk in chunks:
            file.write(chunk)


def _read_header(path: str, file_size: int) -> tuple[dict[str, Any], int]:
    if file_size < 8:
        raise ValueError(f"{path}: not a safetensors file: {file_size} bytes is too short for the header length")
    with open(path, "rb") as file:
        (length,) = struct.unpack("<Q", file.read(8))
        if length > MAX_HEADER_BYTES:
            raise ValueError(f"{path}: header length {length} exceeds the {MAX_HEADER_BYTES}-byte limit")
        if 8 + length > file_size:
            raise ValueError(f"{path}: header length {length} runs past the end of the {file_size}-byte file")
        raw = file.read(length)
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: the header is not valid JSON: {error}") from None
    except RecursionError:
        raise ValueError(f"{path}: the header nests JSON too deeply to be a safetensors header") from None
    except _DuplicateKeyError as error:
        raise ValueError(f"{path}: the header names {error.args[0]!r} twice") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: the header must be a JSON object, got {type(header).__name__}")
    return header, 8 + length


class _DuplicateKeyError(Exception):
    """A JSON object of the header repeats a key (json.loads would silently keep the last)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_entry(path: str, name: str, entry: object, data_size: int) -> tuple[DType, tuple[int, ...], int, int]:
    if not isinstance(entry, dict):
        raise ValueError(f"{path}: entry {name!r} must be a JSON object")
    dtype_name, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype_name, str) or dtype_name not in SAFETENSORS_DTYPES:
        raise ValueError(f"{path}: tensor {name!r} has unknown dtype {dtype_name!r}")
    if not isinstance(shape, list) or not all(_is_int(size) and size >= 0 for size in shape):
        raise ValueError(f"{path}: tensor {name!r} has invalid shape {shape!r}")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_int(each) for each in offsets):
        raise ValueError(f"{path}: tensor {name!r} has invalid data_offsets {offsets!r}")
    begin, end = offsets
    if not 0 <= begin <= end <= data_size:
        raise ValueError(f"{path}: tensor {name!r} data_offsets [{begin}, {end}] lie outside the {data_size}-byte data")
    dtype = SAFETENSORS_DTYPES[dtype_name]
    expected = math.prod(shape) * dtype.itemsize
    if end - begin != expected:
        raise ValueError(
            f"{path}: tensor {name!r} ({dtype_name} {shape}) needs {expected} bytes, data_offsets span {end - begin}"
        )
    return dtype, tuple(shape), begin, end


def _check_tiling(path: str, entries: Mapping[str, tuple[DType, tuple[int, ...], int, int]], data_size: int) -> None:
    """The tensors' byte ranges must cover the data section exactly, one after another, as the official reader
    demands: an overlap, a gap or bytes left over mean a damaged (or doctored) file."""
    position, previous = 0, None
    for begin, end, key in sorted((begin, end, key) for key, (_, _, begin, end) in entries.items()):
        if begin < position:
            raise ValueError(f"{path}: the data of tensors {previous!r} and {key!r} overlap")
        if begin > position:
            raise ValueError(f"{path}: bytes [{position}, {begin}) of the data belong to no tensor (before {key!r})")
        position, previous = end, key
    if position != data_size:
        raise ValueError(
            f"{path}: the tensors' data ends at byte {position} but the data section has {data_size} bytes"
        )


def _decode(path: str, name: str, raw: npt.NDArray[np.uint8], dtype: DType, shape: tuple[int, ...]) -> Tensor:
    if dtype == dtypes.bool and raw.size and int(raw.max()) > 1:
        bad = int(np.argmax(raw > 1))
        byte = int(raw[bad])
        raise ValueError(f"{path}: tensor {name!r} is BOOL but element {bad} holds the byte {byte}, not 0 or 1")
    values = raw.view(_storage_dtype(dtype)).reshape(shape)
    if dtype == dtypes.bfloat16:
        return Tensor(bfloat16_bits_to_float32(values), dtype=dtypes.bfloat16)
    return Tensor(values.astype(dtype.np_name), dtype=dtype)


def load_safetensors_with_metadata(path: str | os.PathLike[str]) -> tuple[dict[str, Tensor], dict[str, str]]:
    """The tensors and the string metadata of the safetensors file at `path`."""
    name = os.fspath(path)
    file_size = os.path.getsize(name)
    header, data_start = _read_header(name, file_size)
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ValueError(f"{name}: __metadata__ must map strings to strings")
    data_size = file_size - data_start
    entries = {key: _check_entry(name, key, entry, data_size) for key, entry in header.items()}
    _check_tiling(name, entries, data_size)
    # A plain array over the mapping: slicing a np.memmap runs Python code per slice, which dominated files of
    # many small tensors.
    data: npt.NDArray[np.uint8] = (
        np.asarray(np.memmap(name, dtype=np.uint8, mode="r", offset=data_start, shape=(data_size,)))
        if data_size
        else np.zeros(0, dtype=np.uint8)
    )
    tensors = {
        key: _decode(name, key, data[begin:end], dtype, shape) for key, (dtype, shape, begin, end) in entries.items()
    }
    return tensors, {str(key): value for key, value in metadata.items()}


def load_safetensors(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """The tensors of the safetensors file at `path`, by name."""
    return load_safetensors_with_metadata(path)[0]


def get_state_dict(module: Module) -> dict[str, Tensor]:
    """The module's parameters and buffers by dotted name."""
    return module.state_dict()


def load_state_dict(module: Module, state: Mapping[str, Tensor], strict: bool = True) -> None:
    """Copy `state` into the module's tensors (see Module.load_state_dict)."""
    module.load_state_dict(state, strict)
