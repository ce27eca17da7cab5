"""``sdqkd optical``: the controller's view and management of the shared fibres of a running network —
classical and quantum channels per fibre, the actions the controller took, its policy, admission of
classical channels and the switched transmitters (docs/optical.md)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table

from sdqkd.cli.network import DEFAULT_RUN_DIR, RunDirOption
from sdqkd.cli.output import OutputFormat, console, fmt, print_json
from sdqkd.controller.client import ControllerClient, ControllerClientError
from sdqkd.runtime.rundir import RunDir

__all__ = ["optical_app"]

optical_app = typer.Typer(
    help="The shared fibres as the SDN controller manages them (needs `sdqkd up`).", no_args_is_help=True
)
FormatOption = Annotated[OutputFormat, typer.Option("--format", help="table or json.")]


class PolicyMode(StrEnum):
    """``sdqkd optical policy`` modes (docs/optical.md)."""

    PROTECT_QKD = "protect-qkd"
    OBSERVE = "observe"


class RateClassChoice(StrEnum):
    """Transceiver rate classes (``sdqkd.topology.transceivers``)."""

    G10 = "10G"
    G100 = "100G"


class DirectionChoice(StrEnum):
    """The direction a classical channel travels in, relative to the fibre's ends."""

    A_TO_B = "a_to_b"
    B_TO_A = "b_to_a"


def _client(run_dir: Any) -> ControllerClient:
    from sdqkd.runtime.status import controller_client

    return controller_client(RunDir(run_dir.resolve()))


def _kbps(value: float | None) -> str:
    return fmt(None if value is None else value / 1e3, ".1f")


def _classical_table(fibre: dict[str, Any]) -> Table:
    table = Table(title=f"{fibre['id']}: classical channels")
    for header in ("channel", "grid ch", "THz", "rate class", "requested dBm", "actual dBm", "floor dBm"):
        table.add_column(header, justify="left" if header in ("channel", "rate class") else "right")
    table.add_column("Raman share", justify="right")
    for channel in fibre["classical_channels"]:
        grid = str(channel["dwdm_channel"] or "—")
        if channel.get("requested_dwdm_channel") not in (None, channel["dwdm_channel"]):
            grid += f" (asked {channel['requested_dwdm_channel']})"
        lowered = channel["actual_power_dbm"] < channel["requested_power_dbm"] - 1e-6
        table.add_row(
            channel["id"],
            grid,
            fmt(channel["frequency_thz"], ".2f"),
            channel["rate_class"],
            fmt(channel["requested_power_dbm"], ".1f"),
            f"[yellow]{fmt(channel['actual_power_dbm'], '.1f')}[/]"
            if lowered
            else fmt(channel["actual_power_dbm"], ".1f"),
            fmt(channel["floor_dbm"], ".1f"),
            f"{100 * channel.get('raman_share', 0.0):.0f} %",
        )
    return table


def _quantum_table(fibre: dict[str, Any]) -> Table:
    table = Table(title=f"{fibre['id']}: quantum channels")
    for header in ("link", "grid ch", "THz", "status", "Raman SNU", "predicted kbit/s", "measured kbit/s"):
        table.add_column(header, justify="left" if header in ("link", "status") else "right")
    table.add_column("target kbit/s", justify="right")
    table.add_column("at target")
    for quantum in fibre["quantum_channels"]:
        table.add_row(
            quantum["link"],
            str(quantum["dwdm_channel"]),
            fmt(quantum["frequency_thz"], ".2f"),
            quantum["status"],
            fmt(quantum["raman_noise_snu"], ".4f"),
            _kbps(quantum["predicted_skr_bps"]),
            _kbps(quantum["measured_skr_bps"]),
            _kbps(quantum["target_bps"]),
            "[green]yes[/]" if quantum["at_target"] else "[red]no[/]",
        )
    return table


