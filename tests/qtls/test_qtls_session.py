"""One QKD-TLS connection (sdqkd.qtls.session) on loopback: the handshake runs a key exchange with the
PSK (X25519MLKEM768 by default), data cross byte-exact both ways, a key the server cannot get, a
wrong key, a client without a PSK and a changed record all end the connection; a close or an end met
in one thread never hands another thread's record undecrypted to the application, nor sends it in the
clear."""

from __future__ import annotations

import contextlib
import secrets
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest

from polling import wait_for
from sdqkd.errors import QtlsError
from sdqkd.qtls import PskKey, QtlsConnection, accept, connect

KEY = PskKey("3f1c8a52-7d0e-4b6a-9c1d-2e5f6a7b8c9d", bytes(range(32)))


class Served:
    """A listening socket whose first connection is accepted with ``accept(sock, lookup)`` in a
    thread; the outcome (the connection or the error) is in :attr:`result`."""

    def __init__(self, lookup: Callable[[str], bytes], then: Callable[[QtlsConnection], None]) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.result: Any = None
        self._thread = threading.Thread(target=self._run, args=(lookup, then), daemon=True)
        self._thread.start()

    def _run(self, lookup: Callable[[str], bytes], then: Callable[[QtlsConnection], None]) -> None:
        sock, _ = self.listener.accept()
        try:
            connection = accept(sock, lookup)
        except QtlsError as exc:
            self.result = exc
            return
        self.result = connection
        then(connection)

    def join(self) -> Any:
        self._thread.join(timeout=30)
        self.listener.close()
        return self.result


def echo_until_closed(connection: QtlsConnection) -> None:
    while data := connection.recv():
        connection.sendall(data)
    connection.close()


def key_of(key: PskKey) -> Callable[[str], bytes]:
    def lookup(key_id: str) -> bytes:
        if key_id != key.key_id:
            raise QtlsError("unknown key ID")
        return key.material

    return lookup


@pytest.fixture
def echo() -> Iterator[Served]:
    served = Served(key_of(KEY), echo_until_closed)
    yield served
    served.join()


def dial(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=30)


def test_both_sides_agree_on_the_key_id_and_a_hybrid_key_exchange(echo: Served) -> None:
    client = connect(dial(echo.port), KEY)
    client.sendall(b"ping")
    assert client.recv() == b"ping"
    client.close()

    server = echo.join()
    assert isinstance(server, QtlsConnection)
    for side in (client, server):
        assert (side.key_id, side.group, side.cipher) == (KEY.key_id, "x25519mlkem768", "aes256gcm")


def test_an_x25519_only_client_with_a_sha256_psk_gets_x25519_and_aes128(echo: Served) -> None:
    client = connect(dial(echo.port), KEY, groups=("x25519",), psk_hash="sha256")
    client.sendall(b"ping")
    assert client.recv() == b"ping"
    client.close()

    assert (client.group, client.cipher) == ("x25519", "aes128gcm")
    assert echo.join().group == "x25519"


def test_megabytes_cross_byte_exact_both_ways(echo: Served) -> None:
    payload = secrets.token_bytes(3 * 1024 * 1024 + 17)  # many 16 KiB records, the last one short
    client = connect(dial(echo.port), KEY)
    sender = threading.Thread(target=client.sendall, args=(payload,))
    sender.start()
    received = bytearray()
    while len(received) < len(payload):
        received += client.recv()
    sender.join()
    client.close()

    assert bytes(received) == payload


def test_a_key_id_the_server_cannot_get_is_refused_with_unknown_psk_identity() -> None:
    served = Served(key_of(PskKey("another-key", KEY.material)), echo_until_closed)

    with pytest.raises(QtlsError, match="unknown_psk_identity"):
        connect(dial(served.port), KEY)

    assert isinstance(served.join(), QtlsError)


def test_the_right_key_id_with_other_key_material_fails_the_handshake() -> None:
    served = Served(key_of(KEY), echo_until_closed)
    forged = PskKey(KEY.key_id, secrets.token_bytes(32))

    with pytest.raises(QtlsError):
        connect(dial(served.port), forged)

    assert isinstance(served.join(), QtlsError)  # the binder did not verify: nothing was opened


