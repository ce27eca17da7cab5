"""An information-theoretically secure message authentication code for the key relay: a
Wegman–Carter MAC, a polynomial universal hash over GF(2^127 − 1) one-time-padded with key.

    tag = (h_r(m) + s) mod p,     p = 2^127 − 1,
    h_r(m) = Σ_{i=1..L} c_i · r^(L − i + 1) mod p

where ``m`` is cut into L chunks of 15 bytes (the last may be shorter) and ``c_i`` is chunk i read
little-endian with a byte 0x01 appended (so chunks of different lengths are different numbers, as
in Poly1305). ``r`` (the hash key) and ``s`` (the pad) are 128 bits each of QKD link key: one
256-bit block per message, never used again.

Security (Wegman & Carter, J. Comput. Syst. Sci. 22 (1981) 265; the bound as in Bernstein,
"The Poly1305-AES message-authentication code", FSE 2005, §3): for two different messages of at
most L chunks, h_r(m) − h_r(m') is a non-zero polynomial in r of degree ≤ L with no constant term,
so it has at most L roots: the hash is (L/p)-almost-Δ-universal, and an adversary who sees one
tag forges a valid tag for another message with probability at most L/p ≈ L · 2^−127, whatever
its computing power. ``s`` uniform makes the tag independent of ``r``. Reading 128 key bits modulo
p makes ``r`` and ``s`` differ from uniform by at most 2^−126 in statistical distance.
"""

from __future__ import annotations

import hmac

__all__ = ["MAC_KEY_BYTES", "TAG_BYTES", "mac_tag", "mac_verify", "poly_hash"]

P = (1 << 127) - 1
MAC_KEY_BYTES = 32  # r (16 bytes) then s (16 bytes)
TAG_BYTES = 16
_CHUNK = 15


def poly_hash(r: int, message: bytes) -> int:
    """h_r(message) over GF(2^127 − 1), by Horner's rule."""
    h = 0
    for start in range(0, len(message), _CHUNK):
        chunk = message[start : start + _CHUNK] + b"\x01"
        h = (h + int.from_bytes(chunk, "little")) * r % P
    return h


def _keys(key: bytes) -> tuple[int, int]:
    if len(key) != MAC_KEY_BYTES:
        raise ValueError(f"a MAC key is {MAC_KEY_BYTES} bytes")
    r = int.from_bytes(key[:16], "little") % P
    s = int.from_bytes(key[16:], "little") % P
    return r, s


def mac_tag(key: bytes, message: bytes) -> bytes:
    """The 16-byte tag of ``message`` under a one-time ``key`` of 32 bytes (use a key once)."""
    r, s = _keys(key)
    return ((poly_hash(r, message) + s) % P).to_bytes(TAG_BYTES, "little")


def mac_verify(key: bytes, message: bytes, tag: bytes) -> bool:
    """Whether ``tag`` is ``message``'s tag under ``key`` (compared in constant time)."""
    # constant-time compare: the time taken must not tell a forger how many bytes were right
    return hmac.compare_digest(mac_tag(key, message), tag)
