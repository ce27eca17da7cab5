"""``sdqkd opot``: Ordered Proof of Transit on a path of nodes of a running network — profiles for a path,
and the data path's node process (ingress, transit or verifier, by its place on the path) over UDP, its
hops masked with QKD keys from the nodes' KMEs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from pathlib import Path
from typing import Annotated

import typer

from sdqkd.apps.opot_keys import RefreshPolicy
from sdqkd.apps.opot_path import NodeConfig, OpotNode, Role
from sdqkd.apps.opot_replay import DEFAULT_WINDOW
from sdqkd.apps.opot_service import send_to_service
from sdqkd.apps.opot_traffic import Fault, Inject, Skip, Swap
from sdqkd.cli.hybrid import client
from sdqkd.cli.network import DEFAULT_RUN_DIR, RunDirOption
from sdqkd.cli.tunnel import parse_address
from sdqkd.errors import ConfigError
from sdqkd.opot import NodeShare, PathProfile, generate_profiles
from sdqkd.runtime.rundir import RunDir, sae_id

__all__ = ["opot_app"]

opot_app = typer.Typer(
    help="Ordered Proof of Transit: a verifier learns whether packets crossed a path's nodes in order "
    "(per-hop masks from QKD keys).",
    no_args_is_help=True,
)


@opot_app.command("profile")
def profile_command(
    path: Annotated[str, typer.Option("--path", help="The path's nodes, ingress first: n1,n2,n3.")],
    out: Annotated[Path, typer.Option("--out", help="The profile file to write (owner-only).")],
) -> None:
    """New OPoT profiles for a path (random polynomials and points), as one JSON file. It holds the
    shares and the verifier's secret: it is written readable by its owner only."""
    profile = generate_profiles([n.strip() for n in path.split(",")])
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(profile.to_json() + "\n")
    os.chmod(out, 0o600)  # also when the file was there before
    print(f"OPoT profiles for {' -> '.join(n.node for n in profile.nodes)} written to {out}")


