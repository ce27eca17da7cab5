"""Key consumption read from the node's KME into the ETSI GS QKD 015 datastore of n1 on an emulated chain
n1-n2-n3: a fake KME (``GET /api/v1/kme`` over mutual TLS, the agent's certificate) whose relay
counters grow at a scripted rate makes ``eskr`` of the PHYS link n1-n2 drop below its ``skr`` by that
rate, and gives the INTERNAL app over n1-n2 and the CLIENT app over the virtual link n1 → n3 one
``app_statistics`` entry per reading; a KME that stops answering changes nothing and the refresh goes
on.

The tests share one chain (module scope) and run in file order.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from agent_node_support import (
    DATA,
    NODE,
    READ,
    TYPES,
    WRITE,
    Network,
    NodePki,
    app_body,
    app_path,
    client,
    link_body,
    link_ids,
    link_path,
    provision,
    serve_network,
    validate_tree,
    wait_for,
)
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from sdqkd.etsi015 import link_qkdl_id, qkdn_id, virtual_qkdl_id
from sdqkd.pki import Role
from sdqkd.server import BackgroundServer, TlsFiles
from sdqkd.server.authz import Table, allow, authorise
from sdqkd.server.identity import PeerDep
from sdqkd.topology.loader import load_topology

pytestmark = pytest.mark.integration

CHAIN = ("n1", "n2", "n3")
BLOCKS_PER_S = 40  # relay blocks per second at each end of n1-n2 (own + peer's: 2 × 40 × 256 bit/s)
RELAY_BPS = 2 * BLOCKS_PER_S * 256
VIRTUAL_BLOCKS_PER_S = 30
N1_N2 = str(link_qkdl_id("n1-n2"))
VIRT_ID = str(virtual_qkdl_id("n1", "n3"))
INTERNAL_APP = "0b6f4a52-1c3d-4e5f-8a7b-9c0d1e2f3a4b"
CLIENT_APP = "1c7e5b63-2d4e-4f60-9b8c-0d1e2f3a4b5c"


class FakeKme:
    """A KME's ``GET /api/v1/kme`` (agents only) whose relay counters grow at a fixed rate once started."""

    def __init__(self) -> None:
        self.started_at: float | None = None
        self.answering = True
        self.readers: set[str] = set()
        self._lock = threading.Lock()

    def blocks(self, per_s: int) -> int:
        with self._lock:
            return 0 if self.started_at is None else int((time.monotonic() - self.started_at) * per_s)

    def app(self) -> FastAPI:
        app = FastAPI()

        agents = Table("stand-in KME", {("GET", "/api/v1/kme"): allow(Role.AGENT)})

        @app.get("/api/v1/kme", response_model=None, dependencies=[authorise(agents)])
        async def pools(caller: PeerDep) -> Any:
            self.readers.add(caller.name)
            if not self.answering:
                return JSONResponse({"title": "Service Unavailable"}, status_code=503)
            relay = self.blocks(BLOCKS_PER_S)
            link = {"id": "n1-n2", "peer_kme_id": "n2", "ready_blocks": 50, "pending_blocks": 0,
                    "blocks_held_for_peer": 50, "keys_awaiting_slaves": 0, "blocks_used_for_relay": relay,
                    "peer_blocks_used_for_relay": relay, "block_bits": 256}  # fmt: skip
            virtual = {"id": "v-n1-n3", "path": list(CHAIN), "peer_kme_id": "n3", "prev_hop": None,
                       "next_hop": "n1-n2", "keys_relayed_out": 0, "keys_relayed_in": 0, "keys_forwarded": 0,
                       "blocks_used": self.blocks(VIRTUAL_BLOCKS_PER_S), "relay_failures": 0,
                       "hops_refused": 0}  # fmt: skip
            return {"kme_id": "n1", "links": [link], "virtual_links": [virtual]}

        return app


@pytest.fixture(scope="module")
def kme() -> FakeKme:
    return FakeKme()


@pytest.fixture(scope="module")
def chain(model: Any, pki: NodePki, kme: FakeKme) -> Iterator[Network]:
    """A fresh emulated chain:3, an agent per node, and n1's (fake) KME that n1's agent reads."""
    certificates = {node: pki.ca.issue(Role.AGENT, node) for node in CHAIN}
    kme_certificate = pki.ca.issue(Role.KME, "n1")
    with ExitStack() as stack:
        kme_tls = TlsFiles(kme_certificate.cert, kme_certificate.key, pki.ca.cert_path)
        kme_url = stack.enter_context(BackgroundServer(kme.app(), kme_tls)).url
        yield serve_network(stack, load_topology("chain:3"), model, pki, certificates, {"n1": kme_url})


@pytest.fixture
def n1(chain: Network, pki: NodePki) -> Iterator[httpx.Client]:
    """The controller's RESTCONF client of n1's agent."""
    with client(chain.agent_urls["n1"], pki.controller, pki) as agent:
        yield agent


def performance(agent: httpx.Client) -> dict[str, Any]:
    response = agent.get(link_path(N1_N2), headers=READ)
    assert response.status_code == 200, response.text
    (entry,) = response.json()["etsi-qkd-sdn-node:qkd_link"]
    return dict(entry.get("qkdl_performance", {}), status=entry.get("qkdl_status"))


