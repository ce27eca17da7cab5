"""``sdqkd status``: the running network as its processes report it — each QKD link's state at the
emulator, the KMEs' pool levels, the controller's relayed (virtual) links and the time share of each
switched link — with the URLs and certificates to reach every service (the dashboard's URL without
its token); and the operator's clients of the run's emulator and controller."""

from __future__ import annotations

from typing import Any

import httpx

from sdqkd.controller.client import ControllerClient, ControllerClientError
from sdqkd.emulator.client import EmulatorClient
from sdqkd.errors import ConfigError
from sdqkd.etsi015 import link_qkdl_id
from sdqkd.pki.identity import Role
from sdqkd.pki.tls import client_ssl_context
from sdqkd.runtime.rundir import RunDir, sae_id
from sdqkd.server.request_id import carry_request_id
from sdqkd.topology.loader import load_topology

__all__ = [
    "controller_client",
    "kme_pools",
    "network_status",
    "operator_client",
    "operator_http",
    "switched_shares",
]


def operator_client(run: RunDir) -> EmulatorClient:
    """A client of the run's emulator with the operator's certificate."""
    endpoint = run.read_json(run.emulator_endpoint)
    cert, key = run.require_certificate(Role.OPERATOR, "operator")
    return EmulatorClient(str(endpoint["url"]), cert, key, run.ca_cert)


def controller_client(run: RunDir) -> ControllerClient:
    """A client of the run's SDN controller with the operator's certificate.

    Raises:
        ConfigError: no network runs there, or it runs without a controller.
    """
    record = run.read_json(run.network)
    url = record.get("controller", {}).get("url")
    if not url:
        raise ConfigError(f"the network in {run.root} runs without an SDN controller")
    cert, key = run.require_certificate(Role.OPERATOR, "operator")
    return ControllerClient(str(url), cert, key, run.ca_cert)


def switched_shares(switches: list[dict[str, Any]]) -> dict[str, float]:
    """The time share of each link behind a switched transmitter (``GET /api/v1/switches``
    ``receivers[].share``: the fraction of the last window the switch served it), by link id."""
    return {
        receiver["link"]: float(receiver["share"])
        for switch in switches
        for receiver in switch.get("receivers", [])
    }


def network_status(
    run: RunDir, client: EmulatorClient | None = None, controller: ControllerClient | None = None
) -> dict[str, Any]:
    """The running network as ``sdqkd status --format json`` shows it.

    A switched link carries ``time_share`` (0..1); the others do not. With the emulator's
    ``protocol`` engine a link carries ``protocol``: β, FER and the other figures its blocks measured
    (the emulator's ``/api/v1/links``; docs/emulator.md). ``client`` and ``controller``
    replace the operator's own clients of the emulator and the controller (closed by their owner).
    """
    record = run.read_json(run.network)
    topology = load_topology(record["topology"])
    own_client = client is None
    client = client or operator_client(run)
    try:
        pairs = {(p["transmitter"], p["receiver"]): p for p in client.links()}
    finally:
        if own_client:
            client.close()
    operator_cert, operator_key = run.certificate(Role.OPERATOR, "operator")
    kme_urls: dict[str, str] = record.get("kmes", {})
    pools = _kme_pools(run, kme_urls)
    controller_url = record.get("controller", {}).get("url")
    found = _controller_view(run, controller_url, controller)
    shares = switched_shares(found["switches"])
    links = []
    for link in topology.qkd_links:
        pair = pairs.get((link.transmitter, link.receiver))
        fibre, _ = topology.link_path(link)
        if pair is None:
            state = "unconfigured"
        elif pair["active"]:
            state = "up"
        elif "switch" in pair["reason"]:
            state = "standby"
        else:
            state = "down"
        links.append(
            {
                "id": link.id,
                "qkdl_id": str(link_qkdl_id(link.id)),
                "type": "PHYS",
                "nodes": [topology.module(link.transmitter).node, topology.module(link.receiver).node],
                "fibre": fibre.id,
                "status": state,
                "reason": pair["reason"] if pair else "modules not configured",
                "skr_bps": pair["skr_bps"] if pair else 0.0,
                "keys_available": pair["keys_available"] if pair else 0,
                "transmitter": link.transmitter,
                "receiver": link.receiver,
                "pools": {
                    node: levels for node, by_link in pools.items() if (levels := by_link.get(link.id))
                },
            }
        )
        if link.id in shares:
            links[-1]["time_share"] = shares[link.id]
        if pair and pair.get("protocol"):  # the emulator's protocol engine: what its blocks measured
            links[-1]["protocol"] = pair["protocol"]
    nodes = []
    for node in topology.nodes:
        cert, key = run.certificate(Role.SAE, sae_id(node.id))
        kme_cert, kme_key = run.certificate(Role.KME, node.id)
        nodes.append(
            {
                "id": node.id,
                "name": node.name,
                "kme_url": kme_urls.get(node.id),
                "agent_url": record.get("agents", {}).get(node.id),
                "service_manager_url": record.get("service_managers", {}).get(node.id),
                "kme": {"cert": str(kme_cert), "key": str(kme_key)},
                "saes": [{"id": sae_id(node.id), "cert": str(cert), "key": str(key)}],
                "modules": [
                    {
                        "id": m.id,
                        "role": str(m.role),
                        "etsi014_url": f"{record['emulator']['url']}/devices/{m.id}",
                    }
                    for m in topology.qkd_modules
                    if m.node == node.id
                ],
            }
        )
    links += _virtual_links(found["links"])
    return {
        "run_dir": str(run.root),
        "topology": topology.name,
        "ca": str(run.ca_cert),
        "operator": {"cert": str(operator_cert), "key": str(operator_key)},
        "emulator": {"url": record["emulator"]["url"]},
        "controller": {"url": controller_url},
        "dashboard": {"url": record.get("dashboard", {}).get("url")},
        "nodes": nodes,
        "links": links,
    }


