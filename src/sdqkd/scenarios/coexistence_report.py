"""What a run of ``sdqkd scenario coexistence`` says
(:class:`~sdqkd.scenarios.coexistence.CoexistenceRecord`): the time from the operator's change until
every link of the fibre is back at target, the classical channels that went below their floor, each
link's key rate per phase, the controller's actions on the scenario's time axis — as a
:class:`~sdqkd.scenarios.report.Report` with its plots (key rate per link over time with the actions
marked, the fibre's spectrum before and after the controller acted)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sdqkd.scenarios.coexistence import (
    ADDED_POWER_DBM,
    RAISED_POWER_DBM,
    ChannelSample,
    CoexistenceRecord,
    FibreSample,
)
from sdqkd.scenarios.plots import Marker, Series, Span, rates_plot, spectrum_plot
from sdqkd.scenarios.report import Check, Report, Table
from sdqkd.scenarios.sampler import wall_time

__all__ = ["below_floor", "coexistence_report", "phase_rates", "time_to_target_s"]


def time_to_target_s(record: CoexistenceRecord) -> float | None:
    """Seconds from the operator's change to the first sample with the change in the controller's view
    and every link of the fibre at target (None: never)."""
    if record.change_s is None:
        return None
    added = list(record.added)
    for sample in record.samples:
        if sample.t_s >= record.change_s and sample.shows(added) and sample.at_target:
            return sample.t_s - record.change_s
    return None


def below_floor(samples: Sequence[FibreSample]) -> list[dict[str, Any]]:
    """Each classical channel that was ever below its floor: its lowest power and when."""
    lowest: dict[str, tuple[float, ChannelSample]] = {}
    for sample in samples:
        for channel in sample.channels:
            if channel.actual_power_dbm < channel.floor_dbm - 1e-6:
                seen = lowest.get(channel.id)
                if seen is None or channel.actual_power_dbm < seen[1].actual_power_dbm:
                    lowest[channel.id] = (sample.t_s, channel)
    return [
        {"channel": c.id, "t_s": round(t_s, 3), "power_dbm": c.actual_power_dbm, "floor_dbm": c.floor_dbm}
        for t_s, c in lowest.values()
    ]


def _stats(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"min": round(min(values), 1), "mean": round(statistics.fmean(values), 1)}


def phase_rates(record: CoexistenceRecord) -> dict[str, dict[str, dict[str, Any]]]:
    """Per phase and link: the measured (agents), predicted (controller) and emulator key rates, min and
    mean over the phase's samples (None where the link made no key then: on standby), and the target."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for phase in record.phases:
        samples = [s for s in record.samples if phase.start_s <= s.t_s <= phase.end_s]
        links: dict[str, dict[str, Any]] = {}
        for link in sorted({x.link for s in samples for x in s.links}):
            rows = [x for s in samples for x in s.links if x.link == link]
            links[link] = {
                "measured_bps": _stats([x.measured_bps for x in rows if x.measured_bps is not None]),
                "predicted_bps": _stats([x.predicted_bps for x in rows]),
                "emulator_bps": _stats([x.emulator_bps for x in rows if x.emulator_bps is not None]),
                "target_bps": rows[-1].target_bps,
                "samples": len(rows),
            }
        found[phase.name] = links
    return found


def _kbps(stats: dict[str, float] | None) -> str:
    return "—" if stats is None else f"{stats['min'] / 1e3:.1f} / {stats['mean'] / 1e3:.1f}"


def _actions(record: CoexistenceRecord) -> list[dict[str, Any]]:
    return [
        {**action, "t_s": round((wall_time(action["time"]) - record.started_at).total_seconds(), 3)}
        for action in record.actions
    ]


