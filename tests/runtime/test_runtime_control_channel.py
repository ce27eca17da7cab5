"""``sdqkd up --control-channel qkd-tls``: the controller reaches every agent over QKD-TLS only. On
Madrid with the controller's site at Concepción: the controller reads and provisions all three agents
(every node reachable, every link up with key), each agent's port refuses a client that has a valid
controller certificate but no QKD key, and refuses a QKD key that is not the controller's."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from runtime_support import Launch, wait_for, wait_until_serving

from sdqkd.errors import QtlsError
from sdqkd.etsi014 import Etsi014Client
from sdqkd.pki import Role, client_ssl_context
from sdqkd.qtls import PskKey, connect
from sdqkd.runtime.rundir import RunDir, agent_sae_id, sae_id

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NODES = ["concepcion", "norte", "quintin"]


def _keyed(status: dict[str, Any]) -> bool:
    """Every physical link holds key (the switched transmitter serves one of its two links at a time)."""
    physical = [link for link in status["links"] if link["type"] == "PHYS"]
    return all(link["keys_available"] > 0 and link["status"] in ("up", "standby") for link in physical)


def _controller_nodes(status: dict[str, Any]) -> list[dict[str, Any]]:
    verify = client_ssl_context(
        Path(status["operator"]["cert"]), Path(status["operator"]["key"]), Path(status["ca"])
    )
    with httpx.Client(base_url=status["controller"]["url"], verify=verify, timeout=10) as client:
        return list(client.get("/api/v1/nodes").json())


def test_madrid_runs_with_every_agent_reached_over_qkd_tls_only(
    launch: Launch, run_dir: Path, tmp_path: Path
) -> None:
    output = tmp_path / "up.out"
    up = launch(
        run_dir, output, "madrid", ["--control-channel", "qkd-tls", "--controller-node", "concepcion"]
    )
    status = wait_until_serving(run_dir, up, output, ready=_keyed)
    nodes = wait_for(
        lambda: _controller_nodes(status),
        lambda found: len(found) == 3 and all(node["reachable"] and node["last_seen"] for node in found),
        60,
        "the controller reading every agent",
    )
    run = RunDir(run_dir)
    record = json.loads(run.network.read_text())
    assert record["control_channel"] == {"kind": "qkd-tls", "controller_node": "concepcion"}
    assert sorted(node["id"] for node in nodes) == NODES

    controller_cert, controller_key = run.require_certificate(Role.CONTROLLER, "controller")
    context = client_ssl_context(controller_cert, controller_key, run.ca_cert)
    for node in NODES:
        agent_url = record["agents"][node]
        with httpx.Client(verify=context, timeout=10) as client, pytest.raises(httpx.ConnectError) as refused:
            client.get(f"{agent_url}/restconf/data/etsi-qkd-sdn-node:qkd_node")
        assert "MISSING_EXTENSION" in str(refused.value)

    # a QKD key from another SAE (norte's application, for quintin's agent) opens nothing
    key = asyncio.run(_key_of(run, record["kmes"]["norte"], sae_id("norte"), agent_sae_id("quintin")))
    host, port = urlsplit(record["agents"]["quintin"]).hostname, urlsplit(record["agents"]["quintin"]).port
    with pytest.raises(QtlsError, match="unknown_psk_identity"):
        connect(socket.create_connection((host, port), timeout=10), key)

    links = {link["id"]: link for link in status["links"]}
    assert links["norte-quintin"]["status"] == "up"
    assert {links["concepcion-norte"]["status"], links["concepcion-quintin"]["status"]} == {"up", "standby"}


async def _key_of(run: RunDir, kme_url: str, master: str, slave: str) -> PskKey:
    cert, key = run.require_certificate(Role.SAE, master)
    async with Etsi014Client(kme_url, cert=cert, key=key, ca=run.ca_cert) as kme:
        given = (await kme.enc_keys(slave, number=1, size=256)).keys[0]
    return PskKey(str(given.key_id), bytes(given.material()))
