"""Key consumption in ETSI GS QKD 015 V2.1.1 terms, from the KME's counters
(:class:`~sdqkd.agent.kme.KmeCounters`): the effective key rate of each PHYS link and the
``app_statistics`` of the apps. Pure functions, no I/O.

Effective secret key rate. Every hop of a key relay spends link key at both ends of the PHYS link it
crosses, and ``eskr`` ("effective secret key rate", ``qkdl_performance``) is what the link still
offers once the relay has taken its share::

    relay_bps(L) = Δ[(blocks_used_for_relay + peer_blocks_used_for_relay) × block_bits](L) / Δt
    eskr(L)      = max(0, skr(L) − relay_bps(L))

with Δ the increase of the KME's counters for link L between two readings Δt seconds apart (the agent
takes the earliest reading of the last :data:`RATE_WINDOW_S` seconds, a moving average that smooths
the relay's bursts: one 256-bit key over a hop takes 2 blocks at once).

Statistics. Each pair of successive readings is one statistics period (``start_time``, ``end_time``:
the readings' times, yang:date-and-time) and an app's ``consumed_bits`` in it is

    INTERNAL app   the relay bits of its backing PHYS links (the KME counts the relay per link, not per
                   association: two INTERNAL apps on one link each show the link's whole relay use)
    CLIENT app     the bits of its backing VIRT links (``blocks_used`` × 256)

An app with no backing link the KME counts (a CLIENT app over a PHYS link: the KME does not count a
direct link's deliveries) gets no entry. A counter without an earlier value, or one that went down (a
KME whose database was replaced), counts nothing for the period: it starts afresh.

The YANG (``grouping app_statistics``): ``list statistics`` keyed by ``end_time``, ``config false``;
``consumed_bits`` is a uint32 (a period's bits are capped at 2³² − 1).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sdqkd.agent.applications import date_and_time
from sdqkd.agent.kme import KmeCounters
from sdqkd.etsi015 import TYPES_MODULE

__all__ = [
    "RATE_WINDOW_S",
    "STATISTICS_PERIODS",
    "ConsumptionPeriod",
    "app_consumed_bits",
    "consumption_period",
    "effective_skr_bps",
    "merged_statistics",
    "relay_rates_bps",
    "statistics_entry",
]

RATE_WINDOW_S = 5.0
"""The span of KME readings over which ``relay_bps`` is averaged, seconds."""

STATISTICS_PERIODS = 60
"""The statistics periods an app keeps (the most recent; at one reading a second, a minute)."""

_UINT32_MAX = 2**32 - 1


def _increase(earlier: Mapping[UUID, int], later: Mapping[UUID, int]) -> dict[UUID, int]:
    """How much each counter of ``later`` grew since ``earlier``, bits (0: no earlier value, or reset)."""
    grown: dict[UUID, int] = {}
    for key, value in later.items():
        before = earlier.get(key)
        grown[key] = value - before if before is not None and value >= before else 0
    return grown


@dataclass(frozen=True)
class ConsumptionPeriod:
    """The key consumed between two readings of the KME.

    Attributes:
        start, end: the readings' times (UTC).
        duration_s: seconds between them (monotonic clock).
        relay_bits: per PHYS ``qkdl_id``, link key the relay consumed in the period, bits.
        virtual_bits: per VIRT ``qkdl_id``, link key used for that virtual link in the period, bits.
    """

    start: dt.datetime
    end: dt.datetime
    duration_s: float
    relay_bits: Mapping[UUID, int]
    virtual_bits: Mapping[UUID, int]


def consumption_period(earlier: KmeCounters, later: KmeCounters) -> ConsumptionPeriod:
    """The consumption between two readings (``earlier`` first)."""
    return ConsumptionPeriod(
        start=earlier.read_at,
        end=later.read_at,
        duration_s=later.monotonic_s - earlier.monotonic_s,
        relay_bits=_increase(earlier.relay_bits, later.relay_bits),
        virtual_bits=_increase(earlier.virtual_bits, later.virtual_bits),
    )


def relay_rates_bps(earlier: KmeCounters, later: KmeCounters) -> dict[UUID, float]:
    """``relay_bps`` of each PHYS link between two readings, bit/s (empty when no time passed)."""
    period = consumption_period(earlier, later)
    if period.duration_s <= 0:
        return {}
    return {link: bits / period.duration_s for link, bits in period.relay_bits.items()}


def effective_skr_bps(skr_bps: float, relay_bps: float) -> float:
    """``eskr`` = max(0, ``skr`` − ``relay_bps``), bit/s.

    Args:
        skr_bps: the link's secret key rate, bit/s.
        relay_bps: the rate at which the relay consumes the link's key at this node, bit/s.
    """
    return max(0.0, skr_bps - relay_bps)


def _uuids(values: object) -> list[UUID]:
    found = []
    for value in values if isinstance(values, list) else []:
        try:
            found.append(UUID(str(value)))
        except ValueError:
            continue
    return found


def app_consumed_bits(entry: Mapping[str, Any], period: ConsumptionPeriod) -> int | None:
    """The bits a ``qkd_app`` entry (RFC 7951 JSON) consumed in ``period``; None when the KME counts
    none of its backing links (no statistics for it).

    INTERNAL apps count the relay bits of their backing PHYS links, CLIENT apps the bits of their
    backing VIRT links; the result is capped at the uint32 maximum.
    """
    kind = str(entry.get("app_type", ""))
    if kind == f"{TYPES_MODULE}:INTERNAL":
        counters = period.relay_bits
    elif kind == f"{TYPES_MODULE}:CLIENT":
        counters = period.virtual_bits
    else:
        return None
    counted = [counters[link] for link in _uuids(entry.get("backing_qkdl_id")) if link in counters]
    return min(sum(counted), _UINT32_MAX) if counted else None


def statistics_entry(period: ConsumptionPeriod, consumed_bits: int) -> dict[str, Any]:
    """An ``app_statistics/statistics`` entry (RFC 7951 JSON) for one period."""
    return {
        "end_time": date_and_time(period.end),
        "start_time": date_and_time(period.start),
        "consumed_bits": min(max(consumed_bits, 0), _UINT32_MAX),
    }


def merged_statistics(
    history: Iterable[Mapping[str, Any]], entry: Mapping[str, Any], keep: int = STATISTICS_PERIODS
) -> list[dict[str, Any]]:
    """``history`` with ``entry`` appended (replacing one of the same ``end_time``), the last ``keep``."""
    kept = [dict(item) for item in history if item.get("end_time") != entry["end_time"]]
    kept.append(dict(entry))
    return kept[-keep:]
