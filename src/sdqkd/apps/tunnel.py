"""The data-plane tunnel: an encrypted TCP forwarder between two nodes whose keys come from hybrid key
establishments (:mod:`sdqkd.apps.hybrid`: a QKD key, X25519 and ML-KEM-768), a fresh one every epoch.

The entry gateway accepts plaintext TCP from local clients; for each client it connects to the exit
gateway, agrees the epoch-0 key as the hybrid initiator (in the clear framing of
:func:`sdqkd.apps.hybrid.initiate`) and then speaks records only. The exit answers as the responder and
forwards to its target. Records (docs/apps.md, "Data-plane tunnel")::

    header (17 bytes, the AAD): type (1) | epoch (4) | counter (8) | length (4)   all big-endian
    body (length bytes):        AES-256-GCM(key of this direction and epoch, nonce = counter (12 bytes),
                                            plaintext, AAD = header)

Each direction has its own key, ``HKDF-SHA256(hybrid key, info = label of the direction | epoch)``,
and its own counter, which starts at 0 every epoch, so a (key, nonce) pair is never used twice. A
receiver takes only the next counter of its current epoch: a record replayed, dropped, reordered or
changed fails and the connection closes. The end of each direction is a CLOSE record, so a cut stream
is an error, not an end.

Re-keying (the entry decides: every ``rekey_s`` seconds or ``rekey_bytes`` bytes): the hybrid
messages travel as REKEY records under the current keys; once a side holds the new key it sends a
SWITCH record, the last of the old epoch in its direction, and seals everything after it with the new
key — the stream goes on without a gap. If no new QKD key can be had, the current epoch is kept for at
most ``key_lifetime_s`` from its start, then the connection closes: never data without a QKD key.

:class:`Sealer` and :class:`Opener` are the record layer without I/O; :class:`Entry` and :class:`Exit`
are the gateways over asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sdqkd.apps.hybrid import HybridKey, Initiator, Responder, initiate, respond
from sdqkd.errors import HybridKeyError, TunnelError
from sdqkd.etsi014 import Etsi014Client
from sdqkd.etsi014.client import Etsi014ClientError

__all__ = [
    "HEADER",
    "MAX_PLAINTEXT",
    "Entry",
    "Exit",
    "Opener",
    "RecordType",
    "Sealer",
    "TunnelConfig",
    "TunnelStats",
    "direction_keys",
]

log = logging.getLogger(__name__)

HEADER = struct.Struct(">BIQI")
"""type, epoch, counter, body length."""
MAX_PLAINTEXT = 16_384
TAG_BYTES = 16
ENTRY_TO_EXIT = b"sdqkd tunnel v1 entry->exit"
EXIT_TO_ENTRY = b"sdqkd tunnel v1 exit->entry"
_READ_BYTES = 256 * 1024
_STREAM_LIMIT = 1024 * 1024
_MAX_COUNTER = 2**64 - 1


class RecordType(IntEnum):
    DATA = 1  # application bytes
    REKEY = 2  # one hybrid key establishment message (sdqkd.apps.hybrid), for the next epoch
    SWITCH = 3  # the last record of this epoch in this direction
    CLOSE = 4  # the end of the application bytes in this direction


def direction_keys(key: bytes, epoch: int) -> tuple[bytes, bytes]:
    """The two 32-byte AES-256-GCM keys of an epoch from its hybrid key: (entry→exit, exit→entry)."""

    def derive(label: bytes) -> bytes:
        return HKDF(hashes.SHA256(), 32, salt=None, info=label + epoch.to_bytes(4, "big")).derive(key)

    return derive(ENTRY_TO_EXIT), derive(EXIT_TO_ENTRY)


def _nonce(counter: int) -> bytes:
    return counter.to_bytes(12, "big")


class Sealer:
    """The sending half of one direction: seals records under the current epoch's key, counting."""

    def __init__(self, epoch: int, key: bytes) -> None:
        self.epoch, self._aead, self.counter = epoch, AESGCM(key), 0

    def seal(self, kind: RecordType, payload: bytes) -> bytes:
        """One record (``payload`` at most :data:`MAX_PLAINTEXT` bytes)."""
        if len(payload) > MAX_PLAINTEXT:
            raise TunnelError(f"a record of {len(payload)} bytes is over {MAX_PLAINTEXT}")
        if self.counter >= _MAX_COUNTER:
            raise TunnelError("the record counter of this epoch is spent")  # never a nonce twice
        header = HEADER.pack(kind, self.epoch, self.counter, len(payload) + TAG_BYTES)
        self.counter += 1
        return header + self._aead.encrypt(_nonce(self.counter - 1), payload, header)

    def seal_data(self, data: bytes) -> bytes:
        """DATA records of at most :data:`MAX_PLAINTEXT` bytes each, for ``data`` of any length."""
        return b"".join(
            self.seal(RecordType.DATA, data[i : i + MAX_PLAINTEXT])
            for i in range(0, len(data), MAX_PLAINTEXT)
        )

    def switch(self, epoch: int, key: bytes) -> None:
        """Seal with the next epoch's key from now on (after a SWITCH record)."""
        self.epoch, self._aead, self.counter = epoch, AESGCM(key), 0


