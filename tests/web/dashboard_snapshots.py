"""Dashboard snapshots shaped like Madrid's (the contract's JSON of ``GET /api/snapshot``), made here so
that the page can be tested before and apart from the web role: three nodes, three fibres, the three
physical links and the relayed ``v-concepcion-norte``, each fibre's 17 classical channels and quantum
channel, the switched transmitter at Concepción, an application, two services, alarms and actions.

The figures move with ``t_s`` (seconds after 2026-12-03 13:00 UTC) like a running network's, so a series
of snapshots draws charts; a cut fibre takes its links (and the relayed link over them) down.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

START = datetime(2026, 12, 3, 13, 0, tzinfo=UTC)

NODES = (  # id, name, drawing position in [0, 1]
    ("concepcion", "Concepción", 0.5, 0.1),
    ("norte", "Norte", 0.1, 0.9),
    ("quintin", "Quintín", 0.9, 0.9),
)
FIBRES = (  # id, a, b, length_km (the topology's)
    ("concepcion-norte", "concepcion", "norte", 8.1),
    ("concepcion-quintin", "concepcion", "quintin", 5.0),
    ("norte-quintin", "norte", "quintin", 7.5),
)
PHYSICAL = (  # id, fibre, key rate at full time (bit/s), time share of the transmitter
    ("concepcion-norte", "concepcion-norte", 88_000.0, 0.52),
    ("concepcion-quintin", "concepcion-quintin", 95_000.0, 0.48),
    ("norte-quintin", "norte-quintin", 61_000.0, None),
)
RELAYED = ("v-concepcion-norte", ("concepcion", "norte"), ("concepcion-quintin", "norte-quintin"))
LINK_IDS = (*(link for link, *_ in PHYSICAL), RELAYED[0])
NODE_IDS = tuple(node for node, *_ in NODES)
TARGET_BPS = 40_000.0
POOL_TARGET_BLOCKS = 200
QUANTUM_CHANNEL = 59


def frequency_thz(dwdm_channel: int) -> float:
    """The ITU-T G.694.1 100 GHz grid as the topology numbers it: ch 36 = 193.6 THz."""
    return round(190.0 + 0.1 * dwdm_channel, 2)


def madrid_snapshot(
    t_s: float = 0.0,
    *,
    cut: Iterable[str] = (),
    rates: Mapping[str, float] | None = None,
    names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The snapshot at ``t_s`` seconds.

    Args:
        t_s: seconds after :data:`START`; the figures wander around their means with it.
        cut: ids of cut fibres: ``cut: true``, their links and the relayed link over them ``down``.
        rates: a key rate (bit/s) that replaces a link's own (``{"concepcion-quintin": 20e3}``).
        names: display names that replace the nodes' own.
    """
    cut = set(cut)
    rates = rates or {}
    names = names or {}
    wave = math.sin(t_s / 40.0)
    links: list[dict[str, Any]] = []
    down: set[str] = set()
    for index, (link_id, fibre, full_bps, share) in enumerate(PHYSICAL):
        a, b = next((a, b) for fid, a, b, _ in FIBRES if fid == fibre)
        is_down = fibre in cut
        skr = 0.0 if is_down else rates.get(link_id, full_bps * (share or 0.7) * (1 + 0.05 * wave))
        if is_down:
            down.add(link_id)
        raman = 0.0040 + 0.0004 * index + 0.0002 * wave
        links.append(_link(link_id, "PHYS", (a, b), [fibre], is_down, skr, share, raman, t_s, index))
    relayed_id, relayed_nodes, hops = RELAYED
    relayed_down = any(hop in down for hop in hops)
    relayed_skr = 0.0 if relayed_down else rates.get(relayed_id, 43_000.0 * (1 + 0.05 * wave))
    links.append(
        _link(relayed_id, "VIRT", relayed_nodes, list(hops), relayed_down, relayed_skr, None, None, t_s, 3)
    )
    return {
        "time": (START + timedelta(seconds=t_s)).isoformat(),
        "network": "madrid",
        "nodes": [
            {"id": node, "name": names.get(node, name), "reachable": True, "x": x, "y": y}
            for node, name, x, y in NODES
        ],
        "fibres": [
            {"id": fid, "a": a, "b": b, "length_km": km, "cut": fid in cut} for fid, a, b, km in FIBRES
        ],
        "links": links,
        "spectra": {fid: _spectrum(fid, links) for fid, *_ in FIBRES},
        "switches": [
            {
                "id": "concepcion-switch",
                "node": "concepcion",
                "port": "to-norte" if int(t_s // 30) % 2 == 0 else "to-quintin",
                "ports": ["to-norte", "to-quintin"],
                "shares": {"concepcion-norte": 0.52, "concepcion-quintin": 0.48},
            }
        ],
        "apps": [
            {
                "id": "5b1c0a52-0d0e-4c47-9a56-1f2b3c4d5e6f",
                "client": "norte-app",
                "server": "quintin-app",
                "status": "ON",
                "min_bps": 0,
            },
            {
                "id": "8f0e1d2c-3b4a-4596-8877-665544332211",
                "client": "concepcion-app",
                "server": "norte-app",
                "status": "ON",
                "min_bps": 10_000,
            },
        ],
        "services": [
            {
                "id": "0a9b8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d",
                "type": "opot",
                "state": "active",
                "reason": None,
                "summary": "concepcion → norte → quintin",
            },
            {
                "id": "1f2e3d4c-5b6a-4798-8a9b-0c1d2e3f4a5b",
                "type": "encrypted-tunnel",
                "state": "failed",
                "reason": "the gateway at quintin exited (1)",
                "summary": "norte 127.0.0.1:9000 → quintin",
            },
        ],
        "alarms": _alarms(cut, t_s),
        "actions": [
            {
                "time": (START - timedelta(minutes=4)).isoformat(),
                "fibre": "concepcion-norte",
                "what": "power c10g-35 -3.0 → -9.5 dBm",
                "why": "concepcion-norte predicted 37.1 kb/s < target 42.0 kb/s",
            },
            {
                "time": (START - timedelta(minutes=2)).isoformat(),
                "fibre": "concepcion-norte",
                "what": "power c10g-35 -9.5 → -3.0 dBm",
                "why": "room returned: the undo keeps every link at target",
            },
        ],
        "problems": [],
    }


def _link(
    link_id: str,
    kind: str,
    nodes: tuple[str, str],
    over: list[str],
    is_down: bool,
    skr: float,
    share: float | None,
    raman: float | None,
    t_s: float,
    index: int,
) -> dict[str, Any]:
    phase = t_s / 25.0 + index
    ready = [int(120 + 60 * math.sin(phase)), int(118 + 60 * math.sin(phase + 0.2))]
    return {
        "id": link_id,
        "type": kind,
        "nodes": list(nodes),
        "over": over,
        "status": "down" if is_down else "up",
        "skr_bps": skr,
        "target_bps": TARGET_BPS,
        "time_share": share,
        "excess_noise": None if raman is None else raman + 0.008,
        "raman_noise": raman,
        "pools": {
            node: {"ready_blocks": 0 if is_down else level, "target_blocks": POOL_TARGET_BLOCKS}
            for node, level in zip(nodes, ready, strict=True)
        },
    }


def _spectrum(fibre: str, links: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    classical = [
        {
            "id": "c100g-36",
            "dwdm_channel": 36,
            "frequency_thz": frequency_thz(36),
            "power_dbm": 0.0,
            "floor_dbm": -14.1,
            "rate_class": "100G",
        },
        *(
            {
                "id": f"c10g-{ch}",
                "dwdm_channel": ch,
                "frequency_thz": frequency_thz(ch),
                "power_dbm": -3.0,
                "floor_dbm": -17.6,
                "rate_class": "10G",
            }
            for ch in range(20, 36)
        ),
    ]
    quantum = [
        {
            "link": link["id"],
            "dwdm_channel": QUANTUM_CHANNEL,
            "frequency_thz": frequency_thz(QUANTUM_CHANNEL),
            "raman_noise": link["raman_noise"],
            "predicted_skr_bps": link["skr_bps"],
        }
        for link in links
        if link["type"] == "PHYS" and link["over"] == [fibre]
    ]
    return {"classical": classical, "quantum": quantum}


def _alarms(cut: set[str], t_s: float) -> list[dict[str, Any]]:
    alarms = [
        {
            "time": (START - timedelta(minutes=3)).isoformat(),
            "kind": "optical_target_missed",
            "source": "link:concepcion-norte",
            "severity": "major",
            "active": False,
            "message": "predicted 37.1 kb/s < target 42.0 kb/s",
        },
    ]
    for fibre in sorted(cut):
        alarms.append(
            {
                "time": (START + timedelta(seconds=t_s)).isoformat(),
                "kind": "link_down",
                "source": f"link:{fibre}",
                "severity": "major",
                "active": True,
                "message": f"fibre {fibre} cut: no key",
            }
        )
    return alarms
