"""Keys relayed over trusted nodes along a chain n1 … n5 (virtual links from n1 to every node):
the slave gets exactly the master's keys across 1–4 hops, once and only once, intermediate KMEs
keep nothing, every hop consumes link key exactly as documented, tampered or replayed hops are
refused, and a hop down fails the request cleanly."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import uuid

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from relay_support import Chain, database_bytes, etsi, rows

from sdqkd.etsi014 import Etsi014ClientError, KeyContainer
from sdqkd.kms.relay import blocks_per_hop, new_plaintext, seal_hop
from sdqkd.pki import client_ssl_context
from sdqkd.server.logs import JsonFormatter
from sdqkd.server.request_id import request_id_scope

pytestmark = pytest.mark.integration


def relay(chain: Chain, far: str, **request: object) -> KeyContainer:
    """Keys n1-app gets at n1 for ``far``-app."""
    return etsi(chain, "n1", lambda c: c.enc_keys(f"{far}-app", **request))  # type: ignore[arg-type]


def fetch(chain: Chain, far: str, container: KeyContainer, sae: str | None = None) -> KeyContainer:
    """The same keys, as ``far``-app (or ``sae``) fetches them at ``far``."""
    return etsi(chain, far, lambda c: c.dec_keys("n1-app", [k.key_id for k in container.keys]), sae)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    hops=st.integers(min_value=1, max_value=4),
    number=st.integers(min_value=1, max_value=4),
    size_bytes=st.integers(min_value=8, max_value=96),
)
def test_the_slave_gets_the_masters_keys_across_one_to_four_hops(
    chain: Chain, hops: int, number: int, size_bytes: int
) -> None:
    far = f"n{hops + 1}"
    made = relay(chain, far, number=number, size=8 * size_bytes)
    assert len(made.keys) == number
    assert all(len(key.material()) == size_bytes for key in made.keys)
    fetched = fetch(chain, far, made)
    assert [k.key_id for k in fetched.keys] == [k.key_id for k in made.keys]
    assert [k.material() for k in fetched.keys] == [k.material() for k in made.keys]


def test_a_relayed_key_is_delivered_once_and_only_to_its_slave(chain: Chain) -> None:
    made = relay(chain, "n5", number=2)
    with pytest.raises(Etsi014ClientError) as other:  # another SAE of the far end
        fetch(chain, "n5", made, sae="n5-other")
    assert other.value.status_code == 401
    with pytest.raises(Etsi014ClientError) as elsewhere:  # the same SAE name at an intermediate KME
        etsi(chain, "n3", lambda c: c.dec_keys("n1-app", [k.key_id for k in made.keys]))
    assert elsewhere.value.status_code == 401

    async def race() -> list[KeyContainer | BaseException]:
        async with chain.client("n5") as client:
            ids = [k.key_id for k in made.keys]
            return await asyncio.gather(
                *(client.dec_keys("n1-app", ids) for _ in range(4)), return_exceptions=True
            )

    answers = asyncio.run(race())
    served = [a for a in answers if isinstance(a, KeyContainer)]
    assert len(served) == 1
    assert [k.material() for k in served[0].keys] == [k.material() for k in made.keys]
    assert all(isinstance(a, Etsi014ClientError) and a.status_code == 401 for a in answers if a not in served)
    assert not rows(
        chain.stores["n5"].path, "SELECT 1 FROM keys WHERE material IS NOT NULL AND link_id = 'v-n1-n5'"
    )


def test_multicast_keys_reach_both_slaves_of_the_far_end(chain: Chain) -> None:
    made = relay(chain, "n5", number=2, additional_slave_sae_ids=["n5-other"])
    for sae in ("n5-app", "n5-other"):
        assert [k.material() for k in fetch(chain, "n5", made, sae=sae).keys] == [
            k.material() for k in made.keys
        ]


def test_status_names_the_far_end(chain: Chain) -> None:
    status = etsi(chain, "n1", lambda c: c.status("n4-app"))
    assert (status.source_kme_id, status.target_kme_id) == ("n1", "n4")
    assert status.stored_key_count > 0


def test_intermediate_kmes_keep_no_relayed_key(chain: Chain, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    made = relay(chain, "n5", number=4, size=512)
    for kme in chain.kmes.values():
        kme.store.checkpoint()  # what is on disk now is what stays
    secrets_made = [k.material() for k in made.keys]
    for node in ("n2", "n3", "n4"):
        for key in made.keys:
            assert not rows(chain.stores[node].path, "SELECT * FROM keys WHERE key_id = ?", str(key.key_id))
        assert not rows(chain.stores[node].path, "SELECT * FROM keys WHERE link_id = 'v-n1-n5'")
        on_disk = database_bytes(chain.stores[node].path)
        assert not any(key in on_disk or key[:16] in on_disk for key in secrets_made), node
    logged = caplog.text
    for key in made.keys:
        assert key.key not in logged
        assert key.material().hex() not in logged
    forwarded = {v["id"]: v for v in chain.pools("n3")["virtual_links"]}["v-n1-n5"]["keys_forwarded"]
    assert forwarded >= len(made.keys)
    fetch(chain, "n5", made)


def test_every_kme_on_the_path_logs_the_relay_under_the_saes_request_id(chain: Chain) -> None:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)  # formats as each KME's thread emits: its request's ID
    handler.setFormatter(JsonFormatter("kme"))
    kme_log = logging.getLogger("sdqkd.kms.kme")
    kme_log.addHandler(handler)
    level = kme_log.level
    kme_log.setLevel(logging.INFO)
    try:
        with request_id_scope() as operation:  # the SAE's client sends it with its enc_keys
            made = relay(chain, "n3", number=2)
    finally:
        kme_log.removeHandler(handler)
        kme_log.setLevel(level)

    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    ours = {line["event"] for line in lines if line.get("request_id") == operation}
    assert ours == {
        "relayed 2 key(s) of 256 bits over v-n1-n3",  # n1
        "relay hop on n1-n2 forwarded 2 key(s) over v-n1-n3",  # n2
        "relay hop on n2-n3 delivered 2 key(s) over v-n1-n3",  # n3
    }
    fetch(chain, "n3", made)


def test_every_hop_consumes_pad_and_mac_blocks_exactly(chain: Chain) -> None:
    before = {node: chain.link_counters(node) for node in chain.nodes}
    number, size = 3, 1000 // 8 * 8  # 3000 bits: 12 pad blocks + 1 MAC block per hop
    per_hop = blocks_per_hop(number, size)
    assert per_hop == 13
    relay(chain, "n4", number=number, size=size)
    after = {node: chain.link_counters(node) for node in chain.nodes}
    for low, high in (("n1", "n2"), ("n2", "n3"), ("n3", "n4")):
        link = f"{low}-{high}"
        sent = after[low][link]["blocks_used_for_relay"] - before[low][link]["blocks_used_for_relay"]
        received = (
            after[high][link]["peer_blocks_used_for_relay"] - before[high][link]["peer_blocks_used_for_relay"]
        )
        assert (sent, received) == (per_hop, per_hop), link
    assert after["n4"]["n4-n5"] == before["n4"]["n4-n5"]  # beyond the far end: untouched
    virtual = {v["id"]: v for v in chain.pools("n4")["virtual_links"]}["v-n1-n4"]
    assert virtual["peer_kme_id"] == "n1"
    assert virtual["keys_relayed_in"] >= number


def _signed_hop(chain: Chain, key_ids: list[uuid.UUID]) -> dict[str, object]:
    """A hop n1 → n2 of v-n1-n3, sealed with n1's own blocks as n1 would (a JSON body)."""
    blocks = chain.stores["n1"].take_relay_blocks("n1-n2", blocks_per_hop(len(key_ids), 256))
    plaintext = new_plaintext(key_ids, 256, bytes(32 * len(key_ids)))
    request = seal_hop(
        plaintext, blocks, virtual_link="v-n1-n3", hop_link="n1-n2", source_kme_id="n1", target_kme_id="n3",
        initiator_sae_id="n1-app", target_sae_ids=["n3-app"],
    )  # fmt: skip
    return request.model_dump(mode="json")


