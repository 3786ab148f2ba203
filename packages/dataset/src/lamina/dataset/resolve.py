"""Finding a dataset's files: the places searched in order (an explicit root or $LAMINA_DATA, the user cache, the
system dataset directory, then the mirrors), the checks a file must pass before it is parsed, what happens to one
that fails (deleted from the cache, skipped with a warning elsewhere), and the one error raised when a file is
nowhere to be had."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from lamina.dataset.catalog import DatasetFile, DatasetSpec
from lamina.dataset.download import DownloadError, fetch_file, mirror_url
from lamina.dataset.idx import IDXFormatError, idx_size, parse_idx, read_idx_payload

Interface = Literal["python", "command line"]
"""Who reads a "not found" error: a program using the Python API, or a person typing the `lamina` command."""

__all__ = [
    "SYSTEM_DATASETS_DIR",
    "ChecksumError",
    "DatasetNotFoundError",
    "FetchOptions",
    "ResolveLog",
    "SearchPaths",
    "default_cache_dir",
    "not_found_error",
    "read_verified",
    "resolve_file",
    "search_paths",
]

SYSTEM_DATASETS_DIR: Final = Path("/usr/share/datasets")


class DatasetNotFoundError(FileNotFoundError):
    """A dataset file was found nowhere: not in the searched directories and not on any reachable mirror."""


class ChecksumError(ValueError):
    """A well-formed IDX file whose contents are not those of the published dataset."""


@dataclass(frozen=True)
class SearchPaths:
    """The directories searched for one dataset's files, each already joined with the dataset's name."""

    local: Path | None
    local_origin: str
    cache: Path
    system: Path


@dataclass(frozen=True)
class FetchOptions:
    """How missing files are downloaded: from which mirrors, whether at all, with what socket timeout."""

    mirrors: tuple[str, ...]
    download: bool
    timeout: float
    progress: bool
    # Whose words a "not found" error uses for its fixes: the Python API's arguments or the command's flags.
    interface: Interface = "python"


@dataclass
class ResolveLog:
    """What went wrong while resolving a dataset's files, and the mirrors found unreachable along the way."""

    problems: list[str] = field(default_factory=list)
    # Offline, each file would otherwise wait out every mirror's timeout again.
    unreachable: set[str] = field(default_factory=set)


def default_cache_dir(environ: Mapping[str, str]) -> Path:
    """The user's dataset cache: $XDG_CACHE_HOME/lamina/datasets, else ~/.cache/lamina/datasets."""
    xdg = environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says a relative value is invalid and must be ignored.
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "lamina" / "datasets"


def search_paths(
    spec: DatasetSpec,
    root: str | Path | None,
    cache_dir: str | Path | None,
    system_dir: str | Path,
    environ: Mapping[str, str],
) -> SearchPaths:
    """Where to look for `spec`'s files; `root` holds the files themselves, the other directories one folder each."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir(environ)
    lamina_data = environ.get("LAMINA_DATA", "")
    if root is not None:
        local, origin = Path(root), "root argument"
    elif lamina_data:
        local, origin = Path(lamina_data) / spec.name, "$LAMINA_DATA"
    else:
        local, origin = None, ""
    return SearchPaths(local, origin, cache / spec.name, Path(system_dir) / spec.name)


def read_verified(path: Path, file: DatasetFile) -> npt.NDArray[np.uint8]:
    """The array in `path`, which must be a well-formed IDX file of `file`'s shape with the published contents."""
    payload = read_idx_payload(path, idx_size(file.shape))
    array = parse_idx(payload, magic=file.magic, shape=file.shape, source=str(path))
    digest = hashlib.md5(payload, usedforsecurity=False).hexdigest()
    if digest != file.idx_md5:
        raise ChecksumError(f"{path}: IDX contents have md5 {digest}, expected {file.idx_md5}")
    return array


def _local_candidates(directory: Path, file: DatasetFile) -> tuple[Path, ...]:
    # Unpacked copies (train-images-idx3-ubyte) are as good as the published gzip files.
    return (directory / file.filename, directory / file.filename.removesuffix(".gz"))


