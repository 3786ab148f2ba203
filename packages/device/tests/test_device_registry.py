"""The device registry: CPU is registered (its compiler made from a Toolchain), unknown names list the known ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from lamina.device import CPUAllocator, CPUCompiler, Device, KernelCache, Program, Toolchain


def test_cpu_is_registered_with_its_allocator_compiler_and_runtime(tmp_path: Path) -> None:
    spec = Device.get("CPU")
    assert spec.name == "CPU"
    assert isinstance(spec.allocator, CPUAllocator)
    compiler = spec.compiler(Toolchain(None, KernelCache(tmp_path)))
    assert isinstance(compiler, CPUCompiler)
    assert spec.runtime is Program


def test_device_names_are_case_insensitive() -> None:
    assert Device.get("cpu") is Device.get("CPU")


def test_unknown_device_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown device 'CUDA'; known devices: .*CPU"):
        Device.get("CUDA")
