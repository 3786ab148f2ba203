"""Exhaustive agreement with torch.promote_types and torch.result_type; skipped when torch is not installed."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from lamina.dtype import DType, Scalar, dtypes, promote_types, result_type

_SCALARS: list[Scalar] = [True, False, 0, 1, -1, 1000, 2**40, 2.5, -0.0, float("inf")]


def _torch_dtypes(torch: Any) -> dict[DType, Any]:
    """lamina dtype -> torch dtype, for the dtypes this torch version has (uint16/32/64 arrived in torch 2.3)."""
    return {d: getattr(torch, d.name) for d in dtypes.all if hasattr(torch, d.name)}


def _from_torch(torch_dtypes: dict[DType, Any], torch_dtype: Any) -> DType:
    return next(d for d, t in torch_dtypes.items() if t == torch_dtype)


def test_promote_types_matches_torch_on_every_pair() -> None:
    torch = pytest.importorskip("torch")
    mapping = _torch_dtypes(torch)
    compared = 0
    for a, b in itertools.product(mapping, repeat=2):
        try:
            expected = torch.promote_types(mapping[a], mapping[b])
        except RuntimeError:
            # torch refuses most promotions involving uint16/32/64; lamina defines them like numpy does.
            continue
        assert promote_types(a, b) is _from_torch(mapping, expected), (a, b)
        compared += 1
    assert compared >= 100


def test_result_type_matches_torch_for_every_tensor_and_scalar() -> None:
    torch = pytest.importorskip("torch")
    mapping = _torch_dtypes(torch)
    for dtype, scalar in itertools.product(mapping, _SCALARS):
        try:
            tensor = torch.zeros(2, dtype=mapping[dtype])
            expected = _from_torch(mapping, torch.result_type(tensor, scalar))
        except RuntimeError:
            continue
        # A Python int alone becomes torch's int64 but lamina's default_int (int32).
        if expected is dtypes.int64 and dtype is not dtypes.int64:
            expected = dtypes.default_int
        assert result_type(dtype, scalar) is expected, (dtype, scalar)
        assert result_type(scalar, dtype) is expected, (scalar, dtype)


def test_result_type_matches_torch_for_two_tensors() -> None:
    torch = pytest.importorskip("torch")
    mapping = _torch_dtypes(torch)
    for a, b in itertools.product(mapping, repeat=2):
        try:
            expected = torch.result_type(torch.zeros(2, dtype=mapping[a]), torch.zeros(2, dtype=mapping[b]))
        except RuntimeError:
            continue
        assert result_type(a, b) is _from_torch(mapping, expected), (a, b)
