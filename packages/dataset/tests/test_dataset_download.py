"""Downloads from a loopback HTTP server: caching, mirror fallback, checksum failures, resuming with Range requests
and re-fetching a bad cached file, all without leaving 127.0.0.1."""

from __future__ import annotations

import http.client
import socket
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from lamina.dataset import (
    DatasetNotFoundError,
    MNISTSplits,
    SyntheticDataset,
    load_dataset,
    load_mnist,
    synthetic_dataset,
)

_TIMEOUT = 5.0


class LoopbackServer:
    """An HTTP server on 127.0.0.1 serving byte strings by path, optionally honouring Range or cutting transfers."""

    def __init__(self) -> None:
        self.routes: dict[str, bytes] = {}
        self.cut_after: dict[str, int] = {}
        self.honour_range = True
        self.requests: list[tuple[str, str | None]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def url(self, prefix: str) -> str:
        """The base URL of the mirror served under `prefix`."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/{prefix}/"

    def serve(self, prefix: str, files: dict[str, bytes]) -> str:
        """Serve `files` under `prefix`; return that mirror's base URL."""
        self.routes.update({f"/{prefix}/{name}": data for name, data in files.items()})
        return self.url(prefix)

    def requested(self, filename: str) -> list[tuple[str, str | None]]:
        """The (path, Range header) of every request made for `filename`."""
        return [request for request in self.requests if request[0].endswith("/" + filename)]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                requested_range = self.headers.get("Range")
                server.requests.append((self.path, requested_range))
                body = server.routes.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                if server.honour_range and requested_range is not None:
                    start = int(requested_range.removeprefix("bytes=").removesuffix("-"))
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                # A cut transfer promises the whole length, sends part of it and hangs up, as a dropped link would.
                end = server.cut_after.get(self.path, len(body))
                self.wfile.write(body[start:end])
                self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    loopback = LoopbackServer()
    yield loopback
    loopback.close()


@pytest.fixture
def tiny() -> SyntheticDataset:
    return synthetic_dataset("mnist", train=100, test=20, seed=7)


def _refused_url() -> str:
    # A port that was free a moment ago: nothing listens there, so connecting is refused at once.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def _assert_same(loaded: MNISTSplits, expected: MNISTSplits) -> None:
    np.testing.assert_array_equal(loaded.train_images, expected.train_images)
    np.testing.assert_array_equal(loaded.train_labels, expected.train_labels)
    np.testing.assert_array_equal(loaded.test_images, expected.test_images)
    np.testing.assert_array_equal(loaded.test_labels, expected.test_labels)
    assert loaded.train_labels.dtype == np.int64
    assert loaded.train_images.dtype == np.uint8


def _load(tiny: SyntheticDataset, tmp_path: Path, mirrors: list[str], *, download: bool = True) -> MNISTSplits:
    return load_dataset(
        tiny.spec,
        cache_dir=tmp_path / "cache",
        system_dir=tmp_path / "system",
        mirrors=mirrors,
        download=download,
        timeout=_TIMEOUT,
        progress=False,
    )


def test_download_fills_the_cache_and_second_load_needs_no_network(
    server: LoopbackServer, tiny: SyntheticDataset, tmp_path: Path
) -> None:
    mirror = server.serve("a", dict(tiny.files))
    first = load_dataset(tiny.spec, cache_dir=tmp_path / "cache", system_dir=tmp_path / "system", mirrors=[mirror])
    _assert_same(first, tiny.splits)
    cached = tmp_path / "cache" / "mnist"
    assert sorted(path.name for path in cached.iterdir()) == sorted(tiny.files)
    for name, data in tiny.files.items():
        assert (cached / name).read_bytes() == data
    served = len(server.requests)
    _assert_same(_load(tiny, tmp_path, [_refused_url()], download=False), tiny.splits)
    assert len(server.requests) == served


def test_mirror_that_answers_404_falls_back_to_the_next(
    server: LoopbackServer, tiny: SyntheticDataset, tmp_path: Path
) -> None:
    good = server.serve("good", dict(tiny.files))
    _assert_same(_load(tiny, tmp_path, [server.url("gone"), good]), tiny.splits)
    assert [path for path, _ in server.requested("t10k-labels-idx1-ubyte.gz")] == [
        "/gone/t10k-labels-idx1-ubyte.gz",
        "/good/t10k-labels-idx1-ubyte.gz",
    ]


def test_mirror_that_refuses_connections_falls_back_to_the_next(
    server: LoopbackServer, tiny: SyntheticDataset, tmp_path: Path
) -> None:
    good = server.serve("good", dict(tiny.files))
    _assert_same(_load(tiny, tmp_path, [_refused_url(), good]), tiny.splits)


def test_corrupted_bytes_from_a_mirror_are_rejected_for_the_next_mirror(
    server: LoopbackServer, tiny: SyntheticDataset, tmp_path: Path
) -> None:
    corrupted = {name: data[:20] + bytes([data[20] ^ 0xFF]) + data[21:] for name, data in tiny.files.items()}
    bad = server.serve("bad", corrupted)
    good = server.serve("good", dict(tiny.files))
    _assert_same(_load(tiny, tmp_path, [bad, good]), tiny.splits)
    assert len(server.requested("train-images-idx3-ubyte.gz")) == 2


def test_corrupted_bytes_on_every_mirror_raise_and_cache_nothing(
    server: LoopbackServer, tiny: SyntheticDataset, tmp_path: Path
) -> None:
    corrupted = {name: b"\x00" * len(data) for name, data in tiny.files.items()}
    bad = server.serve("bad", corrupted)
    with pytest.raises(DatasetNotFoundError, match="md5") as raised:
        _load(tiny, tmp_path, [bad])
    assert "train-images-idx3-ubyte.gz" in str(raised.value)
    assert list((tmp_path / "cache" / "mnist").iterdir()) == []


def test_partial_download_resumes_with_a_range_request(
    server: LoopbackServer, tiny: SyntheticDataset, tmp_path: Path
) -> None:
    mirror = server.serve("a", dict(tiny.files))
    name = "train-images-idx3-ubyte.gz"
    half = len(tiny.files[name]) // 2
    part = tmp_path / "cache" / "mnist" / f"{name}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(tiny.files[name][:half])
    _assert_same(_load(tiny, tmp_path, [mirror]), tiny.splits)
    assert server.requested(name) == [(f"/a/{name}", f"bytes={half}-")]
    assert not part.exists()


def test_partial_download_restarts_when_the_server_ignores_range(
    server: LoopbackServer, tiny: SyntheticDataset, tmp_path: Path
) -> None:
    server.honour_range = False
    mirror = server.serve("a", dict(tiny.files))
    name = "train-images-idx3-ubyte.gz"
    part = tmp_path / "cache" / "mnist" / f"{name}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(tiny.files[name][:100])
    _assert_same(_load(tiny, tmp_path, [mirror]), tiny.splits)


def test_stale_partial_download_that_fails_its_checksum_is_fetched_again_whole(
    server: LoopbackServer, tiny: SyntheticDataset, tmp_path: Path
) -> None:
    mirror = server.serve("a", dict(tiny.files))
    name = "train-images-idx3-ubyte.gz"
    part = tmp_path / "cache" / "mnist" / f"{name}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\xff" * 100)
    _assert_same(_load(tiny, tmp_path, [mirror]), tiny.splits)
    assert server.requested(name) == [(f"/a/{name}", "bytes=100-"), (f"/a/{name}", None)]


