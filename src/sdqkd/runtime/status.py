"""``sdqkd status``: the running network as its processes report it — each QKD link's state at the
emulator, the KMEs' pool levels, the controller's relayed (virtual) links — with the URLs and
certificates to reach every service."""

from __future__ import annotations

from typing import Any

import httpx

from sdqkd.emulator.client import EmulatorClient
from sdqkd.etsi015 import link_qkdl_id
from sdqkd.pki.identity import Role
from sdqkd.pki.tls import client_ssl_context
from sdqkd.runtime.rundir import RunDir, sae_id
from sdqkd.topology.loader import load_topology

__all__ = ["network_status", "operator_client"]


def operator_client(run: RunDir) -> EmulatorClient:
    """A client of the run's emulator with the operator's certificate."""
    endpoint = run.read_json(run.emulator_endpoint)
    cert, key = run.require_certificate(Role.OPERATOR, "operator")
    return EmulatorClient(str(endpoint["url"]), cert, key, run.ca_cert)


def network_status(run: RunDir, client: EmulatorClient | None = None) -> dict[str, Any]:
    """The running network as ``sdqkd status --format json`` shows it."""
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
    links += _virtual_links(run, record.get("controller", {}).get("url"))
    return {
        "run_dir": str(run.root),
        "topology": topology.name,
        "ca": str(run.ca_cert),
        "operator": {"cert": str(operator_cert), "key": str(operator_key)},
        "emulator": {"url": record["emulator"]["url"]},
        "controller": {"url": record.get("controller", {}).get("url")},
        "nodes": nodes,
        "links": links,
    }


def _virtual_links(run: RunDir, controller_url: str | None) -> list[dict[str, Any]]:
    """The key associations the controller relays over trusted nodes (type VIRT); none without a
    controller or when it does not answer."""
    if not controller_url:
        return []
    cert, key = run.require_certificate(Role.OPERATOR, "operator")
    try:
        with httpx.Client(verify=client_ssl_context(cert, key, run.ca_cert), timeout=5.0) as http:
            response = http.get(f"{controller_url}/api/v1/links")
            response.raise_for_status()
            found = response.json()
    except (httpx.HTTPError, ValueError):
        return []
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
    cert, key = run.require_certificate(Role.OPERATOR, "operator")
    pools: dict[str, dict[str, dict[str, Any]]] = {}
    with httpx.Client(verify=client_ssl_context(cert, key, run.ca_cert), timeout=5.0) as http:
        for node, url in kme_urls.items():
            try:
                response = http.get(f"{url}/api/v1/kme")
                response.raise_for_status()
            except httpx.HTTPError:
                continue
            pools[node] = {
                entry["id"]: {k: v for k, v in entry.items() if k not in ("id", "peer_kme_id")}
                for entry in response.json()["links"]
            }
    return pools
