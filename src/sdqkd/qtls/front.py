"""The two ends of QKD-TLS over ETSI 014.

- :class:`QtlsServer` accepts QKD-TLS connections and forwards each one's plaintext to a target (a
  TCP address or a Unix socket). For each connection it takes the key ID the client offers as its
  PSK identity and fetches that key from its own KME (``dec_keys``, as its node's SAE, for each
  SAE it serves in turn); a key ID the KME does not deliver — unknown, or delivered once already —
  ends the connection with ``unknown_psk_identity``. Every connection therefore takes a fresh key.
- :func:`open_connection` gets a new key from the client's KME (``enc_keys`` for the server's SAE)
  and connects with it.

The TLS work runs in threads (tlslite-ng is blocking; :mod:`sdqkd.qtls.session`), one per
direction of each connection; the KME calls run on the caller's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from sdqkd.errors import QtlsError, SdqkdError
from sdqkd.qtls.session import GROUPS, HashName, PskKey, QtlsConnection, accept, connect
from sdqkd.server.run import Front

__all__ = [
    "KeyFetcher",
    "KeySource",
    "QtlsServer",
    "ServerStats",
    "Target",
    "app_front",
    "open_connection",
    "relay",
]

log = logging.getLogger(__name__)

Target = tuple[str, int] | str
"""Where a server forwards: (host, port) or the path of a Unix socket."""

_CHUNK = 1 << 16
_KEY_IDS_KEPT = 100  # the most recent key IDs a server's stats list


class KeySource(Protocol):
    """The client's KME (an :class:`~sdqkd.etsi014.client.Etsi014Client`, or a stand-in)."""

    async def enc_keys(
        self, slave_sae_id: str, number: int | None = None, size: int | None = None
    ) -> Any: ...


class KeyFetcher(Protocol):
    """The server's KME (an :class:`~sdqkd.etsi014.client.Etsi014Client`, or a stand-in)."""

    async def dec_keys(self, master_sae_id: str, key_ids: Sequence[UUID]) -> Any: ...


@dataclass
class ServerStats:
    """What a :class:`QtlsServer` has done: connections opened and refused, plaintext bytes each way,
    and the key IDs of the most recent connections."""

    accepted: int = 0
    refused: int = 0
    bytes_to_target: int = 0
    bytes_from_target: int = 0
    key_ids: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "refused": self.refused,
            "bytes_to_target": self.bytes_to_target,
            "bytes_from_target": self.bytes_from_target,
            "key_ids": list(self.key_ids),
        }


class QtlsServer:
    """Accepts QKD-TLS connections and forwards each to ``target``.

    Args:
        kme: this node's KME, as this node's SAE.
        masters: the SAEs whose keys it takes (``dec_keys`` is asked for each in turn).
        target: where each connection's plaintext goes.
        handshake_timeout_s: for the ClientHello, the key and the handshake together.
        groups: the key exchanges it accepts, preferred first.
    """

    def __init__(
        self,
        kme: KeyFetcher,
        masters: Sequence[str],
        target: Target,
        *,
        handshake_timeout_s: float = 10.0,
        groups: tuple[str, ...] = GROUPS,
    ) -> None:
        if not masters:
            raise QtlsError("a QKD-TLS server needs at least one SAE whose keys it takes")
        self._kme, self._masters, self._target = kme, tuple(masters), target
        self._timeout_s, self._groups = handshake_timeout_s, groups
        self.stats = ServerStats()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()

    async def serve(self, listener: socket.socket) -> None:
        """Accept on the listening ``listener`` until cancelled; then close every connection."""
        loop = asyncio.get_running_loop()
        listener.setblocking(False)
        try:
            while True:
                sock, peer = await loop.sock_accept(listener)
                sock.setblocking(True)
                thread = threading.Thread(target=self._handle, args=(sock, peer, loop), daemon=True)
                with self._lock:
                    self._threads.add(thread)
                thread.start()
        finally:
            self.close()
            await asyncio.to_thread(_join, list(self._threads))

    def close(self) -> None:
        """End every open connection (their threads end soon after)."""
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    async def _lookup(self, key_id: str) -> bytes:
        try:
            wanted = UUID(key_id)
        except ValueError:
            raise QtlsError("the offered PSK identity is not a key ID") from None
        for master in self._masters:
            try:
                container = await self._kme.dec_keys(master, [wanted])
            except SdqkdError:  # not this master's, unknown, or delivered already
                continue
            return bytes(container.keys[0].material())
        raise QtlsError("the offered key ID is unknown to this node's KME or was used already")

    def _handle(self, sock: socket.socket, peer: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._track(sock)
        try:
            sock.settimeout(self._timeout_s)

            def lookup(key_id: str) -> bytes:
                future = asyncio.run_coroutine_threadsafe(self._lookup(key_id), loop)
                return future.result(timeout=self._timeout_s)

            try:
                tls = accept(sock, lookup, groups=self._groups)
            except (QtlsError, TimeoutError) as exc:
                self._count(refused=1)
                log.warning("refused a QKD-TLS connection from %s: %s", _address(peer), exc)
                return
            tls.settimeout(None)
            self._count(accepted=1, key_id=tls.key_id)
            try:
                plain = _open_target(self._target)
            except OSError as exc:
                log.warning("QKD-TLS target %s unreachable: %s", self._target, exc)
                tls.close()
                return
            self._track(plain)
            try:
                to_target, from_target = relay(tls, plain)
                self._count(to_target=to_target, from_target=from_target)
            finally:
                self._untrack(plain)
        except Exception:  # a bug: logged, the other connections go on
            log.exception("QKD-TLS connection from %s failed", _address(peer))
        finally:
            self._untrack(sock)
            sock.close()
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.add(sock)

    def _untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)

    def _count(
        self,
        *,
        accepted: int = 0,
        refused: int = 0,
        key_id: str = "",
        to_target: int = 0,
        from_target: int = 0,
    ) -> None:
        with self._lock:
            self.stats.accepted += accepted
            self.stats.refused += refused
            self.stats.bytes_to_target += to_target
            self.stats.bytes_from_target += from_target
            if key_id:
                self.stats.key_ids = [*self.stats.key_ids, key_id][-_KEY_IDS_KEPT:]


