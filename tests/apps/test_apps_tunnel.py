"""The data-plane tunnel (sdqkd.apps.tunnel): the record layer without I/O (every record but the next
intact one refused, keys per direction and epoch), then an entry and an exit gateway on loopback with
stand-ins of the two KMEs — bytes arrive exactly through many re-keys, a changed, replayed or reordered
record closes the connection, and without new QKD keys the epoch is kept only up to its lifetime."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from polling import wait_for_async
from sdqkd.apps.hybrid import read_frame
from sdqkd.apps.tunnel import (
    HEADER,
    MAX_PLAINTEXT,
    Entry,
    Exit,
    Opener,
    RecordType,
    Sealer,
    TunnelConfig,
    direction_keys,
)
from sdqkd.errors import TunnelError
from standin_kmes import StandInKmes

A, B = "n1-app", "n3-app"


# The record layer ------------------------------------------------------------------------------------------


def pair() -> tuple[Sealer, Opener]:
    key = secrets.token_bytes(32)
    return Sealer(0, key), Opener(0, key)


def split(record: bytes) -> tuple[bytes, bytes]:
    return record[: HEADER.size], record[HEADER.size :]


def test_records_open_in_order_and_carry_type_epoch_and_counter_in_the_clear_header() -> None:
    sealer, opener = pair()
    records = [sealer.seal(RecordType.DATA, b"one"), sealer.seal(RecordType.CLOSE, b"")]
    assert HEADER.unpack(records[1][: HEADER.size]) == (RecordType.CLOSE, 0, 1, 16)
    assert b"one" not in records[0]
    assert [opener.open(*split(r)) for r in records] == [(RecordType.DATA, b"one"), (RecordType.CLOSE, b"")]


def test_data_is_cut_into_records_of_at_most_16_kib() -> None:
    sealer, opener = pair()
    data = secrets.token_bytes(3 * MAX_PLAINTEXT + 5)
    stream, got = sealer.seal_data(data), b""
    while stream:
        length = Opener.body_length(stream[: HEADER.size])
        record, stream = stream[: HEADER.size + length], stream[HEADER.size + length :]
        kind, plaintext = opener.open(*split(record))
        assert kind is RecordType.DATA
        assert len(plaintext) <= MAX_PLAINTEXT
        got += plaintext
    assert got == data
    assert opener.counter == 4
    with pytest.raises(TunnelError, match="over"):
        sealer.seal(RecordType.DATA, bytes(MAX_PLAINTEXT + 1))


@pytest.mark.parametrize("byte", [0, 4, 12, HEADER.size - 1, HEADER.size, HEADER.size + 20])
def test_a_flipped_bit_anywhere_in_a_record_is_refused(byte: int) -> None:
    sealer, opener = pair()
    record = bytearray(sealer.seal(RecordType.DATA, b"x" * 64))
    record[byte] ^= 0x01
    with pytest.raises(TunnelError):
        opener.open(*split(bytes(record)))


def test_a_replayed_or_reordered_record_is_refused() -> None:
    sealer, opener = pair()
    first, second, third = (sealer.seal(RecordType.DATA, bytes([i])) for i in range(3))
    opener.open(*split(first))
    with pytest.raises(TunnelError, match="replayed, reordered"):
        opener.open(*split(first))
    with pytest.raises(TunnelError, match="replayed, reordered"):
        opener.open(*split(third))
    assert opener.open(*split(second)) == (RecordType.DATA, b"\x01")


def test_switch_moves_both_halves_to_the_next_epoch_and_old_records_are_refused_after_it() -> None:
    sealer, opener = pair()
    old = sealer.seal(RecordType.DATA, b"old")
    early_sealer, early_opener = pair()
    with pytest.raises(TunnelError, match="before the next key"):
        early_opener.open(*split(early_sealer.seal(RecordType.SWITCH, b"")))
    new_key = secrets.token_bytes(32)
    opener.prepare(1, new_key)
    opener.open(*split(old))
    opener.open(*split(sealer.seal(RecordType.SWITCH, b"")))
    sealer.switch(1, new_key)
    assert (opener.epoch, opener.counter) == (1, 0)
    assert opener.open(*split(sealer.seal(RecordType.DATA, b"new"))) == (RecordType.DATA, b"new")
    with pytest.raises(TunnelError, match="replayed"):
        opener.open(*split(old))


def test_each_direction_and_epoch_has_its_own_key() -> None:
    key = secrets.token_bytes(32)
    keys = [*direction_keys(key, 0), *direction_keys(key, 1), *direction_keys(secrets.token_bytes(32), 0)]
    assert len(set(keys)) == 6
    assert all(len(k) == 32 for k in keys)
    assert key not in keys


# Two gateways on loopback --------------------------------------------------------------------------------


Tamper = Callable[[int, bytes], list[bytes]]
"""What a man in the middle does with the n-th record from the entry: the records it passes on."""


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        await _close(writer)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError, OSError):
        await writer.wait_closed()


class _Sink:
    def __init__(self) -> None:
        self.data = b""

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                self.data += data
        finally:
            await _close(writer)


async def _middle(exit_port: int, tamper: Tamper) -> asyncio.Server:
    """A proxy that passes the hybrid frames and then edits the entry's records with ``tamper``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", exit_port)

        async def down() -> None:
            while data := await up_reader.read(65536):
                writer.write(data)
            await _close(writer)

        async def up() -> None:
            for _ in range(2):  # HELLO, then the initiator's CONFIRM
                frame = await read_frame(reader)
                up_writer.write(len(frame).to_bytes(4, "big") + frame)
            n = 0
            with contextlib.suppress(asyncio.IncompleteReadError):
                while True:
                    header = await reader.readexactly(HEADER.size)
                    record = header + await reader.readexactly(HEADER.unpack(header)[3])
                    for out in tamper(n, record):
                        up_writer.write(out)
                    await up_writer.drain()
                    n += 1
            up_writer.close()

        try:
            with contextlib.suppress(ConnectionError, OSError):
                await asyncio.gather(up(), down())
        finally:
            await _close(up_writer)
            await _close(writer)

    return await asyncio.start_server(handle, "127.0.0.1", 0)


