"""Hybrid key derivation (ETSI TS 103 744 V1.2.1): CatKDF and CasKDF against the published vectors, and
what each input does to the key.

The vectors in ``ts103744_vectors.json`` are the inputs and expected key material of the reference
implementation published with the standard: repository https://github.com/etsi-forge/cyber.103744_QHKEX
(BSD-3-Clause), file ``main.c``, commit 41caf04ef4d5e03a207c09e86d71f8ca18bf8042 — 12 vectors per KDF
(SHA-256 with 16-byte keys for the first six, SHA-384 with 24-byte keys for the rest), for CatKDF and CasKDF
with HKDF and with the HMAC KDF. Its messages ``MA``/``MB`` follow a layout the reference uses for its
vectors only (``_vector_message``); it is not part of sdqkd's API.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sdqkd.apps.kdf import CasRound, HashName, KdfName, cas_kdf, cas_kdf_round, cat_kdf, max_length
from sdqkd.errors import ConfigError

VECTORS_FILE = Path(__file__).with_name("ts103744_vectors.json")
VECTORS: dict[str, Any] = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))
INFO = VECTORS["info"].encode("ascii")
KDFS: tuple[KdfName, ...] = ("hkdf", "hmac")
CASES = [(vector, kdf) for vector in VECTORS["vectors"] for kdf in KDFS]


def _case_id(case: tuple[dict[str, Any], str]) -> str:
    vector, kdf = case
    return f"{kdf}-{vector['hash']}-{vector['index']}"


def _vector_message(cid: str, *fields_hex: str) -> bytes:
    """The reference's test-only message: ``cid ‖ len ‖ field ‖ len ‖ field ‖ …``, each length 4 bytes
    big-endian and counting the field's *hex characters* (main.c ``message_formatting_function``)."""
    message = bytes.fromhex(cid)
    for field_hex in fields_hex:
        message += len(field_hex).to_bytes(4, "big") + bytes.fromhex(field_hex)
    return message


def _label(a_hex: str, b_hex: str) -> bytes:
    """The vectors' label: LA xor LB (both parties' label contributions, of equal length)."""
    a, b = bytes.fromhex(a_hex), bytes.fromhex(b_hex)
    assert len(a) == len(b)
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def _cas_rounds(vector: dict[str, Any], kdf: str) -> list[CasRound]:
    """The reference's two CasKDF rounds: the ECDH secret k1 with the ECDH public keys, then the KEM secret
    k2 with the KEM public key and ciphertext."""
    cid = vector["cid"][f"cas_{kdf}"]
    return [
        CasRound(
            k=bytes.fromhex(vector[f"k{i}"]),
            info=INFO,
            ma=_vector_message(cid, vector[f"LA{i}"], vector[f"PA{i}"]),
            mb=_vector_message(cid, vector[f"LB{i}"], vector[f"PB{i}"]),
            label=_label(vector[f"LA{i}"], vector[f"LB{i}"]),
        )
        for i in (1, 2)
    ]


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_cat_kdf_reproduces_the_reference_vectors(case: tuple[dict[str, Any], KdfName]) -> None:
    vector, kdf = case
    cid = vector["cid"][f"cat_{kdf}"]

    key = cat_kdf(
        b"",  # the reference derives its CatKDF vectors without a psk
        bytes.fromhex(vector["k1"]),
        bytes.fromhex(vector["k2"]),
        info=INFO,
        ma=_vector_message(cid, vector["LA1"], vector["PA1"], vector["PA2"]),
        mb=_vector_message(cid, vector["LB1"], vector["PB1"], vector["PB2"]),
        label=_label(vector["LA1"], vector["LB1"]),
        length=vector["length"],
        kdf=kdf,
        hash=vector["hash"],
    )

    assert key == bytes.fromhex(vector["key_material"][f"cat_{kdf}"])


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_cas_kdf_reproduces_the_reference_vectors(case: tuple[dict[str, Any], KdfName]) -> None:
    vector, kdf = case

    key = cas_kdf(None, _cas_rounds(vector, kdf), length=vector["length"], kdf=kdf, hash=vector["hash"])

    assert key == bytes.fromhex(vector["key_material"][f"cas_{kdf}"])