def _post_as_n1(chain: Chain, body: dict[str, object], node: str = "n2") -> httpx.Response:
    pki = chain.pki
    context = client_ssl_context(pki.kmes["n1"].cert, pki.kmes["n1"].key, pki.ca.cert_path)
    with httpx.Client(base_url=chain.urls[node], verify=context, timeout=20) as http:
        return http.post("/kmapi/v1/ext_keys", json=body)


@pytest.mark.parametrize("field", ["mac", "value", "target"])
def test_a_tampered_hop_is_refused_and_its_blocks_are_spent(chain: Chain, field: str) -> None:
    key_ids = [uuid.uuid4()]
    body = _signed_hop(chain, key_ids)
    tampered = _signed_hop(chain, key_ids)  # its own blocks: the genuine one is replayed below
    extension = tampered["extension_mandatory"]["sdqkd_relay"]  # type: ignore[index]
    if field == "mac":
        tag = bytearray(base64.b64decode(extension["mac"]))
        tag[3] ^= 0x10
        extension["mac"] = base64.b64encode(tag).decode()
    elif field == "value":
        value = bytearray(base64.b64decode(tampered["keys"][0]["value"]))  # type: ignore[index]
        value[0] ^= 1
        tampered["keys"][0]["value"] = base64.b64encode(value).decode()  # type: ignore[index]
    else:
        tampered["target_sae_ids"] = ["n3-other"]
    refused = _post_as_n1(chain, tampered)
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/problem+json"
    assert "authentication" in refused.json()["detail"]
    assert not rows(chain.stores["n3"].path, "SELECT 1 FROM keys WHERE key_id = ?", str(key_ids[0]))
    # The tampered hop's blocks are gone at n2: sent again (even correctly), it cannot be opened.
    again = _post_as_n1(chain, tampered)
    assert again.status_code == 400
    assert "does not hold" in again.json()["detail"]
    # The genuine one still goes through, once.
    assert _post_as_n1(chain, body).status_code == 200
    assert _post_as_n1(chain, body).status_code == 400  # a replay: its blocks are spent


