"""`einsum` for any equation, and `meshgrid`: free functions, as torch has them.

An einsum is lowered to the movement and arithmetic matmul uses: each operand's repeated letters become a
diagonal, its dims are permuted into one order of all the equation's letters (with size-1 dims for the
letters it lacks), the operands are multiplied with broadcasting and the letters the output lacks are summed.
That is one multiply-sum the scheduler fuses like a matmul, and its gradient is the gradients of those ops.
"""

from __future__ import annotations

import string
from collections.abc import Sequence

from lamina.tensor.tensor import Tensor

_LETTERS = frozenset(string.ascii_letters)


def _parse(equation: str, operands: Sequence[Tensor]) -> tuple[list[str], str]:
    """The letters of each operand and of the output, an ellipsis replaced by fresh letters for its dims."""
    compact = equation.replace(" ", "")
    inputs_part, arrow, output_part = compact.partition("->")
    inputs = inputs_part.split(",")
    if len(inputs) != len(operands):
        raise ValueError(f"einsum: {equation!r} names {len(inputs)} operands, got {len(operands)}")
    used = {letter for letter in compact if letter in _LETTERS}
    spare = [letter for letter in string.ascii_letters if letter not in used]
    ellipsis_dims = 0
    for term, operand in zip(inputs, operands, strict=True):
        letters = term.replace("...", "")
        if any(letter not in _LETTERS for letter in letters):
            raise ValueError(f"einsum: {equation!r} has characters that are not letters in {term!r}")
        if "..." in term:
            ellipsis_dims = max(ellipsis_dims, operand.ndim - len(letters))
        elif len(letters) != operand.ndim:
            raise ValueError(f"einsum: {term!r} names {len(letters)} dims of an operand of shape {operand.shape}")
    broadcast = "".join(spare[:ellipsis_dims])
    expanded = []
    for term, operand in zip(inputs, operands, strict=True):
        if "..." in term:
            own = operand.ndim - len(term.replace("...", ""))
            term = term.replace("...", broadcast[ellipsis_dims - own :])
        expanded.append(term)
    if arrow:
        output = output_part.replace("...", broadcast)
        named = {letter for term in expanded for letter in term}
        if any(letter not in named for letter in output):
            raise ValueError(f"einsum: the output of {equation!r} names a letter no operand has")
    else:
        counts = {letter: "".join(expanded).count(letter) for letter in set("".join(expanded))}
        output = broadcast + "".join(
            sorted(letter for letter, count in counts.items() if count == 1 and letter not in broadcast)
        )
    if len(set(output)) != len(output):
        raise ValueError(f"einsum: the output of {equation!r} repeats a letter")
    return expanded, output


def einsum(equation: str, *operands: Tensor | Sequence[Tensor]) -> Tensor:
    """torch.einsum: `einsum("ij,jk->ik", a, b)` (operands also as one list), ellipses and implicit outputs."""
    tensors: list[Tensor] = (
        list(operands[0]) if len(operands) == 1 and not isinstance(operands[0], Tensor) else list(operands)  # type: ignore[arg-type]
    )
    terms, output = _parse(equation, tensors)
    sizes: dict[str, int] = {}
    prepared: list[tuple[str, Tensor]] = []
    for term, tensor in zip(terms, tensors, strict=True):
        # Repeated letters in one term take the diagonal of those dims.
        while len(set(term)) != len(term):
            letter = next(each for each in term if term.count(each) > 1)
            first, second = term.index(letter), term.index(letter, term.index(letter) + 1)
            tensor = tensor.diagonal(0, first, second)
            term = "".join(each for position, each in enumerate(term) if position not in (first, second)) + letter
        for letter, size in zip(term, tensor.shape, strict=True):
            if sizes.setdefault(letter, size) != size and size != 1 and sizes[letter] != 1:
                raise ValueError(f"einsum: letter {letter!r} of {equation!r} has sizes {sizes[letter]} and {size}")
            sizes[letter] = max(sizes[letter], size)
        prepared.append((term, tensor))
    everything = output + "".join(sorted(set(sizes) - set(output)))
    product: Tensor | None = None
    for term, tensor in prepared:
        order = sorted(range(len(term)), key=lambda position: everything.index(term[position]))
        moved = tensor.permute(order) if order != list(range(len(term))) else tensor
        present = "".join(term[position] for position in order)
        shape = tuple(moved.shape[present.index(letter)] if letter in present else 1 for letter in everything)
        aligned = moved.reshape(shape)
        product = aligned if product is None else product * aligned
    assert product is not None
    summed = tuple(range(len(output), len(everything)))
    result = product.sum(summed) if summed else product
    full = tuple(sizes[letter] for letter in output)
    return result.expand(full) if result.shape != full else result


def meshgrid(*tensors: Tensor | Sequence[Tensor], indexing: str = "ij") -> list[Tensor]:
    """Coordinate grids from 1-D tensors (torch.meshgrid): "ij" indexes like matrices, "xy" like images."""
    vectors: list[Tensor] = (
        list(tensors[0]) if len(tensors) == 1 and not isinstance(tensors[0], Tensor) else list(tensors)  # type: ignore[arg-type]
    )
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid's indexing must be 'ij' or 'xy', got {indexing!r}")
    if any(vector.ndim > 1 for vector in vectors):
        raise ValueError(f"meshgrid needs 0-d or 1-D tensors, got shapes {[vector.shape for vector in vectors]}")
    flat = [vector.reshape(-1) for vector in vectors]
    shape = [vector.shape[0] for vector in flat]
    if indexing == "xy" and len(flat) >= 2:
        shape[0], shape[1] = shape[1], shape[0]
    grids = []
    for position, vector in enumerate(flat):
        axis = position
        if indexing == "xy" and len(flat) >= 2 and position < 2:
            axis = 1 - position
        view = [1] * len(flat)
        view[axis] = vector.shape[0]
        grids.append(vector.reshape(tuple(view)).expand(tuple(shape)))
    return grids