def coexistence_report(record: CoexistenceRecord, out: Path) -> Report:
    """The report of a run (its plots written into ``out``)."""
    out.mkdir(parents=True, exist_ok=True)
    to_target = time_to_target_s(record)
    floors = below_floor(record.samples)
    rates = phase_rates(record)
    actions = _actions(record)
    kinds: dict[str, int] = {}
    for action in actions:
        kinds[action["kind"]] = kinds.get(action["kind"], 0) + 1
    restored_after = (
        None if record.restored_s is None or record.undo_s is None else record.restored_s - record.undo_s
    )
    raised, before_dbm = record.raised
    checks = [
        Check(
            "links back at target after the operator's change",
            to_target is not None,
            f"after {to_target:.2f} s" if to_target is not None else "not within the settle timeout",
        ),
        Check(
            "no classical channel below its floor",
            not floors,
            "none"
            if not floors
            else ", ".join(f"{f['channel']} {f['power_dbm']:.1f} < {f['floor_dbm']:.1f} dBm" for f in floors),
        ),
        Check(
            "the fibre back as found after the undo",
            restored_after is not None,
            f"after {restored_after:.2f} s"
            if restored_after is not None
            else "not within the settle timeout",
        ),
    ]
    links = sorted({x.link for s in record.samples for x in s.links})
    summary = [
        f"fibre {record.fibre}: {len(links)} QKD link(s) ({', '.join(links)}), "
        f"{len(record.original)} classical channels; the world runs {record.time_scale:g}× faster; "
        f"controller policy {record.policy or 'unknown'}",
        f"operator's change: {raised} {before_dbm:g} → {RAISED_POWER_DBM:+g} dBm and "
        f"{len(record.added)} × 10G at {ADDED_POWER_DBM:+g} dBm on grid channels "
        f"{', '.join(str(n) for n in record.added.values())}",
        "time to target after the change: "
        + (f"{to_target:.2f} s" if to_target is not None else "not reached"),
        f"{len(actions)} controller actions: "
        + (", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())) or "none"),
        "classical channels below their floor: " + (", ".join(f["channel"] for f in floors) or "none"),
    ]
    phases_table = Table(
        "Phases",
        ("phase", "start s", "end s"),
        tuple((p.name, f"{p.start_s:.2f}", f"{p.end_s:.2f}") for p in record.phases),
    )
    rates_table = Table(
        "Key rate per phase (min / mean, kbit/s)",
        ("phase", "link", "measured", "predicted", "emulator", "target"),
        tuple(
            (
                phase,
                link,
                _kbps(r["measured_bps"]),
                _kbps(r["predicted_bps"]),
                _kbps(r["emulator_bps"]),
                f"{r['target_bps'] / 1e3:.1f}",
            )
            for phase, by_link in rates.items()
            for link, r in by_link.items()
        ),
    )
    actions_table = Table(
        "Controller actions",
        ("#", "t s", "kind", "target", "before → after", "reason"),
        tuple(
            (
                str(a["id"]),
                f"{a['t_s']:.2f}",
                a["kind"],
                str(a.get("target") or ""),
                f"{a.get('before')} → {a.get('after')}",
                str(a.get("reason") or ""),
            )
            for a in actions
        ),
    )
    plots = _plots(record, out, actions)
    data = {
        "fibre": record.fibre,
        "time_scale": record.time_scale,
        "policy": record.policy,
        "started_at": record.started_at.isoformat(timespec="milliseconds"),
        "phases": [
            {"name": p.name, "start_s": round(p.start_s, 3), "end_s": round(p.end_s, 3)}
            for p in record.phases
        ],
        "change": {
            "t_s": record.change_s,
            "raised": {"channel": raised, "from_dbm": before_dbm, "to_dbm": RAISED_POWER_DBM},
            "added": [
                {"id": i, "dwdm_channel": n, "launch_power_dbm": ADDED_POWER_DBM}
                for i, n in record.added.items()
            ],
        },
        "rates": rates,
        "time_to_target_s": None if to_target is None else round(to_target, 3),
        "restored_after_undo_s": None if restored_after is None else round(restored_after, 3),
        "below_floor": floors,
        "actions": actions,
        "spectra": [
            {
                "title": s.title,
                "classical": [c.__dict__ for c in s.classical],
                "quantum": [{"link": link, "frequency_thz": f} for link, f in s.quantum],
            }
            for s in record.spectra
        ],
        "series": _series_json(record),
        "sampler_failures": record.sampler_failures,
    }
    return Report(
        scenario="coexistence",
        title=f"Coexistence on {record.fibre}: quantum and classical channels under the controller",
        summary=summary,
        checks=checks,
        tables=[phases_table, rates_table, actions_table],
        data=data,
        plots=plots,
    )


def _series_json(record: CoexistenceRecord) -> dict[str, dict[str, list[Any]]]:
    found: dict[str, dict[str, list[Any]]] = {}
    for sample in record.samples:
        for link in sample.links:
            series = found.setdefault(
                link.link, {"t_s": [], "measured_bps": [], "predicted_bps": [], "emulator_bps": []}
            )
            series["t_s"].append(round(sample.t_s, 3))
            series["measured_bps"].append(link.measured_bps)
            series["predicted_bps"].append(link.predicted_bps)
            series["emulator_bps"].append(link.emulator_bps)
    return found


def _plots(record: CoexistenceRecord, out: Path, actions: list[dict[str, Any]]) -> list[str]:
    series = _series_json(record)
    targets = {x.link: x.target_bps for s in record.samples[-1:] for x in s.links}
    rates = rates_plot(
        out / "coexistence-rates.png",
        f"{record.fibre}: key rate per link",
        [Series(link, s["t_s"], s["measured_bps"]) for link, s in series.items()],
        [Series(link, s["t_s"], s["predicted_bps"]) for link, s in series.items()],
        targets,
        [Span(p.name, p.start_s, p.end_s) for p in record.phases],
        [Marker(a["t_s"], a["kind"]) for a in actions],
    )
    names = [rates.name]
    if record.spectra:
        spectrum = spectrum_plot(
            out / "coexistence-spectrum.png",
            f"{record.fibre}: classical channels and the quantum channel",
            record.spectra,
        )
        names.append(spectrum.name)
    return names
