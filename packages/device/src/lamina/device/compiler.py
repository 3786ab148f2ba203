"""Compilers: C source in, shared-object bytes out, and the errors a missing or failing compiler raises.

The `Compiler` protocol is the seam the kernel cache and the devices depend on; `CPUCompiler`
drives whichever C compiler the machine has (clang or gcc, both are supported and neither is
assumed). A compiler's `cache_key` names everything that changes its output (path, version,
flags), so a cached binary is never reused across a compiler upgrade or a flag change.
"""

from __future__ import annotations

import functools
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

from lamina.device.cpu_features import CPUFeatures, features_from_macros, l2_cache_bytes, predefined_macros

if TYPE_CHECKING:
    from lamina.device.cache import KernelCache  # the cache imports this module's Compiler protocol

BASE_FLAGS: Final = (
    "-O3",
    "-shared",
    "-fPIC",
    "-std=c11",
    "-Wall",
    "-Werror=implicit-function-declaration",
    "-fno-trapping-math",
)
"""Flags every kernel is compiled with, besides `-march`; gcc and clang both accept all of them.

`-fno-trapping-math`: no kernel reads the floating-point exception flags, and without it gcc will not turn a
choice between floats into a select where the vector ISA has no masked operations (AVX2): `exp`'s clamps
kept every elementwise chain through it scalar, 7x slower. The values computed are the same."""

OPTIONAL_FLAGS: Final = (
    ("-fopenmp",),
    ("-ffp-contract=fast",),
    ("-mprefer-vector-width=512",),
)
"""Flags used where the compiler accepts them: OpenMP for parallel loops (clang needs libomp for it), fused
multiply-adds, and full-width vectors on AVX-512 machines (compilers default to 256 bits there)."""

_PROBE: Final = """#include <math.h>
int main(void) {
  float total = 0.0f;
  #pragma omp parallel for reduction(+:total)
  for (int i = 0; i < 64; i++) total += sqrtf((float)i);
  return total < 0.0f;
}
"""

LINK_FLAGS: Final = ("-lm",)
"""Libraries go after the source file: the linker only resolves symbols already referenced."""

FALLBACK_COMPILERS: Final = ("clang", "gcc", "cc")
"""Tried in order when neither an explicit compiler nor `CC` names one."""


class Compiler(Protocol):
    """Turns kernel source into a loadable binary."""

    @property
    def parallel(self) -> bool:
        """Whether kernels may use OpenMP pragmas: -fopenmp compiles and links here."""
        ...

    @property
    def cache_key(self) -> str:
        """Everything that affects the output besides the source: compiler path, version and flags."""
        ...

    def compile(self, source: str) -> bytes:
        """The compiled binary (a shared object for the CPU) for `source`; raises CompileError."""
        ...


class CompilerNotFoundError(RuntimeError):
    """No usable C compiler: the message says which one was looked for and what to install."""


class CompileError(RuntimeError):
    """The compiler rejected a kernel; carries the source and the compiler's message."""

    def __init__(self, source: str, message: str, command: Sequence[str] = ()) -> None:
        self.source = source
        self.message = message
        self.command = tuple(command)
        super().__init__(message)

    def __str__(self) -> str:
        numbered = "\n".join(f"{number:4d} | {line}" for number, line in enumerate(self.source.splitlines(), 1))
        command = f"command: {shlex.join(self.command)}\n" if self.command else ""
        return f"compilation failed:\n{self.message.rstrip()}\n{command}source:\n{numbered}"


_INSTALL_HINT: Final = "install one (apt-get install gcc, or apt-get install clang) or set CC to a C compiler"


def find_c_compiler(cc: str | None = None, origin: str = "the compiler argument") -> tuple[str, ...]:
    """The command (program path plus any leading arguments) of the C compiler to use: `cc` (chosen by `origin`,
    named in the error when it is missing), else clang, gcc or cc."""
    requested = cc or None
    if requested is not None:
        # An explicitly requested compiler must exist: silently using another one would hide the mistake.
        words = shlex.split(requested)
        program = shutil.which(words[0]) if words else None
        if program is None:
            raise CompilerNotFoundError(f"C compiler {requested!r} (from {origin}) was not found; {_INSTALL_HINT}")
        return (program, *words[1:])
    for name in FALLBACK_COMPILERS:
        program = shutil.which(name)
        if program is not None:
            return (program,)
    raise CompilerNotFoundError(f"no C compiler found (looked for {', '.join(FALLBACK_COMPILERS)}); {_INSTALL_HINT}")


class CPUCompiler:
    """Compiles C kernels to shared objects with the compiler `cc`, else clang, gcc or cc.

    What probing the compiler found is remembered in `cache` (a `KernelCache`) when one is given, so a
    process whose kernels are all cached spends no compiler run before its first kernel call.
    """

    def __init__(
        self,
        cc: str | None = None,
        extra_flags: Sequence[str] = (),
        cache: KernelCache | None = None,
        cc_origin: str = "the compiler argument",
        march: str = "native",
        march_origin: str = "the march argument",
    ) -> None:
        if not march or any(character.isspace() or character in "\"'$;`" for character in march):
            raise ValueError(f"{march_origin}: {march!r} is not an -march value")
        self.command: Final = find_c_compiler(cc, cc_origin)
        self._version, optional = _probe(self.command, cache)
        self.march: Final = march
        self.features: Final = _features(self.command, (f"-march={march}",), cache, march_origin)
        if self.features.isa != "avx512":
            # Full-width vectors are an AVX-512 matter; elsewhere the flag only changes the cache key.
            optional = tuple(flag for flag in optional if not flag.startswith("-mprefer-vector-width"))
        self.flags: Final = (*BASE_FLAGS, f"-march={march}", *optional, *extra_flags)

    @property
    def parallel(self) -> bool:
        """Whether -fopenmp is among the flags, so PARALLEL loops run on several cores."""
        return "-fopenmp" in self.flags

    @property
    def version(self) -> str:
        """The first line of `<compiler> --version`."""
        return self._version

    @property
    def cache_key(self) -> str:
        """Compiler command, version and flags: what besides the source decides the binary."""
        return "\0".join((shlex.join(self.command), self.version, shlex.join(self.flags)))

    def compile(self, source: str) -> bytes:
        """The shared object compiled from `source`; raises CompileError with the compiler's stderr."""
        with tempfile.TemporaryDirectory(prefix="lamina-compile-") as scratch:
            source_path = Path(scratch) / "kernel.c"
            output_path = Path(scratch) / "kernel.so"
            source_path.write_text(source)
            command = [*self.command, *self.flags, str(source_path), "-o", str(output_path), *LINK_FLAGS]
            result = _run_compiler(command)
            if result.returncode != 0:
                raise CompileError(source, result.stderr or result.stdout, command)
            return output_path.read_bytes()