def statistics(agent: httpx.Client, app_id: str) -> list[dict[str, Any]]:
    response = agent.get(app_path(app_id), headers=READ)
    assert response.status_code == 200, response.text
    (entry,) = response.json()["etsi-qkd-sdn-node:qkd_app"]
    return list(entry.get("app_statistics", {}).get("statistics", []))


def app_entry(app_id: str, kind: str, backing: str) -> dict[str, Any]:
    return {
        "app_id": app_id,
        "app_type": f"{TYPES}{kind}",
        "server_app_id": "urn:sdqkd:sae:n1-app",
        "client_app_id": ["urn:sdqkd:sae:n3-app"],
        "backing_qkdl_id": [backing],
        "local_qkdn_id": str(qkdn_id("n1")),
        "remote_qkdn_id": str(qkdn_id("n3")),
    }


def test_eskr_drops_below_skr_by_the_rate_the_relay_consumes_the_link(
    chain: Network, pki: NodePki, kme: FakeKme, n1: httpx.Client
) -> None:
    assert link_ids(chain.topology)["n1-n2"] == N1_N2  # the agent's key for the KME's link id
    provision(chain, pki)
    active = wait_for(
        lambda: performance(n1), lambda p: p["status"] == f"{TYPES}ACTIVE" and p["skr"] > 0, 5.0
    )
    assert active["eskr"] == active["skr"]  # nothing consumed yet
    virtual = {"qkdl_id": VIRT_ID, "qkdl_enable": True, "qkdl_type": f"{TYPES}VIRT",
               "qkdl_local": {"qkdn_id": str(qkdn_id("n1"))}, "qkdl_remote": {"qkdn_id": str(qkdn_id("n3"))},
               "virt_next_hop": [str(qkdn_id("n2"))]}  # fmt: skip
    assert n1.put(link_path(VIRT_ID), json=link_body(virtual), headers=WRITE).status_code == 201
    for app_id, kind, backing in ((INTERNAL_APP, "INTERNAL", N1_N2), (CLIENT_APP, "CLIENT", VIRT_ID)):
        response = n1.put(app_path(app_id), json=app_body(app_entry(app_id, kind, backing)), headers=WRITE)
        assert response.status_code == 201, response.text

    with kme._lock:
        kme.started_at = time.monotonic()
    dropped = wait_for(lambda: performance(n1), lambda p: p["eskr"] < p["skr"] - RELAY_BPS / 2, 4.0)

    assert kme.readers == {"n1"}  # read with n1's agent certificate
    assert dropped["eskr"] > 0
    assert dropped["skr"] - dropped["eskr"] == pytest.approx(RELAY_BPS, rel=0.3)


def test_the_apps_get_a_statistics_entry_per_reading_valid_for_the_yang(n1: httpx.Client, model: Any) -> None:
    internal = wait_for(lambda: statistics(n1, INTERNAL_APP), lambda s: len(s) >= 3, 4.0)
    client_app = statistics(n1, CLIENT_APP)

    assert len(client_app) >= 3
    for entries, rate_bps in ((internal, RELAY_BPS), (client_app, VIRTUAL_BLOCKS_PER_S * 256)):
        ends = [entry["end_time"] for entry in entries]
        assert ends == sorted(ends)
        assert len(set(ends)) == len(ends)
        assert all(a["end_time"] == b["start_time"] for a, b in itertools.pairwise(entries))
        consumed = sum(entry["consumed_bits"] for entry in entries[1:])  # the first may start before
        assert consumed == pytest.approx(rate_bps * (len(entries) - 1), rel=0.35)
    response = n1.get(f"{DATA}/{NODE}", headers=READ)
    validate_tree(model, response.json())


def test_a_kme_that_stops_answering_keeps_the_last_values_and_the_refresh_goes_on(
    n1: httpx.Client, kme: FakeKme, caplog: pytest.LogCaptureFixture
) -> None:
    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records if "cannot read the KME" in r.getMessage()]

    with caplog.at_level(logging.WARNING, logger="sdqkd.agent.node"):
        kme.answering = False
        # after a failed reading no earlier one is still under way (the agent reads one at a time)
        wait_for(warnings, lambda said: len(said) >= 1, 5.0, "a failed reading")
        before = statistics(n1, INTERNAL_APP)
        time.sleep(1.6)  # another reading fails at least (one a second): nothing may change meanwhile
        still = performance(n1)
        assert statistics(n1, INTERNAL_APP) == before
        assert still["status"] == f"{TYPES}ACTIVE"
        assert still["eskr"] < still["skr"] - RELAY_BPS / 2
        assert len(warnings()) == 1, [r.getMessage() for r in caplog.records]

        kme.answering = True
        after = wait_for(lambda: statistics(n1, INTERNAL_APP), lambda s: s[-1] != before[-1], 3.0)

    gap = after[after.index(before[-1]) + 1]  # the period spans the outage: nothing is lost
    assert gap["start_time"] == before[-1]["end_time"]
    assert gap["consumed_bits"] > 2 * RELAY_BPS