@contextlib.asynccontextmanager
async def gateways(
    kmes: StandInKmes, config: TunnelConfig, target: Any = _echo, tamper: Tamper | None = None
) -> AsyncIterator[tuple[int, Entry, Exit]]:
    """A target, an exit forwarding to it, (a man in the middle,) an entry: the entry's port."""
    servers = [await asyncio.start_server(target, "127.0.0.1", 0)]
    exit_gw = Exit(kmes, B, servers[0].sockets[0].getsockname()[:2])  # type: ignore[arg-type]
    servers.append(await exit_gw.serve("127.0.0.1", 0))
    port = servers[-1].sockets[0].getsockname()[1]
    if tamper is not None:
        servers.append(await _middle(port, tamper))
        port = servers[-1].sockets[0].getsockname()[1]
    entry = Entry(kmes, A, B, ("127.0.0.1", port), config)  # type: ignore[arg-type]
    servers.append(await entry.serve("127.0.0.1", 0))
    try:
        yield servers[-1].sockets[0].getsockname()[1], entry, exit_gw
    finally:
        for server in servers:
            server.close()
        await entry.aclose()
        await exit_gw.aclose()
        for server in servers:
            await server.wait_closed()


async def _read_to_end(reader: asyncio.StreamReader) -> bytes:
    with contextlib.suppress(ConnectionError):
        return await asyncio.wait_for(reader.read(), 20)
    return b""


def test_bytes_arrive_exactly_both_ways_across_many_rekeys_each_with_a_new_qkd_key() -> None:
    steps = [secrets.token_bytes(150_000) for _ in range(8)]
    burst = secrets.token_bytes(2_000_000)
    kmes = StandInKmes()

    async def run() -> tuple[bytes, Entry, Exit]:
        config = TunnelConfig(rekey_s=0, rekey_bytes=200_000)
        async with gateways(kmes, config) as (port, entry, exit_gw):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            echoed = b""
            for i, step in enumerate(steps):  # in lock step: each 300 kB there and back re-keys once
                writer.write(step)
                echoed += await asyncio.wait_for(reader.readexactly(len(step)), 10)
                await wait_for_async(lambda: entry.stats.epochs, lambda n, i=i: n == i + 2, 10, "re-keyed")

            async def send() -> None:  # then at full speed, re-keying under way
                for i in range(0, len(burst), 100_000):
                    writer.write(burst[i : i + 100_000])
                    await writer.drain()
                writer.write_eof()

            _, rest = await asyncio.gather(send(), _read_to_end(reader))
            await _close(writer)
            await wait_for_async(lambda: exit_gw.stats.open_connections, lambda n: n == 0, 10, "closed")
            return echoed + rest, entry, exit_gw

    echoed, entry, exit_gw = asyncio.run(run())
    data = b"".join(steps) + burst
    assert hashlib.sha256(echoed).digest() == hashlib.sha256(data).digest()
    assert entry.stats.bytes_entry_to_exit == entry.stats.bytes_exit_to_entry == len(data)
    assert exit_gw.stats.bytes_entry_to_exit == exit_gw.stats.bytes_exit_to_entry == len(data)
    assert entry.stats.epochs >= 9
    # the same epochs at both sides (a re-key under way as the connection ends may have begun at the
    # entry only), each from a QKD key the exit's KME delivered, each key ID used once
    assert exit_gw.stats.key_ids == entry.stats.key_ids[: exit_gw.stats.epochs]
    assert entry.stats.epochs - exit_gw.stats.epochs in (0, 1)
    assert set(entry.stats.key_ids) <= {str(k) for k in kmes.delivered}
    assert len(set(entry.stats.key_ids)) == entry.stats.epochs
    assert entry.stats.errors == exit_gw.stats.errors == []


