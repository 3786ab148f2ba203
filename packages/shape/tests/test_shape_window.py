"""pool_output_size: the conv/pool window count torch documents, and errors when no window fits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lamina.shape import pool_output_size


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding", "dilation", "expected"),
    [
        (5, 3, 1, 0, 1, 3),
        (5, 3, 1, 1, 1, 5),
        (5, 3, 2, 1, 1, 3),
        (28, 2, 2, 0, 1, 14),
        (7, 2, 2, 0, 1, 3),
        (7, 3, 1, 0, 2, 3),
        (1, 1, 1, 0, 1, 1),
        (0, 1, 1, 1, 1, 2),
        (4, 5, 1, 1, 1, 2),
    ],
)
def test_pool_output_size_counts_window_positions(
    size: int, kernel: int, stride: int, padding: int, dilation: int, expected: int
) -> None:
    assert pool_output_size(size, kernel, stride, padding, dilation) == expected


@pytest.mark.parametrize(("size", "kernel", "dilation"), [(2, 3, 1), (0, 1, 1), (4, 3, 2)])
def test_pool_output_size_raises_when_no_window_fits(size: int, kernel: int, dilation: int) -> None:
    with pytest.raises(ValueError, match=f"does not fit in size {size}"):
        pool_output_size(size, kernel, stride=1, padding=0, dilation=dilation)


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding", "dilation"),
    [(-1, 1, 1, 0, 1), (4, 0, 1, 0, 1), (4, 1, 0, 0, 1), (4, 1, 1, -1, 1), (4, 1, 1, 0, 0)],
)
def test_pool_output_size_rejects_invalid_parameters(
    size: int, kernel: int, stride: int, padding: int, dilation: int
) -> None:
    with pytest.raises(ValueError, match="must be"):
        pool_output_size(size, kernel, stride, padding, dilation)


@given(
    size=st.integers(0, 40),
    kernel=st.integers(1, 6),
    stride=st.integers(1, 4),
    padding=st.integers(0, 3),
    dilation=st.integers(1, 3),
)
def test_pool_output_size_is_the_number_of_windows_that_fit(
    size: int, kernel: int, stride: int, padding: int, dilation: int
) -> None:
    padded = size + 2 * padding
    span = dilation * (kernel - 1) + 1
    starts = [start for start in range(0, padded, stride) if start + span <= padded]
    if not starts:
        with pytest.raises(ValueError, match="does not fit"):
            pool_output_size(size, kernel, stride, padding, dilation)
    else:
        assert pool_output_size(size, kernel, stride, padding, dilation) == len(starts)
