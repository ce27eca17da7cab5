"""Every service connection turns Nagle's algorithm off: a response goes out as two writes, and with
Nagle the second waited ~40 ms for the client's delayed ACK (measured 44 ms a request before)."""

from __future__ import annotations

import socket
from typing import Any
from unittest.mock import MagicMock

import pytest

from sdqkd.server.tls_extension import TlsH11Protocol


class _Transport:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        info = {"socket": self._sock, "sockname": ("127.0.0.1", 1), "peername": ("127.0.0.1", 2)}
        return info.get(name, default)

    def is_closing(self) -> bool:
        return False


@pytest.mark.integration
def test_a_new_connection_gets_tcp_nodelay() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    try:
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0  # the kernel's default
        protocol = TlsH11Protocol.__new__(TlsH11Protocol)
        # Only what connection_made touches before the TLS part: uvicorn's own bookkeeping.
        protocol.connections = set()
        protocol.logger = MagicMock(level=100)
        protocol.app = MagicMock()
        protocol.connection_made(_Transport(accepted))  # type: ignore[arg-type]
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        for sock in (client, accepted, listener):
            sock.close()