class Opener:
    """The receiving half of one direction: takes only the next record of the current epoch."""

    def __init__(self, epoch: int, key: bytes) -> None:
        self.epoch, self._aead, self.counter = epoch, AESGCM(key), 0
        self._next: tuple[int, bytes] | None = None

    @staticmethod
    def body_length(header: bytes) -> int:
        """The body length a header announces (checked against the largest record)."""
        length: int = HEADER.unpack(header)[3]
        if not TAG_BYTES <= length <= MAX_PLAINTEXT + TAG_BYTES:
            raise TunnelError(
                f"a record body of {length} bytes is outside {TAG_BYTES}..{MAX_PLAINTEXT + TAG_BYTES}"
            )
        return length

    def open(self, header: bytes, body: bytes) -> tuple[RecordType, bytes]:
        """The type and plaintext of the record; TunnelError for any record but the next one intact."""
        kind, epoch, counter, length = HEADER.unpack(header)
        if epoch != self.epoch or counter != self.counter:
            raise TunnelError(
                f"record {epoch}/{counter} where {self.epoch}/{self.counter} was due: "
                "replayed, reordered or dropped"
            )
        if length != len(body):
            raise TunnelError("a record body of another length than its header says")
        try:
            plaintext = self._aead.decrypt(_nonce(counter), body, header)
        except InvalidTag:
            raise TunnelError(f"record {epoch}/{counter} does not authenticate: changed in transit") from None
        try:
            record = RecordType(kind)
        except ValueError:
            raise TunnelError(f"record {epoch}/{counter} of unknown type {kind}") from None
        self.counter += 1
        if record is RecordType.SWITCH:
            if self._next is None:
                raise TunnelError(f"a SWITCH in epoch {epoch} before the next key was agreed")
            self.epoch, key = self._next
            self._aead, self.counter, self._next = AESGCM(key), 0, None
        return record, plaintext

    def prepare(self, epoch: int, key: bytes) -> None:
        """The next epoch's key, taken at the peer's SWITCH record."""
        self._next = (epoch, key)


# The gateways ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TunnelConfig:
    """When the entry re-keys and how long an epoch may last.

    Attributes:
        rekey_s: a new epoch this many seconds after the last (0: not by time).
        rekey_bytes: a new epoch after this many bytes, both directions together (0: not by volume).
        key_lifetime_s: the longest an epoch lasts when no new key can be had; then the connection closes.
        retry_s: the wait between attempts at a new key.
    """

    rekey_s: float = 60.0
    rekey_bytes: int = 1 << 30
    key_lifetime_s: float | None = None
    retry_s: float = 1.0

    @property
    def lifetime_s(self) -> float:
        if self.key_lifetime_s is not None:
            return self.key_lifetime_s
        return 3 * self.rekey_s if self.rekey_s > 0 else 180.0


