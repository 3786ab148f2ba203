"""Options that steer the pipeline, read from the environment once, here, and passed down explicitly.

`DEBUG` (0-4) controls what realize prints, `DEVICE` picks the default device, `NOOPT` turns the
kernel optimizer off, `BEAM=n` searches each kernel's opts with a beam of n (see `beam.py`),
`LAMINA_THREADS` caps the cores a kernel may use (default: all of them), `CC` names the C compiler
(default: clang, gcc or cc, whichever is found first), `LAMINA_CACHE` the directory compiled
kernels are kept in (default: `$XDG_CACHE_HOME/lamina`, else `~/.cache/lamina`) and
`LAMINA_OPENCL_DEVICE` which OpenCL device `OPENCL` is (an index into every platform's devices),
`LAMINA_MARCH` the CPU the C kernels are compiled for (default `native`; `x86-64-v3` is AVX2) and
`LAMINA_COPY_CACHE_MB` how many megabytes of copies of unchanged buffers are kept for reuse (default 1024, 0 for
none: see `copy_reuse.py`).
Lower layers never read the environment: they get what they need from here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from lamina.device.opencl import choose_device


@dataclass(frozen=True, slots=True)
class Context:
    """The pipeline's options."""

    debug: int = 0
    device: str = "CPU"
    noopt: bool = False
    threads: int = 1
    beam: int = 0
    cc: str | None = None
    cache_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "lamina")
    cache_origin: str | None = None  # "LAMINA_CACHE=..." when the variable chose cache_dir; None for the default
    opencl_device: int | None = None  # LAMINA_OPENCL_DEVICE: an index into every OpenCL platform's devices
    march: str = "native"  # LAMINA_MARCH: the CPU kernels are compiled and optimized for (`-march=...`)
    copy_cache_mb: int = 1024  # LAMINA_COPY_CACHE_MB: copies of unchanged buffers kept for reuse (0: none)


def _int_option(environ: Mapping[str, str], name: str, default: int) -> int:
    text = environ.get(name, "")
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {text!r}") from None


def context_from_environment(environ: Mapping[str, str]) -> Context:
    """The Context the environment `environ` asks for (DEBUG, DEVICE, NOOPT, BEAM, LAMINA_THREADS, CC, LAMINA_CACHE,
    LAMINA_OPENCL_DEVICE, LAMINA_MARCH, LAMINA_COPY_CACHE_MB)."""
    threads = _int_option(environ, "LAMINA_THREADS", os.cpu_count() or 1)
    if threads < 1:
        raise ValueError(f"environment variable LAMINA_THREADS must be at least 1, got {threads}")
    copy_cache_mb = _int_option(environ, "LAMINA_COPY_CACHE_MB", 1024)
    if copy_cache_mb < 0:
        raise ValueError(f"environment variable LAMINA_COPY_CACHE_MB must be at least 0, got {copy_cache_mb}")
    explicit_cache = environ.get("LAMINA_CACHE", "")
    if explicit_cache:
        cache_dir, cache_origin = Path(explicit_cache).expanduser(), f"LAMINA_CACHE={explicit_cache}"
    else:
        xdg = environ.get("XDG_CACHE_HOME", "")
        cache_dir, cache_origin = (Path(xdg) if xdg else Path.home() / ".cache") / "lamina", None
    return Context(
        debug=_int_option(environ, "DEBUG", 0),
        device=environ.get("DEVICE", "CPU").upper() or "CPU",
        noopt=_int_option(environ, "NOOPT", 0) != 0,
        threads=threads,
        beam=_int_option(environ, "BEAM", 0),
        cc=environ.get("CC") or None,
        march=environ.get("LAMINA_MARCH", "").strip() or "native",
        copy_cache_mb=copy_cache_mb,
        opencl_device=_int_option(environ, "LAMINA_OPENCL_DEVICE", -1) if environ.get("LAMINA_OPENCL_DEVICE") else None,
        cache_dir=cache_dir,
        cache_origin=cache_origin,
    )


_current = [context_from_environment(os.environ)]
choose_device(_current[0].opencl_device, f"LAMINA_OPENCL_DEVICE={_current[0].opencl_device}")


def current_context() -> Context:
    """The options in force now."""
    return _current[-1]


@contextmanager
def options(**changes: object) -> Iterator[Context]:
    """Run a block with some options changed: `with options(debug=2): ...`."""
    context = replace(_current[-1], **changes)  # type: ignore[arg-type]
    _current.append(context)
    try:
        yield context
    finally:
        _current.pop()
