"""Sliding-window arithmetic shared by convolution and pooling: how many windows fit along one dimension.

A window of `kernel` taps spaced `dilation` apart spans dilation * (kernel - 1) + 1 elements; it
slides by `stride` over the dimension padded by `padding` on both sides. The count is the formula
torch.nn.Conv*d and MaxPool*d document, and fewer than one window is an error, not an empty output.
"""

from __future__ import annotations


def pool_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """The number of window positions along one dimension: floor((size + 2p - d(k-1) - 1) / s) + 1."""
    if size < 0 or padding < 0:
        raise ValueError(f"size {size} and padding {padding} must be non-negative")
    if kernel < 1 or stride < 1 or dilation < 1:
        raise ValueError(f"kernel {kernel}, stride {stride} and dilation {dilation} must be at least 1")
    span = dilation * (kernel - 1) + 1
    output = (size + 2 * padding - span) // stride + 1
    if output < 1:
        raise ValueError(
            f"a window spanning {span} (kernel {kernel}, dilation {dilation}) does not fit in size {size} "
            f"with padding {padding}: output size would be {output}"
        )
    return output