def test_a_certificate_only_tls_client_is_refused(tmp_path: Any) -> None:
    served = Served(key_of(KEY), echo_until_closed)
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE

    with (
        pytest.raises(ssl.SSLError, match="MISSING_EXTENSION"),
        context.wrap_socket(dial(served.port)) as tls,
    ):
        tls.recv(1)

    refused = served.join()
    assert isinstance(refused, QtlsError)
    assert "no pre-shared key" in str(refused)


def test_bytes_that_are_not_tls_are_refused() -> None:
    served = Served(key_of(KEY), echo_until_closed)
    with dial(served.port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = sock.recv(64)

    assert answer[:1] == bytes([21])  # an alert record
    assert "not a TLS handshake" in str(served.join())


def test_a_flipped_bit_in_transit_closes_the_connection_and_delivers_nothing_changed() -> None:
    received: list[bytes] = []

    def collect(connection: QtlsConnection) -> None:
        try:
            while data := connection.recv():
                received.append(data)
        except QtlsError as exc:
            received.append(repr(exc).encode())
        connection.close()

    served = Served(key_of(KEY), collect)
    with FlippingProxy(served.port, flip_after=b"\x17\x03\x03", skip=2) as proxy:
        client = connect(dial(proxy.port), KEY)
        client.sendall(b"first record")  # the 3rd application_data record on the wire (after the
        client.sendall(b"second record")  # client's Finished, encrypted, and the first)
        with pytest.raises(QtlsError, match="bad_record_mac"):
            talk_until_refused(client)
        client.close()
    served.join()

    assert received[0] == b"first record"
    assert b"second record" not in b"".join(received)
    assert b"bad_record_mac" in received[-1]


def talk_until_refused(client: QtlsConnection) -> None:
    for _ in range(50):
        client.sendall(b"x" * 1024)
        client.recv(1)


class FlippingProxy:
    """A TCP proxy client → server that flips one bit in the body of the (``skip`` + 1)-th record
    whose header starts with ``flip_after``; the server → client direction passes unchanged."""

    def __init__(self, server_port: int, flip_after: bytes, skip: int) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._server_port, self._marker, self._skip = server_port, flip_after, skip
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> FlippingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.listener.close()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        client, _ = self.listener.accept()
        server = socket.create_connection(("127.0.0.1", self._server_port))
        threading.Thread(target=_copy, args=(server, client), daemon=True).start()
        buffer, seen = bytearray(), 0
        with client, server:
            while data := _recv(client):
                buffer += data
                while len(buffer) >= 5 and len(buffer) >= 5 + int.from_bytes(buffer[3:5], "big"):
                    size = 5 + int.from_bytes(buffer[3:5], "big")
                    record, buffer = bytearray(buffer[:size]), buffer[size:]
                    if record.startswith(self._marker):
                        if seen == self._skip:
                            record[8] ^= 0x01
                        seen += 1
                    server.sendall(record)


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def _copy(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass


# One thread reads while another writes or closes, as ``sdqkd qtls connect`` and the relay do. A close
# (or a failure) in one thread must never leave the other with a record it cannot process as it
# should: no ciphertext handed to the application as data, no plaintext record on the wire. The
# races are made deterministic with a socket that stops the reading thread right after it has read a
# whole record, before the record is decrypted, and runs the other thread's step there.


class PausingSocket:
    """A socket that, once :attr:`armed`, runs ``then()`` (once) right after a read completes a
    whole TLS record (tlslite-ng reads 4 kB at a time: perhaps more records with it): the record is
    read and not yet decrypted. ``after_send()`` runs (once) after
    the first send (one record) and ``on_close()`` (once) before the socket closes."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.armed = False
        self.then: Callable[[], None] = lambda: None
        self.after_send: Callable[[], None] = lambda: None
        self.on_close: Callable[[], None] = lambda: None
        self._pending = bytearray()  # bytes of the record being read

    def send(self, data: bytes) -> int:
        sent = self._sock.send(data)
        self.after_send, after_send = (lambda: None), self.after_send
        after_send()
        return sent

    def close(self) -> None:
        self.on_close, on_close = (lambda: None), self.on_close
        on_close()
        self._sock.close()

    def recv(self, size: int) -> bytes:
        data = self._sock.recv(size)
        if self.armed:
            self._pending += data
            header_read = len(self._pending) >= 5
            if header_read and len(self._pending) >= 5 + int.from_bytes(self._pending[3:5], "big"):
                self.armed = False
                self.then()
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def in_another_thread(step: Callable[[], None]) -> None:
    thread = threading.Thread(target=step)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive(), "the other thread's step did not return"


def test_a_close_from_another_thread_while_a_record_is_read_never_returns_its_ciphertext() -> None:
    # The server says goodbye (close_notify) as soon as the handshake is done; the client's reader has
    # that record in hand when the client's other thread closes: the reader must see the end of the
    # connection, not the record's bytes (sdqkd qtls connect wrote them to stdout).
    served = Served(key_of(KEY), QtlsConnection.close)
    sock = PausingSocket(dial(served.port))
    client = connect(cast(socket.socket, sock), KEY)
    served.join()
    sock.then = lambda: in_another_thread(client.close)
    sock.armed = True

    assert client.recv() == b""


def answer_and_close(connection: QtlsConnection) -> None:
    connection.sendall(b"the last answer")
    connection.close()


def test_data_read_while_another_thread_closes_arrives_as_sent_then_the_end() -> None:
    # the record read when the other thread closes is application data: it is decrypted as it should
    served = Served(key_of(KEY), answer_and_close)
    sock = PausingSocket(dial(served.port))
    client = connect(cast(socket.socket, sock), KEY)
    sock.then = lambda: in_another_thread(client.close)
    sock.armed = True

    assert client.recv() == b"the last answer"
    assert client.recv() == b""
    served.join()


def test_a_write_under_way_when_the_reading_thread_meets_the_end_stays_encrypted() -> None:
    # The server's side ends (TCP, without a close_notify: the reader has nothing to answer) while
    # the client is in the middle of a write of several records; the client's reading thread meets
    # the end then. The rest of the write must not go out in the clear (tlslite-ng's shutdown, in
    # the reading thread, left the writer without its cipher).
    listener = socket.create_server(("127.0.0.1", 0))
    received = bytearray()

    def serve() -> None:
        raw, _ = listener.accept()
        with raw:
            accept(raw, key_of(KEY))
            raw.shutdown(socket.SHUT_WR)
            while data := raw.recv(1 << 16):
                received.extend(data)

    server = threading.Thread(target=serve)
    server.start()
    sock = PausingSocket(dial(listener.getsockname()[1]))
    client = connect(cast(socket.socket, sock), KEY)
    reader = threading.Thread(target=client.recv)  # meets the end of the server's side
    closing, written = threading.Event(), threading.Event()

    def reader_closes_the_socket() -> None:  # tlslite-ng's shutdown, with its cipher gone: hold it
        closing.set()
        written.wait(timeout=30)

    def reader_meets_the_end() -> None:  # the writer has sent one record of its four
        reader.start()
        wait_for(lambda: closing.is_set() or not reader.is_alive(), bool, 30, "the reader at the end")

    sock.on_close = reader_closes_the_socket
    sock.after_send = reader_meets_the_end
    secret = b"the plaintext of a long write " * 2000  # 60 kB: four records
    with contextlib.suppress(QtlsError):
        client.sendall(secret)
    written.set()
    reader.join(timeout=30)
    client.close()
    server.join(timeout=30)
    listener.close()

    assert b"the plaintext of a long write" not in received


def test_a_close_cuts_short_a_write_stuck_on_a_peer_that_does_not_read() -> None:
    # the close must not wait for the write to finish: it never would while the peer does not read
    peer_reads = threading.Event()
    served = Served(key_of(KEY), lambda connection: (peer_reads.wait(timeout=120), connection.close()))
    sock = PausingSocket(dial(served.port))
    client = connect(cast(socket.socket, sock), KEY)
    client.settimeout(None)  # as open_connection leaves it: a stuck write stays stuck
    writing = threading.Event()
    sock.after_send = writing.set
    failed: list[BaseException] = []

    def write_forever() -> None:  # far more than the socket buffers hold: it blocks
        try:
            client.sendall(bytes(64 << 20))
        except QtlsError as exc:
            failed.append(exc)

    writer = threading.Thread(target=write_forever)
    writer.start()
    writing.wait(timeout=30)
    closer = threading.Thread(target=client.close)
    closer.start()
    closer.join(timeout=30)
    writer.join(timeout=30)
    closed, write_ended = not closer.is_alive(), not writer.is_alive()
    peer_reads.set()
    served.join()
    closer.join(timeout=30)
    writer.join(timeout=30)

    assert closed
    assert write_ended
    assert len(failed) == 1
