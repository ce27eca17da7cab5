"""The scenarios' plots (PNG, matplotlib with the Agg backend: no display needed):

- :func:`rates_plot`: key rate per link over time, measured and predicted, with the targets, the
  phases shaded and the controller's actions marked;
- :func:`spectrum_plot`: a fibre's spectrum at a few moments — classical launch powers per frequency
  as bars (the power asked for and the floor marked), the quantum channels as lines;
- :func:`pools_plot`: the key pool of each switched receiver over time with the switch's moves
  marked, and the port the switch was on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "Marker",
    "Series",
    "Span",
    "SpectrumChannel",
    "SpectrumSnapshot",
    "pools_plot",
    "rates_plot",
    "spectrum_plot",
]


@dataclass(frozen=True)
class Series:
    """Values over scenario time; None where there is none (a link on standby)."""

    label: str
    t_s: Sequence[float]
    values: Sequence[float | None]


@dataclass(frozen=True)
class Marker:
    """Something that happened at one moment (an action, a move)."""

    t_s: float
    label: str


@dataclass(frozen=True)
class Span:
    """A phase of the scenario."""

    name: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class SpectrumChannel:
    """A classical channel at one moment: where it is and its powers, dBm."""

    id: str
    frequency_thz: float
    actual_power_dbm: float
    requested_power_dbm: float
    floor_dbm: float


@dataclass(frozen=True)
class SpectrumSnapshot:
    """A fibre's channels at one moment."""

    title: str
    classical: Sequence[SpectrumChannel]
    quantum: Sequence[tuple[str, float]]
    """(link, frequency THz) of each quantum channel."""


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _gaps(values: Sequence[float | None]) -> list[float]:
    return [float("nan") if v is None else v for v in values]


def _mark(ax: Any, markers: Sequence[Marker], colour: str, label: str) -> None:
    for index, marker in enumerate(markers):
        ax.axvline(marker.t_s, color=colour, lw=0.8, ls=":", alpha=0.8, label="_" if index else label)


def rates_plot(
    path: Path,
    title: str,
    measured: Sequence[Series],
    predicted: Sequence[Series],
    targets: dict[str, float],
    phases: Sequence[Span],
    actions: Sequence[Marker],
) -> Path:
    """Key rate per link over time (kbit/s): measured solid, predicted dashed, target dotted."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 5.5), dpi=110)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, series in enumerate(measured):
        colour = colours[index % len(colours)]
        ax.plot(
            series.t_s,
            [v / 1e3 for v in _gaps(series.values)],
            color=colour,
            lw=1.6,
            label=f"{series.label} measured",
        )
        target = targets.get(series.label)
        if target is not None:
            ax.axhline(target / 1e3, color=colour, lw=0.9, ls=":", label=f"{series.label} target")
    for index, series in enumerate(predicted):
        colour = colours[index % len(colours)]
        ax.plot(
            series.t_s,
            [v / 1e3 for v in _gaps(series.values)],
            color=colour,
            lw=1.0,
            ls="--",
            label=f"{series.label} predicted",
        )
    for index, phase in enumerate(phases):
        ax.axvspan(phase.start_s, phase.end_s, color="grey", alpha=0.06 if index % 2 else 0.14, lw=0)
        ax.text(
            phase.start_s,
            1.0,
            f" {phase.name}",
            transform=ax.get_xaxis_transform(),
            va="top",
            fontsize=7,
            rotation=0,
        )
    _mark(ax, actions, "tab:red", "controller actions")
    ax.set_xlabel("time since the scenario started, s")
    ax.set_ylabel("secret key rate, kbit/s")
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def spectrum_plot(path: Path, title: str, snapshots: Sequence[SpectrumSnapshot]) -> Path:
    """One panel per snapshot: classical launch powers as bars at their frequencies, the power asked for
    (where the controller set another) and the floor as ticks, the quantum channels as lines."""
    plt = _pyplot()
    fig, axes = plt.subplots(
        len(snapshots),
        1,
        figsize=(10, 3.2 * len(snapshots)),
        sharey=True,
        dpi=110,
        sharex=True,
        squeeze=False,
    )
    floors = [c.floor_dbm for s in snapshots for c in s.classical]
    bottom = min(floors, default=-20.0) - 5.0
    for ax, snapshot in zip(axes[:, 0], snapshots, strict=True):
        frequencies = [c.frequency_thz for c in snapshot.classical]
        heights = [c.actual_power_dbm - bottom for c in snapshot.classical]
        ax.bar(frequencies, heights, bottom=bottom, width=0.06, color="tab:blue", label="launch power")
        asked = [c for c in snapshot.classical if abs(c.requested_power_dbm - c.actual_power_dbm) > 1e-3]
        if asked:
            ax.scatter(
                [c.frequency_thz for c in asked],
                [c.requested_power_dbm for c in asked],
                marker="_",
                s=120,
                color="black",
                label="asked for",
            )
        ax.scatter(
            frequencies,
            [c.floor_dbm for c in snapshot.classical],
            marker="_",
            s=80,
            color="tab:red",
            label="floor",
        )
        for index, (link, frequency_thz) in enumerate(snapshot.quantum):
            ax.axvline(frequency_thz, color="tab:green", lw=2, label="quantum channel" if index == 0 else "_")
            ax.text(
                frequency_thz,
                0.95,
                f" {link}",
                transform=ax.get_xaxis_transform(),
                va="top",
                fontsize=7,
                color="tab:green",
            )
        ax.set_ylabel("dBm")
        ax.set_title(snapshot.title, fontsize=9)
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    axes[-1, 0].set_xlabel("frequency, THz")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def pools_plot(
    path: Path,
    title: str,
    pools: Sequence[Series],
    port: Series,
    ports: Sequence[str],
    moves: Sequence[Marker],
    low_water_bits: float | None = None,
) -> Path:
    """Top: the pool of each switched receiver (kbit) with the switch's moves; bottom: the port the
    switch was on (``port.values`` are indexes into ``ports``)."""
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(10, 6), dpi=110, sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    for series in pools:
        top.plot(series.t_s, [v / 1e3 for v in _gaps(series.values)], lw=1.5, label=series.label)
    if low_water_bits is not None:
        top.axhline(low_water_bits / 1e3, color="grey", ls=":", lw=1, label="low-water mark")
    _mark(top, moves, "tab:red", "switch moves")
    top.set_ylabel("pool, kbit")
    top.set_ylim(bottom=0)
    top.grid(True, alpha=0.3)
    top.legend(fontsize=7, loc="lower left")
    top.set_title(title)
    bottom.step(port.t_s, _gaps(port.values), where="post", color="black", lw=1.4)
    bottom.set_yticks(range(len(ports)), list(ports))
    bottom.set_ylim(-0.5, len(ports) - 0.5)
    bottom.set_xlabel("time since the scenario started, s")
    bottom.set_ylabel("port")
    bottom.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
