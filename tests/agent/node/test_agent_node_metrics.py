"""A node agent's ``/metrics`` (Prometheus text format): its links' key rate, status and noise as the
datastore and the devices report them, the notifications it sent and the controller's writes; for the
operator only, refused in RESTCONF's error format."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from agent_node_support import DATA, NODE, READ, Network, NodePki, client, link_ids, provision, wait_for
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from asgi_support import clients_presenting
from sdqkd.agent.metrics import AgentCollector
from sdqkd.agent.restconf import AGENT_TABLE, create_restconf_app
from sdqkd.pki import IssuedCertificate
from sdqkd.server.authz import OWN_NODE, own_node

pytestmark = pytest.mark.integration

TIMEOUT_S = 5.0


def scrape(network: Network, pki: NodePki, node: str) -> list[Sample]:
    """Every sample of ``node``'s agent's ``/metrics``, read with the operator's certificate."""
    with client(network.agent_urls[node], pki.operator, pki) as operator:
        response = operator.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return [sample for family in text_string_to_metric_families(response.text) for sample in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The value of the sample ``name`` whose labels include ``labels`` (0 if there is none)."""
    found = [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else 0.0


def test_metrics_follow_the_links_the_controller_writes(network: Network, pki: NodePki) -> None:
    before = scrape(network, pki, "norte")
    assert value(before, "sdqkd_agent_info", node="norte") == 1
    assert not [s for s in before if s.name == "sdqkd_agent_link_skr_bits_per_second"]
    # discovery announced each of Norte's modules
    assert value(before, "sdqkd_agent_notifications_total", notification="sdqkdn_interface_new") == 2

    codes = provision(network, pki)
    link = link_ids(network.topology)["norte-quintin"]
    is_active = {"link": link, "type": "PHYS", "status": "ACTIVE"}
    active = wait_for(
        lambda: scrape(network, pki, "norte"),
        lambda s: value(s, "sdqkd_agent_link_status", **is_active) == 1,
        TIMEOUT_S,
        "Norte-Quintín ACTIVE in Norte's metrics",
    )

    assert value(active, "sdqkd_agent_link_status", link=link, status="OFF") == 0
    with client(network.agent_urls["norte"], pki.operator, pki) as operator:
        entry = operator.get(f"{DATA}/{NODE}/qkd_links/qkd_link={link}", headers=READ).json()
    (written,) = entry["etsi-qkd-sdn-node:qkd_link"]
    skr = value(active, "sdqkd_agent_link_skr_bits_per_second", link=link, type="PHYS")
    assert skr > 0
    assert abs(skr - written["qkdl_performance"]["skr"]) <= 0.1 * skr  # one refresh apart at most
    noise = value(active, "sdqkd_agent_link_excess_noise_snu", link=link)
    assert 0 < value(active, "sdqkd_agent_link_raman_excess_noise_snu", link=link) < noise
    assert value(active, "sdqkd_agent_link_snr", link=link) > 0
    puts = "sdqkd_agent_restconf_write_duration_seconds_count"
    assert value(active, puts, operation="PUT", code="201") == codes["norte"].count(201) > 0


def test_metrics_count_the_notifications_sent(network: Network, pki: NodePki) -> None:
    provision(network, pki)
    sent = "sdqkd_agent_notifications_total"
    first = value(scrape(network, pki, "norte"), sent, notification="sdqkdn_link_perf_update")
    wait_for(
        lambda: scrape(network, pki, "norte"),
        lambda s: value(s, sent, notification="sdqkdn_link_perf_update") > first,
        TIMEOUT_S,
        "a link performance update more",
    )


@pytest.mark.parametrize("name", ["controller", "kme", "sae"])
def test_metrics_are_for_the_operator_only(network: Network, pki: NodePki, name: str) -> None:
    issued: IssuedCertificate = getattr(pki, name)
    with client(network.agent_urls["norte"], issued, pki) as caller:
        response = caller.get("/metrics")

    assert_refused(response, 403)


def test_metrics_without_a_client_certificate_are_401(network: Network) -> None:
    # over TLS a client without a certificate cannot even connect: in process, the app itself says 401
    agent = network.agents["norte"]
    app = create_restconf_app(
        agent.datastore,
        table=AGENT_TABLE,
        checks={OWN_NODE: own_node("norte")},
        metrics=AgentCollector(agent),
    )

    async def call() -> httpx.Response:
        async with clients_presenting(app, "https://agent") as call_as:
            response = await call_as(None).get("/metrics")
            await response.aread()
            return response

    assert_refused(asyncio.run(call()), 401)


def assert_refused(response: httpx.Response, status: int) -> None:
    """RFC 8040 §7: ``status`` with an ``ietf-restconf:errors`` body, error-tag access-denied."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/yang-data+json"
    body: dict[str, Any] = response.json()
    (error,) = body["ietf-restconf:errors"]["error"]
    assert error["error-tag"] == "access-denied"
