"""Fixtures for the device tests: a private cache directory per test and the C compilers present on the machine."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lamina.device import CPUCompiler, KernelCache

COMPILER_NAMES = ("gcc", "clang")


@pytest.fixture
def cache(tmp_path: Path) -> KernelCache:
    return KernelCache(tmp_path / "cache")


@pytest.fixture
def compiler() -> CPUCompiler:
    if shutil.which("gcc") is None and shutil.which("clang") is None and shutil.which("cc") is None:
        pytest.skip("no C compiler installed")
    return CPUCompiler()


@pytest.fixture(params=COMPILER_NAMES)
def named_compiler(request: pytest.FixtureRequest) -> CPUCompiler:
    """Each of gcc and clang in turn, skipped where it is not installed."""
    name = str(request.param)
    if shutil.which(name) is None:
        pytest.skip(f"{name} is not installed")
    return CPUCompiler(name)
