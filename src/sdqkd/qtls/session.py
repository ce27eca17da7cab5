"""One QKD-TLS connection: TLS 1.3 keyed by a QKD key and an ephemeral key exchange together.

The QKD key is an external pre-shared key (RFC 8446 §2.2): its ETSI 014 key ID (the UUID as text)
is the PSK identity and its material the PSK. The PSK is only ever accepted in ``psk_dhe_ke`` mode,
so every handshake also runs an ephemeral key exchange — X25519MLKEM768 (X25519 and ML-KEM-768
together) where the peer offers it, X25519 otherwise — and the traffic keys are derived from both:
the channel stays confidential if either the QKD key or the key exchange holds. There are no
certificates: a peer that completes the handshake holds the key the KMEs gave one SAE for another.

Server side, the identity is read from the ClientHello before the TLS stack sees it
(:func:`accept`), so the key can be fetched for that identity alone (ETSI 014 ``dec_keys``); the
bytes read are then replayed to the stack.

PSK hash: sdqkd's clients bind the PSK with SHA-384 and take TLS_AES_256_GCM_SHA384; OpenSSL's
``s_client -psk`` binds it with SHA-256 (TLS_AES_128_GCM_SHA256). A server tells which from the
binder's length and accepts either.

The TLS stack is tlslite-ng: Python 3.11's ``ssl`` has no PSK callbacks, and tlslite-ng does TLS 1.3
external PSKs with X25519MLKEM768 (ML-KEM from kyber-py). Its records are sealed here with AES-GCM
from ``cryptography`` (OpenSSL) instead of its pure-Python AES (about 0.2 MB/s). Sockets are
blocking; a connection may be read in one thread while another writes to it or closes it (see
:class:`_TlsConnection` for what that takes). tlslite-ng has no half-close: a close_notify, either
way, ends both directions.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sdqkd.errors import QtlsError

with warnings.catch_warnings():
    # tlslite-ng's package imports its asyncore integration, deprecated on 3.11 (skipped on 3.12+)
    warnings.filterwarnings("ignore", "The asyncore module is deprecated", DeprecationWarning)
    from tlslite import HandshakeSettings, TLSConnection, recordlayer
from tlslite.constants import ExtensionType, GroupName, HandshakeType, PskKeyExchangeMode
from tlslite.errors import TLSAbruptCloseError, TLSClosedConnectionError, TLSError
from tlslite.messages import ClientHello
from tlslite.utils.codec import Parser

__all__ = ["GROUPS", "HashName", "PskKey", "QtlsConnection", "accept", "connect"]

GROUPS = ("x25519mlkem768", "x25519")
"""The key exchanges a QKD-TLS handshake runs, preferred first (tlslite-ng's names)."""

HashName = Literal["sha256", "sha384"]

_HANDSHAKE, _ALERT = 22, 21
_ALERT_DECODE_ERROR, _ALERT_MISSING_EXTENSION, _ALERT_UNKNOWN_PSK_IDENTITY = 50, 109, 115
_MAX_CLIENT_HELLO = 1 << 16  # bytes; an X25519MLKEM768 share makes a ClientHello of about 1.4 kB
_CIPHERS: dict[HashName, str] = {"sha256": "aes128gcm", "sha384": "aes256gcm"}
_BINDER_HASHES: dict[int, HashName] = {32: "sha256", 48: "sha384"}


@dataclass(frozen=True)
class PskKey:
    """A QKD key as a TLS external PSK: the ETSI 014 key ID (the identity) and its material."""

    key_id: str
    material: bytes = field(repr=False)


class QtlsConnection:
    """An open QKD-TLS connection: blocking ``recv``/``sendall``/``close`` over tlslite-ng.

    Attributes:
        key_id: the QKD key's ID (the PSK identity).
        group: the key exchange it ran with the PSK (``x25519mlkem768`` or ``x25519``).
        cipher: the record cipher (``aes256gcm`` or ``aes128gcm``).
    """

    def __init__(self, tls: _TlsConnection, sock: socket.socket, key_id: str) -> None:
        self._tls, self._sock = tls, sock
        self.key_id = key_id
        self.group = _negotiated_group(tls)
        self.cipher: str = tls.getCipherName() or ""

    def recv(self, size: int = 65536) -> bytes:
        """Up to ``size`` bytes of plaintext; ``b""`` once the peer closed (or the connection did)."""
        try:
            return bytes(self._tls.read(max=size))
        except (TLSAbruptCloseError, TLSClosedConnectionError, OSError):
            return b""
        except TLSError as exc:  # a record that does not authenticate, an alert
            raise QtlsError(f"QKD-TLS connection broken: {exc}") from exc

    def sendall(self, data: bytes) -> None:
        """Send all of ``data`` (in records of at most 16 KiB)."""
        try:
            self._tls.write(data)
        except (TLSError, OSError) as exc:
            raise QtlsError(f"QKD-TLS connection broken: {exc}") from exc

    def settimeout(self, timeout_s: float | None) -> None:
        """A timeout for each blocking read or write (None: none)."""
        self._sock.settimeout(timeout_s)

    def close(self) -> None:
        """Send close_notify (if it still can) and close the socket; a reader blocked in another
        thread returns ``b""``. A write in progress in another thread (perhaps blocked on a peer that
        does not read) is cut short instead, and no close_notify goes after its partial record."""
        sending = self._tls.sending
        if not sending.acquire(blocking=False):
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)  # the writer fails now and lets go
            sending.acquire()
        try:
            with contextlib.suppress(TLSError, OSError):
                self._tls.close()  # close_notify; the connection is marked closed (_TlsConnection)
        finally:
            sending.release()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # a reader blocked in another thread returns now
        self._sock.close()