def _closed_by_the_exit(tamper: Tamper) -> tuple[bytes, bytes, list[str]]:
    """Send 1 MB through a tampering middle: what the client got back, what the target got, the
    exit's errors."""
    data = secrets.token_bytes(1_000_000)
    sink = _Sink()

    async def run() -> tuple[bytes, bytes, list[str]]:
        config = TunnelConfig(rekey_s=0, rekey_bytes=0)
        async with gateways(StandInKmes(), config, target=sink, tamper=tamper) as (port, _, exit_gw):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            with contextlib.suppress(ConnectionError):
                writer.write(data)
                await writer.drain()
                writer.write_eof()
            back = await _read_to_end(reader)
            await _close(writer)
            await wait_for_async(lambda: exit_gw.stats.errors, bool, 10, "an error at the exit")
            return back, sink.data, exit_gw.stats.errors

    back, received, errors = asyncio.run(run())
    assert back == b""
    assert data.startswith(received)
    assert len(received) < len(data)
    return back, received, errors


def test_a_flipped_bit_in_a_record_is_detected_and_the_connection_closed() -> None:
    def flip(n: int, record: bytes) -> list[bytes]:
        if n != 5:
            return [record]
        changed = bytearray(record)
        changed[HEADER.size + 100] ^= 0x04
        return [bytes(changed)]

    _, _, errors = _closed_by_the_exit(flip)
    assert any("does not authenticate" in e for e in errors)


@pytest.mark.parametrize("edit", ["replay", "reorder", "drop"])
def test_a_replayed_reordered_or_dropped_record_closes_the_connection(edit: str) -> None:
    held: list[bytes] = []

    def tamper(n: int, record: bytes) -> list[bytes]:
        if edit == "replay" and n == 5:
            return [record, record]
        if edit == "reorder" and n == 5:
            held.append(record)
            return []
        if edit == "reorder" and n == 6:
            return [record, *held]
        return [] if edit == "drop" and n == 5 else [record]

    _, _, errors = _closed_by_the_exit(tamper)
    assert any("replayed, reordered or dropped" in e for e in errors)


def test_without_new_qkd_keys_the_epoch_is_kept_within_its_lifetime_then_the_connection_closes() -> None:
    kmes = StandInKmes(budget=2)  # epoch 0 and one re-key; then the KME answers 503

    async def run() -> tuple[Entry, Exit, bytes, bytes]:
        config = TunnelConfig(rekey_s=0.1, rekey_bytes=0, key_lifetime_s=3.0, retry_s=0.05)
        async with gateways(kmes, config) as (port, entry, exit_gw):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            await wait_for_async(lambda: entry.stats.epochs, lambda n: n == 2, 10, "re-keyed once")
            await wait_for_async(lambda: entry.stats.errors, bool, 10, "a failed re-key")
            writer.write(b"still within the lifetime")
            await writer.drain()
            echoed = await asyncio.wait_for(reader.readexactly(25), 10)
            rest = await _read_to_end(reader)  # the entry closes at the end of the lifetime
            await _close(writer)
            return entry, exit_gw, echoed, rest

    entry, exit_gw, echoed, rest = asyncio.run(run())
    assert echoed == b"still within the lifetime"
    assert rest == b""
    assert entry.stats.epochs == exit_gw.stats.epochs == 2
    assert any("no new key" in e and "503" in e for e in entry.stats.errors)
    assert any("key lifetime of 3 s" in e for e in entry.stats.errors)


def test_no_qkd_key_at_all_means_no_connection_to_the_target() -> None:
    sink = _Sink()
    reached: list[bool] = []

    async def target(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        reached.append(True)
        await sink(reader, writer)

    async def run() -> tuple[bytes, list[str]]:
        async with gateways(StandInKmes(budget=0), TunnelConfig(), target=target) as (port, entry, _):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"secret")
            back = await _read_to_end(reader)
            await _close(writer)
            return back, entry.stats.errors

    back, errors = asyncio.run(run())
    assert back == b""
    assert reached == []
    assert sink.data == b""
    assert any("503" in e for e in errors)
