"""The device registry: CPU is registered, unknown names list the known ones, DEVICE picks the default."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lamina.device import CPUAllocator, CPUCompiler, Device, Program


def test_cpu_is_registered_with_its_allocator_compiler_and_runtime() -> None:
    spec = Device.get("CPU")
    assert spec.name == "CPU"
    assert isinstance(spec.allocator, CPUAllocator)
    assert spec.compiler is CPUCompiler
    assert spec.runtime is Program


def test_device_names_are_case_insensitive() -> None:
    assert Device.get("cpu") is Device.get("CPU")


def test_unknown_device_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown device 'CUDA'; known devices: .*CPU"):
        Device.get("CUDA")


@pytest.mark.parametrize(("value", "expected"), [(None, "CPU"), ("cpu", "CPU"), ("cuda", "CUDA")])
def test_default_name_reads_device_environment_variable(value: str | None, expected: str) -> None:
    environment = {key: item for key, item in os.environ.items() if key != "DEVICE"}
    if value is not None:
        environment["DEVICE"] = value
    code = "from lamina.device import Device; print(Device.default_name())"
    completed = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == expected
