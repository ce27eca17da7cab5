"""ETSI GS QKD 014 between two SAEs of the same KME (n1-app and n1-other at n1): keys from the KME's
CSPRNG, stored for the slave before the master gets them, delivered once to that slave only; no QKD
link involved."""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
from kms_support import SAE_DIRECTORY, KmsPki, Network, etsi, refusal, rows

from sdqkd.errors import KeyRequestInvalid, Unauthorized
from sdqkd.etsi014 import KeyContainer
from sdqkd.etsi014.models import KeyIds, KeyRequest
from sdqkd.kms import Kme, KmeConfig, SqliteKeyStore, VirtualLinkConfig
from sdqkd.pki import Role
from sdqkd.pki.identity import Identity

pytestmark = pytest.mark.integration

_NOT_YOURS = "one or more key IDs are not available to this SAE"


def enc(network: Network, **request: Any) -> KeyContainer:
    """New keys n1-app gets at n1 for n1-other."""
    return etsi(network, "n1", network.pki.n1_app, lambda c: c.enc_keys("n1-other", **request))


def dec(network: Network, key_ids: list[uuid.UUID]) -> KeyContainer:
    """The keys n1-other fetches at n1 from n1-app."""
    return etsi(network, "n1", network.pki.n1_other, lambda c: c.dec_keys("n1-app", key_ids))


def ids(container: KeyContainer) -> list[uuid.UUID]:
    return [key.key_id for key in container.keys]


def materials(container: KeyContainer) -> list[bytes]:
    return [key.material() for key in container.keys]


def local_report(network: Network) -> dict[str, Any]:
    """The ``local`` part of n1's ``GET /api/v1/kme``."""
    with network.http("n1", network.pki.operator) as http:
        response = http.get("/api/v1/kme")
    response.raise_for_status()
    local = response.json()["local"]
    assert isinstance(local, dict)
    return local


# Over HTTPS --------------------------------------------------------------------------------------


def test_a_local_slave_gets_the_masters_keys_once(network: Network) -> None:
    delivered = enc(network, number=3, size=512)
    assert [len(m) for m in materials(delivered)] == [64, 64, 64]
    assert len(set(materials(delivered))) == 3
    assert materials(dec(network, ids(delivered))) == materials(delivered)
    again = refusal(network, "n1", network.pki.n1_other, lambda c: c.dec_keys("n1-app", ids(delivered)))
    assert (again.status_code, again.message) == (401, _NOT_YOURS)


def test_the_key_bytes_are_stored_until_the_slave_has_them(network: Network) -> None:
    delivered = enc(network)
    path, key_id = network.stores["n1"].path, str(ids(delivered)[0])
    assert rows(path, "SELECT link_id, material FROM keys WHERE key_id = ?", key_id) == [
        ("local", delivered.keys[0].material())
    ]
    dec(network, ids(delivered))
    assert rows(path, "SELECT material FROM keys WHERE key_id = ?", key_id) == [(None,)]


def test_no_sae_but_the_slave_gets_a_local_key(network: Network) -> None:
    pki = network.pki
    delivered = enc(network)
    unknown = refusal(network, "n1", pki.n1_other, lambda c: c.dec_keys("n1-app", [uuid.uuid4()]))
    attempts = [
        refusal(network, "n1", pki.n1_app, lambda c: c.dec_keys("n1-app", ids(delivered))),  # the master
        refusal(network, "n1", pki.n1_other, lambda c: c.dec_keys("n2-app", ids(delivered))),  # wrong master
        refusal(network, "n2", pki.n2_app, lambda c: c.dec_keys("n1-app", ids(delivered))),  # the peer's SAE
    ]
    for error in [unknown, *attempts]:
        assert (error.status_code, error.message) == (401, _NOT_YOURS)
    assert materials(dec(network, ids(delivered))) == materials(delivered)  # still there for n1-other


@pytest.mark.parametrize(
    ("slave", "additional", "message"),
    [
        ("n1-other", ["n2-app"], "additional slave SAE 'n2-app' is not attached to KME 'n1'"),
        ("n1-other", ["nobody"], "additional slave SAE 'nobody' is not attached to KME 'n1'"),
        ("n2-app", ["n1-other"], "additional slave SAE 'n1-other' is not attached to KME 'n2'"),
        ("n1-app", [], "SAE 'n1-app' cannot be its own slave"),
        ("n1-other", ["n1-app"], "SAE 'n1-app' cannot be its own slave"),
    ],
)
def test_local_and_remote_slaves_do_not_mix_and_the_master_is_no_slave(
    network: Network, slave: str, additional: list[str], message: str
) -> None:
    before = local_report(network)["keys_local"]
    error = refusal(
        network, "n1", network.pki.n1_app, lambda c: c.enc_keys(slave, additional_slave_sae_ids=additional)
    )
    assert (error.status_code, error.message) == (400, message)
    assert local_report(network)["keys_local"] == before


@pytest.mark.parametrize(("number", "size"), [(129, 256), (1, 56), (1, 4104), (1, 260)])
def test_local_requests_outside_the_limits_are_400(network: Network, number: int, size: int) -> None:
    error = refusal(
        network, "n1", network.pki.n1_app, lambda c: c.enc_keys("n1-other", number=number, size=size)
    )
    assert error.status_code == 400