@pytest.mark.parametrize("kdf", KDFS)
def test_cas_kdf_is_its_rounds_chained_through_the_chain_secret(kdf: KdfName) -> None:
    vector = VECTORS["vectors"][7]
    first, second = _cas_rounds(vector, kdf)
    common: dict[str, Any] = {"length": vector["length"], "kdf": kdf, "hash": vector["hash"]}

    chain_1, key_1 = cas_kdf_round(
        None, first.k, info=first.info, ma=first.ma, mb=first.mb, label=first.label, **common
    )
    chain_2, key_2 = cas_kdf_round(
        chain_1, second.k, info=second.info, ma=second.ma, mb=second.mb, label=second.label, **common
    )

    assert len(chain_1) == len(chain_2) == 48  # one SHA-384 length
    assert len(key_1) == len(key_2) == 24
    assert key_2 == bytes.fromhex(vector["key_material"][f"cas_{kdf}"])
    assert key_1 != key_2
    assert cas_kdf(None, [first], **common) == key_1
    assert cas_kdf(b"", [first, second], **common) == key_2  # no psk: None and b"" alike


# --- what each input does -------------------------------------------------------------------------------

CAT_INPUTS: dict[str, Any] = {
    "psk": b"Q" * 32,
    "k1": b"\x01" * 32,
    "k2": b"\x02" * 32,
    "info": b"sdqkd test",
    "ma": b"message from A",
    "mb": b"message from B",
    "label": b"\x10" * 32,
}


def _cat(**changes: Any) -> bytes:
    inputs = {**CAT_INPUTS, "length": 32, **changes}
    return cat_kdf(inputs.pop("psk"), inputs.pop("k1"), inputs.pop("k2"), **inputs)


@pytest.mark.parametrize("kdf", KDFS)
@pytest.mark.parametrize("name", sorted(CAT_INPUTS))
def test_cat_kdf_output_changes_with_each_single_input(name: str, kdf: KdfName) -> None:
    changed = CAT_INPUTS[name][:-1] + bytes([CAT_INPUTS[name][-1] ^ 0x01])

    assert _cat(**{name: changed}, kdf=kdf) != _cat(kdf=kdf)


def test_cat_kdf_with_and_without_a_psk_differ() -> None:
    assert _cat(psk=b"") != _cat()


def test_cat_kdf_secret_is_the_plain_concatenation_of_psk_k1_and_k2() -> None:
    """§8.2 concatenates the secrets without framing: only the whole ``psk ‖ k1 ‖ k2`` counts."""
    psk, k1 = CAT_INPUTS["psk"], CAT_INPUTS["k1"]

    assert _cat(psk=b"", k1=psk + k1) == _cat()


def test_cat_kdf_differs_by_kdf_and_by_hash() -> None:
    keys = {_cat(kdf=kdf, hash=hash) for kdf in KDFS for hash in ("sha256", "sha384")}

    assert len(keys) == 4


@pytest.mark.parametrize("kdf", KDFS)
@pytest.mark.parametrize("hash", ["sha256", "sha384"])
@pytest.mark.parametrize("length", [1, 16, 33, 200])
def test_cat_kdf_derives_exactly_length_bytes_and_longer_keys_extend_shorter(
    length: int, hash: HashName, kdf: KdfName
) -> None:
    key = _cat(length=length, hash=hash, kdf=kdf)

    assert len(key) == length
    assert _cat(length=length + 5, hash=hash, kdf=kdf)[:length] == key


def test_hkdf_derives_up_to_255_hash_blocks_and_no_more() -> None:
    limit = max_length("hkdf", "sha256")

    assert limit == 255 * 32
    assert len(_cat(length=limit)) == limit
    with pytest.raises(ConfigError, match="length"):
        _cat(length=limit + 1)


CAS_INPUTS: dict[str, Any] = {
    "previous_chain_secret": b"C" * 32,
    "k": b"\x03" * 32,
    "info": b"round info",
    "ma": b"round message from A",
    "mb": b"round message from B",
    "label": b"\x20" * 32,
}


def _cas_round(**changes: Any) -> tuple[bytes, bytes]:
    inputs = {**CAS_INPUTS, "length": 32, **changes}
    return cas_kdf_round(inputs.pop("previous_chain_secret"), inputs.pop("k"), **inputs)


@pytest.mark.parametrize("kdf", KDFS)
@pytest.mark.parametrize("name", sorted(CAS_INPUTS))
def test_a_cas_kdf_round_changes_both_outputs_with_each_single_input(name: str, kdf: KdfName) -> None:
    changed = CAS_INPUTS[name][:-1] + bytes([CAS_INPUTS[name][-1] ^ 0x01])

    chain, key = _cas_round(**{name: changed}, kdf=kdf)
    base_chain, base_key = _cas_round(kdf=kdf)

    assert chain != base_chain
    assert key != base_key


@pytest.mark.parametrize(("hash", "chain_length"), [("sha256", 32), ("sha384", 48)])
@pytest.mark.parametrize("length", [1, 24, 100])
def test_a_cas_kdf_round_returns_a_hash_long_chain_secret_and_length_bytes_of_key(
    hash: HashName, chain_length: int, length: int
) -> None:
    chain, key = _cas_round(hash=hash, length=length)

    assert len(chain) == chain_length
    assert len(key) == length
    assert chain != key[:chain_length]