def test_interrupted_transfer_is_resumed_from_the_next_mirror(
    server: LoopbackServer, tiny: SyntheticDataset, tmp_path: Path
) -> None:
    name = "train-images-idx3-ubyte.gz"
    flaky = server.serve("flaky", dict(tiny.files))
    server.cut_after[f"/flaky/{name}"] = 1000
    good = server.serve("good", dict(tiny.files))
    _assert_same(_load(tiny, tmp_path, [flaky, good]), tiny.splits)
    assert server.requested(name) == [(f"/flaky/{name}", None), (f"/good/{name}", "bytes=1000-")]


def test_truncated_cached_file_is_deleted_and_fetched_again(
    server: LoopbackServer, tiny: SyntheticDataset, tmp_path: Path
) -> None:
    mirror = server.serve("a", dict(tiny.files))
    cached = tiny.write(tmp_path / "cache" / "mnist")
    name = "t10k-images-idx3-ubyte.gz"
    (cached / name).write_bytes(tiny.files[name][:-10])
    _assert_same(_load(tiny, tmp_path, [mirror]), tiny.splits)
    assert (cached / name).read_bytes() == tiny.files[name]
    assert [path for path, _ in server.requests] == [f"/a/{name}"]


def test_bad_cached_file_is_deleted_even_when_downloading_is_disabled(tiny: SyntheticDataset, tmp_path: Path) -> None:
    cached = tiny.write(tmp_path / "cache" / "mnist")
    name = "train-labels-idx1-ubyte.gz"
    (cached / name).write_bytes(b"garbage")
    with pytest.raises(DatasetNotFoundError, match="deleted bad cached file"):
        _load(tiny, tmp_path, [], download=False)
    assert not (cached / name).exists()


def test_default_mirrors_are_never_contacted_from_tests(loopback_only: list[str], tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="tried to resolve"):
        load_mnist(cache_dir=tmp_path / "cache", system_dir=tmp_path / "system", progress=False)
    assert loopback_only
    loopback_only.clear()


def test_unreachable_mirrors_give_one_error_naming_each_attempt(tiny: SyntheticDataset, tmp_path: Path) -> None:
    refused = _refused_url()
    with pytest.raises(DatasetNotFoundError) as raised:
        _load(tiny, tmp_path, [refused])
    message = str(raised.value)
    assert f"{refused} (mirror)" in message
    assert f"{refused}train-images-idx3-ubyte.gz: " in message
    assert "Connection refused" in message
    # A mirror that refused one file is not asked for the next: offline, that would wait out its timeout each time.
    assert f"{refused}train-labels-idx1-ubyte.gz: not tried, unreachable for an earlier file" in message


def test_mirror_found_unreachable_is_skipped_for_the_remaining_files(
    server: LoopbackServer, tiny: SyntheticDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    real_urlopen = urllib.request.urlopen

    def recording_urlopen(request: urllib.request.Request, timeout: float) -> http.client.HTTPResponse:
        opened.append(request.full_url)
        response: http.client.HTTPResponse = real_urlopen(request, timeout=timeout)
        return response

    monkeypatch.setattr(urllib.request, "urlopen", recording_urlopen)
    good = server.serve("good", dict(tiny.files))
    refused = _refused_url()
    _assert_same(_load(tiny, tmp_path, [refused, good]), tiny.splits)
    assert [url for url in opened if url.startswith(refused)] == [f"{refused}train-images-idx3-ubyte.gz"]
    assert len(server.requests) == 4