class _TlsConnection(TLSConnection):  # type: ignore[misc]  # tlslite-ng has no type hints
    """tlslite-ng's connection, fit for one thread reading while another writes or closes it.

    tlslite-ng ends a connection (``_shutdown``: on close, on a close_notify or an alert received, on
    any error, in whichever thread meets it) by resetting the record layer of both directions to "no
    cipher" and closing the socket. A thread busy with the other direction then goes on without its
    cipher: a reader that has just read a record "decrypts" it into its ciphertext, which reaches the
    application as data (``sdqkd qtls connect`` wrote a close_notify's 19 encrypted bytes to stdout
    when its own close raced the server's); a writer sends the rest of its records in the clear.

    Here ending a connection only marks it closed (tlslite-ng refuses reads and writes after that);
    the record layer of each direction stays with the thread using it, and the socket is
    :class:`QtlsConnection`'s to close. Messages are sent one at a time under :attr:`sending`: a
    close_notify, an alert or the answer to a KeyUpdate (sent by the reading thread) never falls
    between the records of a write, whose sequence numbers, and so AES-GCM nonces, they share.
    """

    def __init__(self, sock: Any) -> None:
        super().__init__(sock)
        self.sending = threading.RLock()

    def _sendMsg(self, *args: Any, **kwargs: Any) -> Iterator[Any]:  # noqa: N802 (tlslite-ng's name)
        with self.sending:
            yield from super()._sendMsg(*args, **kwargs)

    def send_keyupdate_request(self, message_type: int) -> Iterator[Any]:
        # RFC 8446 §4.6.3: a KeyUpdate is the last record under the old sending key; no record of a
        # write may come between it and the switch to the new one
        with self.sending:
            yield from super().send_keyupdate_request(message_type)

    def _shutdown(self, resumable: bool) -> None:
        self.closed = True
        if not resumable and self.session is not None:
            self.session.resumable = False


