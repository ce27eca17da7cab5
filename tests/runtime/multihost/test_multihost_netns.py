"""Madrid on five hosts, as ``sdqkd deploy`` prepares it: the emulator and the controller on one host,
each node's KME and agent on a host of its own (Linux network namespaces with their own addresses),
every service started with the command deploy printed for its host, finding the others only by the
addresses in its configuration. The agents call home, the controller provisions the links, and two
applications on different hosts get the same keys from their own KMEs over ETSI GS QKD 014."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from netns_support import Hosts

from polling import wait_for
from sdqkd.etsi014 import Etsi014Client, Etsi014ClientError, decode_key
from sdqkd.pki.tls import client_ssl_context
from sdqkd.runtime.deploy import Deployment, HostPlan, deploy, parse_addresses

pytestmark = [pytest.mark.slow, pytest.mark.integration]

NODES = ("concepcion", "norte", "quintin")
LINKS = ("concepcion-norte", "concepcion-quintin", "norte-quintin")
# Concepción's transmitter sits behind an optical switch that serves Norte or Quintín, one at a time:
# concepcion-quintin is provisioned too, but waits while the switch serves Norte
ALWAYS_UP = {"concepcion-norte", "norte-quintin"}
TIME_SCALE = 20.0
START_TIMEOUT_S = 30.0
READY_TIMEOUT_S = 90.0


def _endpoint_file(host: HostPlan, role: str) -> Path:
    if role in ("emulator", "controller"):
        return host.folder / role / "endpoint.json"
    kind, node = role.split(":")
    return host.folder / kind / f"{node}.endpoint.json"


def _wait_serving(processes: dict[str, tuple[subprocess.Popen[bytes], Path, Path]]) -> None:
    """Until every service wrote its endpoint record; fails with the log of one that died or hung."""
    deadline = time.monotonic() + START_TIMEOUT_S
    waiting = dict(processes)
    while waiting:
        for role, (process, endpoint, log) in list(waiting.items()):
            if endpoint.exists():
                del waiting[role]
            elif process.poll() is not None:
                pytest.fail(
                    f"{role} exited with {process.returncode}: {log.read_text(errors='replace')[-2000:]}"
                )
        if time.monotonic() > deadline:
            role, (_, _, log) = next(iter(waiting.items()))
            pytest.fail(
                f"{role} did not serve within {START_TIMEOUT_S} s: {log.read_text(errors='replace')[-2000:]}"
            )
        time.sleep(0.1)


def _start(hosts: Hosts, deployment: Deployment, names: dict[str, str], logs: Path, roles: set[str]) -> None:
    """Run, on each host, the commands deploy printed for it (those of ``roles``), in its folder."""
    started = {}
    for host in deployment.hosts:
        for command in host.commands:
            if command.role not in roles:
                continue
            assert command.argv[0] == "sdqkd"
            log = logs / f"{command.role.replace(':', '-')}.log"
            process = hosts.run_sdqkd(names[host.address], list(command.argv[1:]), host.folder, log)
            started[command.role] = (process, _endpoint_file(host, command.role), log)
    _wait_serving(started)


def _controller_view(deployment: Deployment) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The controller's nodes and links, read from the root namespace as the operator."""
    context = client_ssl_context(deployment.operator_cert, deployment.operator_key, deployment.ca_cert)
    with httpx.Client(base_url=deployment.controller_url, verify=context, timeout=5.0) as http:
        nodes, links = http.get("/api/v1/nodes"), http.get("/api/v1/links")
    assert nodes.status_code == 200, nodes.text
    assert links.status_code == 200, links.text
    return nodes.json(), links.json()


def _ready(view: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> bool:
    nodes, links = view
    if sorted(node["id"] for node in nodes) != sorted(NODES) or not all(node["reachable"] for node in nodes):
        return False
    links = [link for link in links if link["type"] == "PHYS"]  # the relayed associations come on top
    provisioned = {
        link["id"] for link in links if all(end and end["provisioned"] for end in link["ends"].values())
    }
    up = {link["id"] for link in links if link["status"] == "up" and link["skr_bps"] > 0}
    standby = {link["id"] for link in links if link["status"] == "standby"}
    return provisioned == set(LINKS) and up == ALWAYS_UP and standby == set(LINKS) - ALWAYS_UP


async def _share_key(deployment: Deployment, master: str, slave: str) -> tuple[bytes, bytes]:
    """The SAE at ``master`` gets a key for the SAE at ``slave`` from its KME (retrying while its pool
    for that link fills), and the slave gets the same key ID from its own KME: both keys."""
    ca = deployment.ca_cert

    def client(node: str) -> Etsi014Client:
        pki = deployment.host_of(f"kme:{node}").folder / "pki"
        return Etsi014Client(
            deployment.kme_urls[node],
            cert=pki / f"sae-{node}-app.crt",
            key=pki / f"sae-{node}-app.key",
            ca=ca,
        )

    async with client(master) as at_master, client(slave) as at_slave:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                sent = await at_master.enc_keys(f"{slave}-app", number=1, size=256)
                break
            except Etsi014ClientError as exc:  # 503 until both KMEs of the link hold key
                if exc.status_code != 503 or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
        (key,) = sent.keys
        received = await at_slave.dec_keys(f"{master}-app", [key.key_id])
    (same,) = received.keys
    assert same.key_id == key.key_id
    return decode_key(key.key), decode_key(same.key)


def test_madrid_on_five_hosts_delivers_the_same_keys_at_both_ends_of_its_links(
    hosts: Hosts, tmp_path: Path
) -> None:
    names = {hosts.add("ctl"): "ctl"}
    names.update({hosts.add(node): node for node in NODES})
    address = {name: ip for ip, name in names.items()}
    document = {
        "controller": {"host": address["ctl"], "port": 7443},
        "emulator": {"host": address["ctl"], "port": 9443},
        "nodes": {node: {"host": address[node]} for node in NODES},
    }
    deployment = deploy("madrid", parse_addresses(document), tmp_path / "deploy", time_scale=TIME_SCALE)
    logs = tmp_path / "logs"
    logs.mkdir()

    _start(hosts, deployment, names, logs, {"emulator"})  # the agents discover their modules there
    _start(hosts, deployment, names, logs, {"controller"})
    _start(hosts, deployment, names, logs, {f"{kind}:{node}" for kind in ("kme", "agent") for node in NODES})
    nodes, links = wait_for(
        lambda: _controller_view(deployment), _ready, READY_TIMEOUT_S, "provisioned", interval_s=0.5
    )

    assert {node["id"]: node["agent_url"] for node in nodes} == deployment.agent_urls
    assert {node["id"]: node["kme_url"] for node in nodes} == deployment.kme_urls
    by_id = {link["id"]: link for link in links}
    assert by_id["concepcion-norte"]["nodes"] == ["concepcion", "norte"]
    for link_id in ALWAYS_UP:
        assert by_id[link_id]["skr_bps"] > 0

    for master, slave in (("concepcion", "norte"), ("quintin", "norte")):
        at_master, at_slave = asyncio.run(_share_key(deployment, master, slave))
        assert len(at_master) == 32
        assert at_master == at_slave
