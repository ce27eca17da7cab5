"""Test traffic for an OPoT *service* of the controller (``sdqkd opot send --service ID``): datagrams into
its ingress, one fault played on the way, and what its verifier made of them — read, like everything
else of the service, through the controller's API with the operator's certificate.

Where :func:`sdqkd.apps.opot_traffic.send_traffic` re-points nodes that run in its own process, a
service's nodes run at their service managers, so a skip or a swap is asked of the controller: it routes
the service's datagrams through the nodes in the faulty order (``PUT /api/v1/services/{id}/route``, each
node it changes ordered again with another next hop, what a misrouting forwarder does) and puts the path
back afterwards, also when the traffic fails. An injection forges datagrams straight to the verifier,
naming the key ID its upstream hop uses now (the service's status shows it) with made-up masked values.

Datagrams go in batches of ``in_flight``; the next batch waits until the ones before are accounted for
(verified, or dropped at some node, by the nodes' counters) or ``timeout_s`` passes: what is not
accounted for then is ``lost``.
"""

from __future__ import annotations

import secrets
import socket
import time
import uuid
from typing import Any, Final, Protocol

from sdqkd.apps.opot_traffic import Fault, Inject, Skip, Swap, TrafficResult, forged_datagram
from sdqkd.errors import ConfigError

__all__ = ["ServiceCalls", "faulty_route", "send_to_service"]

_POLL_S: Final = 0.1


class ServiceCalls(Protocol):
    """What the driver asks of the controller (:class:`~sdqkd.controller.client.ControllerClient`)."""

    def service(self, service_id: str) -> dict[str, Any]: ...

    def route_service(self, service_id: str, via: list[str]) -> dict[str, Any]: ...


def faulty_route(path: list[str], fault: Fault | None) -> list[str] | None:
    """The route that plays ``fault`` on ``path`` (None: the path as it is).

    A skip leaves a transit node out; a swap crosses two nodes after the ingress in the wrong order (the
    verifier may be one of them: it then sees the packets before the node it should follow).

    Raises:
        ConfigError: a node not on the path, the ingress or the verifier skipped, the ingress swapped.
    """
    if isinstance(fault, Skip):
        if fault.node not in path[1:-1]:
            raise ConfigError(f"only a transit node can be skipped ({path[1:-1]}), not {fault.node!r}")
        return [node for node in path if node != fault.node]
    if isinstance(fault, Swap):
        if {fault.first, fault.second} - set(path[1:]) or fault.first == fault.second:
            raise ConfigError(f"a swap takes two nodes of {path[1:]} (the ingress stays first)")
        route = list(path)
        i, j = route.index(fault.first), route.index(fault.second)
        route[i], route[j] = route[j], route[i]
        return route
    return None


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def _counts(service: dict[str, Any]) -> tuple[int, int, int]:
    """The verifier's valid and invalid counts, and every datagram accounted for on the path (verified,
    or dropped at any node)."""
    endpoints = service.get("endpoints") or {}
    stats = [(endpoints.get(node) or {}).get("stats") or {} for node in service["path"]]
    verifier = stats[-1]
    dropped = sum(sum((s.get("dropped") or {}).values()) for s in stats)
    valid = int(verifier.get("valid", 0))
    return valid, int(verifier.get("invalid", 0)), valid + dropped


def _serving(service: dict[str, Any]) -> bool:
    """Whether every node of the service runs and serves (its stats file is its current process's)."""
    endpoints = service.get("endpoints") or {}
    for node in service["path"]:
        endpoint = endpoints.get(node) or {}
        pid = (endpoint.get("stats") or {}).get("pid")
        if endpoint.get("state") != "running" or pid is None or pid != endpoint.get("pid"):
            return False
    return True


def _live(calls: ServiceCalls, service_id: str, timeout_s: float) -> dict[str, Any]:
    """The service once every node of it serves (``degraded`` included: keys over a relay path are
    keys all the same).

    Raises:
        ConfigError: not an OPoT service, terminated, or not serving within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        service = calls.service(service_id)
        if service.get("type") != "opot":
            raise ConfigError(f"service {service_id} is not an OPoT service")
        if service["state"] == "terminated":
            raise ConfigError(f"service {service_id} is terminated")
        if _serving(service):
            return service
        if time.monotonic() > deadline:
            raise ConfigError(
                f"service {service_id} does not serve within {timeout_s:g} s: {service['state']} "
                f"({service.get('reason')})"
            )
        time.sleep(_POLL_S)


def send_to_service(
    calls: ServiceCalls,
    service_id: str,
    packets: int,
    fault: Fault | None = None,
    *,
    payload_bytes: int = 64,
    in_flight: int = 64,
    timeout_s: float = 30.0,
) -> TrafficResult:
    """Send ``packets`` datagrams of random payload into the ingress of OPoT service ``service_id``, with
    ``fault`` (a skip, a swap or an injection); what its verifier counted of them.

    Raises:
        ConfigError: not a live OPoT service (its nodes not serving within ``timeout_s``), a fault it
            cannot play, or bad numbers.
        ControllerClientError: the controller refused or did not answer.
    """
    if packets < 0 or payload_bytes < 0 or in_flight < 1:
        raise ConfigError("packets and payload_bytes must be 0 or more, in_flight 1 or more")
    service = _live(calls, service_id, timeout_s)
    path = list(service["path"])
    route = faulty_route(path, fault)
    sent = 0
    try:
        if route is not None:
            # inside the try: a change that failed half-way (the controller's answer lost) is undone too
            calls.route_service(service_id, route)
        service = _live(calls, service_id, timeout_s)
        base_valid, base_invalid, base_all = _counts(service)
        ingress = _address(service["processes"][path[0]]["args"]["listen"])
        verifier = _address(service["processes"][path[-1]]["args"]["listen"])
        family = socket.AF_INET6 if ":" in ingress[0] else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as out:

            def settle() -> dict[str, Any]:
                deadline = time.monotonic() + timeout_s
                while True:
                    now = calls.service(service_id)
                    if _counts(now)[2] - base_all >= sent or time.monotonic() > deadline:
                        return now
                    time.sleep(_POLL_S)

            while sent < packets:
                batch = min(in_flight, packets - sent)
                for _ in range(batch):
                    out.sendto(secrets.token_bytes(payload_bytes), ingress)
                sent += batch
                service = settle()
            if isinstance(fault, Inject) and fault.count > 0:
                hop = f"{path[-2]}->{path[-1]}"
                upstream = (service.get("endpoints") or {}).get(path[-2]) or {}
                key_ids = ((upstream.get("stats") or {}).get("hops") or {}).get(hop) or []
                if not key_ids:
                    raise ConfigError(f"no key in use on {hop} yet: nothing to name in forged datagrams")
                for _ in range(fault.count):
                    out.sendto(forged_datagram(uuid.UUID(key_ids[-1]), payload_bytes), verifier)
                    sent += 1
                service = settle()
    finally:
        if route is not None:
            calls.route_service(service_id, path)
    valid, invalid, _ = _counts(service)
    valid, invalid = valid - base_valid, invalid - base_invalid
    return TrafficResult(sent, valid, invalid, sent - valid - invalid)