def connect(
    sock: socket.socket,
    key: PskKey,
    *,
    groups: tuple[str, ...] = GROUPS,
    psk_hash: HashName = "sha384",
) -> QtlsConnection:
    """The client side of a handshake on the connected ``sock``, with ``key`` as the PSK.

    ``psk_hash`` "sha256" (TLS_AES_128_GCM_SHA256) is for servers that take no other: OpenSSL's
    ``s_server -psk``.

    Raises:
        QtlsError: the server refused (an alert: e.g. unknown_psk_identity for a key it cannot
            get) or the handshake failed.
    """
    settings = _settings(key, psk_hash, groups)
    settings.keyShares = [groups[0]]
    tls = _TlsConnection(sock)
    try:
        tls.handshakeClientCert(settings=settings)
    except (TLSError, OSError) as exc:
        sock.close()
        raise QtlsError(f"QKD-TLS handshake with key {key.key_id} failed: {_why(exc)}") from exc
    except BaseException:  # the socket is ours to close (tlslite-ng's shutdown leaves it: _TlsConnection)
        sock.close()
        raise
    return _opened(tls, sock, key.key_id)


def accept(
    sock: socket.socket,
    lookup: Callable[[str], bytes],
    *,
    groups: tuple[str, ...] = GROUPS,
) -> QtlsConnection:
    """The server side of a handshake on the accepted ``sock``.

    ``lookup(key_id)`` returns the material of the offered key, or raises :class:`QtlsError` when
    there is none to be had (unknown, used already): the client then gets an ``unknown_psk_identity``
    alert. A ClientHello without a PSK, or without the ``psk_dhe_ke`` mode, gets ``missing_extension``
    (a client with only a certificate, e.g.). ``sock`` is closed whenever this raises.

    Raises:
        QtlsError: refused (the reason) or the handshake failed.
    """
    try:
        raw, key_id, hash_name = _read_client_hello(sock)
        try:
            material = lookup(key_id)
        except QtlsError:
            _send_alert(sock, _ALERT_UNKNOWN_PSK_IDENTITY)
            raise
        tls = _TlsConnection(_Replayed(sock, raw))
        tls.handshakeServer(settings=_settings(PskKey(key_id, material), hash_name, groups))
    except _Refused as refused:
        _send_alert(sock, refused.alert)
        sock.close()
        raise QtlsError(str(refused)) from None
    except (TLSError, OSError) as exc:
        sock.close()
        raise QtlsError(f"QKD-TLS handshake failed: {_why(exc)}") from exc
    except BaseException:
        sock.close()
        raise
    return _opened(tls, sock, key_id)


class _Refused(QtlsError):
    """A ClientHello this server does not go on with, and the alert that says why."""

    def __init__(self, alert: int, message: str) -> None:
        super().__init__(message)
        self.alert = alert


def _read_client_hello(sock: socket.socket) -> tuple[bytes, str, HashName]:
    """The bytes of the ClientHello's records, its first PSK identity and that PSK's hash."""
    raw = bytearray()
    handshake = bytearray()
    while len(handshake) < 4 or len(handshake) < 4 + int.from_bytes(handshake[1:4], "big"):
        header = _recv_exactly(sock, 5)
        content_type, length = header[0], struct.unpack("!H", header[3:5])[0]
        if content_type != _HANDSHAKE:
            raise _Refused(_ALERT_DECODE_ERROR, "not a TLS handshake")
        body = _recv_exactly(sock, length)
        raw += header + body
        handshake += body
        if len(handshake) > _MAX_CLIENT_HELLO:
            raise _Refused(_ALERT_DECODE_ERROR, "ClientHello too long")
    if handshake[0] != HandshakeType.client_hello:
        raise _Refused(_ALERT_DECODE_ERROR, "the first handshake message is not a ClientHello")
    try:
        hello = ClientHello().parse(Parser(bytearray(handshake[1:])))
    except Exception as exc:  # tlslite-ng's parser raises several kinds on malformed input
        raise _Refused(_ALERT_DECODE_ERROR, f"malformed ClientHello: {exc!r}") from exc
    psk = hello.getExtension(ExtensionType.pre_shared_key)
    modes = hello.getExtension(ExtensionType.psk_key_exchange_modes)
    if psk is None or not psk.identities:
        raise _Refused(_ALERT_MISSING_EXTENSION, "the client offered no pre-shared key (QKD key ID)")
    if modes is None or PskKeyExchangeMode.psk_dhe_ke not in modes.modes:
        raise _Refused(
            _ALERT_MISSING_EXTENSION, "the client does not offer psk_dhe_ke (a PSK with a key exchange)"
        )
    hash_name = _BINDER_HASHES.get(len(psk.binders[0]))
    if hash_name is None:
        raise _Refused(_ALERT_DECODE_ERROR, "a PSK binder of neither SHA-256 nor SHA-384 length")
    try:
        key_id = bytes(psk.identities[0].identity).decode("ascii")
    except UnicodeDecodeError:
        raise _Refused(_ALERT_UNKNOWN_PSK_IDENTITY, "a PSK identity that is no key ID") from None
    return bytes(raw), key_id, hash_name


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise _Refused(_ALERT_DECODE_ERROR, "the client closed the connection during its ClientHello")
        data += chunk
    return bytes(data)