def test_only_the_peer_of_the_hop_may_send_it(chain: Chain) -> None:
    body = _signed_hop(chain, [uuid.uuid4()])
    assert _post_as_n1(chain, body, node="n3").status_code == 403  # n1 is no peer of n3
    with chain.http("n2", chain.pki.saes["n1-app"]) as http:
        assert http.post("/kmapi/v1/ext_keys", json=body).status_code == 403  # an SAE


def test_a_hop_down_fails_the_request_cleanly_and_a_retry_works_once_it_is_back(chain: Chain) -> None:
    far_keys_before = rows(chain.stores["n5"].path, "SELECT key_id FROM keys")
    spent_before = chain.link_counters("n1")["n1-n2"]["blocks_used_for_relay"]
    chain.gates["n3"].closed = True
    try:
        with pytest.raises(Etsi014ClientError) as failed:
            relay(chain, "n5", number=2)
    finally:
        chain.gates["n3"].closed = False
    assert failed.value.status_code == 503
    assert (
        rows(chain.stores["n5"].path, "SELECT key_id FROM keys") == far_keys_before
    )  # nothing half-delivered
    for node in ("n2", "n3", "n4"):
        assert not rows(chain.stores[node].path, "SELECT * FROM keys WHERE link_id = 'v-n1-n5'")
    # the first hop's key is spent, never used again
    assert chain.link_counters("n1")["n1-n2"]["blocks_used_for_relay"] == spent_before + blocks_per_hop(
        2, 256
    )
    failures = {v["id"]: v for v in chain.pools("n1")["virtual_links"]}["v-n1-n5"]["relay_failures"]
    assert failures >= 1

    made = relay(chain, "n5", number=2)
    assert [k.material() for k in fetch(chain, "n5", made).keys] == [k.material() for k in made.keys]


def test_keys_for_an_sae_without_any_link_or_virtual_link_are_refused(chain: Chain) -> None:
    with pytest.raises(Etsi014ClientError) as refused:
        etsi(chain, "n3", lambda c: c.enc_keys("n5-app"))  # n3 ends no virtual link to n5
    assert refused.value.status_code == 400


def test_the_far_end_can_be_the_master_too(chain: Chain) -> None:
    made = etsi(chain, "n5", lambda c: c.enc_keys("n1-app", number=2, size=512))
    fetched = etsi(chain, "n1", lambda c: c.dec_keys("n5-app", [k.key_id for k in made.keys]))
    assert [k.material() for k in fetched.keys] == [k.material() for k in made.keys]