@dataclass
class TunnelStats:
    """What a gateway carried: plaintext bytes each way, epochs begun (the first of each connection
    included) and the QKD key IDs used, one per epoch."""

    role: str
    connections: int = 0
    open_connections: int = 0
    bytes_entry_to_exit: int = 0
    bytes_exit_to_entry: int = 0
    epochs: int = 0
    key_ids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    path: Path | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "pid": os.getpid(),  # whose stats: a restarted gateway's file is its own once it listens
            "connections": self.connections,
            "open_connections": self.open_connections,
            "bytes_entry_to_exit": self.bytes_entry_to_exit,
            "bytes_exit_to_entry": self.bytes_exit_to_entry,
            "epochs": self.epochs,
            "key_ids": list(self.key_ids),
            "errors": list(self.errors[-20:]),
        }

    def epoch(self, key: HybridKey) -> None:
        self.epochs += 1
        self.key_ids.append(str(key.key_id))
        self.save()

    def save(self) -> None:
        """Write the stats file (whole, replaced at once), if there is one."""
        if self.path is None:
            return
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps(self.as_json(), indent=2) + "\n")
        os.replace(partial, self.path)


class _Session:
    """One tunnel connection at one gateway: pumps both ways, records in and out, re-keys."""

    def __init__(
        self,
        *,
        initiator: bool,
        key: HybridKey,
        tunnel: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        local: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        kme: Etsi014Client,
        me: str,
        config: TunnelConfig,
        stats: TunnelStats,
    ) -> None:
        self.initiator, self.kme, self.me, self.config, self.stats = initiator, kme, me, config, stats
        self.peer = key.responder if initiator else key.initiator
        self.tunnel_reader, self.tunnel_writer = tunnel
        self.local_reader, self.local_writer = local
        outbound, inbound = direction_keys(key.key, 0)
        if not initiator:
            outbound, inbound = inbound, outbound
        self.sealer, self.opener = Sealer(0, outbound), Opener(0, inbound)
        self.epoch = 0
        self.epoch_started = time.monotonic()
        self.epoch_bytes = 0
        self.rekey_due = asyncio.Event()
        self.control: asyncio.Queue[bytes] = asyncio.Queue()
        self.responder: Responder | None = None
        self.sent_close = self.received_close = False
        self.helper: asyncio.Task[None] | None = None
        stats.epoch(key)

    # sending --------------------------------------------------------------------------------------------

    def _send(self, kind: RecordType, payload: bytes = b"") -> None:
        if self.sent_close and self.received_close:
            return  # both directions ended: a late re-key message has no one to go to
        self.tunnel_writer.write(self.sealer.seal(kind, payload))

    def _switch_out(self, key: HybridKey, epoch: int) -> None:
        """Send the SWITCH and seal with the new key from here on; the opener waits for the peer's."""
        outbound, inbound = direction_keys(key.key, epoch)
        if not self.initiator:
            outbound, inbound = inbound, outbound
        self._send(RecordType.SWITCH)
        self.sealer.switch(epoch, outbound)
        self.epoch, self.epoch_started, self.epoch_bytes = epoch, time.monotonic(), 0
        self.rekey_due.clear()
        self.stats.epoch(key)
        log.info("tunnel %s-%s: epoch %d, QKD key %s", self.me, self.peer, epoch, key.key_id)

    def _count(self, size: int, outbound: bool) -> None:
        if outbound == self.initiator:
            self.stats.bytes_entry_to_exit += size
        else:
            self.stats.bytes_exit_to_entry += size
        self.epoch_bytes += size
        if self.config.rekey_bytes and self.epoch_bytes >= self.config.rekey_bytes:
            self.rekey_due.set()

    async def pump_out(self) -> None:
        """Local bytes to DATA records, then CLOSE at the local end of stream."""
        while data := await self.local_reader.read(_READ_BYTES):
            self.tunnel_writer.write(self.sealer.seal_data(data))
            self._count(len(data), outbound=True)
            await self.tunnel_writer.drain()
        self._send(RecordType.CLOSE)
        await self.tunnel_writer.drain()
        self.sent_close = True
        self._maybe_finish()

    # receiving ------------------------------------------------------------------------------------------

    async def pump_in(self) -> None:
        """Records to local bytes and hybrid messages, until the tunnel ends after the peer's CLOSE."""
        while True:
            try:
                header = await self.tunnel_reader.readexactly(HEADER.size)
            except asyncio.IncompleteReadError as exc:
                if self.received_close and not exc.partial:
                    return
                raise TunnelError("the tunnel was cut before the peer's CLOSE") from None
            try:
                body = await self.tunnel_reader.readexactly(Opener.body_length(header))
            except asyncio.IncompleteReadError:
                raise TunnelError("the tunnel was cut inside a record") from None
            if self.sent_close and self.received_close:
                continue  # both directions ended: a late re-key message is dropped, the EOF awaited
            kind, payload = self.opener.open(header, body)
            if kind is RecordType.DATA:
                if self.received_close:
                    raise TunnelError("DATA after the peer's CLOSE")
                self.local_writer.write(payload)
                self._count(len(payload), outbound=False)
                await self.local_writer.drain()
            elif kind is RecordType.CLOSE:
                self.received_close = True
                with contextlib.suppress(OSError):
                    self.local_writer.write_eof()
                self._maybe_finish()
            elif kind is RecordType.REKEY:
                if self.initiator:
                    self.control.put_nowait(payload)
                else:
                    await self._answer_rekey(payload)

    def _maybe_finish(self) -> None:
        if not (self.sent_close and self.received_close):
            return
        if self.helper is not None:
            self.helper.cancel()  # no re-key after the end
        if self.tunnel_writer.can_write_eof():
            with contextlib.suppress(OSError):
                self.tunnel_writer.write_eof()

    # re-keying ------------------------------------------------------------------------------------------

    async def _answer_rekey(self, frame: bytes) -> None:
        """The exit's part: a HELLO gets REPLY and CONFIRM (or an error frame), the CONFIRM the switch."""
        if self.responder is None:
            responder = Responder(self.me)
            try:
                initiator, key_id = responder.receive_hello(frame)
                if initiator != self.peer:
                    raise HybridKeyError(f"a re-key from {initiator!r}, not {self.peer!r}")
                try:
                    (qkd,) = (await self.kme.dec_keys(initiator, [key_id])).keys
                except Etsi014ClientError as exc:
                    raise HybridKeyError(f"QKD key {key_id} not delivered: {exc}") from None
                reply, confirm = responder.reply(qkd.material())
            except HybridKeyError as exc:
                log.warning("tunnel %s-%s: re-key refused: %s", self.me, self.peer, exc)
                self._send(
                    RecordType.REKEY, json.dumps({"type": "error", "message": str(exc)[:200]}).encode()
                )
                return
            self._send(RecordType.REKEY, reply)
            self._send(RecordType.REKEY, confirm)
            self.responder = responder
            return
        responder, self.responder = self.responder, None
        key = responder.finish(frame)  # a wrong confirmation: HybridKeyError, the connection closes
        epoch = self.epoch + 1
        self.opener.prepare(epoch, direction_keys(key.key, epoch)[0])
        self._switch_out(key, epoch)

    async def _rekey(self) -> None:
        """The entry's part of one re-key: a new QKD key, the hybrid messages in band, the switch."""
        (qkd,) = (await self.kme.enc_keys(self.peer, number=1, size=256)).keys
        side = Initiator(self.me, self.peer, qkd.key_id, qkd.material())
        self._send(RecordType.REKEY, side.hello)
        side.receive_reply(await self.control.get())
        mine, key = side.confirm(await self.control.get())
        epoch = self.epoch + 1
        self.opener.prepare(epoch, direction_keys(key.key, epoch)[1])
        self._send(RecordType.REKEY, mine)
        self._switch_out(key, epoch)

    async def rekeyer(self) -> None:
        """The entry's schedule: re-key when due; without a new key, keep the epoch up to its lifetime."""
        while True:
            timeout = None
            if self.config.rekey_s > 0:
                timeout = max(0.0, self.epoch_started + self.config.rekey_s - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.rekey_due.wait(), timeout)
            while True:
                left = self.epoch_started + self.config.lifetime_s - time.monotonic()
                if left <= 0:
                    raise TunnelError(
                        f"no new QKD key within the key lifetime of {self.config.lifetime_s:g} s "
                        f"(epoch {self.epoch}): closing the connection"
                    )
                try:
                    await asyncio.wait_for(self._rekey(), left)
                    break
                except TimeoutError:
                    continue
                except (Etsi014ClientError, HybridKeyError) as exc:
                    log.warning(
                        "tunnel %s-%s: no new QKD key (%s); keeping epoch %d for at most %.1f s more",
                        self.me,
                        self.peer,
                        exc,
                        self.epoch,
                        left,
                    )
                    self.stats.errors.append(f"epoch {self.epoch}: no new key: {exc}")
                    await asyncio.sleep(min(self.config.retry_s, left))

    async def run(self) -> None:
        """Until both directions ended (CLOSE each way) or an error; closes both connections."""
        tasks = [asyncio.create_task(self.pump_out()), asyncio.create_task(self.pump_in())]
        self.helper = asyncio.create_task(self.rekeyer()) if self.initiator else None
        everything = [*tasks, *([self.helper] if self.helper else [])]
        try:
            pending = set(everything)
            while not all(task.done() for task in tasks):
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if not task.cancelled():
                        task.result()  # an error ends the connection
        finally:
            for task in everything:
                task.cancel()
            for writer in (self.tunnel_writer, self.local_writer):
                writer.close()  # before any await: a cancellation meanwhile leaves nothing open
            await asyncio.gather(*everything, return_exceptions=True)
            for writer in (self.tunnel_writer, self.local_writer):
                with contextlib.suppress(ConnectionError, OSError):
                    await writer.wait_closed()


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError, OSError):
        await writer.wait_closed()


