"""What the CPU kernels will run on, as the C compiler sees it under the chosen `-march`: vector width and
register count from its predefined macros (`__AVX512F__`, `__AVX2__`, `__ARM_NEON`...), and the per-core
cache from the OS.

The compiler is asked rather than the machine: `-march=x86-64-v3` on an AVX-512 machine must produce,
and be optimized for, the AVX2 code a machine without AVX-512 runs.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

DEFAULT_CACHE_BYTES: Final = 1 << 20
"""The per-core (L2) cache assumed where the OS does not say."""


@dataclass(frozen=True, slots=True)
class CPUFeatures:
    """The instruction set the compiler targets and the core's cache."""

    isa: str  # "avx512", "avx2", "avx", "sse2", "neon" or "scalar"
    vector_bytes: int
    vector_registers: int
    cache_bytes: int


# In order of preference: the first macro the compiler defines names the widest vectors it may use.
_ISAS: Final = (
    ("__AVX512F__", "avx512", 64, 32),
    ("__AVX2__", "avx2", 32, 16),
    ("__AVX__", "avx", 32, 16),
    ("__ARM_NEON", "neon", 16, 32),
    ("__SSE2__", "sse2", 16, 16),
)


def features_from_macros(macros: Collection[str], cache_bytes: int) -> CPUFeatures:
    """The features a compiler defining `macros` targets (x86-64 has 16 vector registers below AVX-512)."""
    for macro, isa, width, registers in _ISAS:
        if macro in macros:
            return CPUFeatures(isa, width, registers, cache_bytes)
    return CPUFeatures("scalar", 8, 16, cache_bytes)


def predefined_macros(command: Sequence[str], flags: Sequence[str]) -> tuple[str, ...]:
    """The macros the compiler `command` predefines under `flags`; raises ValueError with its message if it
    refuses them (an unknown `-march`)."""
    try:
        result = subprocess.run(
            [*command, *flags, "-dM", "-E", "-x", "c", os.devnull], capture_output=True, text=True, check=False
        )
    except OSError as error:
        raise ValueError(f"could not run {command[0]!r}: {error}") from error
    if result.returncode != 0:
        first = next((line for line in result.stderr.splitlines() if line.strip()), "no message")
        raise ValueError(f"{command[0]} refuses {' '.join(flags)}: {first}")
    return tuple(line.split()[1] for line in result.stdout.splitlines() if line.startswith("#define "))


def l2_cache_bytes() -> int:
    """The L2 cache of one core as Linux reports it (`/sys`), else `DEFAULT_CACHE_BYTES`."""
    caches = Path("/sys/devices/system/cpu/cpu0/cache")
    for index in sorted(caches.glob("index*")):
        try:
            if (index / "level").read_text().strip() != "2":
                continue
            size = (index / "size").read_text().strip().upper()
        except OSError:
            continue
        scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(size[-1:], 1)
        digits = size.rstrip("KMG")
        if digits.isdigit():
            return int(digits) * scale
    return DEFAULT_CACHE_BYTES