def _read_profile(path: Path) -> PathProfile | NodeShare:
    """A path's profiles (``opot profile``) or one node's share (what a service manager is given)."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"--profile {path}: {exc.strerror}") from None
    try:
        is_share = "path" in json.loads(text)
    except (ValueError, TypeError):
        is_share = False
    return NodeShare.from_json(text) if is_share else PathProfile.from_json(text)


async def _serve(node: OpotNode) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        host, port = await node.start()
        print(f"opot {node.config.node} ({node.role.value}) listening on {host}:{port}", flush=True)
        await stop.wait()
    finally:
        await node.aclose()
    print(json.dumps(node.report(), indent=2), flush=True)


@opot_app.command("node")
def node_command(
    node: Annotated[str, typer.Option("--node", help="This node: it runs as its SAE, with its KME.")],
    profile_file: Annotated[
        Path, typer.Option("--profile", help="The path's profile file (opot profile), or this node's share.")
    ],
    listen: Annotated[str, typer.Option("--listen", help="HOST:PORT where this node takes datagrams.")],
    next_hop: Annotated[
        str | None, typer.Option("--next", help="HOST:PORT of the next node (ingress and transit).")
    ] = None,
    forward: Annotated[
        str | None,
        typer.Option(
            "--forward", help="HOST:PORT the verified payloads go to (verifier; none: counted only)."
        ),
    ] = None,
    run_dir: RunDirOption = DEFAULT_RUN_DIR,
    refresh_packets: Annotated[
        int, typer.Option("--refresh-packets", help="A new downstream key every N packets (0: off).")
    ] = 10_000,
    refresh_s: Annotated[
        float, typer.Option("--refresh-s", help="A new key once the current one is S seconds old (0: off).")
    ] = 60.0,
    window: Annotated[int, typer.Option("--window", help="The anti-replay window, packets.")] = (
        DEFAULT_WINDOW
    ),
    stats_file: Annotated[
        Path | None, typer.Option("--stats-file", help="JSON stats (packets, drops, key IDs), kept current.")
    ] = None,
) -> None:
    """One node of an OPoT data path over UDP. The path's first node is the ingress (plain datagrams in,
    OPoT datagrams to --next), its last the verifier (checks, strips and sends the payloads that verify
    to --forward, or only counts them without it, drops the others), the others transit nodes. Each hop
    is masked with QKD keys: the upstream node takes them with enc_keys for the downstream node's SAE,
    which fetches them by ID with dec_keys. Runs until interrupted; prints its stats then."""
    profile = _read_profile(profile_file)
    names = list(profile.path) if isinstance(profile, NodeShare) else [n.node for n in profile.nodes]
    if node not in names:
        raise ConfigError(f"node {node!r} is not on the profile's path {names}")
    last = node == names[-1]
    if last and next_hop is not None:
        raise ConfigError(f"{node} is the path's verifier: give --forward (or nothing), not --next")
    if not last and (next_hop is None or forward is not None):
        raise ConfigError(f"{node} is not the path's verifier: give --next, not --forward")
    onward = (
        parse_address(next_hop, "--next")
        if next_hop
        else (parse_address(forward, "--forward") if forward else None)
    )
    config = NodeConfig(
        profile,
        node,
        {name: sae_id(name) for name in names},
        parse_address(listen, "--listen"),
        onward,
        refresh=RefreshPolicy(packets=refresh_packets, seconds=refresh_s),
        window=window,
        stats_file=stats_file,
    )
    run = RunDir(Path(run_dir).resolve())
    kmes = run.read_json(run.network).get("kmes", {})
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    async def main() -> None:
        async with client(run, kmes, node) as kme:
            role = config.role
            opot = OpotNode(
                config,
                upstream_kme=kme if role is not Role.INGRESS else None,
                downstream_kme=kme if role is not Role.VERIFIER else None,
            )
            with contextlib.suppress(asyncio.CancelledError):
                await _serve(opot)

    asyncio.run(main())


@opot_app.command("send")
def send_command(
    service_id: Annotated[str, typer.Option("--service", help="The OPoT service's id (sdqkd service list).")],
    packets: Annotated[int, typer.Option("--packets", help="Datagrams into the ingress.")] = 1000,
    skip: Annotated[str | None, typer.Option("--skip", help="Leave this transit node out.")] = None,
    swap: Annotated[
        str | None, typer.Option("--swap", help="A,B: cross these two nodes in the wrong order.")
    ] = None,
    inject: Annotated[
        int, typer.Option("--inject", help="Then forge K datagrams straight to the verifier.")
    ] = 0,
    payload_bytes: Annotated[int, typer.Option("--payload-bytes", help="Each datagram's payload.")] = 64,
    timeout_s: Annotated[
        float, typer.Option("--timeout-s", help="The longest wait for the service, and for one batch.")
    ] = 30.0,
    run_dir: RunDirOption = DEFAULT_RUN_DIR,
) -> None:
    """Drive test traffic through an OPoT service of the controller and print what its verifier made of
    it: {"sent", "valid", "invalid", "lost"}. A skip or swap is played by the controller re-routing the
    service's nodes for the run (the path is put back afterwards); an injection forges datagrams naming the
    key the verifier's upstream hop uses now. Normal traffic verifies; skipped, swapped and injected
    datagrams do not."""
    from sdqkd.runtime.status import controller_client

    faults: list[Fault] = []
    if skip is not None:
        faults.append(Skip(skip))
    if swap is not None:
        first, _, second = (part.strip() for part in swap.partition(","))
        if not first or not second:
            raise typer.BadParameter(f"--swap takes two nodes, A,B: not {swap!r}")
        faults.append(Swap(first, second))
    if inject:
        faults.append(Inject(inject))
    if len(faults) > 1:  # a usage error (exit 2), found before the controller is asked anything
        raise typer.BadParameter("one fault at a time: --skip, --swap or --inject")
    with controller_client(RunDir(Path(run_dir).resolve())) as client:
        result = send_to_service(
            client,
            service_id,
            packets,
            faults[0] if faults else None,
            payload_bytes=payload_bytes,
            timeout_s=timeout_s,
        )
    print(json.dumps(result.as_json()))
