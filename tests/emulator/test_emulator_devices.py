"""ETSI GS QKD 014 key delivery of the emulated modules, called in process: who may call, the status
fields, keys delivered identically at both ends and once, and every refusal the spec defines."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from emulator_support import NORTE_PAIR, resync_s

from sdqkd.emulator.devices import ModuleKeyService
from sdqkd.emulator.engine import Emulator
from sdqkd.errors import KeyExhausted, KeyRequestInvalid, KeyServiceUnavailable, Unauthorized
from sdqkd.etsi014.models import KeyContainer, KeyId, KeyIds, KeyRequest
from sdqkd.pki.identity import Identity, Role

_T = TypeVar("_T")

KME_CONCEPCION = Identity(Role.KME, "concepcion")
KME_NORTE = Identity(Role.KME, "norte")
OPERATOR = Identity(Role.OPERATOR, "alice")


def run(call: Coroutine[Any, Any, _T]) -> _T:
    """Await one call of the async service on a fresh event loop (closed afterwards)."""
    return asyncio.run(call)


def ids_of(container: KeyContainer) -> KeyIds:
    return KeyIds(key_ids=[KeyId(key_id=key.key_id) for key in container.keys])


@pytest.fixture
def transmitter(emulator: Emulator) -> ModuleKeyService:
    """The switched transmitter at Concepción (connected to Norte)."""
    return ModuleKeyService(emulator, "concepcion-tx")


@pytest.fixture
def receiver(emulator: Emulator) -> ModuleKeyService:
    """Norte's receiver, the peer of the transmitter while the switch points to Norte."""
    return ModuleKeyService(emulator, "norte-rx")


@pytest.fixture
def stocked(emulator: Emulator) -> Emulator:
    """The emulator after one second of key: about 45 kbit on the Concepción–Norte pair."""
    emulator.advance(1.0)
    return emulator


# Who may call ---------------------------------------------------------------------------------------


def test_the_kme_of_the_modules_node_may_call(stocked: Emulator, transmitter: ModuleKeyService) -> None:
    assert run(transmitter.status(KME_CONCEPCION, "norte")).slave_sae_id == "norte"
    container = run(transmitter.enc_keys(KME_CONCEPCION, "norte", KeyRequest()))
    assert len(container.keys) == 1


@pytest.mark.parametrize(
    "caller",
    [
        OPERATOR,  # key material is not for people: the operator reads figures, never keys
        KME_NORTE,
        Identity(Role.SAE, "concepcion"),
        Identity(Role.AGENT, "concepcion"),
        Identity(Role.CONTROLLER, "controller"),
        Identity(Role.EMULATOR, "concepcion"),
    ],
    ids=str,
)
def test_other_callers_are_unauthorized(
    stocked: Emulator, transmitter: ModuleKeyService, caller: Identity
) -> None:
    reservoir = stocked.keys[NORTE_PAIR].available_bits
    with pytest.raises(Unauthorized):
        run(transmitter.status(caller, "norte"))
    with pytest.raises(Unauthorized):
        run(transmitter.enc_keys(caller, "norte", KeyRequest()))
    with pytest.raises(Unauthorized):
        run(transmitter.enc_keys(caller, "nowhere", KeyRequest(number=10_000)))  # checked first
    assert stocked.keys[NORTE_PAIR].available_bits == reservoir


def test_the_kme_of_the_peer_node_cannot_collect_keys_at_this_module(
    stocked: Emulator, transmitter: ModuleKeyService, receiver: ModuleKeyService
) -> None:
    container = run(transmitter.enc_keys(KME_CONCEPCION, "norte", KeyRequest()))

    with pytest.raises(Unauthorized):
        run(receiver.dec_keys(KME_CONCEPCION, "concepcion", ids_of(container)))

    # the right caller still can
    assert run(receiver.dec_keys(KME_NORTE, "concepcion", ids_of(container))).keys == container.keys