def test_a_cas_kdf_round_starts_the_same_from_none_and_from_an_empty_chain_secret() -> None:
    assert _cas_round(previous_chain_secret=None) == _cas_round(previous_chain_secret=b"")
    assert _cas_round(previous_chain_secret=None) != _cas_round()


def test_cas_kdf_key_depends_on_the_psk_and_on_every_round() -> None:
    rounds = [CasRound(k=bytes([i]) * 32, info=b"i", ma=b"a", mb=b"b", label=b"l") for i in (1, 2, 3)]
    altered_first = [CasRound(k=b"\x09" * 32, info=b"i", ma=b"a", mb=b"b", label=b"l"), *rounds[1:]]

    key = cas_kdf(b"qkd key", rounds, length=32)

    assert cas_kdf(None, rounds, length=32) != key
    assert cas_kdf(b"qkd key", altered_first, length=32) != key
    assert cas_kdf(b"qkd key", rounds[:2], length=32) != key


def test_a_cas_round_keeps_its_secret_out_of_repr() -> None:
    secret = bytes.fromhex("5ec2e75ec2e75ec2e75ec2e75ec2e7")

    text = repr(CasRound(k=secret, info=b"i", ma=b"a", mb=b"b", label=b"l"))

    assert secret.hex() not in text.lower()
    assert repr(secret) not in text


# --- bad inputs ----------------------------------------------------------------------------------------

NOT_BYTES: list[Any] = ["text", bytearray(b"abc"), None, 7]


@pytest.mark.parametrize("value", NOT_BYTES, ids=lambda v: type(v).__name__)
@pytest.mark.parametrize("name", sorted(CAT_INPUTS))
def test_cat_kdf_refuses_an_input_that_is_not_bytes(name: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=f"{name} must be bytes"):
        _cat(**{name: value})


@pytest.mark.parametrize("value", NOT_BYTES[:2] + NOT_BYTES[3:], ids=lambda v: type(v).__name__)
@pytest.mark.parametrize("name", sorted(CAS_INPUTS))
def test_a_cas_kdf_round_refuses_an_input_that_is_not_bytes(name: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=f"{name} must be bytes"):
        _cas_round(**{name: value})


@pytest.mark.parametrize("name", ["k1", "k2"])
def test_cat_kdf_refuses_an_empty_exchange_secret(name: str) -> None:
    with pytest.raises(ConfigError, match=f"{name} must not be empty"):
        _cat(**{name: b""})


def test_a_cas_kdf_round_refuses_an_empty_round_secret() -> None:
    with pytest.raises(ConfigError, match="k must not be empty"):
        _cas_round(k=b"")


@pytest.mark.parametrize("length", [0, -1, True, 1.5, "16", 255 * 32 + 1])
def test_cat_kdf_refuses_a_length_that_is_not_a_positive_integer_within_the_kdf_limit(length: Any) -> None:
    with pytest.raises(ConfigError, match="length"):
        _cat(length=length)


def test_a_cas_kdf_round_with_hkdf_leaves_room_for_the_chain_secret() -> None:
    limit = max_length("hkdf", "sha384") - 48

    chain, key = _cas_round(hash="sha384", length=limit)

    assert (len(chain), len(key)) == (48, limit)
    with pytest.raises(ConfigError, match="length"):
        _cas_round(hash="sha384", length=limit + 1)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("kdf", "kmac", "unknown KDF"), ("kdf", "HKDF", "unknown KDF"), ("hash", "sha512", "unknown hash")],
)
def test_the_kdfs_refuse_an_unknown_kdf_or_hash(option: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _cat(**{option: value})
    with pytest.raises(ConfigError, match=message):
        _cas_round(**{option: value})


@pytest.mark.parametrize(
    "rounds", [[], (), None, CasRound(k=b"k" * 32, info=b"i", ma=b"a", mb=b"b", label=b"l")], ids=repr
)
def test_cas_kdf_refuses_anything_but_a_non_empty_sequence_of_rounds(rounds: Any) -> None:
    with pytest.raises(ConfigError, match="at least one CasRound"):
        cas_kdf(None, rounds, length=16)


def test_cas_kdf_refuses_a_round_that_is_not_a_cas_round() -> None:
    good = CasRound(k=b"k" * 32, info=b"i", ma=b"a", mb=b"b", label=b"l")

    with pytest.raises(ConfigError, match="round 1 must be a CasRound"):
        cas_kdf(None, [good, {"k": b"k" * 32}], length=16)  # type: ignore[list-item]