@optical_app.command("fibres")
def fibres(
    fibre: Annotated[str | None, typer.Argument(help="One fibre (default: all).")] = None,
    run_dir: RunDirOption = DEFAULT_RUN_DIR,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Each fibre's classical channels (grid channel, requested and actual power, floor, rate class) and
    quantum channels (Raman noise, predicted and measured key rate, target)."""
    with _client(run_dir) as client:
        found = [client.fibre(fibre)] if fibre else client.fibres()
    if output is OutputFormat.JSON:
        print_json({"fibres": found})
        return
    if not found:
        console.print("the controller has not read the optical plant yet")
    for each in found:
        state = " [red](cut)[/]" if each["cut"] else ""
        console.print(
            f"fibre {each['id']}: {each['a']} → {each['b']}, {each['length_km']:g} km, "
            f"{each['loss_db']:.2f} dB{state}"
        )
        console.print(_classical_table(each))
        console.print(_quantum_table(each))


def _value(value: Any) -> str:
    return fmt(value, ".4g") if isinstance(value, float) else "—" if value is None else str(value)


@optical_app.command("actions")
def actions(
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000, help="The newest N actions.")] = 50,
    run_dir: RunDirOption = DEFAULT_RUN_DIR,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """What the controller did on the optical layer, newest last."""
    with _client(run_dir) as client:
        found = client.actions(limit)
    if output is OutputFormat.JSON:
        print_json({"actions": found})
        return
    table = Table(title="optical actions")
    for header in ("#", "time", "fibre", "kind", "target", "before → after", "predicted kbit/s", "reason"):
        table.add_column(header)
    for action in found:
        table.add_row(
            str(action["id"]),
            action["time"],
            action.get("fibre") or "",
            action["kind"],
            action.get("target") or "",
            f"{_value(action.get('before'))} → {_value(action.get('after'))}",
            f"{_kbps(action.get('predicted_before_bps'))} → {_kbps(action.get('predicted_after_bps'))}",
            action.get("reason") or "",
        )
    console.print(table)


@optical_app.command("policy")
def policy(
    mode: Annotated[PolicyMode | None, typer.Argument(help="Set the policy (default: show it).")] = None,
    target_margin: Annotated[
        float | None,
        typer.Option("--target-margin", min=0.0, max=1.0, help="Margin over each link's target (0.05: 5 %)."),
    ] = None,
    run_dir: RunDirOption = DEFAULT_RUN_DIR,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Show the optical policy, or set it: protect-qkd (act to keep the QKD links at target) or observe
    (only report)."""
    with _client(run_dir) as client:
        if mode is None and target_margin is None:
            found = client.policy()
        else:
            current = mode.value if mode is not None else client.policy()["mode"]
            found = client.set_policy(current, target_margin)
    if output is OutputFormat.JSON:
        print_json(found)
        return
    console.print(f"optical policy {found['mode']}, target margin {100 * found['target_margin']:g} %")


def _predictions_table(predictions: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title)
    for header in ("link", "predicted kbit/s", "target kbit/s", "at target"):
        table.add_column(header, justify="left" if header == "link" else "right")
    for row in predictions:
        ok = row["predicted_skr_bps"] >= row["target_bps"] - 1e-6
        table.add_row(
            row["link"],
            _kbps(row["predicted_skr_bps"]),
            _kbps(row["target_bps"]),
            "[green]yes[/]" if ok else "[red]no[/]",
        )
    return table


@optical_app.command("add")
def add(
    fibre: Annotated[str, typer.Argument(help="Fibre id.")],
    channel_id: Annotated[str, typer.Option("--id", help="The new classical channel's id.")],
    dwdm_channel: Annotated[int, typer.Option("--dwdm-channel", min=1, max=99, help="100 GHz grid channel.")],
    power: Annotated[float, typer.Option("--power", help="Launch power, dBm.")],
    rate_class: Annotated[
        RateClassChoice, typer.Option("--rate-class", help="Transceiver rate class.")
    ] = RateClassChoice.G10,
    direction: Annotated[DirectionChoice, typer.Option("--direction", help="a_to_b or b_to_a.")] = (
        DirectionChoice.A_TO_B
    ),
    label: Annotated[str | None, typer.Option("--label", help="A label (default: the rate class).")] = None,
    run_dir: RunDirOption = DEFAULT_RUN_DIR,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Ask the controller to admit a classical channel: accepted as asked, adjusted (another grid channel
    or a lower power) or refused when a QKD link on the fibre would fall below its target (exit 1)."""
    spec = {
        "id": channel_id,
        "dwdm_channel": dwdm_channel,
        "launch_power_dbm": power,
        "direction": direction.value,
        "rate_class": rate_class.value,
        "label": label or rate_class.value,
    }
    with _client(run_dir) as client:
        try:
            answer = client.admit_channel(fibre, spec)
        except ControllerClientError as exc:
            if exc.status_code != 409:
                raise
            if output is OutputFormat.JSON:
                print_json({"decision": "refused", "message": exc.message, "details": exc.details})
            elif exc.details:
                console.print(_predictions_table(exc.details, f"{channel_id} refused on {fibre}"))
            raise
    if output is OutputFormat.JSON:
        print_json(answer)
        return
    placed = answer["channel"]
    where = f"grid channel {placed.get('dwdm_channel', '—')} at {placed['launch_power_dbm']:.1f} dBm"
    if answer["decision"] == "adjusted":
        changed = "; ".join(answer["adjustments"])
        console.print(f"adjusted: {channel_id} lit on {fibre} at {where} ({changed})")
    else:
        console.print(f"accepted: {channel_id} lit on {fibre} at {where}")
    if answer.get("predictions"):
        console.print(_predictions_table(answer["predictions"], f"{fibre} with {channel_id}"))


@optical_app.command("remove")
def remove(
    fibre: Annotated[str, typer.Argument(help="Fibre id.")],
    channel_id: Annotated[str, typer.Argument(help="Classical channel id.")],
    run_dir: RunDirOption = DEFAULT_RUN_DIR,
) -> None:
    """Take a classical channel off a fibre (through the controller)."""
    with _client(run_dir) as client:
        client.remove_channel(fibre, channel_id)
    console.print(f"{fibre}: removed channel {channel_id}")


@optical_app.command("switches")
def switches(run_dir: RunDirOption = DEFAULT_RUN_DIR, output: FormatOption = OutputFormat.TABLE) -> None:
    """The switched transmitters: where each switch is, its moves, and each receiver's time share,
    demand and pool."""
    with _client(run_dir) as client:
        found = client.switches()
    if output is OutputFormat.JSON:
        print_json({"switches": found})
        return
    if not found:
        console.print("no switched transmitter")
    for switch in found:
        console.print(
            f"switch {switch['id']} at {switch['node']} ({switch['transmitter']}): port {switch['port']} "
            f"since {switch['since']}, {switch['moves']} moves"
        )
        table = Table(title=f"{switch['id']}: receivers")
        for header in ("port", "link", "node", "status", "share", "target share", "demand kbit/s"):
            table.add_column(header, justify="right" if "share" in header or "kbit" in header else "left")
        table.add_column("pool kbit", justify="right")
        for receiver in switch["receivers"]:
            table.add_row(
                ("▶ " if receiver["connected"] else "  ") + receiver["port"],
                receiver["link"],
                receiver["node"],
                receiver["status"],
                f"{100 * receiver['share']:.0f} %",
                f"{100 * receiver['target_share']:.0f} %",
                _kbps(receiver["demand_bps"]),
                fmt(receiver["pool_bits"] / 1e3, ".0f"),
            )
        console.print(table)