# Status ---------------------------------------------------------------------------------------------


def test_status_names_the_modules_as_kmes_and_the_nodes_as_saes(
    stocked: Emulator, transmitter: ModuleKeyService
) -> None:
    status = run(transmitter.status(KME_CONCEPCION, "norte"))
    pair = next(p for p in stocked.pairs() if p.key == NORTE_PAIR)

    assert (status.source_kme_id, status.target_kme_id) == ("concepcion-tx", "norte-rx")
    assert (status.master_sae_id, status.slave_sae_id) == ("concepcion", "norte")
    assert status.key_size == 256
    assert status.stored_key_count == stocked.keys[NORTE_PAIR].stored_keys(256) > 100
    assert status.max_key_count == 100_000
    assert status.max_key_per_request == 256
    assert (status.min_key_size, status.max_key_size) == (64, 8192)
    assert status.max_sae_id_count == 0
    assert status.status_extension == {"link_active": True, "skr_bps": pair.rate_bps}


def test_status_at_the_receiver_names_it_as_the_source(stocked: Emulator, receiver: ModuleKeyService) -> None:
    status = run(receiver.status(KME_NORTE, "concepcion"))

    assert (status.source_kme_id, status.target_kme_id) == ("norte-rx", "concepcion-tx")
    assert (status.master_sae_id, status.slave_sae_id) == ("norte", "concepcion")
    assert status.stored_key_count == stocked.keys[NORTE_PAIR].stored_keys(256)


def test_the_stored_key_count_falls_as_keys_are_taken(
    stocked: Emulator, transmitter: ModuleKeyService
) -> None:
    before = run(transmitter.status(KME_CONCEPCION, "norte")).stored_key_count

    run(transmitter.enc_keys(KME_CONCEPCION, "norte", KeyRequest(number=5)))

    assert run(transmitter.status(KME_CONCEPCION, "norte")).stored_key_count == before - 5


def test_status_of_a_switched_away_link_says_it_is_inactive(
    stocked: Emulator, transmitter: ModuleKeyService
) -> None:
    status = run(transmitter.status(KME_CONCEPCION, "quintin"))

    assert status.target_kme_id == "quintin-rx"
    assert status.stored_key_count == 0
    assert status.status_extension == {"link_active": False, "skr_bps": 0.0}


def test_status_towards_an_sae_without_a_link_is_an_invalid_request(
    stocked: Emulator, transmitter: ModuleKeyService
) -> None:
    with pytest.raises(KeyRequestInvalid, match="no QKD link"):
        run(transmitter.status(KME_CONCEPCION, "nowhere"))


# Delivery -------------------------------------------------------------------------------------------


