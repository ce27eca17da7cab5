"""``sdqkd service``: the SDN controller's service intents of a running network — create an encrypted
tunnel between two nodes or Ordered Proof of Transit over a path, list the services, show one with its
processes, delete one (operator certificate, through the controller's API; docs/controller.md
"Services")."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from sdqkd.cli.network import DEFAULT_RUN_DIR, RunDirOption
from sdqkd.cli.output import OutputFormat, console, print_json
from sdqkd.controller.client import ControllerClient
from sdqkd.runtime.rundir import RunDir

__all__ = ["service_app"]

service_app = typer.Typer(
    help="Service intents the SDN controller sets up and keeps (needs `sdqkd up`).", no_args_is_help=True
)
create_app = typer.Typer(help="Create a service.", no_args_is_help=True)
service_app.add_typer(create_app, name="create")
FormatOption = Annotated[OutputFormat, typer.Option("--format", help="table or json.")]


def _client(run_dir: Any) -> ControllerClient:
    from sdqkd.runtime.status import controller_client

    return controller_client(RunDir(run_dir.resolve()))


def _ends(service: dict[str, Any]) -> tuple[str, str]:
    """Where a service's traffic enters and leaves, as two short texts."""
    if service["type"] == "opot":
        path = service["path"]
        listen = service["processes"][path[0]]["args"]["listen"] if service.get("processes") else ""
        return f"{path[0]} {listen}".strip(), " → ".join(path[1:]) + (
            f" {service['forward']}" if service.get("forward") else ""
        )
    a, b = service["a"], service["b"]
    return f"{a['node']} {a['listen']}", f"{b['node']} {b['forward']}"


def _summary(service: dict[str, Any]) -> str:
    reason = f" ({service['reason']})" if service.get("reason") else ""
    entry, exit_ = _ends(service)
    return f"{service['id']} {service['type']} {entry} → {exit_}: {service['state']}{reason}"


def _create(run_dir: Any, intent: dict[str, Any], output: OutputFormat) -> None:
    with _client(run_dir) as client:
        service = client.create_service(intent)
    if output is OutputFormat.JSON:
        print_json(service)
    else:
        console.print(f"created {_summary(service)}")


@create_app.command("encrypted-tunnel")
def create_tunnel(
    a: Annotated[str, typer.Option("--a", help="The entry's node: plaintext clients connect there.")],
    listen: Annotated[str, typer.Option("--listen", help="HOST:PORT the entry listens on.")],
    b: Annotated[str, typer.Option("--b", help="The exit's node: traffic leaves the tunnel there.")],
    forward: Annotated[str, typer.Option("--forward", help="HOST:PORT the exit forwards to.")],
    rekey_s: Annotated[float, typer.Option("--rekey-s", help="A new QKD key every S seconds.")] = 60.0,
    min_rate_bps: Annotated[
        int, typer.Option("--min-rate-bps", help="Key rate reserved for the service, bit/s.")
    ] = 0,
    run_dir: RunDirOption = DEFAULT_RUN_DIR,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Have the controller admit the key rate and start a tunnel entry at A and an exit at B."""
    intent = {
        "type": "encrypted-tunnel",
        "a": {"node": a, "listen": listen},
        "b": {"node": b, "forward": forward},
        "rekey_s": rekey_s,
        "min_rate_bps": min_rate_bps,
    }
    _create(run_dir, intent, output)


@create_app.command("opot")
def create_opot(
    path: Annotated[str, typer.Option("--path", help="The path's nodes, ingress first: a,b,c.")],
    listen: Annotated[
        str | None, typer.Option("--listen", help="HOST:PORT (UDP) the ingress takes datagrams on.")
    ] = None,
    forward: Annotated[
        str | None, typer.Option("--forward", help="HOST:PORT the verifier sends verified payloads to.")
    ] = None,
    refresh_packets: Annotated[
        int, typer.Option("--refresh-packets", help="A new key per hop every N packets (0: off).")
    ] = 10_000,
    refresh_s: Annotated[
        float, typer.Option("--refresh-s", help="A new key per hop every S seconds (0: off).")
    ] = 60.0,
    min_rate_bps: Annotated[
        int, typer.Option("--min-rate-bps", help="Key rate reserved on each hop, bit/s.")
    ] = 0,
    run_dir: RunDirOption = DEFAULT_RUN_DIR,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Have the controller set up Ordered Proof of Transit over a path: profiles made for it, a key
    application per hop, and an OPoT node process at every node holding only its own share."""
    intent: dict[str, Any] = {
        "type": "opot",
        "path": [node.strip() for node in path.split(",") if node.strip()],
        "refresh_packets": refresh_packets,
        "refresh_s": refresh_s,
        "min_rate_bps": min_rate_bps,
    }
    for member, value in (("listen", listen), ("forward", forward)):
        if value is not None:
            intent[member] = value
    _create(run_dir, intent, output)


@service_app.command("list")
def list_services(run_dir: RunDirOption = DEFAULT_RUN_DIR, output: FormatOption = OutputFormat.TABLE) -> None:
    """Every service the controller knows, terminated ones included."""
    with _client(run_dir) as client:
        found = client.services()
    if output is OutputFormat.JSON:
        print_json(found)
        return
    if not found:
        console.print("no service")
        return
    table = Table(title="services")
    for header in ("id", "type", "from", "to", "state", "reason"):
        table.add_column(header)
    for service in found:
        reason = service.get("reason") or ""
        table.add_row(service["id"], service["type"], *_ends(service), service["state"], reason)
    console.print(table)


@service_app.command("show")
def show(
    service_id: Annotated[str, typer.Argument(help="The service's id.")],
    run_dir: RunDirOption = DEFAULT_RUN_DIR,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """One service, with each endpoint's process as its manager reports it now."""
    with _client(run_dir) as client:
        service = client.service(service_id)
    if output is OutputFormat.JSON:
        print_json(service)
        return
    console.print(_summary(service))
    console.print(f"applications {', '.join(service['apps'])}")
    for name, endpoint in (service.get("endpoints") or {}).items():
        if endpoint is None:
            continue
        stats = endpoint.get("stats") or {}
        state = endpoint.get("state") or endpoint.get("error") or "gone"
        line = (
            f"  {name} at {endpoint['node']}: {state}, pid {endpoint.get('pid')}, "
            f"restarts {endpoint.get('restarts')}, "
        )
        if service["type"] == "opot":
            line += f"packets in {stats.get('packets_in', 0)}, out {stats.get('packets_out', 0)}"
        else:
            line += (
                f"epochs {stats.get('epochs', 0)}, "
                f"bytes {stats.get('bytes_entry_to_exit', 0)}→ {stats.get('bytes_exit_to_entry', 0)}←"
            )
        console.print(line)
    opot = service.get("opot")
    if opot:
        console.print(f"  verifier: valid {opot['valid']}, invalid {opot['invalid']}")
        for hop, key_ids in opot["hops"].items():
            console.print(f"  hop {hop}: keys {', '.join(key_ids) or 'none yet'}")


@service_app.command("delete")
def delete(
    service_id: Annotated[str, typer.Argument(help="The service's id.")],
    run_dir: RunDirOption = DEFAULT_RUN_DIR,
) -> None:
    """Stop every process of a service and remove its applications."""
    with _client(run_dir) as client:
        client.delete_service(service_id)
    console.print(f"deleted service {service_id}")
