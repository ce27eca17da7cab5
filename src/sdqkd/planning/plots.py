"""Plots of a plan (PNG, matplotlib): key rate vs distance for each device profile with the PLOB
bound, and key rate vs co-propagating classical power for each link."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sdqkd.physics import plob_bound, transmittance
from sdqkd.planning.budget import key_rate_for
from sdqkd.planning.margins import margin_load, rate_at_scale
from sdqkd.planning.plan import Plan
from sdqkd.units import w_to_dbm

__all__ = ["write_plots"]

_STANDARD_ATTENUATION_DB_PER_KM = 0.2


def write_plots(plan: Plan, directory: Path) -> list[Path]:
    """Write the plan's plots into ``directory`` (created if missing); returns the files."""
    import matplotlib

    matplotlib.use("Agg")
    directory.mkdir(parents=True, exist_ok=True)
    return [_rate_vs_distance(plan, directory), _rate_vs_classical_power(plan, directory)]


def _rate_vs_distance(plan: Plan, directory: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    distance_km = np.linspace(0.0, 120.0, 601)
    t = transmittance(distance_km, _STANDARD_ATTENUATION_DB_PER_KM)
    profiles = {row.budget.profile.id: row.budget.profile for row in plan.links}
    for profile in profiles.values():
        finite = key_rate_for(profile, t, profile.excess_noise_snu).secret_key_rate_bps
        asymptotic = key_rate_for(
            profile.model_copy(update={"block_size": None}), t, profile.excess_noise_snu
        )
        label = f"{profile.id}"
        if profile.block_size:
            ax.semilogy(
                distance_km,
                _positive(finite),
                lw=2,
                label=f"{label}: finite size, N = {profile.block_size:.0e}",
            )
        ax.semilogy(
            distance_km,
            _positive(asymptotic.secret_key_rate_bps),
            lw=1.5,
            ls="--",
            label=f"{label}: asymptotic",
        )
        plob_bps = plob_bound(t[1:]) * profile.symbol_rate_bd
        ax.semilogy(
            distance_km[1:],
            plob_bps,
            color="black",
            lw=1,
            ls=":",
            label=f"PLOB bound × {profile.symbol_rate_bd:.3g} Bd",
        )
    for row in plan.links:
        equivalent_km = row.budget.loss_db / _STANDARD_ATTENUATION_DB_PER_KM
        ax.plot(equivalent_km, max(row.budget.secret_key_rate_bps, 1e-3), "o", ms=7,
                label=f"{row.budget.link.id} (with its classical load)")  # fmt: skip
    ax.set_xlabel(
        f"distance (km of fibre at {_STANDARD_ATTENUATION_DB_PER_KM} dB/km; links at equivalent loss)"
    )
    ax.set_ylabel("secret key rate (bit/s)")
    ax.set_title(f"{plan.topology.name}: GG02 secret key rate vs distance, no classical channels")
    ax.set_ylim(1.0, None)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    path = directory / "keyrate_vs_distance.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def _rate_vs_classical_power(plan: Plan, directory: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    power_dbm = np.linspace(-10.0, 30.0, 401)
    for row in plan.links:
        load, _ = margin_load(row.budget)
        current_w = load.total_launch_power_w
        scale = np.power(10.0, power_dbm / 10.0) * 1e-3 / current_w
        rate = rate_at_scale(row.budget, scale, load)
        (line,) = ax.plot(power_dbm, rate / 1e3, lw=2, label=row.budget.link.id)
        if row.budget.load.count:
            ax.plot(
                float(w_to_dbm(current_w)),
                row.budget.secret_key_rate_bps / 1e3,
                "o",
                color=line.get_color(),
                ms=7,
            )
    targets = sorted({row.target_rate_bps for row in plan.links})
    for target in targets:
        ax.axhline(target / 1e3, color="grey", ls="--", lw=1, label=f"target {target / 1e3:g} kbit/s")
    ax.set_xlabel("total co-propagating classical launch power (dBm)")
    ax.set_ylabel("secret key rate (kbit/s)")
    ax.set_title(f"{plan.topology.name}: key rate vs classical load (dots: current load)")
    ax.set_ylim(0.0, None)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    path = directory / "keyrate_vs_classical_power.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def _positive(values: np.ndarray) -> np.ndarray:
    """Zero rates as NaN so a log axis leaves a gap instead of failing."""
    return np.where(values > 0, values, np.nan)
