"""Downloading one file over HTTP(S) with the standard library: mirrors tried in order, a progress bar, resuming a
partial download with an HTTP Range request, and an md5 check before an atomic rename, so the destination path
only ever holds the exact published bytes."""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Final, Protocol

from tqdm import tqdm  # type: ignore[import-untyped]

__all__ = ["DEFAULT_TIMEOUT", "DownloadError", "fetch_file", "file_md5", "mirror_url"]

DEFAULT_TIMEOUT: Final = 30.0
_CHUNK_SIZE: Final = 1 << 16
_HTTP_RANGE_NOT_SATISFIABLE: Final = 416
_HTTP_PARTIAL_CONTENT: Final = 206


class DownloadError(OSError):
    """No mirror delivered a file with the expected checksum; `failures` says what each attempt met."""

    def __init__(self, filename: str, failures: Sequence[str]) -> None:
        super().__init__(f"could not download {filename}: " + "; ".join(failures))
        self.failures = tuple(failures)


class _ProgressBar(Protocol):
    def update(self, n: int) -> object: ...

    def close(self) -> None: ...


def _progress_bar(label: str, total: int | None, initial: int, enabled: bool) -> _ProgressBar:
    bar: _ProgressBar = tqdm(
        desc=label, total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024, disable=not enabled
    )
    return bar


def file_md5(path: Path) -> str:
    """The hex md5 of the file at `path`, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as source:
        while chunk := source.read(_CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def mirror_url(mirror: str, filename: str) -> str:
    """The address of `filename` on a mirror given as a base URL."""
    return mirror.rstrip("/") + "/" + filename


def _open(url: str, offset: int, timeout: float) -> http.client.HTTPResponse:
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    response: http.client.HTTPResponse = urllib.request.urlopen(
        urllib.request.Request(url, headers=headers), timeout=timeout
    )
    return response


def _transfer(url: str, part: Path, timeout: float, progress: bool) -> bool:
    """Bring `part` up to the whole file at `url`, appending when the server honours a Range request; say if it did."""
    offset = part.stat().st_size if part.exists() else 0
    try:
        response = _open(url, offset, timeout)
    except urllib.error.HTTPError as error:
        # A partial file as long as the remote one (or longer) cannot be resumed: start over.
        if error.code != _HTTP_RANGE_NOT_SATISFIABLE or offset == 0:
            raise
        part.unlink()
        offset = 0
        response = _open(url, offset, timeout)
    with response:
        content_range = response.headers.get("Content-Range", "")
        resumed = (
            offset > 0 and response.status == _HTTP_PARTIAL_CONTENT and content_range.startswith(f"bytes {offset}-")
        )
        if not resumed:
            offset = 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        received = offset
        bar = _progress_bar(part.name.removesuffix(".part"), total, offset, progress)
        try:
            with part.open("ab" if resumed else "wb") as sink:
                while chunk := response.read(_CHUNK_SIZE):
                    sink.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        finally:
            bar.close()
    if total is not None and received < total:
        # Keep the partial file: the next mirror, or the next run, resumes from it.
        raise ConnectionError(f"connection closed after {received} of {total} bytes")
    return resumed


def fetch_file(
    mirrors: Sequence[str],
    destination: Path,
    md5: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    progress: bool = True,
    unreachable: set[str] | None = None,
) -> None:
    """Download `destination.name` from the first mirror that delivers it with the given md5, then move it in place.

    Mirrors in `unreachable` are skipped, and those that cannot be connected to are added to it, so that fetching
    several files offline waits out each mirror's timeout once rather than once a file.
    """
    unreachable = set() if unreachable is None else unreachable
    destination.parent.mkdir(parents=True, exist_ok=True)
    # The partial file sits beside the destination so that os.replace is an atomic rename on one file system.
    part = destination.with_name(destination.name + ".part")
    if part.exists() and file_md5(part) == md5:
        os.replace(part, destination)
        return
    failures: list[str] = []
    for mirror in mirrors:
        url = mirror_url(mirror, destination.name)
        if mirror in unreachable:
            failures.append(f"{url}: not tried, unreachable for an earlier file")
            continue
        # A resumed download that fails its checksum may owe that to a stale partial file: retry it whole once.
        for _ in range(2):
            try:
                resumed = _transfer(url, part, timeout, progress)
            except (OSError, http.client.HTTPException, ValueError) as error:
                failures.append(f"{url}: {error}")
                # urlopen reports a failed lookup or connection as a URLError that is no HTTP status.
                if isinstance(error, urllib.error.URLError) and not isinstance(error, urllib.error.HTTPError):
                    unreachable.add(mirror)
                break
            digest = file_md5(part)
            if digest == md5:
                os.replace(part, destination)
                return
            part.unlink()
            failures.append(f"{url}: md5 {digest}, expected {md5}")
            if not resumed:
                break
    raise DownloadError(destination.name, failures or ["no mirrors given"])
