"""``sdqkd hybrid``: hybrid key establishment (QKD + X25519 + ML-KEM-768, CatKDF) between the
applications of two nodes of a running network."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated, Any

import typer

from sdqkd.apps.hybrid import HybridKey, initiate, respond
from sdqkd.cli.network import DEFAULT_RUN_DIR, RunDirOption
from sdqkd.cli.output import OutputFormat, console, print_json
from sdqkd.errors import ConfigError, HybridKeyError, SdqkdError
from sdqkd.etsi014 import Etsi014Client
from sdqkd.pki import Identity, Role
from sdqkd.runtime.rundir import RunDir, sae_id

__all__ = ["hybrid_app"]

_RESPONDER_WAIT_S = 10.0
"""How long the demo waits for its responder once the initiator is done."""

hybrid_app = typer.Typer(
    help="Hybrid keys: a QKD key, X25519 and ML-KEM-768 combined (ETSI TS 103 744 CatKDF).",
    no_args_is_help=True,
)


def client(run: RunDir, kmes: dict[str, Any], node: str) -> Etsi014Client:
    if node not in kmes:
        raise ConfigError(f"no node {node!r} with a KME in {run.root} (nodes: {', '.join(sorted(kmes))})")
    cert, key = run.require_certificate(Role.SAE, sae_id(node))
    return Etsi014Client(str(kmes[node]), cert=cert, key=key, ca=run.ca_cert, peer=Identity(Role.KME, node))


async def demo(run: RunDir, initiator_node: str, responder_node: str) -> tuple[HybridKey, HybridKey]:
    """Both sides of one establishment: the responder listens on loopback as the SAE of
    ``responder_node``, the initiator connects as the SAE of ``initiator_node``; each uses its own
    node's KME. The key as each side has it."""
    if initiator_node == responder_node:
        raise ConfigError("--from and --to must be two different nodes")
    kmes = run.read_json(run.network).get("kmes", {})
    initiator_kme = client(run, kmes, initiator_node)
    responder_kme = client(run, kmes, responder_node)
    answered: asyncio.Future[HybridKey] = asyncio.get_running_loop().create_future()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            answered.set_result(await respond(reader, writer, responder_kme, sae_id(responder_node)))
        except Exception as exc:  # handed to the waiting side
            answered.set_exception(exc)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async with initiator_kme, responder_kme:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            failure: SdqkdError | None = None
            try:
                mine = await initiate(
                    reader, writer, initiator_kme, sae_id(initiator_node), sae_id(responder_node)
                )
            except SdqkdError as exc:  # the responder then sees the connection close
                failure = exc
            finally:
                writer.close()
                with contextlib.suppress(ConnectionError, OSError):
                    await writer.wait_closed()
            try:
                theirs = await asyncio.wait_for(answered, _RESPONDER_WAIT_S)
            except (HybridKeyError, TimeoutError):
                if failure is None:
                    raise
            if failure is not None:  # the initiator's reason is the one to tell
                raise failure
    return mine, theirs


@hybrid_app.command("demo")
def demo_command(
    initiator: Annotated[str, typer.Option("--from", help="The initiator's node (its SAE asks enc_keys).")],
    responder: Annotated[str, typer.Option("--to", help="The responder's node (its SAE asks dec_keys).")],
    run_dir: RunDirOption = DEFAULT_RUN_DIR,
    output: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = OutputFormat.TABLE,
) -> None:
    """Agree a hybrid key between the applications of two nodes of a running network (direct or
    relayed by the KMEs) and show both sides: the same fingerprint, the QKD key ID, the algorithms."""
    run = RunDir(Path(run_dir).resolve())
    mine, theirs = asyncio.run(demo(run, initiator, responder))
    same = mine.key == theirs.key
    if output is OutputFormat.JSON:
        print_json(
            {
                "same_key": same,
                "key_id": str(mine.key_id),
                "algorithms": list(mine.algorithms),
                "initiator": {"sae": mine.initiator, "node": initiator, "fingerprint": mine.fingerprint},
                "responder": {"sae": theirs.responder, "node": responder, "fingerprint": theirs.fingerprint},
            }
        )
    else:
        console.print(f"algorithms: {' + '.join(mine.algorithms)}")
        console.print(f"QKD key ID: {mine.key_id} (used once)")
        console.print(f"initiator {mine.initiator} at {initiator}: key fingerprint {mine.fingerprint}")
        console.print(f"responder {theirs.responder} at {responder}: key fingerprint {theirs.fingerprint}")
        console.print("the same key at both sides" if same else "[red]the keys differ[/]")
    if not same:
        raise typer.Exit(1)
