"""What a `lamina bench` run is measured under: the compiler and `-march` configurations, the machine's CPU,
and an optional competing busy process (`--load`).

Each configuration after the first runs in a fresh process: the compiler and the `-march` are fixed when a
process compiles its first kernel, and numpy and torch are timed again beside lamina in that same process,
so every ratio is taken in one run.
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
from typing import Any

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


def run_in_child(configuration: Configuration, arguments: Sequence[str]) -> dict[str, Any]:
    """The report of `lamina bench arguments` run in a fresh process under `configuration`."""
    with tempfile.TemporaryDirectory(prefix="lamina-bench-") as scratch:
        output = Path(scratch) / "report.json"
        command = [sys.executable, "-m", "lamina.cli.main", "bench", *arguments, "--output", str(output)]
        command += ["--march", configuration.march]
        if configuration.compiler is not None:
            command += ["--compiler", configuration.compiler]
        finished = subprocess.run(command, check=False)
        if finished.returncode != 0:
            raise RuntimeError(f"the bench for {configuration.label} failed (exit {finished.returncode})")
        report: dict[str, Any] = json.loads(output.read_text())
        return report


def child_arguments(cases: Sequence[str], budget: float, device: str, threads: int, load: bool) -> list[str]:
    """The arguments a configuration's process runs the same cases with."""
    arguments = ["--cases", *cases, "--budget", str(budget), "--device", device, "--threads", str(threads)]
    return [*arguments, "--load"] if load else arguments
