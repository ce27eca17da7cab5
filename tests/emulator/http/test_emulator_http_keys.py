"""Pairing the Madrid modules over the management API, and ETSI GS QKD 014 key delivery from the two
ends of a pair over real mutual TLS."""

from __future__ import annotations

import asyncio
from uuid import UUID

import pytest
from emulator_http_support import EmulatorPki

from sdqkd.emulator.client import EmulatorClient
from sdqkd.etsi014 import Etsi014Client, Etsi014ClientError, KeyContainer, decode_key
from sdqkd.pki import IssuedCertificate
from sdqkd.runtime.configs import pair_configuration
from sdqkd.server import BackgroundServer
from sdqkd.topology.models import Topology

pytestmark = pytest.mark.integration


def module_client(
    server: BackgroundServer, pki: EmulatorPki, module: str, caller: IssuedCertificate
) -> Etsi014Client:
    return Etsi014Client(
        f"{server.url}/devices/{module}", cert=caller.cert, key=caller.key, ca=pki.ca.cert_path
    )


def test_configuring_the_madrid_pairs_activates_the_two_direct_links_and_leaves_the_switched_one_standing_by(
    operator: EmulatorClient, madrid: Topology
) -> None:
    assert operator.links() == []

    for module_id, config in pair_configuration(madrid).items():
        status = operator.configure(module_id, config["peers"], config["dwdm_channel"], enabled=True)
        assert (status["peers"], status["dwdm_channel"], status["enabled"]) == (
            config["peers"],
            59,
            True,
        )

    links = {(link["transmitter"], link["receiver"]): link for link in operator.links()}
    assert set(links) == {
        ("concepcion-tx", "norte-rx"),
        ("concepcion-tx", "quintin-rx"),
        ("norte-tx", "quintin-rx2"),
    }
    active = {pair for pair, link in links.items() if link["active"]}
    assert active == {("concepcion-tx", "norte-rx"), ("norte-tx", "quintin-rx2")}
    standby = links["concepcion-tx", "quintin-rx"]
    assert standby["skr_bps"] == 0.0
    assert "switch" in standby["reason"]
    assert standby["nodes"] == ["concepcion", "quintin"]
    assert standby["fibre"] == "concepcion-quintin"
    for pair in active:
        assert links[pair]["skr_bps"] > 0
        assert links[pair]["reason"] == ""
    assert operator.module_status("concepcion-tx")["paired_with"] == "norte-rx"
    assert operator.module_status("quintin-rx")["state"] == "down"


def test_both_ends_of_a_pair_get_identical_keys_over_many_requests_and_no_key_id_twice(
    network: EmulatorClient, server: BackgroundServer, emulator_pki: EmulatorPki
) -> None:
    rounds: list[tuple[KeyContainer, KeyContainer]] = []

    async def exchange() -> None:
        async with (
            module_client(server, emulator_pki, "concepcion-tx", emulator_pki.kme_concepcion) as master,
            module_client(server, emulator_pki, "norte-rx", emulator_pki.kme_norte) as slave,
        ):
            status = await master.status("norte")
            assert status.stored_key_count >= 200
            for _ in range(20):
                sent = await master.enc_keys("norte", number=10)
                received = await slave.dec_keys("concepcion", [key.key_id for key in sent.keys])
                rounds.append((sent, received))

    asyncio.run(exchange())

    key_ids: list[UUID] = []
    for sent, received in rounds:
        assert len(sent.keys) == 10
        assert [k.key_id for k in received.keys] == [k.key_id for k in sent.keys]
        for mine, theirs in zip(sent.keys, received.keys, strict=True):
            assert len(decode_key(mine.key)) == 32
            assert decode_key(mine.key) == decode_key(theirs.key)
        key_ids += [k.key_id for k in sent.keys]
    assert len(set(key_ids)) == len(key_ids) == 200
    assert len({decode_key(k.key) for sent, _ in rounds for k in sent.keys}) == 200


def test_a_key_is_delivered_once_to_the_slave(
    network: EmulatorClient, server: BackgroundServer, emulator_pki: EmulatorPki
) -> None:
    async def twice() -> int | None:
        async with (
            module_client(server, emulator_pki, "concepcion-tx", emulator_pki.kme_concepcion) as master,
            module_client(server, emulator_pki, "norte-rx", emulator_pki.kme_norte) as slave,
        ):
            sent = await master.enc_keys("norte", number=1)
            await slave.dec_keys("concepcion", [sent.keys[0].key_id])
            try:
                await slave.dec_keys("concepcion", [sent.keys[0].key_id])
            except Etsi014ClientError as exc:
                return exc.status_code
            return None

    assert asyncio.run(twice()) == 401


def test_performance_reports_the_pairs_rate_channel_and_buffers(
    network: EmulatorClient, server: BackgroundServer, emulator_pki: EmulatorPki
) -> None:
    rate = next(link["skr_bps"] for link in network.links() if link["transmitter"] == "concepcion-tx")

    tx = network.performance("concepcion-tx")

    assert set(tx) >= {
        "skr_bps", "snr", "excess_noise_snu", "raman_excess_noise_snu", "loss_db",
        "keys_available", "key_size_bits", "keys_waiting", "keys_delivered",
    }  # fmt: skip
    assert tx["skr_bps"] == rate > 0
    assert tx["snr"] > 0
    assert tx["excess_noise_snu"] > tx["raman_excess_noise_snu"] > 0
    assert tx["loss_db"] == pytest.approx(2.9 + 1.0, rel=1e-9)  # the fibre's 2.9 dB and the switch's 1 dB
    assert tx["key_size_bits"] == 256
    assert tx["keys_available"] > 0
    assert (tx["keys_waiting"], tx["keys_delivered"]) == (0, 0)

    async def take(number: int) -> list[UUID]:
        async with module_client(
            server, emulator_pki, "concepcion-tx", emulator_pki.kme_concepcion
        ) as master:
            return [key.key_id for key in (await master.enc_keys("norte", number=number)).keys]

    key_ids = asyncio.run(take(7))
    assert network.performance("norte-rx")["keys_waiting"] == 7
    assert network.performance("concepcion-tx")["keys_waiting"] == 0

    async def claim() -> None:
        async with module_client(server, emulator_pki, "norte-rx", emulator_pki.kme_norte) as slave:
            await slave.dec_keys("concepcion", key_ids)

    asyncio.run(claim())
    after = network.performance("norte-rx")
    assert (after["keys_waiting"], after["keys_delivered"]) == (0, 7)


def test_an_unpaired_module_reports_no_rate_and_no_channel_figures(operator: EmulatorClient) -> None:
    performance = operator.performance("norte-tx")

    assert performance["skr_bps"] == 0.0
    assert performance["keys_available"] == 0
    assert performance["snr"] is None
    assert performance["loss_db"] is None
    assert operator.module_status("norte-tx")["state"] == "disabled"


def test_the_operator_takes_no_keys_from_a_module(
    network: EmulatorClient, server: BackgroundServer, emulator_pki: EmulatorPki
) -> None:
    # key material is for the KME of the module's node only: the operator reads figures, never keys
    async def status() -> Etsi014ClientError:
        async with module_client(server, emulator_pki, "norte-tx", emulator_pki.operator) as device:
            with pytest.raises(Etsi014ClientError) as refused:
                await device.status("quintin")
            return refused.value

    assert asyncio.run(status()).status_code == 401