def test_enc_keys_then_dec_keys_at_the_peer_give_identical_bytes(
    stocked: Emulator, transmitter: ModuleKeyService, receiver: ModuleKeyService
) -> None:
    sent = run(transmitter.enc_keys(KME_CONCEPCION, "norte", KeyRequest(number=4, size=512)))

    received = run(receiver.dec_keys(KME_NORTE, "concepcion", ids_of(sent)))

    assert [k.key_id for k in received.keys] == [k.key_id for k in sent.keys]
    assert [k.material() for k in received.keys] == [k.material() for k in sent.keys]
    assert all(len(k.material()) == 512 // 8 for k in sent.keys)
    assert len({k.material() for k in sent.keys}) == 4


def test_enc_keys_defaults_to_one_key_of_the_default_size(
    stocked: Emulator, transmitter: ModuleKeyService
) -> None:
    container = run(transmitter.enc_keys(KME_CONCEPCION, "norte", KeyRequest()))

    assert [len(k.material()) for k in container.keys] == [256 // 8]


@pytest.mark.parametrize(("number", "size"), [(256, 256), (1, 64), (1, 8192)])
def test_enc_keys_accepts_the_limits_themselves(
    emulator: Emulator, transmitter: ModuleKeyService, number: int, size: int
) -> None:
    emulator.advance(2.0)

    container = run(transmitter.enc_keys(KME_CONCEPCION, "norte", KeyRequest(number=number, size=size)))

    assert len(container.keys) == number
    assert {len(k.material()) for k in container.keys} == {size // 8}


def test_the_receiver_may_be_master_of_keys_the_transmitter_collects(
    stocked: Emulator, transmitter: ModuleKeyService, receiver: ModuleKeyService
) -> None:
    sent = run(receiver.enc_keys(KME_NORTE, "concepcion", KeyRequest(number=2)))

    received = run(transmitter.dec_keys(KME_CONCEPCION, "norte", ids_of(sent)))

    assert [k.material() for k in received.keys] == [k.material() for k in sent.keys]


def test_dec_keys_twice_is_unauthorized(
    stocked: Emulator, transmitter: ModuleKeyService, receiver: ModuleKeyService
) -> None:
    sent = run(transmitter.enc_keys(KME_CONCEPCION, "norte", KeyRequest(number=2)))
    run(receiver.dec_keys(KME_NORTE, "concepcion", ids_of(sent)))

    with pytest.raises(Unauthorized):
        run(receiver.dec_keys(KME_NORTE, "concepcion", ids_of(sent)))


def test_dec_keys_at_the_master_side_is_unauthorized(
    stocked: Emulator, transmitter: ModuleKeyService, receiver: ModuleKeyService
) -> None:
    sent = run(transmitter.enc_keys(KME_CONCEPCION, "norte", KeyRequest()))

    with pytest.raises(Unauthorized):
        run(transmitter.dec_keys(KME_CONCEPCION, "norte", ids_of(sent)))

    assert len(run(receiver.dec_keys(KME_NORTE, "concepcion", ids_of(sent))).keys) == 1


@pytest.mark.parametrize("master", ["quintin", "nowhere", "norte"])
def test_dec_keys_naming_another_master_is_unauthorized(
    stocked: Emulator, transmitter: ModuleKeyService, receiver: ModuleKeyService, master: str
) -> None:
    sent = run(transmitter.enc_keys(KME_CONCEPCION, "norte", KeyRequest()))

    with pytest.raises(Unauthorized):
        run(receiver.dec_keys(KME_NORTE, master, ids_of(sent)))


def test_dec_keys_at_another_module_of_the_peer_node_is_unauthorized(
    stocked: Emulator, transmitter: ModuleKeyService
) -> None:
    stocked.world.set_switch("concepcion-switch", "to-quintin")
    stocked.advance(resync_s(stocked) + 1.0)
    sent = run(transmitter.enc_keys(KME_CONCEPCION, "quintin", KeyRequest()))

    kme_quintin = Identity(Role.KME, "quintin")
    towards_norte = ModuleKeyService(stocked, "quintin-rx2")  # Quintín's receiver of the direct link
    towards_concepcion = ModuleKeyService(stocked, "quintin-rx")

    with pytest.raises(Unauthorized):
        run(towards_norte.dec_keys(kme_quintin, "concepcion", ids_of(sent)))

    collected = run(towards_concepcion.dec_keys(kme_quintin, "concepcion", ids_of(sent)))
    assert collected.keys == sent.keys


# Refusals -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param(KeyRequest(number=257), id="number-257"),
        pytest.param(KeyRequest(size=12), id="size-12"),
        pytest.param(KeyRequest(size=32), id="size-32"),
        pytest.param(KeyRequest(size=100), id="size-100-not-bytes"),
        pytest.param(KeyRequest(size=8200), id="size-8200"),
        pytest.param(KeyRequest(size=16384), id="size-16384"),
        pytest.param(KeyRequest(additional_slave_sae_ids=["quintin"]), id="additional-slaves"),
        pytest.param(KeyRequest(extension_mandatory=[{"route": "direct"}]), id="extension-mandatory"),
    ],
)
def test_enc_keys_refuses_requests_outside_what_the_device_offers(
    stocked: Emulator, transmitter: ModuleKeyService, request_: KeyRequest
) -> None:
    reservoir = stocked.keys[NORTE_PAIR].available_bits

    with pytest.raises(KeyRequestInvalid):
        run(transmitter.enc_keys(KME_CONCEPCION, "norte", request_))

    assert stocked.keys[NORTE_PAIR].available_bits == reservoir


def test_a_refused_mandatory_extension_is_named_in_the_details(
    stocked: Emulator, transmitter: ModuleKeyService
) -> None:
    extension = [{"route": "direct"}]

    with pytest.raises(KeyRequestInvalid) as refused:
        run(transmitter.enc_keys(KME_CONCEPCION, "norte", KeyRequest(extension_mandatory=extension)))

    assert refused.value.details == [{"extension_mandatory": extension}]


@pytest.mark.parametrize("slave", ["nowhere", "concepcion"])
def test_enc_keys_for_an_sae_without_a_link_is_an_invalid_request(
    stocked: Emulator, transmitter: ModuleKeyService, slave: str
) -> None:
    with pytest.raises(KeyRequestInvalid, match="no QKD link"):
        run(transmitter.enc_keys(KME_CONCEPCION, slave, KeyRequest()))


def test_enc_keys_beyond_the_stored_key_is_exhausted_and_takes_nothing(
    stocked: Emulator, transmitter: ModuleKeyService
) -> None:
    reservoir = stocked.keys[NORTE_PAIR].available_bits
    assert reservoir < 10 * 8192

    with pytest.raises(KeyExhausted):
        run(transmitter.enc_keys(KME_CONCEPCION, "norte", KeyRequest(number=10, size=8192)))

    assert stocked.keys[NORTE_PAIR].available_bits == reservoir


def test_enc_keys_on_a_cut_link_without_stored_key_is_unavailable(
    emulator: Emulator, transmitter: ModuleKeyService
) -> None:
    emulator.world.cut_fibre("concepcion-norte")

    with pytest.raises(KeyServiceUnavailable, match="concepcion-norte") as refused:
        run(transmitter.enc_keys(KME_CONCEPCION, "norte", KeyRequest()))

    assert not isinstance(refused.value, KeyExhausted)


def test_enc_keys_on_a_switched_away_link_is_unavailable_until_switched_back(
    emulator: Emulator, transmitter: ModuleKeyService
) -> None:
    with pytest.raises(KeyServiceUnavailable, match="switch"):
        run(transmitter.enc_keys(KME_CONCEPCION, "quintin", KeyRequest()))

    emulator.world.set_switch("concepcion-switch", "to-quintin")
    emulator.advance(resync_s(emulator) + 1.0)

    assert len(run(transmitter.enc_keys(KME_CONCEPCION, "quintin", KeyRequest())).keys) == 1


def test_key_buffered_before_a_cut_is_still_delivered(
    stocked: Emulator, transmitter: ModuleKeyService, receiver: ModuleKeyService
) -> None:
    stocked.world.cut_fibre("concepcion-norte")
    stocked.advance(1.0)
    stored = run(transmitter.status(KME_CONCEPCION, "norte")).stored_key_count

    sent = run(transmitter.enc_keys(KME_CONCEPCION, "norte", KeyRequest(number=stored)))
    received = run(receiver.dec_keys(KME_NORTE, "concepcion", ids_of(sent)))

    assert len(sent.keys) == stored > 0
    assert [k.material() for k in received.keys] == [k.material() for k in sent.keys]
    # and once it is used up, the cut link has nothing more to give
    with pytest.raises(KeyServiceUnavailable, match="cut"):
        run(transmitter.enc_keys(KME_CONCEPCION, "norte", KeyRequest()))
