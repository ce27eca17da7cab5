"""A QKD-TLS server in front of a TCP target (sdqkd.qtls.front) with stand-ins of the two KMEs: our
client and OpenSSL's s_client reach the target through it with a key from enc_keys, a key ID is good
for one connection only, and our client talks to OpenSSL's s_server."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from polling import wait_for
from sdqkd.errors import QtlsError
from sdqkd.qtls import GROUPS, PskKey, QtlsServer, connect, open_connection
from standin_kmes import StandInKmes

pytestmark = pytest.mark.integration

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl command is not installed")


def upper_echo() -> tuple[socket.socket, threading.Thread]:
    """A TCP target that answers every chunk in upper case."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    def answer(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data.upper())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread


@dataclass
class Front:
    port: int
    kmes: StandInKmes
    server: QtlsServer
    loop: asyncio.AbstractEventLoop

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)

    def new_key(self) -> PskKey:
        container = self.run(self.kmes.enc_keys("server-sae", 1, 256))
        key = container.keys[0]
        return PskKey(str(key.key_id), key.material())


@pytest.fixture
def front() -> Iterator[Front]:
    target, _ = upper_echo()
    kmes = StandInKmes()
    server = QtlsServer(kmes, ["client-sae"], target.getsockname()[:2])
    listener = socket.create_server(("127.0.0.1", 0))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    serving = asyncio.run_coroutine_threadsafe(server.serve(listener), loop)
    yield Front(listener.getsockname()[1], kmes, server, loop)
    loop.call_soon_threadsafe(serving.cancel)
    wait_for(serving.done, bool, 10, "the server stopped")
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
    loop.close()
    listener.close()
    target.close()


def test_a_client_reaches_the_target_with_a_key_from_enc_keys(front: Front) -> None:
    connection = front.run(open_connection(front.kmes, "server-sae", "127.0.0.1", front.port))
    connection.sendall(b"through qkd-tls")
    assert connection.recv() == b"THROUGH QKD-TLS"
    connection.close()

    wait_for(lambda: front.server.stats.bytes_from_target, lambda n: n == 15, 10, "counted")
    assert front.server.stats.accepted == 1
    assert front.server.stats.key_ids == [connection.key_id]
    assert [str(key_id) for key_id in front.kmes.delivered] == [connection.key_id]


def test_a_key_id_opens_one_connection_only(front: Front) -> None:
    key = front.new_key()
    first = connect(socket.create_connection(("127.0.0.1", front.port)), key)
    first.sendall(b"once")
    assert first.recv() == b"ONCE"
    first.close()

    with pytest.raises(QtlsError, match="unknown_psk_identity"):
        connect(socket.create_connection(("127.0.0.1", front.port)), key)

    wait_for(lambda: front.server.stats.refused, lambda n: n == 1, 10, "the refusal counted")
    assert front.server.stats.accepted == 1


def test_a_key_the_kme_never_gave_is_refused(front: Front) -> None:
    invented = PskKey("6d2b7c1e-0a4f-4e8b-9d3c-5f1a2b3c4d5e", bytes(32))

    with pytest.raises(QtlsError, match="unknown_psk_identity"):
        connect(socket.create_connection(("127.0.0.1", front.port)), invented)


def s_client(port: int, key: PskKey, text: str) -> subprocess.CompletedProcess[str]:
    """``openssl s_client -tls1_3 -psk HEX -psk_identity ID``, sending ``text`` and then keeping stdin
    open for a second (at stdin's end s_client closes the connection)."""
    assert OPENSSL is not None
    command = (
        f"(printf '{text}'; sleep 1) | {OPENSSL} s_client -tls1_3 -psk {key.material.hex()} "
        f"-psk_identity {key.key_id} -connect 127.0.0.1:{port}"
    )
    return subprocess.run(command, shell=True, capture_output=True, text=True, timeout=30, check=False)


@needs_openssl
def test_openssl_s_client_reaches_the_target_and_is_refused_the_same_key_again(front: Front) -> None:
    key = front.new_key()

    first = s_client(front.port, key, "hello from openssl\\n")
    second = s_client(front.port, key, "again\\n")

    assert "HELLO FROM OPENSSL" in first.stdout
    assert "TLSv1.3" in first.stdout
    assert "AGAIN" not in second.stdout
    assert "unknown psk identity" in second.stderr
    assert (front.server.stats.accepted, front.server.stats.refused) == (1, 1)


@needs_openssl
def test_our_client_talks_to_openssl_s_server_with_a_sha256_psk(tmp_path: Any) -> None:
    assert OPENSSL is not None
    key = PskKey("9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", bytes(range(32, 64)))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = (
        f"sleep 5 | {OPENSSL} s_server -tls1_3 -nocert -psk {key.material.hex()} -psk_identity {key.key_id} "
        f"-accept 127.0.0.1:{port} -naccept 1"
    )
    server = subprocess.Popen(command, shell=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        connection = wait_for(
            lambda: _try_connect(port, key), lambda c: c is not None, 10, "s_server accepts"
        )
        connection.sendall(b"hello s_server\n")
        connection.close()
        out, _ = server.communicate(timeout=20)
    finally:
        server.kill()

    assert "hello s_server" in out
    assert connection.cipher == "aes128gcm"
    assert connection.group in GROUPS  # x25519 with OpenSSL 3.0 (no ML-KEM), the hybrid from 3.5 on


def _try_connect(port: int, key: PskKey) -> Any:
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    except OSError:
        return None
    return connect(sock, key, psk_hash="sha256")
