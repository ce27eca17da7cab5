"""The dashboard's snapshot: one JSON document with everything the views draw, built from the
documents the controller's northbound API and the emulator's plant API answer.

:func:`build_snapshot` is a pure function of those documents (:class:`Upstream`) and the time, so
that what the dashboard shows can be checked against canned answers. The shape is the dashboard's
contract (docs/dashboard.md): every member is always present, lists may be empty, numbers are null
when unknown, and a document that could not be read leaves its part empty and says why in
``problems``.

What is left out on purpose: key material of any kind (no key bytes, no key IDs), the service
processes' arguments (an OPoT share is a secret), the relayed links' per-KME counters.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sdqkd.units import dwdm_channel_to_frequency_thz

__all__ = ["MAX_EVENTS", "Upstream", "build_snapshot", "circle_layout"]

Document = Mapping[str, Any]

MAX_EVENTS = 100
"""The most alarms and the most actions a snapshot carries (the newest)."""

_STATUSES = ("up", "standby", "down")


@dataclass(frozen=True)
class Upstream:
    """What the upstream services answered for one snapshot; None: not read (``problems`` says why).

    Attributes:
        topology: the controller's ``GET /api/v1/topology``.
        links: ``GET /api/v1/links`` (physical and relayed).
        apps: ``GET /api/v1/apps``.
        services: ``GET /api/v1/services``.
        alarms: ``GET /api/v1/alarms`` (newest first).
        fibres: ``GET /api/v1/optical/fibres``'s ``fibres`` (classical and quantum channels).
        actions: ``GET /api/v1/optical/actions``'s ``actions`` (oldest first).
        switches: ``GET /api/v1/switches``'s ``switches``.
        plant_fibres: the emulator's ``GET /api/v1/plant/fibres``'s ``fibres``: the plant itself,
            where a cut shows before the controller's next look at it.
        problems: what could not be read, one line each.
    """

    topology: Document | None = None
    links: Sequence[Document] | None = None
    apps: Sequence[Document] | None = None
    services: Sequence[Document] | None = None
    alarms: Sequence[Document] | None = None
    fibres: Sequence[Document] | None = None
    actions: Sequence[Document] | None = None
    switches: Sequence[Document] | None = None
    plant_fibres: Sequence[Document] | None = None
    problems: tuple[str, ...] = ()


def build_snapshot(upstream: Upstream, now: dt.datetime, network: str | None = None) -> dict[str, Any]:
    """The snapshot of ``upstream`` at ``now``.

    Args:
        upstream: the documents read.
        now: when they were read (timezone-aware).
        network: the network's name (None: the controller's topology name).

    Returns:
        The snapshot (the shape in docs/dashboard.md).
    """
    fibres = _fibres(upstream)
    cut = {fibre["id"] for fibre in fibres if fibre["cut"]}
    links = _links(upstream, cut)
    name = network or (str(upstream.topology.get("name") or "") if upstream.topology else "")
    return {
        "time": now.isoformat(timespec="seconds"),
        "network": name,
        "nodes": _nodes(upstream, fibres, links),
        "fibres": fibres,
        "links": links,
        "spectra": _spectra(upstream),
        "switches": _switches(upstream.switches or ()),
        "apps": [_app(app) for app in upstream.apps or ()],
        "services": [_service(service) for service in upstream.services or ()],
        "alarms": [_alarm(alarm) for alarm in list(upstream.alarms or ())[:MAX_EVENTS]],
        "actions": [_action(action) for action in list(upstream.actions or ())[::-1][:MAX_EVENTS]],
        "problems": list(upstream.problems),
    }


# Nodes ------------------------------------------------------------------------------------------------


def circle_layout(node_ids: Iterable[str]) -> dict[str, tuple[float, float]]:
    """Positions in [0, 1]² for drawing: the nodes in order of their IDs on a circle, the first at
    the top, clockwise (the same set of nodes always gets the same picture)."""
    ordered = sorted(set(node_ids))
    count = len(ordered)
    if count == 1:
        return {ordered[0]: (0.5, 0.5)}
    positions = {}
    for index, node in enumerate(ordered):
        angle = -math.pi / 2 + 2 * math.pi * index / count
        positions[node] = (round(0.5 + 0.4 * math.cos(angle), 4), round(0.5 + 0.4 * math.sin(angle), 4))
    return positions


def _nodes(
    upstream: Upstream, fibres: list[dict[str, Any]], links: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The topology's nodes; without the topology, the ends of the fibres and links (reachability
    unknown). The topology files carry no coordinates, so positions are a circle layout."""
    known: dict[str, dict[str, Any]] = {}
    for node in (upstream.topology or {}).get("nodes", []):
        known[str(node["id"])] = {
            "name": str(node.get("name") or node["id"]),
            "reachable": node.get("reachable"),
        }
    ends = [fibre[end] for fibre in fibres for end in ("a", "b")]
    ends += [node for link in links for node in link["nodes"]]
    for node_id in ends:
        known.setdefault(node_id, {"name": node_id, "reachable": None})
    positions = circle_layout(known)
    return [
        {"id": node_id, **known[node_id], "x": positions[node_id][0], "y": positions[node_id][1]}
        for node_id in sorted(known)
    ]


