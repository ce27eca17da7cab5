"""``sdqkd qtls``: QKD-TLS between two nodes of a running network — TLS 1.3 whose handshake takes a
QKD key (the ETSI 014 key ID as PSK identity) and an X25519MLKEM768/X25519 key exchange together.

- ``serve``: accepts QKD-TLS and forwards each connection's plaintext to a target; each key is
  fetched from this node's KME by the key ID the client offers (``dec_keys``), once.
- ``connect``: gets a key from this node's KME (``enc_keys``) and connects, for stdin/stdout or for
  each client of a local port.
- ``psk``: a key for another tool (OpenSSL's ``s_client -psk HEX -psk_identity ID``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated

import typer

from sdqkd.cli.hybrid import client
from sdqkd.cli.network import DEFAULT_RUN_DIR, RunDirOption
from sdqkd.cli.tunnel import parse_address
from sdqkd.errors import ConfigError, QtlsError
from sdqkd.qtls import QtlsConnection, QtlsServer, open_connection, relay
from sdqkd.qtls.session import HashName
from sdqkd.runtime.rundir import RunDir, sae_id
from sdqkd.server.run import bind_socket

__all__ = ["qtls_app"]

Dial = Callable[[], Awaitable[QtlsConnection]]

qtls_app = typer.Typer(
    help="TLS 1.3 keyed by a QKD key and an X25519MLKEM768 key exchange together (QKD-TLS).",
    no_args_is_help=True,
)

PskHashOption = Annotated[
    str,
    typer.Option(
        "--psk-hash",
        help="sha384 (TLS_AES_256_GCM_SHA384) or sha256 (TLS_AES_128_GCM_SHA256: OpenSSL's s_server -psk).",
    ),
]


def _network(run_dir: Path, *nodes: str) -> tuple[RunDir, dict[str, str]]:
    run = RunDir(Path(run_dir).resolve())
    kmes: dict[str, str] = run.read_json(run.network).get("kmes", {})
    for node in nodes:
        if node not in kmes:
            raise ConfigError(f"no node {node!r} with a KME in {run.root} (nodes: {', '.join(sorted(kmes))})")
    return run, kmes


def _psk_hash(text: str) -> HashName:
    if text == "sha256":
        return "sha256"
    if text == "sha384":
        return "sha384"
    raise ConfigError(f"--psk-hash {text!r}: sha256 or sha384")


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per KME call


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


@qtls_app.command("serve")
def serve_command(
    node: Annotated[str, typer.Option("--node", help="This node: the server runs as its SAE.")],
    listen: Annotated[str, typer.Option("--listen", help="HOST:PORT where QKD-TLS clients connect.")],
    forward: Annotated[str, typer.Option("--forward", help="HOST:PORT the plaintext goes to.")],
    run_dir: RunDirOption = DEFAULT_RUN_DIR,
    peer: Annotated[
        list[str] | None,
        typer.Option("--peer", help="A node whose SAE may connect (repeat; default: every other node)."),
    ] = None,
    stats_file: Annotated[
        Path | None, typer.Option("--stats-file", help="JSON stats, written every second and at exit.")
    ] = None,
) -> None:
    """Accept QKD-TLS connections and forward each to --forward. A connection's key is the one its
    key ID (the PSK identity) names, fetched with dec_keys at this node's KME: an unknown key ID, or
    one used already, is refused (TLS alert unknown_psk_identity). Runs until interrupted."""
    listen_at, target = parse_address(listen, "--listen"), parse_address(forward, "--forward")
    run, kmes = _network(run_dir, node, *(peer or []))
    peers = peer or [other for other in sorted(kmes) if other != node]
    if node in peers:
        raise ConfigError("--peer names this node itself")
    _logging()

    async def main() -> None:
        async with client(run, kmes, node) as kme:
            server = QtlsServer(kme, [sae_id(other) for other in peers], target)
            listener = bind_socket(*listen_at)
            host, port = listener.getsockname()[:2]
            print(
                f"qtls serve of {node} on {host}:{port} → {forward} (keys from: {', '.join(peers)})",
                flush=True,
            )
            serving = asyncio.create_task(server.serve(listener))
            saving = asyncio.create_task(_save_every_second(server, stats_file))
            try:
                await _until_signalled()
            finally:
                for task in (serving, saving):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                listener.close()
            _save(server, stats_file)
            print(json.dumps(server.stats.as_json(), indent=2), flush=True)

    asyncio.run(main())


async def _save_every_second(server: QtlsServer, path: Path | None) -> None:
    while path is not None:
        _save(server, path)
        await asyncio.sleep(1)


def _save(server: QtlsServer, path: Path | None) -> None:
    if path is None:
        return
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(server.stats.as_json()), encoding="utf-8")
    os.replace(temporary, path)


@qtls_app.command("connect")
def connect_command(
    node: Annotated[str, typer.Option("--node", help="This node: the client runs as its SAE.")],
    peer: Annotated[str, typer.Option("--peer", help="The server's node (its SAE gets the key).")],
    connect: Annotated[str, typer.Option("--connect", help="HOST:PORT of the QKD-TLS server.")],
    run_dir: RunDirOption = DEFAULT_RUN_DIR,
    listen: Annotated[
        str | None,
        typer.Option("--listen", help="HOST:PORT for local clients, one QKD-TLS connection (and key) each."),
    ] = None,
    psk_hash: PskHashOption = "sha384",
    linger_s: Annotated[
        float,
        typer.Option(
            "--linger-s",
            help="Without --listen: after stdin ends, close once the server has been silent this long.",
        ),
    ] = 1.0,
) -> None:
    """Connect with a new QKD key (enc_keys at this node's KME for the peer's SAE). Without --listen:
    stdin goes to the server and what it sends to stdout, until it closes (or is silent for
    --linger-s after stdin ended). With --listen: a local
    plaintext port whose every client gets its own QKD-TLS connection."""
    if node == peer:
        raise ConfigError("--node and --peer must be two different nodes")
    server_at = parse_address(connect, "--connect")
    listen_at = parse_address(listen, "--listen") if listen is not None else None
    hash_name = _psk_hash(psk_hash)
    run, kmes = _network(run_dir, node, peer)

    async def main() -> None:
        async with client(run, kmes, node) as kme:

            async def dial() -> QtlsConnection:
                return await open_connection(kme, sae_id(peer), *server_at, psk_hash=hash_name)

            if listen_at is None:
                connection = await dial()
                print(
                    f"qtls: key {connection.key_id}, {connection.group}, {connection.cipher}",
                    file=sys.stderr,
                    flush=True,
                )
                await asyncio.to_thread(_stdio, connection, linger_s)
                return
            _logging()
            await _listen(dial, listen_at)

    try:
        asyncio.run(main())
    except QtlsError as exc:
        raise ConfigError(str(exc)) from exc


async def _listen(dial: Dial, listen_at: tuple[str, int]) -> None:
    """Each local client of ``listen_at`` gets a connection from ``dial()``; runs until signalled."""
    listener = bind_socket(*listen_at)
    listener.setblocking(False)
    loop = asyncio.get_running_loop()
    host, port = listener.getsockname()[:2]
    print(f"qtls connect listening on {host}:{port}", flush=True)

    bridging: set[asyncio.Task[None]] = set()

    async def accept_forever() -> None:
        while True:
            plain, _ = await loop.sock_accept(listener)
            plain.setblocking(True)
            task = asyncio.create_task(_bridge(dial, plain))
            bridging.add(task)
            task.add_done_callback(bridging.discard)

    accepting = asyncio.create_task(accept_forever())
    try:
        await _until_signalled()
    finally:
        accepting.cancel()
        listener.close()


async def _bridge(dial: Dial, plain: socket.socket) -> None:
    try:
        tls = await dial()
    except Exception as exc:  # the client is told by the closed connection; the log says why
        logging.getLogger(__name__).warning("no QKD-TLS connection for a local client: %s", exc)
        plain.close()
        return
    thread = threading.Thread(target=relay, args=(tls, plain), daemon=True)
    thread.start()


def _stdio(connection: QtlsConnection, linger_s: float) -> None:
    """stdin → the connection, the connection → stdout, until the server closes, or until it has
    sent nothing for ``linger_s`` after stdin ended (its answer to the last input has come)."""
    last_heard = [time.monotonic()]

    def upstream() -> None:
        with contextlib.suppress(OSError, QtlsError):
            while data := os.read(sys.stdin.fileno(), 1 << 16):
                connection.sendall(data)
        while time.monotonic() - last_heard[0] < linger_s:
            time.sleep(0.05)
        connection.close()  # the reader below returns

    threading.Thread(target=upstream, daemon=True).start()
    out = sys.stdout.buffer
    try:
        while data := connection.recv():
            last_heard[0] = time.monotonic()
            out.write(data)
            out.flush()
    finally:
        connection.close()


@qtls_app.command("psk")
def psk_command(
    node: Annotated[str, typer.Option("--node", help="This node: the key is got as its SAE.")],
    peer: Annotated[str, typer.Option("--peer", help="The node whose SAE may fetch the key (the server).")],
    run_dir: RunDirOption = DEFAULT_RUN_DIR,
) -> None:
    """Get one new QKD key (enc_keys) and print it as OpenSSL options: -psk HEX -psk_identity KEY_ID,
    for `openssl s_client -tls1_3 ... -connect HOST:PORT` to a `sdqkd qtls serve` of --peer."""
    if node == peer:
        raise ConfigError("--node and --peer must be two different nodes")
    run, kmes = _network(run_dir, node, peer)

    async def main() -> tuple[str, bytes]:
        async with client(run, kmes, node) as kme:
            key = (await kme.enc_keys(sae_id(peer), number=1, size=256)).keys[0]
            return str(key.key_id), bytes(key.material())

    key_id, material = asyncio.run(main())
    print(f"-psk {material.hex()} -psk_identity {key_id}")
