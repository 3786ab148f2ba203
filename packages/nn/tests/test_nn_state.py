"""safetensors files: round trips of every dtype, the on-disk layout, malformed files, torch-library interop."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lamina.dtype import DType, dtypes
from lamina.nn import BatchNorm2d, Linear, Sequential
from lamina.nn.state import (
    SAFETENSORS_DTYPES,
    get_state_dict,
    load_safetensors,
    load_safetensors_with_metadata,
    load_state_dict,
    save_safetensors,
)
from lamina.tensor import Tensor


def sample(dtype: DType, shape: tuple[int, ...]) -> Tensor:
    values = np.arange(int(np.prod(shape))).reshape(shape)
    if dtype == dtypes.bool:
        return Tensor(values % 3 == 0)
    if dtype.is_float:
        return Tensor((values - 2.5) * 0.75, dtype=dtype)
    # Wrapped on purpose (numpy's astype wraps), so every byte pattern of the narrow integer dtypes appears.
    if dtype.is_unsigned:
        return Tensor((values * 37 + 200).astype(dtype.np_name), dtype=dtype)
    return Tensor((values * 37 - 100).astype(dtype.np_name), dtype=dtype)


def write_raw(path: Path, header: object, data: bytes = b"", length: int | None = None) -> Path:
    encoded = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(encoded) if length is None else length) + encoded + data)
    return path


@pytest.mark.parametrize("name", sorted(SAFETENSORS_DTYPES))
def test_every_dtype_round_trips(tmp_path: Path, name: str) -> None:
    dtype = SAFETENSORS_DTYPES[name]
    tensors = {"a": sample(dtype, (2, 3)), "scalar": sample(dtype, ()), "empty": sample(dtype, (0, 4))}
    path = tmp_path / "round.safetensors"
    save_safetensors(tensors, path)
    loaded = load_safetensors(path)
    assert list(loaded) == list(tensors)
    for key, tensor in tensors.items():
        assert loaded[key].dtype == dtype
        assert loaded[key].shape == tensor.shape
        np.testing.assert_array_equal(loaded[key].numpy(), tensor.numpy())


def test_file_layout_follows_the_format(tmp_path: Path) -> None:
    path = tmp_path / "layout.safetensors"
    save_safetensors(
        {"x": Tensor(np.array([1.0, 2.0], dtype=np.float32)), "y": Tensor(np.array([7], dtype=np.int64))}, path
    )
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    assert length % 8 == 0
    header = json.loads(raw[8 : 8 + length])
    assert header == {
        "x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "y": {"dtype": "I64", "shape": [1], "data_offsets": [8, 16]},
    }
    data = raw[8 + length :]
    assert np.frombuffer(data[:8], "<f4").tolist() == [1.0, 2.0]
    assert np.frombuffer(data[8:], "<i8").tolist() == [7]


def test_metadata_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "meta.safetensors"
    save_safetensors({"x": Tensor.zeros(2)}, path, metadata={"format": "pt"})
    tensors, metadata = load_safetensors_with_metadata(path)
    assert metadata == {"format": "pt"}
    assert list(tensors) == ["x"]


def test_module_state_round_trips_through_a_file(tmp_path: Path) -> None:
    source = Sequential(Linear(3, 4), BatchNorm2d(4))
    target = Sequential(Linear(3, 4), BatchNorm2d(4))
    path = tmp_path / "model.safetensors"
    save_safetensors(get_state_dict(source), path)
    load_state_dict(target, load_safetensors(path))
    for name, tensor in get_state_dict(target).items():
        np.testing.assert_array_equal(tensor.numpy(), source.state_dict()[name].numpy(), err_msg=name)


GOOD_ENTRY: dict[str, Any] = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
MALFORMED: dict[str, tuple[object, bytes, int | None, str]] = {
    "truncated length": (b"", b"", None, "too short"),
    "header past the end": ({"x": GOOD_ENTRY}, bytes(8), 10_000, "runs past the end"),
    "header over the cap": ({"x": GOOD_ENTRY}, bytes(8), 1 << 40, "exceeds"),
    "invalid json": (b"{not json", b"", None, "not valid JSON"),
    "not an object": (b"[1, 2]", b"", None, "JSON object"),
    "unknown dtype": ({"x": {**GOOD_ENTRY, "dtype": "F8"}}, bytes(8), None, "unknown dtype 'F8'"),
    "bad shape": ({"x": {**GOOD_ENTRY, "shape": [-2]}}, bytes(8), None, "invalid shape"),
    "bad offsets": ({"x": {**GOOD_ENTRY, "data_offsets": [0]}}, bytes(8), None, "invalid data_offsets"),
    "offsets outside": ({"x": {**GOOD_ENTRY, "data_offsets": [0, 16]}}, bytes(8), None, "lie outside"),
    "size mismatch": ({"x": {**GOOD_ENTRY, "shape": [3]}}, bytes(8), None, "needs 12 bytes"),
    "overlap": (
        {"x": GOOD_ENTRY, "y": {**GOOD_ENTRY, "data_offsets": [4, 12]}},
        bytes(16),
        None,
        "'x' and 'y' overlap",
    ),
    "bad metadata": ({"__metadata__": {"a": 1}}, b"", None, "__metadata__"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_files_raise_value_errors_naming_the_file(tmp_path: Path, case: str) -> None:
    header, data, length, message = MALFORMED[case]
    path = tmp_path / "bad.safetensors"
    if case == "truncated length":
        path.write_bytes(b"\x01\x02\x03")
    else:
        write_raw(path, header, data, length)
    with pytest.raises(ValueError, match=message) as error:
        load_safetensors(path)
    assert str(path) in str(error.value)


def test_saving_a_reserved_name_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="reserved"):
        save_safetensors({"__metadata__": Tensor.zeros(1)}, tmp_path / "x.safetensors")


def test_files_written_by_the_safetensors_library_load(tmp_path: Path) -> None:
    numpy_io = pytest.importorskip("safetensors.numpy")
    path = tmp_path / "theirs.safetensors"
    values = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "i": np.array([1, -2], dtype=np.int16)}
    numpy_io.save_file(values, str(path))
    loaded = load_safetensors(path)
    for key, array in values.items():
        np.testing.assert_array_equal(loaded[key].numpy(), array)


def test_files_written_here_load_in_the_safetensors_library(tmp_path: Path) -> None:
    numpy_io = pytest.importorskip("safetensors.numpy")
    path = tmp_path / "ours.safetensors"
    save_safetensors(
        {"w": Tensor(np.arange(6, dtype=np.float64).reshape(2, 3)), "b": Tensor(np.array([True, False]))}, path
    )
    loaded = numpy_io.load_file(str(path))
    np.testing.assert_array_equal(loaded["w"], np.arange(6, dtype=np.float64).reshape(2, 3))
    np.testing.assert_array_equal(loaded["b"], [True, False])


def _good_file(path: Path) -> Path:
    save_safetensors({"x": Tensor(np.arange(4, dtype=np.float32)), "y": Tensor(np.ones(2, np.int16))}, path)
    return path


def _with_inserted_byte(path: Path) -> Path:
    raw = _good_file(path).read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    start = 8 + length
    path.write_bytes(raw[:start] + b"\x00" + raw[start:])
    return path


# Files the official reader rejects: each must be rejected here too, with a ValueError naming the file.
HOSTILE: dict[str, tuple[Callable[[Path], Path], str]] = {
    "deeply nested header": (
        lambda path: write_raw(path, b'{"x": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"),
        "deeply",
    ),
    "gap between tensors": (
        lambda path: write_raw(path, {"x": GOOD_ENTRY, "y": {**GOOD_ENTRY, "data_offsets": [12, 20]}}, bytes(20)),
        r"bytes \[8, 12\) of the data belong to no tensor",
    ),
    "bytes left over": (lambda path: write_raw(path, {"x": GOOD_ENTRY}, bytes(12)), "ends at byte 8 but"),
    "byte inserted in the data": (_with_inserted_byte, "belong to no tensor|ends at byte"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_files_the_official_reader_rejects_are_rejected(tmp_path: Path, case: str) -> None:
    make, message = HOSTILE[case]
    path = make(tmp_path / "hostile.safetensors")
    with pytest.raises(ValueError, match=message) as error:
        load_safetensors(path)
    assert str(path) in str(error.value)
    numpy_io = pytest.importorskip("safetensors.numpy")
    with pytest.raises(Exception):  # noqa: B017, PT011 - the official reader raises its own error types
        numpy_io.load_file(str(path))


def test_a_bool_byte_other_than_zero_or_one_is_refused(tmp_path: Path) -> None:
    path = write_raw(
        tmp_path / "bool.safetensors", {"b": {"dtype": "BOOL", "shape": [3], "data_offsets": [0, 3]}}, bytes([0, 1, 2])
    )
    with pytest.raises(ValueError, match="element 2 holds the byte 2"):
        load_safetensors(path)


def test_a_name_given_twice_is_refused(tmp_path: Path) -> None:
    # Stricter than the official reader, which keeps one of them: either choice would hide the other tensor.
    entry = b'{"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}'
    path = write_raw(tmp_path / "twice.safetensors", b'{"x": ' + entry + b', "x": ' + entry + b"}", bytes(8))
    with pytest.raises(ValueError, match="names 'x' twice"):
        load_safetensors(path)
