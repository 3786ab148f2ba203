"""`Module`: the base class of layers and models, with torch-style parameter discovery and state dicts.

A module needs no registration boilerplate: every Tensor reachable from its attributes (directly,
in sub-Modules, or inside lists, tuples and dicts of them) is found by walking `vars(self)` in
definition order, and named with torch's dotted paths ("layers.0.weight"). Tensors named with
`register_buffer` (running statistics and the like) are state but not parameters, so optimizers
skip them while `state_dict` keeps them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Self

from lamina.tensor import Tensor, realize

_BUFFERS = "_buffer_names"


def _walk(value: object, prefix: str, seen: set[int]) -> Iterator[tuple[str, Tensor, Module | None, str]]:
    # Yields (dotted name, tensor, owning module, attribute name in that module); `seen` stops cycles.
    if isinstance(value, Module):
        if id(value) in seen:
            return
        seen.add(id(value))
        for name, attribute in vars(value).items():
            if name == _BUFFERS:
                continue
            if isinstance(attribute, Tensor):
                yield prefix + name, attribute, value, name
            else:
                yield from _walk(attribute, f"{prefix}{name}.", seen)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _children(item, f"{prefix}{index}", seen)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _children(item, f"{prefix}{key}", seen)


def _children(item: object, name: str, seen: set[int]) -> Iterator[tuple[str, Tensor, Module | None, str]]:
    if isinstance(item, Tensor):
        yield name, item, None, name
    else:
        yield from _walk(item, name + ".", seen)


class Module:
    """Base class of layers and models: subclasses set Tensor attributes and define `forward`."""

    training: bool = True

    def __call__(self, *args: Any, **kwargs: Any) -> Tensor:
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Tensor:
        """The computation; every subclass defines it."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    # -- discovery --

    def register_buffer(self, name: str, tensor: Tensor) -> None:
        """Set attribute `name` to `tensor`, as state that is saved but not trained."""
        buffers: set[str] = self.__dict__.setdefault(_BUFFERS, set())
        buffers.add(name)
        setattr(self, name, tensor)

    def _named_state(self) -> Iterator[tuple[str, Tensor, bool]]:
        # Each tensor once (the first name wins, as in torch), with whether it is a buffer.
        found: set[int] = set()
        for name, tensor, owner, attribute in _walk(self, "", set()):
            if id(tensor) in found:
                continue
            found.add(id(tensor))
            is_buffer = owner is not None and attribute in owner.__dict__.get(_BUFFERS, ())
            yield name, tensor, is_buffer

    def named_parameters(self) -> list[tuple[str, Tensor]]:
        """(dotted name, tensor) of every parameter, in attribute order."""
        return [(name, tensor) for name, tensor, is_buffer in self._named_state() if not is_buffer]

    def parameters(self) -> list[Tensor]:
        """Every parameter tensor (each once, even when shared)."""
        return [tensor for _, tensor in self.named_parameters()]

    def named_buffers(self) -> list[tuple[str, Tensor]]:
        """(dotted name, tensor) of every registered buffer."""
        return [(name, tensor) for name, tensor, is_buffer in self._named_state() if is_buffer]

    def buffers(self) -> list[Tensor]:
        return [tensor for _, tensor in self.named_buffers()]

    def modules(self) -> list[Module]:
        """This module and every sub-module reachable from it, each once."""
        found: list[Module] = []
        pending: list[object] = [self]
        while pending:
            value = pending.pop(0)
            if isinstance(value, Module):
                if any(value is known for known in found):
                    continue
                found.append(value)
                pending.extend(vars(value).values())
            elif isinstance(value, (list, tuple)):
                pending.extend(value)
            elif isinstance(value, dict):
                pending.extend(value.values())
        return found

    # -- state --

    def state_dict(self) -> dict[str, Tensor]:
        """Parameters and buffers by dotted name (the tensors themselves, not copies)."""
        return {name: tensor for name, tensor, _ in self._named_state()}

    def load_state_dict(self, state: Mapping[str, Tensor], strict: bool = True) -> None:
        """Copy `state` into this module's tensors (same objects); names and shapes must match."""
        own = self.state_dict()
        missing = [name for name in own if name not in state]
        unexpected = [name for name in state if name not in own]
        mismatched = [
            f"{name}: checkpoint {state[name].shape} vs model {tensor.shape}"
            for name, tensor in own.items()
            if name in state and state[name].shape != tensor.shape
        ]
        problems = []
        if mismatched:
            problems.append("shape mismatch for " + "; ".join(mismatched))
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        if problems:
            raise ValueError(f"load_state_dict into {type(self).__name__}: " + ". ".join(problems))
        updated = [
            tensor.assign(state[name].detach().cast(tensor.dtype)) for name, tensor in own.items() if name in state
        ]
        realize(*updated)

    # -- mode --

    def train(self, mode: bool = True) -> Self:
        """Set training mode (dropout active, batch statistics) on this module and every sub-module."""
        for module in self.modules():
            module.training = mode
        return self

    def eval(self) -> Self:
        """Set evaluation mode (dropout off, running statistics)."""
        return self.train(False)
