"""Hybrid key derivation of ETSI TS 103 744 (V1.2.1): CatKDF (§8.2) and CasKDF (§8.3).

A QKD key is never used alone: it is combined with a classical (EC)DH secret and a post-quantum KEM secret
so that the derived key stays secret as long as any one of its inputs does. TS 103 744 defines two ways to
combine them:

- **CatKDF** (§8.2) concatenates the secrets of one exchange (``psk ‖ k1 ‖ k2``) and derives the key in one
  KDF call. The QKD key fits the ``psk`` slot; ``k1`` is the (EC)DH secret and ``k2`` the KEM secret.
- **CasKDF** (§8.3) cascades rounds, one secret per round: each round mixes its secret into a chain secret
  carried over from the previous round (the first round starts from the psk, or from nothing), so a
  re-keying chain stays secret as long as any round's secret was.

Both bind the messages each side sent (``ma``, ``mb``: the public keys, ciphertexts and whatever else the
protocol exchanged) and a context ``info`` into the derivation, and use an agreed ``label`` as the KDF's
salt. Both exist with HKDF (RFC 5869, TS 103 744 §7.4.2) or with the one-step HMAC KDF of NIST SP 800-56C
(§7.4.3) as the KDF, each over SHA-256 or SHA-384. The KMAC variants (§7.3.3, §7.4.4) are not provided.

The functions follow the reference implementation published with the standard (GitHub
``etsi-forge/cyber.103744_QHKEX``, ``qshkex.c``) and reproduce its test vectors (tests/apps).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHMAC
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sdqkd.errors import ConfigError

__all__ = [
    "CasRound",
    "HashName",
    "KdfName",
    "cas_kdf",
    "cas_kdf_round",
    "cat_kdf",
    "max_length",
]

KdfName = Literal["hkdf", "hmac"]
"""The KDF: HKDF (§7.4.2) or the SP 800-56C one-step KDF with HMAC (§7.4.3)."""

HashName = Literal["sha256", "sha384"]
"""The hash under the KDF, the context hash and (CasKDF) the round PRF."""

_HASHES: Final[dict[str, type[hashes.HashAlgorithm]]] = {"sha256": hashes.SHA256, "sha384": hashes.SHA384}
_KDFS: Final = ("hkdf", "hmac")
_FIELD_LIMIT: Final = 2**32 - 1
"""Each length-prefixed field carries its length in 4 bytes (§7.2.3), so it holds at most 2³² − 1 bytes."""


def max_length(kdf: KdfName = "hkdf", hash: HashName = "sha256") -> int:
    """The most bytes one KDF call can derive.

    HKDF (RFC 5869 §2.3) stops at 255 hash blocks; the one-step KDF (SP 800-56C §4.1) counts its blocks
    in 32 bits. CasKDF derives its chain secret (one hash length) in the same call as the key, so its key
    may be one hash length shorter.

    Raises:
        ConfigError: an unknown KDF or hash.
    """
    algorithm = _algorithm(hash)
    if kdf not in _KDFS:
        raise ConfigError(f"unknown KDF {kdf!r}: expected one of {', '.join(_KDFS)}")
    blocks = 255 if kdf == "hkdf" else _FIELD_LIMIT
    return blocks * algorithm.digest_size


def cat_kdf(
    psk: bytes,
    k1: bytes,
    k2: bytes,
    *,
    info: bytes,
    ma: bytes,
    mb: bytes,
    label: bytes,
    length: int,
    kdf: KdfName = "hkdf",
    hash: HashName = "sha256",
) -> bytes:
    """CatKDF (TS 103 744 §8.2): one key from the secrets of one hybrid exchange.

    ``secret = psk ‖ k1 ‖ k2``; ``context = H(len(info) ‖ info ‖ len(ma) ‖ ma ‖ len(mb) ‖ mb)`` with
    4-byte big-endian lengths (§7.2.3); ``key = KDF(salt = label, secret, context, length)``.

    Args:
        psk: the pre-shared key, e.g. a QKD key from ETSI GS QKD 014; ``b""`` when there is none.
        k1: the first exchange's shared secret, e.g. X25519 or ECDH (not empty).
        k2: the second exchange's shared secret, e.g. ML-KEM (not empty).
        info: context both sides agree on (a protocol and version string, identities).
        ma: what party A sent (its public keys and other message content).
        mb: what party B sent (its public keys or ciphertexts and other message content).
        label: the agreed label, the KDF's salt.
        length: bytes of key to derive, at least 1 and at most :func:`max_length`.
        kdf: ``"hkdf"`` or ``"hmac"`` (SP 800-56C one-step KDF with HMAC).
        hash: ``"sha256"`` or ``"sha384"``.

    Returns:
        ``length`` bytes of key material.

    Raises:
        ConfigError: an input of the wrong type, an empty ``k1`` or ``k2``, or a length out of range.
    """
    algorithm = _algorithm(hash)
    _check_length(length, limit=max_length(kdf, hash))
    _check_bytes(psk=psk, info=info, ma=ma, mb=mb, label=label)
    _check_secret(k1=k1, k2=k2)
    context = _hashed_context(algorithm, info, ma, mb)
    return _derive(kdf, algorithm, secret=psk + k1 + k2, salt=label, context=context, length=length)


def cas_kdf_round(
    previous_chain_secret: bytes | None,
    k: bytes,
    *,
    info: bytes,
    ma: bytes,
    mb: bytes,
    label: bytes,
    length: int,
    kdf: KdfName = "hkdf",
    hash: HashName = "sha256",
) -> tuple[bytes, bytes]:
    """One round of CasKDF (TS 103 744 §8.3): the next chain secret and this round's key.

    ``round_secret = HMAC(previous_chain_secret, H(len(k) ‖ k ‖ len(ma) ‖ ma ‖ len(mb) ‖ mb))`` (the
    HMAC PRF of §7.3.2); ``chain_secret ‖ key = KDF(salt = label, round_secret, info, hash length +
    length)``. Unlike CatKDF, ``info`` enters the KDF as it is, not hashed.

    Args:
        previous_chain_secret: the chain secret the previous round returned; for the first round the psk
            (e.g. a QKD key), or ``None`` (equally ``b""``) when there is none.
        k: this round's shared secret (not empty): a QKD key, an ECDH or a KEM secret.
        info: context both sides agree on for this round.
        ma: what party A sent in this round.
        mb: what party B sent in this round.
        label: this round's agreed label, the KDF's salt.
        length: bytes of key to derive, at least 1 and at most :func:`max_length` less one hash length.
        kdf: ``"hkdf"`` or ``"hmac"`` (SP 800-56C one-step KDF with HMAC).
        hash: ``"sha256"`` or ``"sha384"``.

    Returns:
        ``(chain_secret, key)``: the chain secret for the next round (one hash length: 32 or 48 bytes)
        and ``length`` bytes of key material.

    Raises:
        ConfigError: an input of the wrong type, an empty ``k``, or a length out of range.
    """
    algorithm = _algorithm(hash)
    chain_length = algorithm.digest_size
    _check_length(length, limit=max_length(kdf, hash) - chain_length)
    if previous_chain_secret is None:
        previous_chain_secret = b""
    _check_bytes(previous_chain_secret=previous_chain_secret, info=info, ma=ma, mb=mb, label=label)
    _check_secret(k=k)
    # §7.3.2: the HMAC PRF keyed with the previous chain secret (an empty key in the first round without
    # psk, which HMAC pads to a block of zeros) over the hashed, length-prefixed round input.
    prf = hmac.HMAC(previous_chain_secret, algorithm)
    prf.update(_hashed_context(algorithm, k, ma, mb))
    round_secret = prf.finalize()
    output = _derive(
        kdf, algorithm, secret=round_secret, salt=label, context=info, length=chain_length + length
    )
    return output[:chain_length], output[chain_length:]


@dataclass(frozen=True)
class CasRound:
    """What one CasKDF round consumes besides the chain secret (see :func:`cas_kdf_round`).

    Attributes:
        k: the round's shared secret (key material: left out of ``repr``).
        info: context both sides agree on for this round.
        ma: what party A sent in this round.
        mb: what party B sent in this round.
        label: the round's agreed label, the KDF's salt.
    """

    k: bytes = field(repr=False)
    info: bytes
    ma: bytes
    mb: bytes
    label: bytes


def cas_kdf(
    psk: bytes | None,
    rounds: Sequence[CasRound],
    *,
    length: int,
    kdf: KdfName = "hkdf",
    hash: HashName = "sha256",
) -> bytes:
    """CasKDF (TS 103 744 §8.3) over several rounds: the key of the last round.

    The chain starts from ``psk`` and each round's chain secret feeds the next (:func:`cas_kdf_round`);
    every round derives ``length`` bytes of key, and the last round's key is returned. A party that uses
    each round's key as it comes (re-keying) calls :func:`cas_kdf_round` itself and keeps the chain secret.

    Args:
        psk: the initial chain secret (e.g. a QKD key), or ``None``/``b""`` when there is none.
        rounds: the rounds in order, at least one.
        length: bytes of key each round derives (see :func:`cas_kdf_round`).
        kdf: ``"hkdf"`` or ``"hmac"``.
        hash: ``"sha256"`` or ``"sha384"``.

    Raises:
        ConfigError: no rounds, or a round :func:`cas_kdf_round` refuses.
    """
    if isinstance(rounds, CasRound) or not isinstance(rounds, Sequence) or len(rounds) == 0:
        raise ConfigError("CasKDF needs a sequence of at least one CasRound")
    chain_secret = psk
    key = b""
    for index, round_input in enumerate(rounds):
        if not isinstance(round_input, CasRound):
            raise ConfigError(f"CasKDF round {index} must be a CasRound, not {type(round_input).__name__}")
        chain_secret, key = cas_kdf_round(
            chain_secret,
            round_input.k,
            info=round_input.info,
            ma=round_input.ma,
            mb=round_input.mb,
            label=round_input.label,
            length=length,
            kdf=kdf,
            hash=hash,
        )
    return key


def _algorithm(hash: str) -> hashes.HashAlgorithm:
    try:
        return _HASHES[hash]()
    except (KeyError, TypeError):
        raise ConfigError(f"unknown hash {hash!r}: expected one of {', '.join(_HASHES)}") from None


def _hashed_context(algorithm: hashes.HashAlgorithm, *fields: bytes) -> bytes:
    """§7.2.3, the concatenate-and-hash formatting: ``H(len(f1) ‖ f1 ‖ len(f2) ‖ f2 ‖ …)``, 4-byte big-endian
    lengths, so no two different field splits hash the same."""
    digest = hashes.Hash(algorithm)
    for value in fields:
        digest.update(len(value).to_bytes(4, "big"))
        digest.update(value)
    return digest.finalize()


def _derive(
    kdf: str, algorithm: hashes.HashAlgorithm, *, secret: bytes, salt: bytes, context: bytes, length: int
) -> bytes:
    """§7.4.2 HKDF(salt, secret, context) or §7.4.3 the SP 800-56C one-step KDF
    ``HMAC(salt, counter ‖ secret ‖ context)`` per block (``ConcatKDFHMAC`` is that KDF)."""
    if kdf == "hkdf":
        return HKDF(algorithm=algorithm, length=length, salt=salt, info=context).derive(secret)
    return ConcatKDFHMAC(algorithm=algorithm, length=length, salt=salt, otherinfo=context).derive(secret)


def _check_length(length: int, *, limit: int) -> None:
    if isinstance(length, bool) or not isinstance(length, int):
        raise ConfigError(f"length must be an integer number of bytes, not {type(length).__name__}")
    if not 1 <= length <= limit:
        raise ConfigError(f"length must be between 1 and {limit} bytes, not {length}")


def _check_bytes(**values: object) -> None:
    for name, value in values.items():
        if not isinstance(value, bytes):
            raise ConfigError(f"{name} must be bytes, not {type(value).__name__}")
        if len(value) > _FIELD_LIMIT:
            raise ConfigError(f"{name} is longer than {_FIELD_LIMIT} bytes")


def _check_secret(**values: object) -> None:
    _check_bytes(**values)
    for name, value in values.items():
        if value == b"":
            raise ConfigError(f"{name} must not be empty: it is one of the exchanges' shared secrets")
