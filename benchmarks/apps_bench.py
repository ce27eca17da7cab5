"""Applications: hybrid key establishments per second and their latency, and tunnel throughput with
re-keying every second.

Both on loopback in one process (one event loop, so one core for everything: the figures are a lower
bound of gateways on their own hosts), with stand-ins of the two KMEs (keys from ``secrets``, each
delivered once), so what is measured is the protocol and the cryptography, not the key supply:

- hybrid: ``initiate``/``respond`` over a TCP connection each, one after another: X25519, ML-KEM-768
  (key generation, encapsulation, decapsulation), CatKDF, the confirmations;
- tunnel: an entry and an exit gateway (``sdqkd.apps.tunnel``) with ``rekey_s=1``; one client sends
  as fast as it can to a target that counts (entry → exit), then the same with an echoing target
  (both directions at once).

- QKD-TLS: handshakes through a ``QtlsServer`` (``sdqkd.qtls``) in front of a sink, one after
  another, each with a new key (enc_keys, then dec_keys by the offered key ID), first with
  X25519MLKEM768 then with X25519 only; then one connection sending for ``--seconds``.

Prints: establishments/s and p50/p99 latency (ms); per tunnel case the bytes, seconds, Gbit/s of
plaintext and the epochs (re-keys + 1); QKD-TLS handshakes/s and p50/p99 per group, and the
plaintext Gbit/s of one connection (one direction, AES-256-GCM records).

Run: ``python benchmarks/apps_bench.py [--seconds 5] [--establishments 200] [--handshakes 100]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import socket
import statistics
import threading
import time
import uuid
from typing import Any

from sdqkd.apps.hybrid import initiate, respond
from sdqkd.apps.tunnel import Entry, Exit, TunnelConfig
from sdqkd.etsi014.client import Etsi014ClientError
from sdqkd.qtls import GROUPS, QtlsServer, open_connection


class _Key:
    def __init__(self, key_id: uuid.UUID, material: bytes) -> None:
        self.key_id, self._material = key_id, material

    def material(self) -> bytes:
        return self._material


class StandInKmes:
    """Two KMEs sharing keys: enc_keys at one, dec_keys (once per key) at the other."""

    def __init__(self) -> None:
        self.keys: dict[uuid.UUID, bytes] = {}

    async def enc_keys(self, slave: str, number: int, size: int) -> Any:
        key_id = uuid.uuid4()
        self.keys[key_id] = secrets.token_bytes(size // 8)
        return type("Container", (), {"keys": [_Key(key_id, self.keys[key_id])]})

    async def dec_keys(self, master: str, key_ids: list[uuid.UUID]) -> Any:
        (key_id,) = key_ids
        if key_id not in self.keys:
            raise Etsi014ClientError("not available", status_code=401)
        return type("Container", (), {"keys": [_Key(key_id, self.keys.pop(key_id))]})


async def bench_hybrid(count: int) -> None:
    kmes = StandInKmes()

    answered = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal answered
        await respond(reader, writer, kmes, "b-app")  # type: ignore[arg-type]
        answered += 1
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    latencies = []
    started = time.perf_counter()
    for _ in range(count):
        t0 = time.perf_counter()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await initiate(reader, writer, kmes, "a-app", "b-app")  # type: ignore[arg-type]
        writer.close()
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    while answered < count:  # the last responder finishing
        await asyncio.sleep(0.01)
    server.close()
    latencies.sort()
    print(
        f"hybrid establishments: {count} in {elapsed:.2f} s = {count / elapsed:.0f}/s, "
        f"latency p50 {1000 * statistics.median(latencies):.2f} ms, "
        f"p99 {1000 * latencies[int(0.99 * (count - 1))]:.2f} ms"
    )


async def bench_tunnel(seconds: float, echo: bool) -> None:
    kmes = StandInKmes()
    received = 0

    async def target(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal received
        while data := await reader.read(1 << 20):
            received += len(data)
            if echo:
                writer.write(data)
                await writer.drain()
        writer.close()

    target_server = await asyncio.start_server(target, "127.0.0.1", 0, limit=1 << 20)
    exit_gw = Exit(kmes, "b-app", target_server.sockets[0].getsockname()[:2])  # type: ignore[arg-type]
    exit_server = await exit_gw.serve("127.0.0.1", 0)
    entry = Entry(
        kmes,  # type: ignore[arg-type]
        "a-app",
        "b-app",
        exit_server.sockets[0].getsockname()[:2],
        TunnelConfig(rekey_s=1.0, rekey_bytes=0, retry_s=0.25),
    )
    entry_server = await entry.serve("127.0.0.1", 0)
    reader, writer = await asyncio.open_connection(*entry_server.sockets[0].getsockname()[:2], limit=1 << 20)
    chunk = secrets.token_bytes(1 << 20)
    sent = back = 0

    async def drain_back() -> None:
        nonlocal back
        while data := await reader.read(1 << 20):
            back += len(data)

    back_task = asyncio.create_task(drain_back())
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        writer.write(chunk)
        await writer.drain()
        sent += len(chunk)
    writer.write_eof()
    await back_task
    elapsed = time.perf_counter() - started
    writer.close()
    total = received + back
    print(
        f"tunnel {'both ways (echo)' if echo else 'one way'}: {total / 1e6:.0f} MB of plaintext in "
        f"{elapsed:.2f} s = {8 * total / elapsed / 1e9:.2f} Gbit/s, {entry.stats.epochs} epochs "
        f"(re-key every 1 s), byte counts {'match' if received == sent and back in (0, sent) else 'DIFFER'}"
    )
    for server in (entry_server, exit_server, target_server):
        server.close()
    await entry.aclose()
    await exit_gw.aclose()


async def bench_qtls(count: int, seconds: float) -> None:
    """QKD-TLS handshakes (key from enc_keys, ClientHello, dec_keys by key ID, handshake) through a
    QtlsServer in front of a sink, then the plaintext throughput of one connection."""
    kmes = StandInKmes()
    sink = socket.create_server(("127.0.0.1", 0))
    received = [0]

    def drain(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(1 << 20):
                received[0] += len(data)

    def accept_forever() -> None:
        with contextlib.suppress(OSError):
            while True:
                threading.Thread(target=drain, args=(sink.accept()[0],), daemon=True).start()

    threading.Thread(target=accept_forever, daemon=True).start()
    server = QtlsServer(kmes, ["a-app"], sink.getsockname()[:2])
    listener = socket.create_server(("127.0.0.1", 0))
    serving = asyncio.create_task(server.serve(listener))
    port = listener.getsockname()[1]
    for groups in (GROUPS, ("x25519",)):
        latencies = []
        started = time.perf_counter()
        for _ in range(count):
            t0 = time.perf_counter()
            connection = await open_connection(kmes, "b-app", "127.0.0.1", port, groups=groups)  # type: ignore[arg-type]
            latencies.append(time.perf_counter() - t0)
            connection.close()
        elapsed = time.perf_counter() - started
        latencies.sort()
        print(
            f"QKD-TLS handshakes ({groups[0]}): {count} in {elapsed:.2f} s = {count / elapsed:.1f}/s, "
            f"latency p50 {1000 * statistics.median(latencies):.1f} ms, "
            f"p99 {1000 * latencies[int(0.99 * (count - 1))]:.1f} ms"
        )
    connection = await open_connection(kmes, "b-app", "127.0.0.1", port)  # type: ignore[arg-type]
    chunk = secrets.token_bytes(1 << 20)

    def send() -> tuple[int, float]:
        sent, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            connection.sendall(chunk)
            sent += len(chunk)
        return sent, time.perf_counter() - t0

    before = received[0]
    sent, elapsed = await asyncio.to_thread(send)
    while received[0] - before < sent:
        await asyncio.sleep(0.01)
    elapsed_all = elapsed
    connection.close()
    print(
        f"QKD-TLS one connection ({connection.cipher}): {sent / 1e6:.0f} MB in {elapsed_all:.2f} s = "
        f"{8 * sent / elapsed_all / 1e9:.2f} Gbit/s"
    )
    serving.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await serving
    listener.close()
    sink.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each tunnel case")
    parser.add_argument("--establishments", type=int, default=200, help="hybrid establishments to time")
    parser.add_argument("--handshakes", type=int, default=100, help="QKD-TLS handshakes to time, per group")
    args = parser.parse_args()
    asyncio.run(bench_hybrid(args.establishments))
    asyncio.run(bench_tunnel(args.seconds, echo=False))
    asyncio.run(bench_tunnel(args.seconds, echo=True))
    asyncio.run(bench_qtls(args.handshakes, args.seconds))


if __name__ == "__main__":
    main()