# Fibres and links -------------------------------------------------------------------------------------


def _fibres(upstream: Upstream) -> list[dict[str, Any]]:
    """The controller's fibres (else the plant's), each cut as the plant says when it answered."""
    source = upstream.fibres if upstream.fibres is not None else upstream.plant_fibres or ()
    plant_cut = {str(f["id"]): bool(f.get("cut")) for f in upstream.plant_fibres or ()}
    return [
        {
            "id": str(fibre["id"]),
            "a": str(fibre["a"]),
            "b": str(fibre["b"]),
            "length_km": _number(fibre.get("length_km")),
            "cut": plant_cut.get(str(fibre["id"]), bool(fibre.get("cut"))),
        }
        for fibre in source
    ]


def _links(upstream: Upstream, cut: set[str]) -> list[dict[str, Any]]:
    """Physical links first, then relayed ones; a link over a cut fibre (or relayed over a link that
    is down) is down, whatever the controller last saw."""
    found = list(upstream.links or ())
    shares = {
        str(receiver["link"]): _number(receiver.get("share"))
        for switch in upstream.switches or ()
        for receiver in switch.get("receivers", [])
    }
    noise = {
        str(quantum["link"]): quantum
        for fibre in upstream.fibres or ()
        for quantum in fibre.get("quantum_channels", [])
    }
    physical = {}
    for link in found:
        if link.get("type", "PHYS") != "PHYS":
            continue
        fibre = str(link.get("fibre") or "")
        status = "down" if fibre in cut else _status(link.get("status"))
        quantum = noise.get(str(link["id"]), {})
        physical[str(link["id"])] = {
            "id": str(link["id"]),
            "type": "PHYS",
            "nodes": [str(node) for node in link.get("nodes", [])],
            "over": [fibre] if fibre else [],
            "status": status,
            "skr_bps": 0.0 if fibre in cut else _number(link.get("skr_bps")),
            "target_bps": _target(link.get("target_rate_bps"), link.get("reserved_bps")),
            "time_share": shares.get(str(link["id"])),
            "excess_noise": _number(quantum.get("excess_noise_snu")),
            "raman_noise": _number(quantum.get("raman_noise_snu")),
            "pools": {
                str(node): {
                    "ready_blocks": _integer(pool.get("ready_blocks")),
                    "target_blocks": _integer(pool.get("target_blocks")),
                }
                for node, pool in (link.get("pools") or {}).items()
            },
        }
    relayed = [_relayed(link, physical) for link in found if link.get("type") == "VIRT"]
    return [*physical.values(), *relayed]


