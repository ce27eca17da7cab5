"""``sdqkd postproc``: run the CV-QKD post-processing pipeline on simulated links and measure it."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal

import typer
from pydantic import ValidationError
from rich.table import Table

from sdqkd.cli.output import OutputFormat, console, fmt, print_json
from sdqkd.errors import ConfigError
from sdqkd.physics import loss_db, transmittance_from_loss_db
from sdqkd.planning.budget import link_budget
from sdqkd.postproc.pipeline import BlockResult, ProtocolSettings, predicted_key_bits_per_symbol, run_block
from sdqkd.postproc.profiles import link_parameters, protocol_settings
from sdqkd.postproc.quadratures import LinkParameters
from sdqkd.topology import DeviceProfile, load_topology
from sdqkd.topology.builtin import builtin_profile_dicts

__all__ = ["postproc_app"]

postproc_app = typer.Typer(
    help="CV-QKD post-processing: parameter estimation, reconciliation, privacy amplification.",
    no_args_is_help=True,
)


@dataclass(frozen=True)
class _Link:
    name: str
    profile: DeviceProfile
    parameters: LinkParameters


def _profile(profile_id: str) -> DeviceProfile:
    for raw in builtin_profile_dicts():
        if raw["id"] == profile_id:
            return DeviceProfile.model_validate(raw)
    raise ConfigError(f"no built-in device profile {profile_id!r}")


def _links(
    topology: str | None,
    link_ids: list[str],
    length_km: float | None,
    profile_id: str,
    changes: dict[str, float],
) -> list[_Link]:
    """The links to run: a plain fibre with a built-in profile, or a topology's links (with their
    Raman noise); ``changes`` replace profile fields (validated as the profile's own)."""
    if length_km is not None:
        profile = _changed(_profile(profile_id), changes)
        t = float(transmittance_from_loss_db(loss_db(length_km)))
        name = f"{length_km:g} km"
        return [_Link(name, profile, link_parameters(profile, t, profile.excess_noise_snu))]
    if topology is None:
        raise ConfigError("give the link: --length-km KM, or --topology NAME [--link ID ...]")
    network = load_topology(topology)
    try:
        chosen = [network.link(i) for i in link_ids] if link_ids else list(network.qkd_links)
    except KeyError as error:
        raise ConfigError(f"{error.args[0]} in topology {topology}") from error
    links = []
    for link in chosen:
        budget = link_budget(network, link)
        original = network.profile(network.module(link.transmitter).profile)
        profile = _changed(original, changes)
        # The link's Raman noise stays; the device's own excess noise may have been changed.
        noise = budget.total_excess_noise_snu - original.excess_noise_snu + profile.excess_noise_snu
        links.append(_Link(link.id, profile, link_parameters(profile, budget.transmittance, noise)))
    return links


def _changed(profile: DeviceProfile, changes: dict[str, float]) -> DeviceProfile:
    if not changes:
        return profile
    try:
        return DeviceProfile.model_validate({**profile.model_dump(), **changes})
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise ConfigError(f"bad profile value: {problems}") from error


def _summary(link: _Link, settings: ProtocolSettings, blocks: list[BlockResult]) -> dict[str, Any]:
    symbols = sum(b.symbols for b in blocks)
    key_bits = sum(b.key_bits for b in blocks)
    frames = sum(b.reconciled.frames for b in blocks if b.reconciled is not None)
    failed = sum(b.reconciled.failed for b in blocks if b.reconciled is not None)
    efficiencies = [b.efficiency for b in blocks if b.efficiency is not None]
    beta = sum(efficiencies) / len(efficiencies) if efficiencies else None
    fer = failed / frames if frames else None
    symbol_rate = link.profile.symbol_rate_bd
    transmittance = sum(b.estimate.transmittance for b in blocks) / len(blocks)
    excess_noise = sum(b.estimate.excess_noise_snu for b in blocks) / len(blocks)
    measured_channel = replace(
        link.parameters,
        transmittance=min(max(transmittance, 0.0), 1.0),
        excess_noise_snu=max(excess_noise, 0.0),
    )

    def formula(channel: LinkParameters) -> dict[str, float | None]:
        if beta is None or fer is None or fer >= 1:
            return {"key_bits_per_symbol": None, "key_rate_bps": None, "ratio": None}
        bits = predicted_key_bits_per_symbol(channel, settings, efficiency=beta, frame_error_rate=fer)
        return {
            "key_bits_per_symbol": bits,
            "key_rate_bps": bits * symbol_rate,
            "ratio": measured / bits if bits > 0 else None,
        }

    measured = key_bits / symbols
    return {
        "link": link.name,
        "blocks": len(blocks),
        "block_symbols": settings.block_symbols,
        "transmittance": link.parameters.transmittance,
        "excess_noise_snu": link.parameters.excess_noise_snu,
        "snr": link.parameters.snr(settings.detection),
        "measured": {
            "snr": sum(b.estimate.snr for b in blocks) / len(blocks),
            "transmittance": transmittance,
            "excess_noise_snu": excess_noise,
            "code_rate": blocks[0].code_rate,
            "efficiency": beta,
            "frame_error_rate": fer,
            "frames": frames,
            "key_bits": key_bits,
            "key_bits_per_symbol": measured,
            "key_rate_bps": measured * symbol_rate,
            "keys_equal": all(bool((b.alice_key == b.bob_key).all()) for b in blocks),
            "aborts": [b.abort for b in blocks if b.abort is not None],
        },
        # Eq. 8 at the measured β and FER, on the channel the block estimated (what the pipeline's key
        # must equal) and on the link's true channel (the planning view; they differ by the estimator's
        # sampling noise, which shrinks as 1/√N).
        "formula": formula(measured_channel),
        "formula_true_channel": formula(link.parameters),
        "seconds": {step: sum(b.seconds[step] for b in blocks) for step in blocks[0].seconds},
    }


@postproc_app.command("simulate")
def simulate(
    topology: Annotated[
        str | None, typer.Option("--topology", help="Take the links of a topology (madrid, chain:N, a file).")
    ] = None,
    link_ids: Annotated[
        list[str] | None, typer.Option("--link", help="A link of the topology (repeat; default: all).")
    ] = None,
    length_km: Annotated[
        float | None, typer.Option("--length-km", min=0, help="A plain fibre link of this length instead.")
    ] = None,
    profile_id: Annotated[
        str, typer.Option("--profile", help="Device profile for --length-km.")
    ] = "madrid-2018",
    va: Annotated[float | None, typer.Option("--va", help="Modulation variance V_A, SNU.")] = None,
    xi: Annotated[float | None, typer.Option("--xi", help="Device excess noise, SNU.")] = None,
    eta: Annotated[float | None, typer.Option("--eta", help="Detector efficiency.")] = None,
    vel: Annotated[float | None, typer.Option("--vel", help="Electronic noise, SNU.")] = None,
    blocks: Annotated[int, typer.Option("--blocks", min=1, help="Blocks per link.")] = 1,
    block_size: Annotated[
        float | None,
        typer.Option("--block-size", min=1e4, help="Symbols per block (default: the profile's)."),
    ] = None,
    frame_bits: Annotated[int, typer.Option("--frame-bits", min=64, help="LDPC frame length.")] = 1 << 16,
    target_efficiency: Annotated[
        float | None,
        typer.Option("--target-efficiency", help="β the code rate is chosen for (default: the profile's β)."),
    ] = None,
    max_iterations: Annotated[int, typer.Option("--max-iterations", min=1, help="BP iterations.")] = 100,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Threads decoding frames (default: the CPUs).")
    ] = None,
    detection: Annotated[
        Literal["homodyne", "heterodyne"] | None, typer.Option("--detection", help="Override the profile's.")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", min=0, help="Reproduce a run exactly.")] = None,
    output: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = OutputFormat.TABLE,
) -> None:
    """Run the full GG02 pipeline on simulated quadratures and compare its key with the formula's."""
    changes = {
        name: value
        for name, value in (
            ("modulation_variance_snu", va),
            ("excess_noise_snu", xi),
            ("efficiency", eta),
            ("electronic_noise_snu", vel),
        )
        if value is not None
    }
    links = _links(topology, link_ids or [], length_km, profile_id, changes)
    results = []
    for index, link in enumerate(links):
        overrides: dict[str, Any] = {
            "frame_bits": frame_bits,
            "max_iterations": max_iterations,
            "workers": workers or os.cpu_count() or 1,
        }
        if target_efficiency is not None:
            overrides["target_efficiency"] = target_efficiency
        if block_size is not None:
            overrides["block_symbols"] = round(block_size)
        if detection is not None:
            overrides["detection"] = detection
        settings = protocol_settings(link.profile, **overrides)
        runs = [
            run_block(link.parameters, settings, seed=None if seed is None else seed + 1000 * index + b)
            for b in range(blocks)
        ]
        results.append(_summary(link, settings, runs))
    if output is OutputFormat.JSON:
        print_json({"links": results})
        return
    _table(results)


def _table(results: list[dict[str, Any]]) -> None:
    table = Table(title="GG02 post-processing, measured against the finite-size formula")
    columns = (
        "link",
        "SNR",
        "R",
        "β",
        "FER",
        "key bit/sym",
        "key rate bit/s",
        "formula bit/s",
        "ratio",
        "true ch.",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "link" else "right")
    for row in results:
        m, f, truth = row["measured"], row["formula"], row["formula_true_channel"]
        table.add_row(
            row["link"],
            fmt(m["snr"], ".4f"),
            fmt(m["code_rate"], ".3f"),
            fmt(m["efficiency"], ".4f"),
            fmt(m["frame_error_rate"], ".3f"),
            fmt(m["key_bits_per_symbol"], ".5f"),
            fmt(m["key_rate_bps"], ",.0f"),
            fmt(f["key_rate_bps"], ",.0f"),
            fmt(f["ratio"], ".3f"),
            fmt(truth["key_rate_bps"], ",.0f"),
        )
    console.print(table)
    for row in results:
        for abort in row["measured"]["aborts"]:
            console.print(f"{row['link']}: a block made no key: {abort}")


@postproc_app.command("bench")
def bench(
    topology: Annotated[str, typer.Option("--topology", help="Topology of the link.")] = "madrid",
    link_id: Annotated[str, typer.Option("--link", help="The link to run.")] = "concepcion-norte",
    block_size: Annotated[float, typer.Option("--block-size", min=1e4, help="Symbols per block.")] = 4e6,
    frame_bits: Annotated[int, typer.Option("--frame-bits", min=64, help="LDPC frame length.")] = 1 << 16,
    output: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = OutputFormat.TABLE,
) -> None:
    """Time each step of one block on a link (one decoding thread): symbols/s, decoded Mbit/s, PA Mbit/s."""
    (chosen,) = _links(topology, [link_id], None, "madrid-2018", {})
    settings = protocol_settings(chosen.profile, block_symbols=round(block_size), frame_bits=frame_bits)
    result = run_block(chosen.parameters, settings, seed=1)
    decoded = 0 if result.reconciled is None else result.reconciled.frames * result.reconciled.frame_bits
    kept = 0 if result.reconciled is None else int(result.reconciled.bob_key.size)
    seconds = result.seconds
    figures: dict[str, Any] = {
        "symbols": result.symbols,
        "simulate_msymbols_per_s": 2 * result.symbols / seconds["simulate"] / 1e6
        if seconds["simulate"]
        else None,
        "reconcile_mbit_per_s": decoded / seconds["reconcile"] / 1e6 if seconds["reconcile"] else None,
        "amplify_mbit_per_s": kept / seconds["amplify"] / 1e6 if seconds["amplify"] else None,
        "efficiency": result.efficiency,
        "frame_error_rate": result.frame_error_rate,
        "key_bits": result.key_bits,
        "seconds": seconds,
    }
    if output is OutputFormat.JSON:
        print_json(figures)
        return
    table = Table(title=f"one block of {result.symbols:,} symbols on {chosen.name} ({topology})")
    table.add_column("step")
    table.add_column("seconds", justify="right")
    table.add_column("throughput", justify="right")
    table.add_row(
        "simulate (twice)",
        fmt(seconds["simulate"], ".2f"),
        f"{fmt(figures['simulate_msymbols_per_s'], '.1f')} Msymbol/s",
    )
    table.add_row("estimate", fmt(seconds["estimate"], ".3f"), "")
    table.add_row(
        "reconcile", fmt(seconds["reconcile"], ".2f"), f"{fmt(figures['reconcile_mbit_per_s'], '.2f')} Mbit/s"
    )
    table.add_row(
        "amplify", fmt(seconds["amplify"], ".2f"), f"{fmt(figures['amplify_mbit_per_s'], '.1f')} Mbit/s"
    )
    console.print(table)
    console.print(
        f"β = {fmt(result.efficiency, '.4f')}, FER = {fmt(result.frame_error_rate, '.3f')}, "
        f"key = {result.key_bits:,} bits" + ("" if result.abort is None else f" ({result.abort})")
    )
