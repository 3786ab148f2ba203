"""scaled_dot_product_attention against numpy: plain, causal, boolean keep-masks and additive float masks."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from lamina.nn import functional
from lamina.tensor import Tensor

Array = npt.NDArray[np.float64]


def attention_reference(query: Array, key: Array, value: Array, bias: Array | None) -> Array:
    scores = query @ np.swapaxes(key, -1, -2) / np.sqrt(query.shape[-1])
    if bias is not None:
        scores = scores + bias
    scores = scores - scores.max(-1, keepdims=True)
    weights = np.exp(scores)
    result: Array = (weights / weights.sum(-1, keepdims=True)) @ value
    return result


@pytest.fixture
def qkv(rng: np.random.Generator) -> tuple[Array, Array, Array]:
    return rng.standard_normal((2, 3, 4, 8)), rng.standard_normal((2, 3, 5, 8)), rng.standard_normal((2, 3, 5, 6))


def test_attention_without_mask_matches_numpy(qkv: tuple[Array, Array, Array]) -> None:
    query, key, value = qkv
    out = functional.scaled_dot_product_attention(Tensor(query), Tensor(key), Tensor(value)).numpy()
    np.testing.assert_allclose(out, attention_reference(query, key, value, None), rtol=1e-10, atol=1e-12)


def test_causal_attention_sees_only_earlier_positions(qkv: tuple[Array, Array, Array]) -> None:
    query, key, value = qkv
    out = functional.scaled_dot_product_attention(Tensor(query), Tensor(key), Tensor(value), is_causal=True).numpy()
    causal = np.where(np.tril(np.ones((4, 5), dtype=bool)), 0.0, -np.inf)
    np.testing.assert_allclose(out, attention_reference(query, key, value, causal), rtol=1e-10, atol=1e-12)


def test_bool_mask_keeps_where_true(qkv: tuple[Array, Array, Array], rng: np.random.Generator) -> None:
    query, key, value = qkv
    keep = rng.random((4, 5)) > 0.4
    keep[:, 0] = True
    mask = Tensor(keep)
    out = functional.scaled_dot_product_attention(Tensor(query), Tensor(key), Tensor(value), attn_mask=mask).numpy()
    bias = np.where(keep, 0.0, -np.inf)
    np.testing.assert_allclose(out, attention_reference(query, key, value, bias), rtol=1e-10, atol=1e-12)


def test_float_mask_is_added_to_the_scores(qkv: tuple[Array, Array, Array], rng: np.random.Generator) -> None:
    query, key, value = qkv
    bias = rng.standard_normal((3, 4, 5))
    out = functional.scaled_dot_product_attention(
        Tensor(query), Tensor(key), Tensor(value), attn_mask=Tensor(bias)
    ).numpy()
    np.testing.assert_allclose(out, attention_reference(query, key, value, bias), rtol=1e-10, atol=1e-12)


def test_mask_and_is_causal_together_are_rejected(qkv: tuple[Array, Array, Array]) -> None:
    query, key, value = (Tensor(each) for each in qkv)
    with pytest.raises(ValueError, match="not both"):
        functional.scaled_dot_product_attention(query, key, value, Tensor.ones(4, 5), is_causal=True)
