"""What a `lamina bench` run is measured under: the compiler and `-march` configurations, the machine's CPU,
and an optional competing busy process (`--load`).

Each configuration after the first runs in a fresh process: the compiler and the `-march` are fixed when a
process compiles its first kernel, and numpy and torch are timed again beside lamina in that same process,
so every ratio is taken in one run.

numpy's OpenBLAS and torch (MKL, oneDNN, its own kernels) pick their code at run time from the machine's
instruction set: under a narrower `-march` than the machine's (`x86-64-v3` on an AVX-512 machine) their
process is capped to the same instruction set, so a column compares lamina's AVX2 code with the references'
AVX2 code, as on a machine without AVX-512 (`--reference-isa native` leaves them uncapped).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

COMPILER_CHOICES = ("gcc", "clang", "both")


@dataclass(frozen=True, slots=True)
class Configuration:
    """One way of building lamina's kernels: the C compiler (None: the default one) and the `-march`."""

    compiler: str | None
    march: str

    @property
    def label(self) -> str:
        return f"{self.compiler or 'default compiler'}, -march={self.march}"


def configurations(compiler: str | None, marches: Sequence[str] | None) -> list[Configuration]:
    """Every (compiler, march) pair asked for: `--compiler both` is gcc then clang."""
    compilers: list[str | None] = ["gcc", "clang"] if compiler == "both" else [compiler]
    return [Configuration(name, march) for name in compilers for march in (marches or ["native"])]


def cpu_model() -> str:
    """The CPU's model name as Linux reports it, else what Python's platform module knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


_BUSY = "while True:\n    pass\n"


@contextlib.contextmanager
def competing_load(enabled: bool) -> Iterator[str | None]:
    """While open, a busy process spins on the last core (another tenant of a shared machine); yields what it
    is, or None when not `enabled`."""
    if not enabled:
        yield None
        return
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    core = cores[-1]

    def pin() -> None:
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {core})

    busy = subprocess.Popen([sys.executable, "-c", _BUSY], preexec_fn=pin)  # the hook only pins the child to its core
    try:
        yield f"a busy process on core {core}"
    finally:
        busy.kill()
        busy.wait()


# The variables each reference library reads to cap the instruction set it dispatches to, per lamina ISA
# below AVX-512 (the widest x86 code the references run).
_REFERENCE_CAPS: Final[dict[str, dict[str, str]]] = {
    "avx2": {
        "ATEN_CPU_CAPABILITY": "avx2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "OPENBLAS_CORETYPE": "Haswell",
    },
    "avx": {
        "ATEN_CPU_CAPABILITY": "default",
        "MKL_ENABLE_INSTRUCTIONS": "AVX",
        "ONEDNN_MAX_CPU_ISA": "AVX",
        "OPENBLAS_CORETYPE": "SandyBridge",
    },
    "sse2": {
        "ATEN_CPU_CAPABILITY": "default",
        "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
        "ONEDNN_MAX_CPU_ISA": "SSE41",
        "OPENBLAS_CORETYPE": "Nehalem",
    },
}
REFERENCE_CAP_VARIABLES: Final = (
    "ATEN_CPU_CAPABILITY",
    "MKL_ENABLE_INSTRUCTIONS",
    "ONEDNN_MAX_CPU_ISA",
    "OPENBLAS_CORETYPE",
)
_ISA_ORDER: Final = ("scalar", "sse2", "neon", "avx", "avx2", "avx512")


def reference_caps(kernel_isa: str, machine_isa: str) -> dict[str, str]:
    """The environment that caps numpy's and torch's kernels to `kernel_isa` when the machine's own
    (`machine_isa`, what `-march=native` targets) is wider; empty when nothing needs capping."""
    if kernel_isa not in _REFERENCE_CAPS or machine_isa not in _ISA_ORDER:
        return {}
    if _ISA_ORDER.index(machine_isa) <= _ISA_ORDER.index(kernel_isa):
        return {}
    return dict(_REFERENCE_CAPS[kernel_isa])


def caps_for(configuration: Configuration) -> dict[str, str]:
    """`reference_caps` for the instruction set `configuration`'s compiler targets on this machine."""
    from lamina.device import CPUCompiler

    kernel = CPUCompiler(configuration.compiler, march=configuration.march).features.isa
    machine = CPUCompiler(configuration.compiler, march="native").features.isa
    return reference_caps(kernel, machine)


def run_in_child(
    configuration: Configuration, arguments: Sequence[str], environment: dict[str, str] | None = None
) -> dict[str, Any]:
    """The report of `lamina bench arguments` run in a fresh process under `configuration`, with
    `environment` added to this process's."""
    with tempfile.TemporaryDirectory(prefix="lamina-bench-") as scratch:
        output = Path(scratch) / "report.json"
        command = [sys.executable, "-m", "lamina.cli.main", "bench", *arguments, "--output", str(output)]
        command += ["--march", configuration.march]
        if configuration.compiler is not None:
            command += ["--compiler", configuration.compiler]
        finished = subprocess.run(command, check=False, env={**os.environ, **(environment or {})})
        if finished.returncode != 0:
            raise RuntimeError(f"the bench for {configuration.label} failed (exit {finished.returncode})")
        report: dict[str, Any] = json.loads(output.read_text())
        return report


def child_arguments(
    cases: Sequence[str], budget: float, device: str, threads: int, load: bool, reference_isa: str = "matched"
) -> list[str]:
    """The arguments a configuration's process runs the same cases with."""
    arguments = ["--cases", *cases, "--budget", str(budget), "--device", device, "--threads", str(threads)]
    arguments += ["--reference-isa", reference_isa]
    return [*arguments, "--load"] if load else arguments


def reference_capability() -> str | None:
    """The instruction set torch's own kernels dispatch to in this process, or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    return str(torch.backends.cpu.get_cpu_capability())