def _relayed(link: Document, physical: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """A key association relayed over trusted nodes: as fast as its slowest hop, down when one is,
    aiming at the lowest target of its hops (or what its applications reserve, if more)."""
    hops = [physical[hop] for hop in link.get("hops", []) if hop in physical]
    down = any(hop["status"] == "down" for hop in hops)
    targets = [hop["target_bps"] for hop in hops if hop["target_bps"] is not None]
    return {
        "id": str(link["id"]),
        "type": "VIRT",
        "nodes": [str(node) for node in link.get("nodes", [])],
        "over": [str(hop) for hop in link.get("hops", [])],
        "status": "down" if down else _status(link.get("status")),
        "skr_bps": 0.0 if down else _number(link.get("skr_bps")),
        "target_bps": _target(min(targets) if targets else None, link.get("reserved_bps")),
        "time_share": None,
        "excess_noise": None,
        "raman_noise": None,
        "pools": {},
    }


def _status(value: Any) -> str:
    """The controller's link state as the dashboard's: up, standby, or down (also unknown and not yet
    provisioned: no key flows)."""
    return str(value) if value in _STATUSES else "down"


def _target(target_bps: Any, reserved_bps: Any) -> float | None:
    """What a link should deliver: its planned target, or what its applications reserve if more."""
    target, reserved = _number(target_bps), _number(reserved_bps)
    if target is None:
        return reserved if reserved else None
    return max(target, reserved or 0.0)


# The optical layer --------------------------------------------------------------------------------------


def _spectra(upstream: Upstream) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Per fibre its classical channels (power, floor) and quantum channels (Raman noise, predicted
    key rate): the controller's view; without it, the plant's channels at their launch power and the
    quantum channels the links are tuned to (noise and prediction unknown)."""
    if upstream.fibres is not None:
        return {
            str(fibre["id"]): {
                "classical": [
                    _classical(channel, channel.get("actual_power_dbm"), channel.get("floor_dbm"))
                    for channel in fibre.get("classical_channels", [])
                ],
                "quantum": [
                    {
                        "link": str(quantum["link"]),
                        "dwdm_channel": quantum.get("dwdm_channel"),
                        "frequency_thz": _number(quantum.get("frequency_thz")),
                        "raman_noise": _number(quantum.get("raman_noise_snu")),
                        "predicted_skr_bps": _number(quantum.get("predicted_skr_bps")),
                    }
                    for quantum in fibre.get("quantum_channels", [])
                ],
            }
            for fibre in upstream.fibres
        }
    spectra: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for fibre in upstream.plant_fibres or ():
        tuned = [
            link
            for link in upstream.links or ()
            if link.get("fibre") == fibre["id"] and isinstance(link.get("dwdm_channel"), int)
        ]
        spectra[str(fibre["id"])] = {
            "classical": [
                _classical(channel, channel.get("launch_power_dbm"), None)
                for channel in fibre.get("channels", [])
            ],
            "quantum": [
                {
                    "link": str(link["id"]),
                    "dwdm_channel": link["dwdm_channel"],
                    "frequency_thz": dwdm_channel_to_frequency_thz(int(link["dwdm_channel"])),
                    "raman_noise": None,
                    "predicted_skr_bps": None,
                }
                for link in tuned
            ],
        }
    return spectra


def _classical(channel: Document, power_dbm: Any, floor_dbm: Any) -> dict[str, Any]:
    return {
        "id": str(channel["id"]),
        "dwdm_channel": channel.get("dwdm_channel"),
        "frequency_thz": _number(channel.get("frequency_thz")),
        "power_dbm": _number(power_dbm),
        "floor_dbm": _number(floor_dbm),
        "rate_class": channel.get("rate_class"),
    }


def _switches(switches: Iterable[Document]) -> list[dict[str, Any]]:
    """Each switched transmitter's switch: the port it serves now (null: open), its ports, and the
    share of the last window each link behind it was served."""
    return [
        {
            "id": str(switch["id"]),
            "node": switch.get("node"),
            "port": switch.get("port"),
            "ports": [str(receiver["port"]) for receiver in switch.get("receivers", [])],
            "shares": {
                str(receiver["link"]): _number(receiver.get("share"))
                for receiver in switch.get("receivers", [])
            },
        }
        for switch in switches
    ]


# Applications, services, alarms, actions ------------------------------------------------------------------


def _app(app: Document) -> dict[str, Any]:
    qos = app.get("qos") or {}
    return {
        "id": str(app.get("app_id")),
        "client": app.get("client_sae_id"),
        "server": app.get("server_sae_id"),
        "status": app.get("status"),
        "min_bps": _number(qos.get("min_bandwidth")) or 0,
    }


def _service(service: Document) -> dict[str, Any]:
    return {
        "id": str(service.get("id")),
        "type": service.get("type"),
        "state": service.get("state"),
        "reason": service.get("reason"),
        "summary": _summary(service),
    }


def _summary(service: Document) -> str:
    """Where a service runs: an OPoT chain's route, a tunnel's two ends."""
    route = service.get("route") or service.get("path")
    if isinstance(route, list) and route:
        return " → ".join(str(node) for node in route)
    ends = [service.get(end) for end in ("a", "b")]
    if all(isinstance(end, Mapping) and end.get("node") for end in ends):
        return " → ".join(str(end["node"]) for end in ends if isinstance(end, Mapping))
    return str(service.get("type") or "")


def _alarm(alarm: Document) -> dict[str, Any]:
    return {
        "time": alarm.get("raised_at"),
        "kind": alarm.get("kind"),
        "source": alarm.get("source"),
        "severity": alarm.get("severity"),
        "active": bool(alarm.get("active")),
        "message": alarm.get("message"),
    }


_POWER = ("lower_power", "raise_power")
_CHANNEL = {"retune_quantum": "retune", "move_channel": "move", "restore_channel": "restore"}


def _action(action: Document) -> dict[str, Any]:
    """An optical action in a line (``power c100g-36 15.0 → -14.1 dBm``) and why."""
    kind, target = str(action.get("kind")), action.get("target")
    before, after = action.get("before"), action.get("after")
    if kind in _POWER:
        what = f"power {target} {before} → {after} dBm"
    elif kind in _CHANNEL:
        what = f"{_CHANNEL[kind]} {target} channel {before} → {after}"
    elif kind == "switch_port":
        what = f"switch {target} {before} → {after}"
    else:
        change = f" {before} → {after}" if before is not None or after is not None else ""
        what = f"{kind.replace('_', ' ')} {target}{change}"
    return {
        "time": action.get("time"),
        "fibre": action.get("fibre"),
        "what": what,
        "why": action.get("reason"),
    }


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
