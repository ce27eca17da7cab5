"""The relay in a KME's ``/metrics``: keys sent, forwarded and stored per virtual link at each KME of
the path, and a relay that no hop delivered counted as a failure."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from relay_support import Chain, etsi

from sdqkd.etsi014 import Etsi014ClientError

pytestmark = pytest.mark.integration


def scrape(chain: Chain, node: str) -> list[Sample]:
    """Every sample of ``node``'s KME's ``/metrics``, read with the operator's certificate."""
    with chain.http(node, chain.pki.operator) as http:
        response = http.get("/metrics")
    assert response.status_code == 200, response.text
    return [sample for family in text_string_to_metric_families(response.text) for sample in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The value of the one sample ``name`` whose labels include ``labels``."""
    (found,) = [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]
    return found


def relayed(chain: Chain) -> dict[str, float]:
    """``sdqkd_kme_relay_keys_total`` of ``v-n1-n3`` at n1 (out), n2 (forwarded) and n3 (in)."""
    name = "sdqkd_kme_relay_keys_total"
    return {
        "out": value(scrape(chain, "n1"), name, virtual_link="v-n1-n3", direction="out"),
        "forwarded": value(scrape(chain, "n2"), name, virtual_link="v-n1-n3", direction="forwarded"),
        "in": value(scrape(chain, "n3"), name, virtual_link="v-n1-n3", direction="in"),
    }


def test_metrics_count_the_relayed_keys_at_every_kme_of_the_path(chain: Chain) -> None:
    before = relayed(chain)
    etsi(chain, "n1", lambda c: c.enc_keys("n3-app", number=3))
    after = relayed(chain)

    assert {direction: after[direction] - before[direction] for direction in after} == {
        "out": 3,
        "forwarded": 3,
        "in": 3,
    }
    assert value(scrape(chain, "n2"), "sdqkd_kme_relay_blocks_used_total", virtual_link="v-n1-n3") > 0


def test_metrics_count_a_relay_that_no_hop_delivered(chain: Chain) -> None:
    failures = "sdqkd_kme_relay_failures_total"
    before = value(scrape(chain, "n1"), failures, virtual_link="v-n1-n4")
    chain.gates["n3"].closed = True
    try:
        with pytest.raises(Etsi014ClientError):
            etsi(chain, "n1", lambda c: c.enc_keys("n4-app"))
    finally:
        chain.gates["n3"].closed = False

    assert value(scrape(chain, "n1"), failures, virtual_link="v-n1-n4") == before + 1
    assert value(scrape(chain, "n1"), failures, virtual_link="v-n1-n2") == 0
