"""The `Shape` type, its element count and its validation: the vocabulary every other module here speaks.

A shape is a tuple of non-negative Python ints, one per dimension; `()` is the shape of a 0-d tensor
and a shape containing 0 describes an empty tensor. Every public function in this package checks its
shape arguments with `check_shape`, so a negative or non-integer size fails at the call that received
it, with the offending shape in the message.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Sequence
from typing import SupportsIndex

Shape = tuple[int, ...]


def prod(values: Iterable[int]) -> int:
    """The product of `values` (1 for none): the element count of a shape."""
    return math.prod(values)


def check_shape(shape: Sequence[SupportsIndex], what: str = "shape") -> Shape:
    """`shape` as a tuple of Python ints (numpy ints too); TypeError for non-integers, ValueError for negatives."""
    if type(shape) is tuple and all(type(size) is int and size >= 0 for size in shape):
        return shape  # already what is asked for: the check every graph-building op makes, kept cheap
    try:
        sizes = tuple(operator.index(size) for size in shape)
    except TypeError:
        raise TypeError(f"{what} {tuple(shape)} must contain only integers") from None
    if any(size < 0 for size in sizes):
        raise ValueError(f"{what} {sizes} has a negative dimension")
    return sizes
