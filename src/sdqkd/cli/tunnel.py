"""``sdqkd tunnel``: the data-plane tunnel between two nodes of a running network — an entry gateway
that takes plaintext TCP from local clients and an exit gateway that forwards it to a target, with
AES-256-GCM records under keys from a fresh hybrid key (QKD + X25519 + ML-KEM-768) every epoch."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from pathlib import Path
from typing import Annotated

import typer

from sdqkd.apps.tunnel import Entry, Exit, TunnelConfig
from sdqkd.cli.hybrid import client
from sdqkd.cli.network import DEFAULT_RUN_DIR, RunDirOption
from sdqkd.errors import ConfigError
from sdqkd.runtime.rundir import RunDir, sae_id

__all__ = ["parse_address", "tunnel_app"]

tunnel_app = typer.Typer(
    help="An encrypted TCP tunnel between two nodes, re-keyed from fresh hybrid keys "
    "(QKD + X25519 + ML-KEM-768).",
    no_args_is_help=True,
)

StatsOption = Annotated[
    Path | None,
    typer.Option("--stats-file", help="JSON stats (bytes each way, epochs, QKD key IDs), kept current."),
]


def parse_address(text: str, option: str) -> tuple[str, int]:
    """``HOST:PORT`` (an IPv6 host in brackets) as a (host, port) pair."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{option} {text!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


async def _serve(gateway: Entry | Exit, listen: tuple[str, int]) -> None:
    server = await gateway.serve(*listen)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    address = server.sockets[0].getsockname()
    print(f"tunnel {gateway.stats.role} of {gateway.me} listening on {address[0]}:{address[1]}", flush=True)
    gateway.stats.save()
    async with server:
        await stop.wait()
        server.close()
        await gateway.aclose()
    with contextlib.suppress(OSError):
        gateway.stats.save()
    print(json.dumps(gateway.stats.as_json(), indent=2), flush=True)


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")


@tunnel_app.command("exit")
def exit_command(
    node: Annotated[str, typer.Option("--node", help="This node: the exit runs as its SAE.")],
    listen: Annotated[str, typer.Option("--listen", help="HOST:PORT where entries connect.")],
    forward: Annotated[str, typer.Option("--forward", help="HOST:PORT the plaintext goes to.")],
    run_dir: RunDirOption = DEFAULT_RUN_DIR,
    stats_file: StatsOption = None,
) -> None:
    """The exit gateway: answers each entry's hybrid key establishments (dec_keys at this node's KME)
    and forwards the decrypted stream to --forward. Runs until interrupted; prints its stats then."""
    listen_at, target = parse_address(listen, "--listen"), parse_address(forward, "--forward")
    run = RunDir(Path(run_dir).resolve())
    kmes = run.read_json(run.network).get("kmes", {})
    _logging()

    async def main() -> None:
        async with client(run, kmes, node) as kme:
            await _serve(Exit(kme, sae_id(node), target, stats_file), listen_at)

    asyncio.run(main())


@tunnel_app.command("entry")
def entry_command(
    node: Annotated[str, typer.Option("--node", help="This node: the entry runs as its SAE.")],
    peer: Annotated[str, typer.Option("--peer", help="The exit's node.")],
    listen: Annotated[str, typer.Option("--listen", help="HOST:PORT where local clients connect.")],
    connect: Annotated[str, typer.Option("--connect", help="HOST:PORT of the exit gateway.")],
    run_dir: RunDirOption = DEFAULT_RUN_DIR,
    rekey_s: Annotated[
        float, typer.Option("--rekey-s", help="A new epoch every S seconds (0: not by time).")
    ] = 60.0,
    rekey_bytes: Annotated[
        int,
        typer.Option(
            "--rekey-bytes", help="A new epoch every N bytes, both ways together (0: not by volume)."
        ),
    ] = 1 << 30,
    key_lifetime_s: Annotated[
        float | None,
        typer.Option(
            "--key-lifetime-s", help="The longest an epoch lasts without a new key (default 3 × --rekey-s)."
        ),
    ] = None,
    stats_file: StatsOption = None,
) -> None:
    """The entry gateway: each local client gets its own tunnel connection to the exit, keyed by a
    hybrid key establishment (enc_keys at this node's KME for the exit's SAE) and re-keyed in band.
    Without a new QKD key an epoch lasts at most --key-lifetime-s; then the connection closes."""
    if node == peer:
        raise ConfigError("--node and --peer must be two different nodes")
    if rekey_s < 0 or rekey_bytes < 0 or (key_lifetime_s is not None and key_lifetime_s <= 0):
        raise ConfigError("--rekey-s and --rekey-bytes must be 0 or more, --key-lifetime-s more than 0")
    listen_at, exit_at = parse_address(listen, "--listen"), parse_address(connect, "--connect")
    run = RunDir(Path(run_dir).resolve())
    kmes = run.read_json(run.network).get("kmes", {})
    if peer not in kmes:
        raise ConfigError(f"no node {peer!r} with a KME in {run.root} (nodes: {', '.join(sorted(kmes))})")
    config = TunnelConfig(
        rekey_s=rekey_s,
        rekey_bytes=rekey_bytes,
        key_lifetime_s=key_lifetime_s,
        retry_s=min(1.0, rekey_s / 4) if rekey_s > 0 else 1.0,
    )
    _logging()

    async def main() -> None:
        async with client(run, kmes, node) as kme:
            await _serve(Entry(kme, sae_id(node), sae_id(peer), exit_at, config, stats_file), listen_at)

    asyncio.run(main())
