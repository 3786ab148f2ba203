"""The device registry: which devices exist and what each is made of.

A `DeviceSpec` bundles a device's allocator, compiler factory and runtime, so the layers above
ask for `Device.get("CPU")` and never name a concrete class. The registry is open: a later
`Device.register` adds e.g. "CUDA" without touching this module. The `DEVICE` environment
variable is read once, when this module is imported.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Final

from lamina.device.allocator import Allocator, CPUAllocator
from lamina.device.compiler import Compiler, CPUCompiler
from lamina.device.program import Program, Runtime

_DEFAULT_DEVICE: Final = os.environ.get("DEVICE", "CPU").upper() or "CPU"


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """A device: its name, where its memory comes from, how its kernels are compiled and launched."""

    name: str
    allocator: Allocator
    compiler: Callable[[], Compiler]
    runtime: Runtime


class Device:
    """The registry of devices, by upper-case name."""

    _specs: ClassVar[dict[str, DeviceSpec]] = {}

    @classmethod
    def register(cls, spec: DeviceSpec) -> None:
        """Make `spec` available as `Device.get(spec.name)`; re-registering a name replaces it."""
        cls._specs[spec.name.upper()] = spec

    @classmethod
    def get(cls, name: str) -> DeviceSpec:
        """The device called `name` (any case); raises ValueError listing the known devices."""
        spec = cls._specs.get(name.upper())
        if spec is None:
            raise ValueError(f"unknown device {name!r}; known devices: {', '.join(cls.known())}")
        return spec

    @classmethod
    def known(cls) -> tuple[str, ...]:
        """The names of every registered device."""
        return tuple(sorted(cls._specs))

    @staticmethod
    def default_name() -> str:
        """The `DEVICE` environment variable (upper-cased) as read at import, else "CPU"."""
        return _DEFAULT_DEVICE


Device.register(DeviceSpec(name="CPU", allocator=CPUAllocator(), compiler=CPUCompiler, runtime=Program))
