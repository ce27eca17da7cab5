"""``sdqkd plan``: per-link key rates and co-propagation margins of a topology."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from sdqkd.cli.output import OutputFormat, console, fmt, print_json
from sdqkd.errors import ConfigError
from sdqkd.planning import LinkPlan, plan_topology
from sdqkd.topology import load_topology

__all__ = ["plan"]


def plan(
    topology: Annotated[
        str, typer.Option("--topology", help="Built-in (madrid, chain:N, grid:RxC) or a topology YAML file.")
    ] = "madrid",
    output: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = OutputFormat.TABLE,
    plots: Annotated[
        Path | None, typer.Option("--plots", help="Write PNG plots into this directory.", file_okay=False)
    ] = None,
    target_bps: Annotated[
        float | None,
        typer.Option(
            "--target-bps", min=0, help="Target key rate for every link, bit/s (default: each link's own)."
        ),
    ] = None,
) -> None:
    """Plan a quantum-classical network: per QKD link its loss, classical load, Raman and total
    excess noise, key rate and the classical power it tolerates."""
    result = plan_topology(load_topology(topology), target_bps)
    written: list[Path] = []
    if plots is not None:
        from sdqkd.planning.plots import write_plots

        try:
            written = write_plots(result, plots)
        except OSError as exc:
            raise ConfigError(f"cannot write plots to {plots}: {exc.strerror or exc}") from exc
    if output is OutputFormat.JSON:
        data = result.to_dict()
        data["plots"] = [str(p) for p in written]
        print_json(data)
        return
    console.print(_table(result.topology.name, result.links))
    for path in written:
        console.print(f"wrote {path}")


def _table(name: str, rows: list[LinkPlan]) -> Table:
    caption = (
        "classical: channels on the fibre and their total launch power; ξ in SNU at the channel input; "
        "K: finite-size secret key per symbol; "
        "max: total classical launch power at which the key rate falls to the target / to zero "
        "(* reference load, the fibre carries none); † switch now connected elsewhere"
    )
    table = Table(title=f"sdqkd plan — {name}", caption=caption, caption_justify="left")
    headers = (
        "link",
        "km",
        "dB",
        "classical",
        "ξ Raman",
        "ξ total",
        "SNR",
        "K b/sym",
        "kbit/s",
        "% PLOB",
        "max dBm",
    )
    for header in headers:
        table.add_column(header, justify="left" if header == "link" else "right", no_wrap=header != "max dBm")
    for row in rows:
        d = row.to_dict()
        classical = (
            f"{d['classical_channels']} @ {d['classical_launch_power_dbm']:.1f} dBm"
            if d["classical_channels"]
            else "none"
        )
        rate = f"{d['secret_key_rate_bps'] / 1e3:,.1f}"
        target = d["target_rate_bps"] / 1e3
        margins = row.margins
        table.add_row(
            d["id"] + ("" if d["connected"] else " †"),
            fmt(d["length_km"], ".1f"),
            fmt(d["loss_db"], ".2f"),
            classical,
            fmt(d["raman_excess_noise_snu"], ".4f"),
            fmt(d["excess_noise_snu"], ".4f"),
            fmt(d["snr"], ".2f"),
            fmt(d["key_bits_per_symbol"], ".4f"),
            rate if d["meets_target"] else f"[red]{rate}[/] < {target:g}",
            fmt(100 * d["plob_fraction"], ".1f"),
            f"{_margin_cell(margins.max_power_for_target_dbm, margins.reference_load)} / "
            f"{_margin_cell(margins.max_power_for_key_dbm, margins.reference_load)}",
        )
    return table


def _margin_cell(value: float | None, reference: bool) -> str:
    if value is None:
        return "none"
    return fmt(value, ".1f") + ("*" if reference else "")
