"""``sdqkd plant``: look at and change the emulated optical plant of a running network."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from sdqkd.cli.network import DEFAULT_RUN_DIR, RunDirOption
from sdqkd.cli.output import OutputFormat, console, fmt, print_json
from sdqkd.emulator.client import EmulatorClient
from sdqkd.runtime.rundir import RunDir

__all__ = ["plant_app"]

plant_app = typer.Typer(
    help="The optical plant of a running network (needs `sdqkd up`).", no_args_is_help=True
)
FibreOption = Annotated[str, typer.Option("--fibre", help="Fibre id.")]
ChannelOption = Annotated[str, typer.Option("--channel", help="Classical channel id.")]


def _client(run_dir: Any) -> EmulatorClient:
    from sdqkd.runtime.status import operator_client

    return operator_client(RunDir(run_dir.resolve()))


def _fibres_table(fibres: list[dict[str, Any]]) -> Table:
    table = Table(title="fibres and their classical channels")
    for header in ("fibre", "a → b", "km", "loss dB", "state", "channel", "THz", "dBm", "direction", "label"):
        table.add_column(header)
    for fibre in fibres:
        channels = fibre["channels"] or [{}]
        for index, channel in enumerate(channels):
            first = index == 0
            table.add_row(
                fibre["id"] if first else "",
                f"{fibre['a']} → {fibre['b']}" if first else "",
                fmt(fibre["length_km"], ".1f") if first else "",
                fmt(fibre["loss_db"], ".2f") if first else "",
                ("[red]cut[/]" if fibre["cut"] else "ok") if first else "",
                channel.get("id", "—"),
                fmt(channel.get("frequency_thz"), ".2f"),
                fmt(channel.get("launch_power_dbm"), ".1f"),
                channel.get("direction", ""),
                channel.get("label") or "",
            )
    return table


def _show(fibres: list[dict[str, Any]], output: OutputFormat) -> None:
    if output is OutputFormat.JSON:
        print_json({"fibres": fibres})
    else:
        console.print(_fibres_table(fibres))


@plant_app.command("channels")
def channels(
    run_dir: RunDirOption = DEFAULT_RUN_DIR,
    output: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = OutputFormat.TABLE,
) -> None:
    """List the fibres and their classical channels."""
    with _client(run_dir) as client:
        _show(client.fibres(), output)


@plant_app.command("set-power")
def set_power(
    fibre: FibreOption,
    channel: ChannelOption,
    dbm: Annotated[float, typer.Option("--dbm", help="Launch power, dBm.")],
    run_dir: RunDirOption = DEFAULT_RUN_DIR,
) -> None:
    """Set a classical channel's launch power."""
    with _client(run_dir) as client:
        client.set_power(fibre, channel, dbm)
    console.print(f"{fibre}/{channel}: launch power {dbm:g} dBm")


@plant_app.command("set-channel")
def set_channel(
    fibre: FibreOption,
    channel: ChannelOption,
    dbm: Annotated[float | None, typer.Option("--dbm", help="Launch power, dBm.")] = None,
    dwdm_channel: Annotated[
        int | None, typer.Option("--dwdm-channel", help="Move to this 100 GHz grid channel.")
    ] = None,
    run_dir: RunDirOption = DEFAULT_RUN_DIR,
) -> None:
    """Set a classical channel's launch power, move it to another grid channel (a tunable
    transceiver, within the C band, to a free channel), or both."""
    if dbm is None and dwdm_channel is None:
        raise typer.BadParameter("give --dbm, --dwdm-channel or both")
    with _client(run_dir) as client:
        fibre_now = client.set_channel(fibre, channel, launch_power_dbm=dbm, dwdm_channel=dwdm_channel)
    now = next(c for c in fibre_now["channels"] if c["id"] == channel)
    where = f"grid channel {now['dwdm_channel']}" if "dwdm_channel" in now else f"{now['wavelength_nm']:g} nm"
    console.print(
        f"{fibre}/{channel}: {where} ({now['frequency_thz']:.2f} THz), {now['launch_power_dbm']:g} dBm"
    )


@plant_app.command("add-channel")
def add_channel(
    fibre: FibreOption,
    channel: ChannelOption,
    dbm: Annotated[float, typer.Option("--dbm", help="Launch power, dBm.")],
    dwdm_channel: Annotated[int | None, typer.Option("--dwdm-channel", help="100 GHz grid channel.")] = None,
    wavelength_nm: Annotated[float | None, typer.Option("--wavelength-nm", help="Wavelength, nm.")] = None,
    direction: Annotated[str, typer.Option("--direction", help="a_to_b or b_to_a.")] = "a_to_b",
    label: Annotated[str | None, typer.Option("--label", help="A label, e.g. 10G.")] = None,
    run_dir: RunDirOption = DEFAULT_RUN_DIR,
) -> None:
    """Add a classical channel to a fibre."""
    spec: dict[str, Any] = {"id": channel, "launch_power_dbm": dbm, "direction": direction}
    if dwdm_channel is not None:
        spec["dwdm_channel"] = dwdm_channel
    if wavelength_nm is not None:
        spec["wavelength_nm"] = wavelength_nm
    if label is not None:
        spec["label"] = label
    with _client(run_dir) as client:
        client.add_channel(fibre, spec)
    console.print(f"{fibre}: added channel {channel}")


@plant_app.command("remove-channel")
def remove_channel(
    fibre: FibreOption, channel: ChannelOption, run_dir: RunDirOption = DEFAULT_RUN_DIR
) -> None:
    """Remove a classical channel from a fibre."""
    with _client(run_dir) as client:
        client.remove_channel(fibre, channel)
    console.print(f"{fibre}: removed channel {channel}")


@plant_app.command("cut")
def cut(fibre: FibreOption, run_dir: RunDirOption = DEFAULT_RUN_DIR) -> None:
    """Cut a fibre."""
    with _client(run_dir) as client:
        client.fibre_action(fibre, "cut")
    console.print(f"{fibre}: cut")


@plant_app.command("restore")
def restore(fibre: FibreOption, run_dir: RunDirOption = DEFAULT_RUN_DIR) -> None:
    """Restore a cut fibre."""
    with _client(run_dir) as client:
        client.fibre_action(fibre, "restore")
    console.print(f"{fibre}: restored")


@plant_app.command("switch")
def switch(
    switch_id: Annotated[str, typer.Option("--switch", help="Optical switch id.")],
    port: Annotated[str, typer.Option("--port", help='Output port to connect ("none": open).')],
    run_dir: RunDirOption = DEFAULT_RUN_DIR,
) -> None:
    """Cross-connect an optical switch's common port to an output port."""
    with _client(run_dir) as client:
        client.set_switch(switch_id, None if port == "none" else port)
    console.print(f"{switch_id}: connected to {port}")