class _Gateway:
    def __init__(self, role: str, kme: Etsi014Client, me: str, stats_file: Path | None) -> None:
        self.kme, self.me = kme, me
        self.stats = TunnelStats(role, path=stats_file)
        self._connections: set[asyncio.Task[None]] = set()

    async def _guarded(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, work: Handler
    ) -> None:
        self.stats.connections += 1
        self.stats.open_connections += 1
        try:
            await work(reader, writer)
        except (TunnelError, HybridKeyError, Etsi014ClientError, OSError) as exc:
            log.warning("tunnel %s: connection closed: %s", self.me, exc)
            self.stats.errors.append(str(exc)[:200])
        finally:
            self.stats.open_connections -= 1
            await _close(writer)
            self.stats.save()

    async def serve(self, host: str, port: int) -> asyncio.Server:
        """Listen (the server is started; the caller closes it)."""

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._connections.add(task)
            try:
                await self._guarded(reader, writer, self.handle)
            except asyncio.CancelledError:
                pass  # closed by aclose(): the end of this connection's task, not an error to report
            finally:
                self._connections.discard(task)

        return await asyncio.start_server(handle, host, port, limit=_STREAM_LIMIT)

    async def aclose(self) -> None:
        """End every open connection (after the server was closed)."""
        connections = list(self._connections)
        for task in connections:
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


