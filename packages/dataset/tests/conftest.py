"""Fixtures every dataset test runs under: no connection leaves the loopback interface (so the real mirrors are never
contacted), and no test sees the user's cache, $LAMINA_DATA or proxy settings."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class NetworkAccessError(AssertionError):
    """A test tried to reach a host other than the loopback interface."""


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Refuse name lookups and connections beyond 127.0.0.1, and fail the test if any was tried."""
    refused: list[str] = []
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def guarded_getaddrinfo(
        host: bytes | str | None,
        port: bytes | str | int | None,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> object:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in _LOOPBACK_HOSTS:
            refused.append(f"lookup of {name}")
            raise NetworkAccessError(f"a dataset test tried to resolve {name}")
        return real_getaddrinfo(host, port, family, type, proto, flags)

    def guarded_connect(self: socket.socket, address: tuple[object, ...] | str | bytes) -> None:
        # AssertionError is no OSError, so the downloader cannot mistake it for a dead mirror and swallow it.
        if isinstance(address, tuple) and address[0] not in _LOOPBACK_HOSTS:
            refused.append(f"connection to {address}")
            raise NetworkAccessError(f"a dataset test tried to connect to {address}")
        real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    yield refused
    assert not refused, f"tests must stay on the loopback interface: {refused}"


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Point the user cache into the test's directory and keep proxies and $LAMINA_DATA out of the way."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("LAMINA_DATA", raising=False)
    for variable in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    # urllib reads no_proxy on every request, so loopback requests bypass any proxy its opener was built with.
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")
