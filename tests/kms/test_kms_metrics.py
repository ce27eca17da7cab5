"""A KME's ``/metrics`` (Prometheus text format): keys served, pool levels and ETSI 014 latencies,
for the operator only, and never a key or a key ID."""

from __future__ import annotations

import asyncio

import pytest
from kms_support import LINK, Network, etsi
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from asgi_support import clients_presenting
from sdqkd.kms import create_kme_app

pytestmark = pytest.mark.integration

_PROBLEM = "application/problem+json"


def scrape(network: Network, node: str) -> list[Sample]:
    """Every sample of ``node``'s KME's ``/metrics``, read with the operator's certificate."""
    with network.http(node, network.pki.operator) as http:
        response = http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return [sample for family in text_string_to_metric_families(response.text) for sample in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The value of the sample ``name`` whose labels include ``labels`` (0 if there is none)."""
    found = [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else 0.0


def test_metrics_count_the_keys_served_at_both_ends(network: Network) -> None:
    pki = network.pki
    before = {node: scrape(network, node) for node in ("n1", "n2")}
    delivered = etsi(network, "n1", pki.n1_app, lambda c: c.enc_keys("n2-app", number=3))
    key_ids = [key.key_id for key in delivered.keys]
    etsi(network, "n2", pki.n2_app, lambda c: c.dec_keys("n1-app", key_ids))
    after = {node: scrape(network, node) for node in ("n1", "n2")}

    pair = {"master_sae": "n1-app", "slave_sae": "n2-app"}
    served = "sdqkd_kme_keys_served_total"
    assert (
        value(after["n1"], served, operation="enc_keys", **pair)
        - value(before["n1"], served, operation="enc_keys", **pair)
        == 3
    )
    assert (
        value(after["n2"], served, operation="dec_keys", **pair)
        - value(before["n2"], served, operation="dec_keys", **pair)
        == 3
    )
    assert value(after["n1"], served, operation="dec_keys", **pair) == 0
    used = "sdqkd_kme_blocks_used_total"
    assert value(after["n1"], used, link=LINK, use="keys") > value(before["n1"], used, link=LINK, use="keys")


def test_metrics_time_the_etsi014_requests(network: Network) -> None:
    count = "sdqkd_kme_etsi014_request_duration_seconds_count"
    before = value(scrape(network, "n1"), count, operation="enc_keys", code="200")
    etsi(network, "n1", network.pki.n1_app, lambda c: c.enc_keys("n2-app"))
    etsi(network, "n1", network.pki.n1_app, lambda c: c.status("n2-app"))
    samples = scrape(network, "n1")

    assert value(samples, count, operation="enc_keys", code="200") == before + 1
    assert value(samples, count, operation="status", code="200") >= 1
    seconds = "sdqkd_kme_etsi014_request_duration_seconds_sum"
    assert value(samples, seconds, operation="enc_keys", code="200") > 0
    # the management and KME↔KME APIs are not ETSI 014: not timed
    assert {s.labels["operation"] for s in samples if s.name == count} <= {"status", "enc_keys", "dec_keys"}


def test_metrics_show_the_pools_of_the_link(network: Network) -> None:
    samples = scrape(network, "n1")
    pools = network.pools("n1")

    assert value(samples, "sdqkd_kme_pool_blocks", link=LINK, owner="self", state="ready") > 0
    assert value(samples, "sdqkd_kme_pool_blocks", link=LINK, owner="peer", state="ready") > 0
    assert {s.labels["state"] for s in samples if s.name == "sdqkd_kme_pool_blocks"} == {"ready", "pending"}
    assert value(samples, "sdqkd_kme_pool_target_blocks") == network.kmes["n1"].config.pool_target_blocks
    assert value(samples, "sdqkd_kme_info", kme="n1") == 1
    assert pools["ready_blocks"] > 0


def test_metrics_name_no_key_id_and_no_key(network: Network) -> None:
    delivered = etsi(network, "n1", network.pki.n1_app, lambda c: c.enc_keys("n2-app", number=2))
    with network.http("n1", network.pki.operator) as http:
        text = http.get("/metrics").text

    for key in delivered.keys:
        assert str(key.key_id) not in text
        assert key.key not in text


@pytest.mark.parametrize("name", ["n1_app", "kme_n2", "stranger"])
def test_metrics_are_for_the_operator_only(network: Network, name: str) -> None:
    with network.http("n1", getattr(network.pki, name)) as http:
        response = http.get("/metrics")

    assert response.status_code == 403
    assert response.headers["content-type"] == _PROBLEM


def test_metrics_without_a_client_certificate_are_401(network: Network) -> None:
    # over TLS a client without a certificate cannot even connect: in process, the app itself says 401
    async def call() -> tuple[int, str]:
        async with clients_presenting(create_kme_app(network.kmes["n1"]), "https://kme") as call_as:
            response = await call_as(None).get("/metrics")
        return response.status_code, response.headers["content-type"]

    assert asyncio.run(call()) == (401, _PROBLEM)