def _read_local(directory: Path, file: DatasetFile, problems: list[str]) -> npt.NDArray[np.uint8] | None:
    for path in _local_candidates(directory, file):
        if not path.is_file():
            continue
        try:
            return read_verified(path, file)
        except (IDXFormatError, ChecksumError, OSError) as error:
            # Never delete what the user or the system package manager put there: report it and look further.
            warnings.warn(f"skipping unusable dataset file: {error}", stacklevel=4)
            problems.append(f"skipped {error}")
    return None


def _read_cached(path: Path, file: DatasetFile, problems: list[str]) -> npt.NDArray[np.uint8] | None:
    if not path.is_file():
        return None
    try:
        return read_verified(path, file)
    except (IDXFormatError, ChecksumError) as error:
        # The cache is ours: a bad file there (an interrupted copy, a full disk) is removed so it can be re-fetched.
        problems.append(f"deleted bad cached file {error}")
        path.unlink(missing_ok=True)
        return None


def resolve_file(
    file: DatasetFile, paths: SearchPaths, options: FetchOptions, log: ResolveLog
) -> npt.NDArray[np.uint8] | None:
    """The verified array of `file` from the first place that has it, or None, with what went wrong in `log`."""
    problems = log.problems
    if paths.local is not None and (array := _read_local(paths.local, file, problems)) is not None:
        return array
    cached = paths.cache / file.filename
    if (array := _read_cached(cached, file, problems)) is not None:
        return array
    if (array := _read_local(paths.system, file, problems)) is not None:
        return array
    if not options.download:
        return None
    try:
        fetch_file(
            options.mirrors,
            cached,
            file.md5,
            timeout=options.timeout,
            progress=options.progress,
            unreachable=log.unreachable,
        )
    except DownloadError as error:
        problems.extend(error.failures)
        return None
    except OSError as error:
        problems.append(f"cannot write to the cache: {error}")
        return None
    return read_verified(cached, file)


def not_found_error(
    spec: DatasetSpec,
    missing: Sequence[str],
    paths: SearchPaths,
    options: FetchOptions,
    log: ResolveLog,
    alternatives: Sequence[DatasetSpec] = (),
) -> DatasetNotFoundError:
    """The error naming the missing files, every place searched, what went wrong there and how to provide them."""
    lines = [f"{spec.title} files not found: {', '.join(missing)}", "Looked in:"]
    words = _ADVICE[options.interface]
    if paths.local is not None:
        origin = words["root_origin"] if paths.local_origin == "root argument" else paths.local_origin
        lines.append(f"  {paths.local} ({origin})")
    lines.append(f"  {paths.cache} (user cache)")
    lines.append(f"  {paths.system} (system datasets)")
    if options.download:
        lines.extend(f"  {mirror_url(mirror, '')} (mirror)" for mirror in options.mirrors)
    else:
        lines.append(f"  no mirrors: downloading is disabled ({words['no_download']})")
    if log.problems:
        lines.append("Problems:")
        lines.extend(f"  {problem}" for problem in log.problems)
    lines.append("To provide them, either:")
    if spec.system_package is not None:
        lines.append(f"  - apt-get install {spec.system_package}  (installs them in {paths.system})")
    lines.append(f"  - put the four files in $LAMINA_DATA/{spec.name}/ (or {words['root']})")
    lines.append(f"  - connect to the network and {words['download']} (files are cached in {paths.cache})")
    if options.interface == "command line":
        for other in alternatives:
            lines.append(
                f"  - or train on {other.title} instead: apt-get install {other.system_package}, then "
                f"--dataset {other.name}"
            )
    return DatasetNotFoundError("\n".join(lines))


_ADVICE: Final[dict[Interface, dict[str, str]]] = {
    "python": {
        "no_download": "download=False",
        "root_origin": "root argument",
        "root": "pass root=<directory holding them>",
        "download": "load with download=True",
    },
    "command line": {
        "no_download": "--no-download",
        "root_origin": "--data",
        "root": "pass --data DIR, the directory holding them",
        "download": "run without --no-download",
    },
}