class Entry(_Gateway):
    """The entry gateway: each local client gets a tunnel connection to the exit and its own epochs.

    Args:
        kme: this node's KME, as the SAE ``me``.
        peer: the exit's SAE ID.
        exit_address: where the exit listens.
    """

    def __init__(
        self,
        kme: Etsi014Client,
        me: str,
        peer: str,
        exit_address: tuple[str, int],
        config: TunnelConfig | None = None,
        stats_file: Path | None = None,
    ) -> None:
        super().__init__("entry", kme, me, stats_file)
        self.peer, self.exit_address, self.config = peer, exit_address, config or TunnelConfig()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tunnel_reader, tunnel_writer = await asyncio.open_connection(*self.exit_address, limit=_STREAM_LIMIT)
        try:
            key = await initiate(tunnel_reader, tunnel_writer, self.kme, self.me, self.peer)
        except BaseException:
            await _close(tunnel_writer)
            raise
        session = _Session(
            initiator=True,
            key=key,
            tunnel=(tunnel_reader, tunnel_writer),
            local=(reader, writer),
            kme=self.kme,
            me=self.me,
            config=self.config,
            stats=self.stats,
        )
        await session.run()


class Exit(_Gateway):
    """The exit gateway: answers each tunnel connection's establishments and forwards to ``target``.

    Args:
        kme: this node's KME, as the SAE ``me``.
    """

    def __init__(
        self, kme: Etsi014Client, me: str, target: tuple[str, int], stats_file: Path | None = None
    ) -> None:
        super().__init__("exit", kme, me, stats_file)
        self.target = target

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        key = await respond(reader, writer, self.kme, self.me)
        local_reader, local_writer = await asyncio.open_connection(*self.target, limit=_STREAM_LIMIT)
        session = _Session(
            initiator=False,
            key=key,
            tunnel=(reader, writer),
            local=(local_reader, local_writer),
            kme=self.kme,
            me=self.me,
            config=TunnelConfig(),
            stats=self.stats,
        )
        await session.run()
