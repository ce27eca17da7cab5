"""``sdqkd keyrate``: the GG02 figures of one link."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import typer
from rich.table import Table

from sdqkd.cli.output import OutputFormat, console, fmt, print_json
from sdqkd.errors import ConfigError
from sdqkd.physics import (
    FiniteSizeSecurity,
    evaluate_key_rate,
    loss_db,
    tgw_bound,
    transmittance_from_loss_db,
)
from sdqkd.topology.builtin import builtin_profile_dicts
from sdqkd.topology.models import DeviceProfile

__all__ = ["keyrate"]

_DEFAULT = DeviceProfile.model_validate(next(p for p in builtin_profile_dicts() if p["id"] == "madrid-2018"))


def keyrate(
    length_km: Annotated[float | None, typer.Option("--length-km", min=0, help="Fibre length, km.")] = None,
    loss_db_: Annotated[
        float | None, typer.Option("--loss-db", min=0, help="Total channel loss, dB (overrides --length-km).")
    ] = None,
    attenuation_db_per_km: Annotated[
        float, typer.Option("--attenuation", min=0, help="Fibre attenuation, dB/km.")
    ] = 0.2,
    va: Annotated[
        float, typer.Option("--va", help="Modulation variance V_A, SNU.")
    ] = _DEFAULT.modulation_variance_snu,
    xi: Annotated[
        float, typer.Option("--xi", help="Excess noise at the channel input, SNU.")
    ] = _DEFAULT.excess_noise_snu,
    eta: Annotated[float, typer.Option("--eta", help="Detector efficiency.")] = _DEFAULT.efficiency,
    vel: Annotated[
        float, typer.Option("--vel", help="Electronic noise, SNU.")
    ] = _DEFAULT.electronic_noise_snu,
    beta: Annotated[
        float, typer.Option("--beta", help="Reconciliation efficiency.")
    ] = _DEFAULT.reconciliation_efficiency,
    detection: Annotated[
        Literal["homodyne", "heterodyne"], typer.Option("--detection", help="Bob's measurement.")
    ] = _DEFAULT.detection,
    detector: Annotated[
        Literal["trusted", "untrusted"],
        typer.Option("--detector", help="Detector noise trusted or given to Eve."),
    ] = _DEFAULT.detector,
    symbol_rate: Annotated[
        float, typer.Option("--symbol-rate", help="Symbol rate, Bd.")
    ] = _DEFAULT.symbol_rate_bd,
    fer: Annotated[
        float, typer.Option("--fer", help="Frame error rate of reconciliation.")
    ] = _DEFAULT.frame_error_rate,
    block_size: Annotated[
        float | None, typer.Option("--block-size", help="Block size N, symbols; omit for the asymptotic key.")
    ] = None,
    pe_fraction: Annotated[
        float, typer.Option("--pe-fraction", help="Share of a block disclosed for parameter estimation.")
    ] = 0.5,
    output: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = OutputFormat.TABLE,
) -> None:
    """Secret key rate of one GG02 CV-QKD link (defaults: the madrid-2018 device profile)."""
    if loss_db_ is None and length_km is None:
        raise ConfigError("give the channel: --length-km KM or --loss-db DB")
    total_loss = loss_db_ if loss_db_ is not None else float(loss_db(length_km or 0.0, attenuation_db_per_km))
    security = (
        None if block_size is None else FiniteSizeSecurity(block_size=block_size, pe_fraction=pe_fraction)
    )
    t = transmittance_from_loss_db(total_loss)
    result = evaluate_key_rate(
        transmittance=t,
        excess_noise_snu=xi,
        modulation_variance_snu=va,
        efficiency=eta,
        electronic_noise_snu=vel,
        reconciliation_efficiency=beta,
        symbol_rate_bd=symbol_rate,
        frame_error_rate=fer,
        detection=detection,
        detector=detector,
        finite_size=security,
    )
    key = float(result.key_bits_per_symbol)
    plob = float(result.plob_bits_per_use)
    figures: dict[str, Any] = {
        "loss_db": total_loss,
        "transmittance": float(result.transmittance),
        "excess_noise_snu": xi,
        "snr": float(result.snr),
        "i_ab": float(result.i_ab),
        "chi_be": float(result.chi_be),
        "key_bits_per_symbol": key,
        "secret_key_rate_bps": float(result.secret_key_rate_bps),
        "plob_bits_per_use": plob,
        "tgw_bits_per_use": float(tgw_bound(t)),
        "plob_fraction": max(key, 0.0) / plob if plob > 0 else 0.0,
        "parameters": {
            "length_km": None if loss_db_ is not None else length_km,
            "attenuation_db_per_km": attenuation_db_per_km,
            "modulation_variance_snu": va,
            "excess_noise_snu": xi,
            "efficiency": eta,
            "electronic_noise_snu": vel,
            "reconciliation_efficiency": beta,
            "detection": detection,
            "detector": detector,
            "symbol_rate_bd": symbol_rate,
            "frame_error_rate": fer,
            "block_size": block_size,
            "pe_fraction": pe_fraction if block_size is not None else None,
        },
    }
    if output is OutputFormat.JSON:
        print_json(figures)
        return
    regime = "asymptotic" if block_size is None else f"finite size, N = {block_size:.3g}"
    table = Table(title=f"GG02 {detection}, {detector} detector, {regime}")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_column("unit")
    rows = [
        ("loss", fmt(total_loss), "dB"),
        ("transmittance T", fmt(figures["transmittance"]), ""),
        ("excess noise ξ", fmt(xi), "SNU"),
        ("SNR", fmt(figures["snr"]), ""),
        ("I_AB", fmt(figures["i_ab"], ".6g"), "bit/symbol"),
        ("χ_BE", fmt(figures["chi_be"], ".6g"), "bit/symbol"),
        ("secret key K", fmt(key, ".6g"), "bit/symbol"),
        ("secret key rate", fmt(figures["secret_key_rate_bps"], ",.0f"), "bit/s"),
        ("PLOB bound", fmt(plob, ".6g"), "bit/use"),
        ("fraction of PLOB", fmt(100 * figures["plob_fraction"], ".2f"), "%"),
    ]
    for row in rows:
        table.add_row(*row)
    console.print(table)