def test_the_largest_local_request_is_served(network: Network) -> None:
    delivered = enc(network, number=128, size=4096)
    assert [len(m) for m in materials(delivered)] == [512] * 128


def test_local_keys_take_no_link_key_and_are_counted_as_local(network: Network) -> None:
    used = network.pools("n1")["blocks_used_for_keys"]
    before = local_report(network)
    delivered = enc(network, number=2)
    assert local_report(network) == {
        "keys_local": before["keys_local"] + 2,
        "keys_awaiting_slaves": before["keys_awaiting_slaves"] + 2,
    }
    dec(network, ids(delivered))
    assert local_report(network)["keys_awaiting_slaves"] == before["keys_awaiting_slaves"]
    assert network.pools("n1")["blocks_used_for_keys"] == used


def test_a_multicast_local_key_reaches_both_slaves(tmp_path: Path, kms_pki: KmsPki) -> None:
    kme, store = local_kme(tmp_path, kms_pki, {"n1-third": "n1"})
    try:
        delivered = asyncio.run(
            kme.enc_keys(sae("n1-app"), "n1-other", request(additional_slave_SAE_IDs=["n1-third"]))
        )
        for slave in ("n1-other", "n1-third"):
            got = asyncio.run(kme.dec_keys(sae(slave), "n1-app", key_ids(delivered)))
            assert materials(got) == materials(delivered)
    finally:
        store.close()


def test_status_for_a_local_slave_names_this_kme_at_both_ends(network: Network) -> None:
    status = etsi(network, "n1", network.pki.n1_app, lambda c: c.status("n1-other"))
    assert (status.source_kme_id, status.target_kme_id) == ("n1", "n1")
    assert (status.master_sae_id, status.slave_sae_id) == ("n1-app", "n1-other")
    assert (status.key_size, status.min_key_size, status.max_key_size) == (256, 64, 4096)
    assert (status.max_key_per_request, status.max_sae_id_count) == (128, 8)
    # the CSPRNG never runs dry: always a full pool (512 blocks of 256 bits)
    assert status.stored_key_count == status.max_key_count == 512


def test_no_key_material_is_logged(network: Network, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    delivered = enc(network, number=2)
    dec(network, ids(delivered))
    logged = caplog.text
    for key in delivered.keys:
        assert key.key not in logged
        assert key.material().hex() not in logged


# In process: durability ------------------------------------------------------------------------------


def sae(name: str) -> Identity:
    return Identity(Role.SAE, name)


def request(**body: Any) -> KeyRequest:
    return KeyRequest.model_validate(body)


def key_ids(container: KeyContainer) -> KeyIds:
    return KeyIds.model_validate({"key_IDs": [{"key_ID": str(k)} for k in ids(container)]})


def local_kme(
    directory: Path, pki: KmsPki, extra_saes: dict[str, str] | None = None
) -> tuple[Kme, SqliteKeyStore]:
    """n1's KME without links or server, on the database in ``directory`` (not started: local keys
    need no supply)."""
    store = SqliteKeyStore(directory / "n1.db")
    config = KmeConfig.model_validate(
        {
            "kme_id": "n1",
            "tls": {"cert": str(pki.kme_n1.cert), "key": str(pki.kme_n1.key), "ca": str(pki.ca.cert_path)},
            "storage": {"backend": "sqlite", "path": str(store.path)},
            "saes": {**SAE_DIRECTORY, **(extra_saes or {})},
        }
    )
    return Kme(config, store), store


def test_local_keys_survive_a_restart_of_the_kme(tmp_path: Path, kms_pki: KmsPki) -> None:
    kme, store = local_kme(tmp_path, kms_pki)
    try:
        delivered = asyncio.run(kme.enc_keys(sae("n1-app"), "n1-other", request(number=2)))
    finally:
        store.close()
    kme, store = local_kme(tmp_path, kms_pki)
    try:
        got = asyncio.run(kme.dec_keys(sae("n1-other"), "n1-app", key_ids(delivered)))
        assert materials(got) == materials(delivered)
        assert store.counters("local") == {"keys_local": 2}
    finally:
        store.close()
    kme, store = local_kme(tmp_path, kms_pki)
    try:
        with pytest.raises(Unauthorized):  # delivered before this restart: not again
            asyncio.run(kme.dec_keys(sae("n1-other"), "n1-app", key_ids(delivered)))
    finally:
        store.close()


def test_local_is_reserved_as_a_link_id(kms_pki: KmsPki, tmp_path: Path) -> None:
    kme, store = local_kme(tmp_path, kms_pki)
    store.close()
    body = kme.config.model_dump(mode="json")
    body["links"] = [
        {
            "id": "local",
            "peer_kme_id": "n2",
            "peer_url": "https://n2",
            "device": {"etsi014_url": "https://d", "peer_sae_id": "n2"},
        }
    ]
    with pytest.raises(ValueError, match="'local' is reserved"):
        KmeConfig.model_validate(body)
    with pytest.raises(KeyRequestInvalid):  # nor may a virtual link be put at run time
        kme.put_virtual_link(VirtualLinkConfig(id="local", path=["n1", "n2"]))
    assert "local" not in kme.virtual_links
