"""Virtual links: validated in the configuration, provisioned and removed at run time by the
controller or the node agent, and a failed path retried on another."""

from __future__ import annotations

from typing import Any

import pytest
from relay_support import Chain, etsi

from sdqkd.etsi014 import Etsi014ClientError
from sdqkd.kms import KmeConfig, VirtualLinkConfig
from sdqkd.kms.config import VirtualLinkHops

_LINKS = [
    {"id": f"{low}-{high}", "peer_kme_id": peer, "peer_url": f"https://{peer}",
     "device": {"etsi014_url": "https://device", "peer_sae_id": peer}}
    for low, high, peer in (("a", "b", "a"), ("b", "c", "c"))
]  # fmt: skip


def config_of_b(virtual_links: list[dict[str, Any]]) -> KmeConfig:
    return KmeConfig.model_validate(
        {
            "kme_id": "b",
            "tls": {"cert": "c", "key": "k", "ca": "ca"},
            "storage": {"path": "b.db"},
            "links": _LINKS,
            "virtual_links": virtual_links,
        }
    )


def test_hops_are_derived_from_the_links_to_the_neighbours_on_the_path() -> None:
    config = config_of_b([{"id": "v", "path": ["a", "b", "c"]}])
    hops = config.virtual_links[0].hops_at("b", config.links)
    assert (hops.prev_hop, hops.next_hop) == ("a-b", "b-c")
    assert (hops.hop_towards("c"), hops.hop_towards("a")) == ("b-c", "a-b")
    assert config.virtual_links[0].far_end("b") is None
    assert config.virtual_links[0].far_end("a") == "c"


@pytest.mark.parametrize(
    ("virtual", "reason"),
    [
        ({"id": "v", "path": ["a", "c"]}, "not on its path"),
        ({"id": "v", "path": ["a", "b", "a"]}, "names a KME twice"),
        ({"id": "v", "path": ["a", "b", "d"]}, "no link from 'b' to 'd'"),
        ({"id": "v", "path": ["a", "b", "c"], "next_hop": "a-b"}, "not a link to 'c'"),
        ({"id": "v", "path": ["b", "c"], "prev_hop": "a-b"}, "no hop beyond the end"),
        ({"id": "a-b", "path": ["a", "b"]}, "unique"),
        ({"id": "v", "path": ["b"]}, "at least 2"),
    ],
)
def test_a_virtual_link_that_does_not_fit_the_links_is_refused(virtual: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        config_of_b([virtual])


def test_hops_have_a_plain_repr() -> None:
    hops = VirtualLinkHops(VirtualLinkConfig(id="v", path=["a", "b"]), 0, None, "a-b")
    assert repr(hops) == "VirtualLinkHops('v', prev=None, next='a-b')"


# At run time --------------------------------------------------------------------------------------


def test_only_the_controller_provisions_virtual_links(chain: Chain) -> None:
    # DESIGN §7: only the controller writes KME virtual links (an agent certificate, of any node, may not)
    body = {"id": "v-test", "path": ["n1", "n2"]}
    for certificate, expected in (
        (chain.pki.saes["n1-app"], 403),
        (chain.pki.operator, 403),
        (chain.pki.agent, 403),
        (chain.pki.controller, 201),
        (chain.pki.controller, 200),
    ):
        with chain.http("n1", certificate) as http:
            assert http.put("/api/v1/kme/virtual_links/v-test", json=body).status_code == expected
    with chain.http("n1", chain.pki.operator) as http:
        listed = http.get("/api/v1/kme/virtual_links").json()["virtual_links"]
        assert "v-test" in {v["id"] for v in listed}
        assert http.delete("/api/v1/kme/virtual_links/v-test").status_code == 403
    with chain.http("n1", chain.pki.controller) as http:
        assert http.delete("/api/v1/kme/virtual_links/v-test").status_code == 204
        assert http.delete("/api/v1/kme/virtual_links/v-test").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"id": "other", "path": ["n1", "n2"]},  # not the path's id
        {"id": "v-bad", "path": ["n1", "n3"]},  # no link n1-n3
        {"id": "n1-n2", "path": ["n1", "n2"]},  # a physical link's id
        {"id": "v-bad", "path": ["n1", "n2"], "hops": 2},  # unknown member
    ],
)
def test_a_virtual_link_that_does_not_fit_gets_400(chain: Chain, body: dict[str, Any]) -> None:
    with chain.http("n1", chain.pki.controller) as http:
        response = http.put(
            f"/api/v1/kme/virtual_links/{body['id'] if body['id'] != 'other' else 'v-bad'}", json=body
        )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


def test_keys_flow_over_a_virtual_link_provisioned_at_run_time_and_stop_once_it_is_removed(
    chain: Chain,
) -> None:
    body = {"id": "v-n2-n5", "path": ["n2", "n3", "n4", "n5"]}
    for node in body["path"]:
        with chain.http(node, chain.pki.controller) as http:
            assert http.put("/api/v1/kme/virtual_links/v-n2-n5", json=body).status_code == 201
    made = etsi(chain, "n2", lambda c: c.enc_keys("n5-app", number=2))
    fetched = etsi(chain, "n5", lambda c: c.dec_keys("n2-app", [k.key_id for k in made.keys]))
    assert [k.material() for k in fetched.keys] == [k.material() for k in made.keys]
    with chain.http("n2", chain.pki.controller) as http:
        assert http.delete("/api/v1/kme/virtual_links/v-n2-n5").status_code == 204
    with pytest.raises(Etsi014ClientError) as refused:
        etsi(chain, "n2", lambda c: c.enc_keys("n5-app"))
    assert refused.value.status_code == 400  # no key association with n5 from n2 any more


def test_a_path_that_fails_is_retried_on_the_next(chain: Chain) -> None:
    # "v-alt" is known at n1 only: n2 refuses its hop. Re-adding v-n1-n5 puts it after v-alt.
    with chain.http("n1", chain.pki.controller) as http:
        assert (
            http.put("/api/v1/kme/virtual_links/v-alt", json={"id": "v-alt", "path": chain.nodes}).status_code
            == 201
        )
        assert http.delete("/api/v1/kme/virtual_links/v-n1-n5").status_code == 204
        again = {"id": "v-n1-n5", "path": chain.nodes}
        assert http.put("/api/v1/kme/virtual_links/v-n1-n5", json=again).status_code == 201
    try:
        made = etsi(chain, "n1", lambda c: c.enc_keys("n5-app"))
        fetched = etsi(chain, "n5", lambda c: c.dec_keys("n1-app", [k.key_id for k in made.keys]))
        assert fetched.keys[0].material() == made.keys[0].material()
        counters = {v["id"]: v for v in chain.pools("n1")["virtual_links"]}
        assert counters["v-alt"]["relay_failures"] == 1
        assert counters["v-n1-n5"]["keys_relayed_out"] >= 1
    finally:
        with chain.http("n1", chain.pki.controller) as http:
            http.delete("/api/v1/kme/virtual_links/v-alt")