def _send_alert(sock: socket.socket, description: int) -> None:
    """A fatal alert in a plaintext record (before any key is agreed)."""
    with contextlib.suppress(OSError):
        sock.sendall(bytes([_ALERT, 3, 3, 0, 2, 2, description]))


class _Replayed:
    """A socket whose first reads return ``prefix`` (the ClientHello read already)."""

    def __init__(self, sock: socket.socket, prefix: bytes) -> None:
        self._sock, self._prefix = sock, prefix

    def recv(self, size: int) -> bytes:
        if self._prefix:
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            return data
        return self._sock.recv(size)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _settings(key: PskKey, hash_name: HashName, groups: tuple[str, ...]) -> HandshakeSettings:
    settings = HandshakeSettings()
    settings.minVersion = settings.maxVersion = (3, 4)
    settings.pskConfigs = [(key.key_id.encode("ascii"), key.material, hash_name)]
    settings.psk_modes = ["psk_dhe_ke"]  # never the PSK alone
    settings.cipherNames = [_CIPHERS[hash_name]]
    settings.eccCurves = list(groups)
    settings.keyShares = list(groups)
    settings.dhGroups = []
    settings.ticket_count = 0  # no resumption: every connection takes a fresh QKD key
    return settings


def _opened(tls: _TlsConnection, sock: socket.socket, key_id: str) -> QtlsConnection:
    connection = QtlsConnection(tls, sock, key_id)
    if connection.group not in GROUPS:  # psk_dhe_ke was required: a PSK-only handshake is a bug
        connection.close()
        raise QtlsError(f"QKD-TLS handshake without a key exchange ({connection.group or 'none'})")
    return connection


def _negotiated_group(tls: _TlsConnection) -> str:
    """The key exchange group of a finished handshake (tlslite-ng's name; "" for none)."""
    group = getattr(tls, "ecdhCurve", None)
    return str(GroupName.toStr(group)) if group is not None else ""


def _why(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


class _OpensslAesGcm:
    """tlslite-ng's AEAD interface (seal/open) over ``cryptography``'s AES-GCM."""

    isBlockCipher = False  # noqa: N815 (tlslite-ng's attribute names)
    isAEAD = True  # noqa: N815
    nonceLength = 12  # noqa: N815
    tagLength = 16  # noqa: N815
    implementation = "openssl"

    def __init__(self, key: bytearray) -> None:
        self.key = key
        self.name = f"aes{len(key) * 8}gcm"
        self._aead = AESGCM(bytes(key))

    def seal(self, nonce: bytearray, plaintext: bytearray, data: bytearray) -> bytearray:
        return bytearray(self._aead.encrypt(bytes(nonce), bytes(plaintext), bytes(data)))

    def open(self, nonce: bytearray, ciphertext: bytearray, data: bytearray) -> bytearray | None:
        try:
            return bytearray(self._aead.decrypt(bytes(nonce), bytes(ciphertext), bytes(data)))
        except InvalidTag:
            return None  # tlslite-ng's "does not authenticate": bad_record_mac, connection closed


def _openssl_aes_gcm(key: bytearray, impl_list: object = None) -> _OpensslAesGcm:
    return _OpensslAesGcm(key)


recordlayer.createAESGCM = _openssl_aes_gcm  # the record layer's AES-GCM: OpenSSL's