def _run_compiler(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """`command` run with its output captured; a compiler that cannot be started raises CompilerNotFoundError."""
    try:
        return subprocess.run(list(command), capture_output=True, text=True, check=False)
    except OSError as error:
        raise CompilerNotFoundError(f"could not run C compiler {command[0]!r} ({error}); {_INSTALL_HINT}") from error


PROBES: Final = "compilers"
"""The disk cache's kind for what probing a compiler found: its version line and accepted optional flags."""


def _identity(command: tuple[str, ...]) -> str | None:
    """The exact compiler binary `command` runs (resolved path, size, modification time) and its arguments;
    None when it cannot be examined. An upgrade replaces the binary, so it gets a new identity."""
    try:
        binary = Path(command[0]).resolve(strict=True)
        status = binary.stat()
    except OSError:
        return None
    return "\0".join((str(binary), str(status.st_size), str(status.st_mtime_ns), shlex.join(command)))


def _features(command: tuple[str, ...], flags: tuple[str, ...], cache: KernelCache | None, origin: str) -> CPUFeatures:
    """What `command` targets under `flags` (see cpu_features), remembered in `cache` per compiler binary."""
    identity = _identity(command)
    key = None if identity is None else "\0".join((identity, *flags, "features"))
    cached = cache.get(PROBES, key) if cache is not None and key is not None else None
    if cached is not None:
        macros: tuple[str, ...] = tuple(cached.decode().split())
    else:
        try:
            macros = predefined_macros(command, flags)
        except ValueError as error:
            raise ValueError(f"{origin}: {error}") from None
        if cache is not None and key is not None:
            cache.put(PROBES, key, " ".join(macros).encode())
    return features_from_macros(macros, l2_cache_bytes())


@functools.cache
def _probe(command: tuple[str, ...], cache: KernelCache | None) -> tuple[str, tuple[str, ...]]:
    """`command`'s version line and the OPTIONAL_FLAGS it accepts, remembered in `cache` per compiler binary.

    Probing runs the compiler three times (about 0.15 s with clang), which a process with every
    kernel in its cache would otherwise spend before its first kernel call.
    """
    identity = _identity(command) if cache is not None else None
    cached = cache.get(PROBES, identity) if cache is not None and identity is not None else None
    if cached is not None:
        version, remembered = cached.decode().split("\n", 1)
        kept = set(remembered.split())
        refused = tuple(flags for flags in OPTIONAL_FLAGS if not set(flags) <= kept)
        if not refused:
            return version, tuple(remembered.split())
        # A flag refused before may work now without a new compiler binary (libomp installed since, for
        # -fopenmp): refusals are tried again in every process, acceptances are kept.
        now_accepted = _accepted(command, refused)
        accepted = tuple(
            flag for flags in OPTIONAL_FLAGS if set(flags) <= kept or flags in now_accepted for flag in flags
        )
    else:
        lines = _run_compiler([*command, "--version"]).stdout.splitlines()
        version = lines[0].strip() if lines else ""
        accepted = supported_flags(command)
    if cache is not None and identity is not None:
        cache.put(PROBES, identity, f"{version}\n{' '.join(accepted)}".encode())
    return version, accepted


@functools.cache
def supported_flags(command: tuple[str, ...]) -> tuple[str, ...]:
    """The OPTIONAL_FLAGS that the compiler `command` accepts, checked by building a small program."""
    accepted = _accepted(command, OPTIONAL_FLAGS)
    return tuple(flag for flags in accepted for flag in flags)


def _accepted(command: tuple[str, ...], candidates: tuple[tuple[str, ...], ...]) -> tuple[tuple[str, ...], ...]:
    """The groups of `candidates` that `command` accepts. All of them are tried together first, which is one
    compiler run where every flag is accepted; only when that fails is each tried alone."""
    with tempfile.TemporaryDirectory(prefix="lamina-probe-") as scratch:
        source_path = Path(scratch) / "probe.c"
        source_path.write_text(_PROBE)

        def accepts(flags: Sequence[str]) -> bool:
            # An executable, not a shared object: linking it fails when the OpenMP runtime is missing.
            output_path = Path(scratch) / "probe"
            line = [*command, "-O2", "-Werror", *flags, str(source_path), "-o", str(output_path), *LINK_FLAGS]
            try:
                return subprocess.run(line, capture_output=True, check=False).returncode == 0
            except OSError:
                return False

        if accepts(tuple(flag for flags in candidates for flag in flags)):
            return candidates
        return tuple(flags for flags in candidates if accepts(flags))
