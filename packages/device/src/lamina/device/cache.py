"""The kernel cache: compiled binaries (and any small blob another layer wants to keep) in memory and on disk.

Compiling C costs ~100 ms a kernel, so every binary is kept under a key derived from its source
and the compiler's `cache_key`, first in a dict, then in a private directory shared by every
process of the user. Disk entries are written atomically (temp file in the same directory, fsync,
`os.replace`) so racing writers only ever publish complete files, and each carries a header
(magic, format version, payload length and sha256, the key) so a truncated, corrupted or foreign
file is detected, deleted and rebuilt instead of being loaded (a directory in an entry's place too).

The cache holds shared objects that get loaded and run, so whoever can write to it can run code as
the user. Like ssh with its keys, the cache refuses a directory that another user owns or that
others may write to (or rename, through a world-writable parent without the sticky bit), with an
error saying how to fix it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import stat
import struct
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from lamina.device.compiler import Compiler

MAGIC: Final = b"LAMINA\x00C"
FORMAT_VERSION: Final = 1
# magic, format version, key length, payload length, payload sha256; then the key, then the payload.
_HEADER: Final = struct.Struct("<8sIIQ32s")
_KIND_PATTERN: Final = re.compile(r"[a-z0-9][a-z0-9_-]*")

KERNELS: Final = "kernels"
LIBRARIES: Final = "libraries"


class CacheDirectoryError(OSError):
    """The kernel cache directory cannot be used: missing rights, or others could plant code in it."""


def check_private_dir(path: Path, origin: str, follow: bool = True) -> None:
    """Raise CacheDirectoryError unless `path` is a directory that only this user can change.

    `follow=False` refuses a symbolic link in `path`'s place (the cache's own subdirectories are never links).
    """
    info = path.stat() if follow else path.lstat()
    if not stat.S_ISDIR(info.st_mode):
        kind = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a directory"
        raise CacheDirectoryError(f"{origin}: {path} is {kind}; remove it or point LAMINA_CACHE elsewhere")
    if info.st_uid != os.geteuid():
        raise CacheDirectoryError(
            f"{origin}: {path} belongs to user id {info.st_uid}, not to you ({os.geteuid()}): compiled kernels "
            "from it would run as you; use a directory of your own (set LAMINA_CACHE)"
        )
    if info.st_mode & 0o022:
        raise CacheDirectoryError(
            f"{origin}: {path} is writable by other users (mode {stat.S_IMODE(info.st_mode):o}), who could plant "
            f"a kernel there that lamina would run: run `chmod go-w {path}` or set LAMINA_CACHE to a private directory"
        )
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if mode & 0o002 and not mode & stat.S_ISVTX:
            raise CacheDirectoryError(
                f"{origin}: its parent {parent} is writable by everyone without the sticky bit, so others could "
                f"replace {path}: run `chmod o-w {parent}` or set LAMINA_CACHE to a private directory"
            )


def kernel_key(source: str, compiler: Compiler) -> str:
    """The cache key of `source` compiled by `compiler`: sha256 over both, hex."""
    return hashlib.sha256(b"\0".join((source.encode(), compiler.cache_key.encode()))).hexdigest()


@dataclass(slots=True)
class CacheStats:
    """What the cache did: served entries, lookups that found nothing, compiler runs, bad entries deleted."""

    hits: int = 0
    misses: int = 0
    compiles: int = 0
    rejected: int = 0


class KernelCache:
    """Compiled kernels and other small blobs, keyed by (kind, key), in memory and under `directory/<kind>/`."""

    def __init__(self, directory: Path | str, origin: str | None = None, fallback: bool = False) -> None:
        """`origin` names who chose `directory` in errors (`LAMINA_CACHE=...`); with `fallback`, a directory that
        cannot be used (a default location) gives way to a private temporary one, with a warning."""
        self.directory = Path(directory)
        self._origin = origin or f"the kernel cache directory {self.directory}"
        self._fallback = fallback
        self.stats: Final = CacheStats()
        self._memory: dict[tuple[str, str], bytes] = {}
        self._created_kinds: set[str] = set()

    def compile(self, compiler: Compiler, source: str) -> bytes:
        """The binary of `source` under `compiler`, compiled only when neither memory nor disk holds it."""
        key = kernel_key(source, compiler)
        cached = self.get(KERNELS, key)
        if cached is not None:
            return cached
        binary = compiler.compile(source)
        self.stats.compiles += 1
        self.put(KERNELS, key, binary)
        return binary

    def get(self, kind: str, key: str) -> bytes | None:
        """The payload stored under (kind, key), or None; an invalid disk entry is deleted and reads as None."""
        payload = self._memory.get((kind, key))
        if payload is None:
            payload = self._read_entry(self.entry_path(kind, key), key)
        if payload is None:
            self.stats.misses += 1
            return None
        self._memory[(kind, key)] = payload
        self.stats.hits += 1
        return payload

    def put(self, kind: str, key: str, payload: bytes) -> None:
        """Store `payload` under (kind, key) in memory and, atomically, on disk."""
        header = _HEADER.pack(MAGIC, FORMAT_VERSION, len(key.encode()), len(payload), hashlib.sha256(payload).digest())
        self._write_atomic(self.entry_path(kind, key), b"".join((header, key.encode(), payload)))
        self._memory[(kind, key)] = payload

    def entry_path(self, kind: str, key: str) -> Path:
        """Where (kind, key) lives on disk; the file name hashes the key so any string is a safe key."""
        return self._kind_dir(kind) / hashlib.sha256(key.encode()).hexdigest()

    def shared_object_path(self, binary: bytes) -> Path:
        """A file holding exactly `binary`, named by its hash, for the dynamic loader (which needs a path)."""
        path = self._kind_dir(LIBRARIES) / f"{hashlib.sha256(binary).hexdigest()}.so"
        try:
            intact = path.read_bytes() == binary
        except FileNotFoundError:
            intact = False
        except IsADirectoryError:
            _remove(path)
            intact = False
        if not intact:
            self._write_atomic(path, binary)
        return path

    def _kind_dir(self, kind: str) -> Path:
        if not _KIND_PATTERN.fullmatch(kind):
            raise ValueError(f"cache kind {kind!r} must be lowercase letters, digits, '_' or '-'")
        if kind not in self._created_kinds:
            if not self._created_kinds:
                self._open_root()
            _make_private_dir(self.directory / kind, self._origin)
            check_private_dir(self.directory / kind, self._origin, follow=False)
            self._created_kinds.add(kind)
        return self.directory / kind

    def _open_root(self) -> None:
        """Make (or check) the cache's own directory; the default one falls back to a private temporary one."""
        origin = self._origin
        try:
            _make_private_dir(self.directory, origin)
        except CacheDirectoryError as error:
            if not self._fallback:
                raise
            fallback = Path(tempfile.mkdtemp(prefix="lamina-cache-"))
            warnings.warn(
                f"{error}; compiled kernels go to {fallback} for this process only (set LAMINA_CACHE to keep them)",
                stacklevel=4,
            )
            self.directory = fallback
            return
        check_private_dir(self.directory, origin)

    def _read_entry(self, path: Path, key: str) -> bytes | None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            data = b""  # something else in the entry's place: as bad as a corrupt file, and removed like one
        payload = _decode_entry(data, key)
        if payload is None:
            self.stats.rejected += 1
            # A concurrent writer may have just replaced the bad file with a good one; losing that costs a rebuild only.
            _remove(path)
        return payload

    def _write_atomic(self, path: Path, data: bytes) -> None:
        if path.is_dir() and not path.is_symlink():
            _remove(path)
        try:
            descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        except PermissionError as error:
            raise CacheDirectoryError(
                f"{self._origin}: cannot write in {path.parent} ({error.strerror}); set LAMINA_CACHE to "
                "a directory you can write"
            ) from None
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise


def _decode_entry(data: bytes, key: str) -> bytes | None:
    """The payload of a well-formed entry for `key`, or None for anything truncated, corrupt or foreign."""
    if len(data) < _HEADER.size:
        return None
    magic, version, key_length, payload_length, digest = _HEADER.unpack_from(data)
    key_bytes = key.encode()
    if magic != MAGIC or version != FORMAT_VERSION or key_length != len(key_bytes):
        return None
    stored_key = data[_HEADER.size : _HEADER.size + key_length]
    payload = data[_HEADER.size + key_length :]
    if stored_key != key_bytes or len(payload) != payload_length or hashlib.sha256(payload).digest() != digest:
        return None
    return payload


def _remove(path: Path) -> None:
    """Delete a bad entry, whatever it is (a file, or a directory someone left in its place)."""
    with contextlib.suppress(FileNotFoundError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def _make_private_dir(path: Path, origin: str) -> None:
    # mkdir's mode is filtered by the umask, so the 0o700 is enforced again on a directory this call created.
    try:
        path.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        return
    except OSError as error:
        raise CacheDirectoryError(
            f"{origin}: cannot create {path} ({error.strerror}); set LAMINA_CACHE to a directory you can write"
        ) from None
    path.chmod(0o700)