def _controller_view(
    run: RunDir, url: str | None, controller: ControllerClient | None
) -> dict[str, list[dict[str, Any]]]:
    """The controller's links and switches; none without a controller or when it does not answer."""
    if controller is None and not url:
        return {"links": [], "switches": []}
    own = controller is None
    try:
        controller = controller or ControllerClient(
            str(url), *run.require_certificate(Role.OPERATOR, "operator"), run.ca_cert, timeout_s=5.0
        )
    except ControllerClientError:
        return {"links": [], "switches": []}
    try:
        links = controller.links()
        try:
            switches = controller.switches()
        except ControllerClientError:  # a controller without the optical layer
            switches = []
        return {"links": links, "switches": switches}
    except ControllerClientError:
        return {"links": [], "switches": []}
    finally:
        if own:
            controller.close()


def _virtual_links(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The key associations the controller relays over trusted nodes (type VIRT)."""
    return [
        {
            "id": link["id"],
            "type": "VIRT",
            "qkdl_id": link["qkdl_id"],
            "nodes": link["nodes"],
            "path": link["path"],
            "hops": link["hops"],
            "status": link["status"],
            "reason": "a hop is down" if link["status"] != "up" else "",
            "skr_bps": float(link["skr_bps"]),
            "configured_kmes": sorted(node for node, entry in link["kmes"].items() if entry),
        }
        for link in found
        if link.get("type") == "VIRT"
    ]


def _kme_pools(run: RunDir, kme_urls: dict[str, str]) -> dict[str, dict[str, dict[str, Any]]]:
    """Pool levels per KME and link (``{node: {link: levels}}``); a KME that does not answer is
    left out."""
    if not kme_urls:
        return {}
    with operator_http(run) as http:
        return kme_pools(http, kme_urls)


def operator_http(run: RunDir, timeout_s: float = 5.0) -> httpx.Client:
    """An HTTPS client with the operator's certificate (for the KMEs' ``GET /api/v1/kme``)."""
    cert, key = run.require_certificate(Role.OPERATOR, "operator")
    return carry_request_id(
        httpx.Client(verify=client_ssl_context(cert, key, run.ca_cert, peer=Role.KME), timeout=timeout_s)
    )


def kme_pools(http: httpx.Client, kme_urls: dict[str, str]) -> dict[str, dict[str, dict[str, Any]]]:
    """Pool levels per KME and link (``{node: {link: levels}}``, ``GET {kme}/api/v1/kme`` with the
    operator's ``http`` client); a KME that does not answer is left out."""
    pools: dict[str, dict[str, dict[str, Any]]] = {}
    for node, url in kme_urls.items():
        try:
            response = http.get(f"{url}/api/v1/kme")
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError):
            continue
        pools[node] = {
            entry["id"]: {k: v for k, v in entry.items() if k not in ("id", "peer_kme_id")}
            for entry in body["links"]
        }
    return pools