def app_front(make_kme: Callable[[], KeyFetcher], masters: Sequence[str], **options: Any) -> Front:
    """A :data:`~sdqkd.server.run.Front` that serves an app over QKD-TLS: a :class:`QtlsServer` on
    the public socket forwarding to the app's Unix socket. ``make_kme()`` is called in the serving
    event loop (an ETSI 014 client belongs to one loop); its ``aclose()``, if any, runs at the end.
    ``options`` go to :class:`QtlsServer`."""

    async def front(listener: socket.socket, app_socket: str) -> None:
        kme = make_kme()
        try:
            await QtlsServer(kme, masters, app_socket, **options).serve(listener)
        finally:
            closer = getattr(kme, "aclose", None)
            if closer is not None:
                await closer()

    return front


async def open_connection(
    kme: KeySource,
    slave_sae_id: str,
    host: str,
    port: int,
    *,
    psk_hash: HashName = "sha384",
    key_size: int = 256,
    timeout_s: float = 10.0,
    groups: tuple[str, ...] = GROUPS,
) -> QtlsConnection:
    """A QKD-TLS connection to ``host:port`` keyed by a new key for ``slave_sae_id`` (the server's
    SAE) from ``kme``.

    Raises:
        Etsi014ClientError: the KME gave no key.
        QtlsError: the connection or the handshake failed.
    """
    container = await kme.enc_keys(slave_sae_id, number=1, size=key_size)
    given = container.keys[0]
    key = PskKey(str(given.key_id), bytes(given.material()))

    def dial() -> QtlsConnection:
        try:
            sock = socket.create_connection((host, port), timeout=timeout_s)
        except OSError as exc:
            raise QtlsError(f"cannot reach {host}:{port}: {exc}") from exc
        connection = connect(sock, key, groups=groups, psk_hash=psk_hash)
        connection.settimeout(None)
        return connection

    return await asyncio.to_thread(dial)


def relay(tls: QtlsConnection, plain: socket.socket) -> tuple[int, int]:
    """Copy between ``tls`` and ``plain`` both ways until either side ends, then close both.

    Returns:
        the bytes copied from ``tls`` to ``plain`` and from ``plain`` to ``tls``.
    """
    counts = [0, 0]

    def upstream() -> None:  # plain → tls
        try:
            while data := plain.recv(_CHUNK):
                tls.sendall(data)
                counts[1] += len(data)
        except (OSError, QtlsError):
            pass
        finally:
            tls.close()  # the reader below returns

    writer = threading.Thread(target=upstream, daemon=True)
    writer.start()
    try:
        while data := tls.recv(_CHUNK):
            plain.sendall(data)
            counts[0] += len(data)
    except (OSError, QtlsError):
        pass
    finally:
        with contextlib.suppress(OSError):
            plain.shutdown(socket.SHUT_RDWR)  # the writer above returns
        writer.join()
        tls.close()
        plain.close()
    return counts[0], counts[1]


def _join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(timeout=5)


def _open_target(target: Target) -> socket.socket:
    if isinstance(target, str):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(target)
        except OSError:
            sock.close()
            raise
        return sock
    sock = socket.create_connection(target, timeout=10)
    sock.settimeout(None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _address(peer: Any) -> str:
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else str(peer)
