"""What a run of ``sdqkd scenario switching`` says (:class:`~sdqkd.scenarios.switching.SwitchingRecord`):
each receiver's time share, the moves, its lowest pool, whether it ran dry, and the key its pair made
against ideal time-sharing with the same shares and no dead time
(:func:`sdqkd.controller.optical.switching.ideal_key_bits`) — as a
:class:`~sdqkd.scenarios.report.Report` with its plot (the pools with the moves, the port over time)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sdqkd.controller.optical.switching import KeyDelivery, ideal_key_bits
from sdqkd.scenarios.plots import Marker, Series, pools_plot
from sdqkd.scenarios.report import Check, Report, Table
from sdqkd.scenarios.switching import SwitchingRecord, SwitchSample

__all__ = ["MIN_DELIVERY_RATIO", "connected_s", "delivered_bits", "key_delivery", "moves", "switching_report"]

MIN_DELIVERY_RATIO = 0.8
"""The least key a receiver's pair should make against ideal time-sharing with the shares it had: the
dead time after each move (Madrid's devices: 3 s of world time) costs a few per cent over a dwell."""


def connected_s(samples: Sequence[SwitchSample]) -> dict[str, float]:
    """Seconds the switch was on each port, each sample's port held until the next sample."""
    found: dict[str, float] = {}
    for sample, following in itertools.pairwise(samples):
        if sample.port is not None:
            found[sample.port] = found.get(sample.port, 0.0) + following.t_s - sample.t_s
    return found


def moves(samples: Sequence[SwitchSample]) -> list[tuple[float, str | None, str | None]]:
    """The moves the samples saw: (time, from port, to port)."""
    return [
        (after.t_s, before.port, after.port)
        for before, after in itertools.pairwise(samples)
        if after.port != before.port
    ]


def delivered_bits(samples: Sequence[SwitchSample], time_scale: float) -> dict[str, float]:
    """The key each receiver's pair made (its rate at the emulator, world bit/s, times the time scale,
    integrated over wall-clock time), by link."""
    found: dict[str, float] = {}
    for sample, following in itertools.pairwise(samples):
        for receiver in sample.receivers:
            made = (receiver.emulator_bps or 0.0) * time_scale * (following.t_s - sample.t_s)
            found[receiver.link] = found.get(receiver.link, 0.0) + made
    return found


def key_delivery(record: SwitchingRecord) -> tuple[KeyDelivery, dict[str, float], dict[str, float]]:
    """Key made per receiver against ideal time-sharing with the shares it had (rate while connected ×
    share × duration); with the shares and the rates used, by link."""
    samples = record.samples
    duration_s = samples[-1].t_s - samples[0].t_s if len(samples) > 1 else 0.0
    by_port = connected_s(samples)
    links = {r.link: r.port for s in samples for r in s.receivers}
    shares = {
        link: by_port.get(port, 0.0) / duration_s if duration_s > 0 else 0.0 for link, port in links.items()
    }
    rates = {
        link: max(
            (r.emulator_bps or 0.0 for s in samples for r in s.receivers if r.link == link), default=0.0
        )
        * record.time_scale
        for link in links
    }
    delivery = KeyDelivery(
        delivered_bits(samples, record.time_scale), ideal_key_bits(rates, shares, duration_s)
    )
    return delivery, shares, rates


def switching_report(record: SwitchingRecord, out: Path) -> Report:
    """The report of a run (its plot written into ``out``)."""
    out.mkdir(parents=True, exist_ok=True)
    samples = record.samples
    delivery, shares, rates = key_delivery(record)
    ratios = delivery.ratios
    seen_moves = moves(samples)
    links = list(shares)
    last = {r.link: r for r in samples[-1].receivers} if samples else {}
    pool_min = {
        link: min(
            (r.pool_bits for s in samples for r in s.receivers if r.link == link and r.pool_bits is not None),
            default=None,
        )
        for link in links
    }
    dry = {link: t.not_enough_key > 0 for link, t in record.consumers.items()}
    duration_s = samples[-1].t_s - samples[0].t_s if len(samples) > 1 else 0.0
    checks = [
        Check(
            "every switched receiver served",
            bool(links) and all(shares[link] > 0 for link in links),
            ", ".join(f"{link} {100 * shares[link]:.0f} %" for link in links) or "no samples",
        ),
        Check(
            "no pool ran dry",
            not any(dry.values()),
            ", ".join(
                f"{link}: {t.not_enough_key} 'not enough key' answers" for link, t in record.consumers.items()
            ),
        ),
        Check(
            f"key made at least {100 * MIN_DELIVERY_RATIO:.0f} % of ideal time-sharing",
            bool(ratios) and all(ratios.get(link, 0.0) >= MIN_DELIVERY_RATIO for link in links),
            ", ".join(f"{link} {100 * ratios[link]:.1f} %" for link in links if link in ratios)
            or "no key made",
        ),
    ]
    receivers_json: dict[str, dict[str, Any]] = {
        link: {
            "port": last[link].port if link in last else None,
            "node": last[link].node if link in last else None,
            "share": round(shares[link], 4),
            "controller_share": last[link].share if link in last else None,
            "pool_min_bits": pool_min[link],
            "pool_final_bits": last[link].pool_bits if link in last else None,
            "rate_bps": round(rates[link], 1),
            "delivered_bits": round(delivery.delivered_bits.get(link, 0.0)),
            "ideal_bits": round(delivery.ideal_bits.get(link, 0.0)),
            "delivery_ratio": None if link not in ratios else round(ratios[link], 4),
            "ran_dry": dry.get(link, False),
            "consumer": record.consumers[link].__dict__ if link in record.consumers else None,
        }
        for link in links
    }
    controller_moves = samples[-1].moves - samples[0].moves if samples else 0
    summary = [
        f"{record.switch} at {record.node} ({record.transmitter}) over {duration_s:.1f} s, the world "
        f"{record.time_scale:g}× faster; {len(seen_moves)} move{'' if len(seen_moves) == 1 else 's'} seen "
        f"({controller_moves} by the controller's count)",
        f"consumers: {record.rate_keys_per_s:g} keys/s of {record.key_bits} bits at each pair "
        "(ETSI GS QKD 014 enc_keys and dec_keys)",
        *(
            f"{link}: share {100 * shares[link]:.0f} %, pool min "
            f"{_kbit(pool_min[link])}, "
            f"{'ran dry' if dry.get(link) else 'never dry'}, key made "
            f"{delivery.delivered_bits.get(link, 0.0) / 1e3:.0f} kbit of ideal "
            f"{delivery.ideal_bits.get(link, 0.0) / 1e3:.0f} kbit"
            for link in links
        ),
    ]
    table = Table(
        "Switched receivers",
        (
            "link",
            "port",
            "share",
            "controller share",
            "pool min kbit",
            "made kbit",
            "ideal kbit",
            "made / ideal",
            "keys consumed",
            "not enough key",
        ),
        tuple(
            (
                link,
                str(r["port"]),
                f"{100 * r['share']:.1f} %",
                "—" if r["controller_share"] is None else f"{100 * r['controller_share']:.1f} %",
                "—" if r["pool_min_bits"] is None else f"{r['pool_min_bits'] / 1e3:.0f}",
                f"{r['delivered_bits'] / 1e3:.0f}",
                f"{r['ideal_bits'] / 1e3:.0f}",
                "—" if r["delivery_ratio"] is None else f"{100 * r['delivery_ratio']:.1f} %",
                str(record.consumers[link].keys if link in record.consumers else 0),
                str(record.consumers[link].not_enough_key if link in record.consumers else 0),
            )
            for link, r in receivers_json.items()
        ),
    )
    moves_table = Table(
        "Moves",
        ("t s", "from", "to"),
        tuple((f"{t_s:.2f}", str(before), str(after)) for t_s, before, after in seen_moves),
    )
    plots = [_plot(record, out, seen_moves).name] if samples else []
    data = {
        "switch": record.switch,
        "node": record.node,
        "transmitter": record.transmitter,
        "time_scale": record.time_scale,
        "started_at": record.started_at.isoformat(timespec="milliseconds"),
        "duration_s": round(duration_s, 3),
        "warm_up_s": round(record.warm_up_s, 3),
        "consumers": {"rate_keys_per_s": record.rate_keys_per_s, "key_bits": record.key_bits},
        "moves": {
            "seen": len(seen_moves),
            "controller_count": controller_moves,
            "at": [{"t_s": round(t, 3), "from": a, "to": b} for t, a, b in seen_moves],
        },
        "receivers": receivers_json,
        "total_delivery_ratio": delivery.total_ratio,
        "any_pool_ran_dry": any(dry.values()),
        "actions": record.actions,
        "series": {
            "t_s": [round(s.t_s, 3) for s in samples],
            "port": [s.port for s in samples],
            "pool_bits": {
                link: [next((r.pool_bits for r in s.receivers if r.link == link), None) for s in samples]
                for link in links
            },
        },
        "sampler_failures": record.sampler_failures,
    }
    return Report(
        scenario="switching",
        title=f"Switching: {record.switch} shares its transmitter between {', '.join(links)}",
        summary=summary,
        checks=checks,
        tables=[table, moves_table],
        data=data,
        plots=plots,
    )


def _kbit(bits: float | None) -> str:
    return "—" if bits is None else f"{bits / 1e3:.0f} kbit"


def _plot(record: SwitchingRecord, out: Path, seen: list[tuple[float, str | None, str | None]]) -> Path:
    samples = record.samples
    t_s = [s.t_s for s in samples]
    links = sorted({r.link for s in samples for r in s.receivers})
    pools = [
        Series(link, t_s, [next((r.pool_bits for r in s.receivers if r.link == link), None) for s in samples])
        for link in links
    ]
    index = {port: i for i, port in enumerate(record.ports)}
    port = Series("port", t_s, [None if s.port is None else float(index.get(s.port, -1)) for s in samples])
    return pools_plot(
        out / "switching-pools.png",
        f"{record.switch}: pool per switched receiver",
        pools,
        port,
        record.ports,
        [Marker(t, f"→ {after}") for t, _, after in seen],
        record.low_water_bits,
    )
