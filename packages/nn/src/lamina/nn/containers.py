"""Containers with torch's names and state_dict keys: ModuleList, ModuleDict, ParameterList, ParameterDict.

Each holds its items as attributes named by index or key ("0", "1", ... or the dict's keys), the way
Sequential does, so `Module` finds them without registration and their state is named as torch names it
(`layers.0.weight`, `heads.q.weight`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from lamina.nn.module import Module
from lamina.tensor import Tensor


class _Indexed(Module):
    """Items stored as attributes "0", "1", ...: the part ModuleList and ParameterList share."""

    def __init__(self, items: Iterable[Any] = ()) -> None:
        self._count = 0
        for item in items:
            self.append(item)

    def _check(self, item: Any) -> None:
        raise NotImplementedError

    def append(self, item: Any) -> _Indexed:
        self._check(item)
        setattr(self, str(self._count), item)
        self._count += 1
        return self

    def extend(self, items: Iterable[Any]) -> _Indexed:
        for item in items:
            self.append(item)
        return self

    def __len__(self) -> int:
        return self._count

    def _position(self, index: int) -> str:
        if not -self._count <= index < self._count:
            raise IndexError(f"{type(self).__name__} of {self._count} items has no item {index}")
        return str(index % self._count)

    def __getitem__(self, index: int) -> Any:
        return getattr(self, self._position(index))

    def __setitem__(self, index: int, item: Any) -> None:
        self._check(item)
        setattr(self, self._position(index), item)

    def __iter__(self) -> Iterator[Any]:
        return (getattr(self, str(index)) for index in range(self._count))

    def forward(self, *args: Any, **kwargs: Any) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} is a container: call its items, not it")


class ModuleList(_Indexed):
    """A list of modules (torch.nn.ModuleList)."""

    def _check(self, item: Any) -> None:
        if not isinstance(item, Module):
            raise TypeError(f"ModuleList holds modules, got {type(item).__name__}")

    def insert(self, index: int, module: Module) -> None:
        items = list(self)
        items.insert(index, module)
        for position in range(self._count):
            delattr(self, str(position))
        self._count = 0
        self.extend(items)


class ParameterList(_Indexed):
    """A list of parameters (torch.nn.ParameterList): each made to require grad."""

    def _check(self, item: Any) -> None:
        if not isinstance(item, Tensor):
            raise TypeError(f"ParameterList holds tensors, got {type(item).__name__}")
        if item.dtype.is_float and not item.requires_grad:
            item.requires_grad_(True)


class _Keyed(Module):
    """Items stored as attributes named by their keys: ModuleDict and ParameterDict."""

    def __init__(self, items: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None) -> None:
        self._keys: list[str] = []
        if items is not None:
            self.update(items)

    def _check(self, item: Any) -> None:
        raise NotImplementedError

    def __setitem__(self, key: str, item: Any) -> None:
        if not isinstance(key, str) or not key.isidentifier() or key.startswith("_"):
            raise KeyError(f"{type(self).__name__} keys must be identifiers not starting with _, got {key!r}")
        self._check(item)
        if key not in self._keys:
            self._keys.append(key)
        setattr(self, key, item)

    def __getitem__(self, key: str) -> Any:
        if key not in self._keys:
            raise KeyError(key)
        return getattr(self, key)

    def __delitem__(self, key: str) -> None:
        self._keys.remove(key)
        delattr(self, key)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._keys))

    def keys(self) -> list[str]:
        return list(self._keys)

    def values(self) -> list[Any]:
        return [getattr(self, key) for key in self._keys]

    def items(self) -> list[tuple[str, Any]]:
        return [(key, getattr(self, key)) for key in self._keys]

    def update(self, items: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        for key, item in pairs:
            self[key] = item

    def forward(self, *args: Any, **kwargs: Any) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} is a container: call its items, not it")


class ModuleDict(_Keyed):
    """Modules by name (torch.nn.ModuleDict), in insertion order."""

    def _check(self, item: Any) -> None:
        if not isinstance(item, Module):
            raise TypeError(f"ModuleDict holds modules, got {type(item).__name__}")


class ParameterDict(_Keyed):
    """Parameters by name (torch.nn.ParameterDict), each made to require grad."""

    def _check(self, item: Any) -> None:
        if not isinstance(item, Tensor):
            raise TypeError(f"ParameterDict holds tensors, got {type(item).__name__}")
        if item.dtype.is_float and not item.requires_grad:
            item.requires_grad_(True)
