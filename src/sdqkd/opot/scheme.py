"""Ordered Proof of Transit (OPoT) of draft-ietf-sfc-proof-of-transit: the mathematics, no I/O.

**Proof of Transit** (the draft's "Solution Approach") proves that a packet crossed every node of a path. It
is Shamir's secret sharing over a prime field GF(p), with k nodes ``n_1 … n_k`` on the path (``n_1`` the
ingress, ``n_k`` the verifier):

- a secret polynomial POLY-1 of degree k − 1 whose constant term is the SECRET. Node i holds a public point
  ``x_i`` (distinct, non-zero), its secret share ``share_i = POLY-1(x_i)`` and its Lagrange constant
  ``LPC_i = Π_{j≠i} x_j / (x_j − x_i) mod p`` (:func:`lpc`), so that ``Σ LPC_i · POLY(x_i) = POLY(0)`` for
  every polynomial of degree < k;
- a public polynomial POLY-2 of the same degree whose constant term is a per-packet random RND and whose other
  coefficients are fixed per path; node i precomputes ``pre_i = POLY-2(x_i) − RND``;
- the ingress picks RND, sets CML = 0; every node, the ingress and the verifier included, updates
  ``CML ← CML + LPC_i · (share_i + pre_i + RND) mod p`` (:func:`cml_update`); the verifier accepts when
  ``CML = (SECRET + RND) mod p`` (:func:`verify_cml`) — the Lagrange sum of POLY-3 = POLY-1 + POLY-2 at 0.

This is FD.io VPP's ``pot_update_cumulative`` / ``pot_validate`` (``src/plugins/ioam/lib-pot/pot_util.c``);
the tests reproduce the 3-node example of CiscoDevNet/iOAM ``scripts/lib-pot/Readme.md`` number for number.

The sum does not depend on the order of the nodes, and whoever sees the verifier's last hop for two RNDs can
solve for its future CMLs. **Ordered POT** (the draft's "Ordered POT (OPOT)") hides ``(RND, CML)`` on every
hop with a mask only the two ends of that hop know: node i un-masks with the mask it shares with ``n_{i−1}``,
updates CML and re-masks with the mask it shares with ``n_{i+1}``; the ingress only masks, the verifier only
un-masks. A packet that skips a node, or meets two nodes in swapped order, is un-masked with the wrong mask
and fails; a forger must know the mask of the verifier's upstream hop.

Masks (:func:`derive_mask`): ``HMAC-SHA256(key, "sdqkd-opot-mask-v1" ‖ len(context) ‖ context ‖ seq)``, with
``key`` the QKD key bytes the two ends of a hop share and ``seq`` the packet's 64-bit sequence number (sent in
the clear): its first 8 bytes mask RND and the next 8 bytes mask CML, both by XOR on 64-bit words as in the
draft. HMAC-SHA256 is a PRF, so each packet gets fresh, independent, uniform 64-bit pads: the masked
values are a one-time pad of values below p < 2⁶⁴ and reveal nothing, as long as a (key, context, seq) is
never used twice — the caller numbers packets and re-keys before ``seq`` wraps.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from sdqkd.errors import ConfigError

__all__ = [
    "DEFAULT_PRIME",
    "MIN_KEY_BYTES",
    "MIN_PRIME_BITS",
    "Mask",
    "NodeProfile",
    "NodeShare",
    "PathProfile",
    "PotField",
    "RandomSource",
    "VerifierProfile",
    "check_prime",
    "cml_update",
    "derive_mask",
    "generate_profiles",
    "is_prime",
    "lpc",
    "new_rnd",
    "node_update",
    "opot_ingress",
    "opot_transit",
    "opot_verify",
    "verify_cml",
]

DEFAULT_PRIME: Final = 2**64 - 59
"""The largest prime below 2⁶⁴: RND and CML fill 64-bit fields (draft, "Sizing the Data": 64 bits last
~3,100 years at 100 Gbit/s before the secrets must change)."""
MIN_PRIME_BITS: Final = 32
"""Smaller fields run through their RNDs in seconds (draft: 32 bits last ~22 s at 100 Gbit/s)."""
MIN_KEY_BYTES: Final = 16
_WORD: Final = 2**64
_MASK_LABEL: Final = b"sdqkd-opot-mask-v1"
_NODE_INTS: Final = ("x", "share", "lpc", "pre")
# Deterministic Miller–Rabin: these 12 bases decide every n < 3.3·10²⁴ (Sorenson & Webster 2015).
_MR_BASES: Final = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)


class RandomSource(Protocol):
    """What profiles and RNDs are drawn from: the ``secrets`` module, or a seeded stand-in in tests."""

    def randbelow(self, n: int, /) -> int:
        """A uniform integer in ``[0, n)``."""
        ...


def is_prime(n: int) -> bool:
    """Whether ``n`` is prime: deterministic Miller–Rabin, exact for every n < 3.3·10²⁴."""
    if n < 2:
        return False
    for q in _MR_BASES:
        if n % q == 0:
            return n == q
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in _MR_BASES:
        y = pow(a, d, n)
        if y in (1, n - 1):
            continue
        for _ in range(s - 1):
            y = y * y % n
            if y == n - 1:
                break
        else:
            return False
    return True


def check_prime(p: int) -> int:
    """Return ``p`` if it can serve as the field: a prime of 32 to 64 bits.

    Raises:
        ConfigError: ``p`` is not an int, is composite, or is out of range.
    """
    if isinstance(p, bool) or not isinstance(p, int):
        raise ConfigError(f"the prime must be an integer, got {type(p).__name__}")
    if not 2 ** (MIN_PRIME_BITS - 1) < p < _WORD:
        raise ConfigError(f"the prime must have {MIN_PRIME_BITS} to 64 bits, got {p:#x}")
    if not is_prime(p):
        raise ConfigError(f"{p:#x} is not prime")
    return p


def lpc(xs: Sequence[int], i: int, p: int) -> int:
    """Lagrange polynomial constant of point ``xs[i]``: ``Π_{j≠i} x_j · (x_j − x_i)⁻¹ mod p``.

    The Lagrange basis polynomial of ``x_i`` evaluated at 0, so ``Σ_i LPC_i · f(x_i) = f(0)`` for every ``f``
    of degree < ``len(xs)`` (draft "Setup").

    Raises:
        ConfigError: ``i`` out of range, or points that are zero, repeated or not below ``p``.
    """
    _check_points(xs, p)
    if not 0 <= i < len(xs):
        raise ConfigError(f"point index {i} outside 0..{len(xs) - 1}")
    constant = 1
    for j, x_j in enumerate(xs):
        if j != i:
            constant = constant * x_j * pow(x_j - xs[i], -1, p) % p
    return constant


def cml_update(cml: int, share: int, pre: int, rnd: int, lpc: int, p: int) -> int:
    """One node's update of the cumulative: ``CML + LPC · (share + pre + RND) mod p``.

    ``share + pre + RND`` is POLY-1(x) + POLY-2(x), the node's point on POLY-3 (VPP ``pot_util.c``).

    Args:
        cml: the cumulative as it arrived (0 at the ingress).
        share: the node's secret share POLY-1(x).
        pre: the node's POLY-2(x) without the constant term.
        rnd: the packet's RND, POLY-2's constant term.
        lpc: the node's Lagrange constant (:func:`lpc`).
        p: the prime.
    """
    return (cml + lpc * (share + pre + rnd)) % p


def verify_cml(cml: int, rnd: int, secret: int, p: int) -> bool:
    """The verifier's check ``CML = (SECRET + RND) mod p``, after its own update; values outside the field
    (which only a wrong mask produces) fail."""
    if not (0 <= cml < p and 0 <= rnd < p):
        return False
    # constant-time compare: the expected value is secret-derived
    return hmac.compare_digest(cml.to_bytes(8, "big"), ((secret + rnd) % p).to_bytes(8, "big"))


def new_rnd(p: int, rng: RandomSource = secrets) -> int:
    """A packet's RND: uniform in ``[0, p)``, drawn by the ingress."""
    return rng.randbelow(p)


@dataclass(frozen=True)
class NodeProfile:
    """What one node of a path holds (the verifier's as well). ``share`` is secret; the rest is public."""

    node: str
    p: int
    x: int
    share: int = field(repr=False)
    lpc: int
    pre: int
    """POLY-2(x) without its constant term."""


@dataclass(frozen=True)
class VerifierProfile:
    """What the verifier holds besides its :class:`NodeProfile`: the SECRET, POLY-1(0)."""

    node: str
    p: int
    secret: int = field(repr=False)


@dataclass(frozen=True)
class PathProfile:
    """The profiles of one path, ingress first and verifier last, as generated by the controller.

    Construction checks that the profiles are one consistent scheme: p prime, points distinct, each LPC and
    ``pre`` computed from the points and ``poly2``, and the shares interpolating to the SECRET.

    Raises:
        ConfigError: anything inconsistent (a corrupted or hand-edited profile).
    """

    p: int
    poly2: tuple[int, ...]
    """POLY-2's public coefficients of x¹ … x^(k−1)."""
    nodes: tuple[NodeProfile, ...]
    verifier: VerifierProfile

    def __post_init__(self) -> None:
        p = check_prime(self.p)
        _check_nodes([n.node for n in self.nodes])
        xs = [n.x for n in self.nodes]
        _check_points(xs, p)
        if len(self.poly2) != len(self.nodes) - 1 or not all(0 <= c < p for c in self.poly2):
            raise ConfigError(f"poly2 must hold {len(self.nodes) - 1} coefficients below p")
        for i, n in enumerate(self.nodes):
            if n.p != p or not 0 <= n.share < p:
                raise ConfigError(f"node {n.node!r}: another prime, or a share outside the field")
            if n.lpc != lpc(xs, i, p) or n.pre != _poly_eval((0, *self.poly2), n.x, p):
                raise ConfigError(f"node {n.node!r}: lpc or pre do not match the points and poly2")
        if not _prefix_sums_nonzero(xs, p):
            raise ConfigError("points under which a changed RND goes unseen: an LPC prefix sums to 0")
        v = self.verifier
        if v.node != self.nodes[-1].node or v.p != p:
            raise ConfigError("the verifier must be the path's last node, on the same prime")
        if v.secret != sum(n.lpc * n.share for n in self.nodes) % p:
            raise ConfigError("the shares do not interpolate to the verifier's secret")

    def share_for(self, node: str) -> NodeShare:
        """What ``node`` is given of this path: the node names, its own profile, and the SECRET if it is
        the verifier — not the other nodes' shares.

        Raises:
            ConfigError: ``node`` is not on the path.
        """
        names = tuple(n.node for n in self.nodes)
        if node not in names:
            raise ConfigError(f"node {node!r} is not on the path {list(names)}")
        mine = self.nodes[names.index(node)]
        return NodeShare(names, mine, self.verifier if node == self.verifier.node else None)

    def to_json(self) -> str:
        """The profiles as JSON; integers as ``0x…`` strings (64-bit values do not fit a JSON double)."""
        return json.dumps(
            {
                "p": hex(self.p),
                "poly2": [hex(c) for c in self.poly2],
                "nodes": [{"node": n.node} | {f: hex(getattr(n, f)) for f in _NODE_INTS} for n in self.nodes],
                "verifier": {"node": self.verifier.node, "secret": hex(self.verifier.secret)},
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> PathProfile:
        """Parse :meth:`to_json`'s output.

        Raises:
            ConfigError: not JSON, a missing or malformed field, or inconsistent profiles.
        """
        try:
            doc = json.loads(text)
            p = _hex(doc["p"])
            nodes = tuple(NodeProfile(n["node"], p, *(_hex(n[f]) for f in _NODE_INTS)) for n in doc["nodes"])
            verifier = VerifierProfile(doc["verifier"]["node"], p, _hex(doc["verifier"]["secret"]))
            return cls(p, tuple(_hex(c) for c in doc["poly2"]), nodes, verifier)
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"not an OPoT path profile: {exc}") from exc


@dataclass(frozen=True)
class NodeShare:
    """What one node of a path holds — the controller hands each node its own (DESIGN §5: a node learns
    no other node's share): the path's node names in order (roles, neighbours, the masks' context), its
    :class:`NodeProfile`, and at the verifier, the last node, the :class:`VerifierProfile` with the SECRET.

    Raises:
        ConfigError: the node not on the path, a secret at another node than the last or none there, or
            profiles of different fields.
    """

    path: tuple[str, ...]
    node: NodeProfile
    verifier: VerifierProfile | None = None

    def __post_init__(self) -> None:
        _check_nodes(self.path)
        check_prime(self.node.p)
        if self.node.node not in self.path:
            raise ConfigError(f"node {self.node.node!r} is not on the path {list(self.path)}")
        last = self.node.node == self.path[-1]
        if last != (self.verifier is not None):
            raise ConfigError("the path's last node, and only it, holds the verifier's secret")
        if self.verifier is not None and (self.verifier.node, self.verifier.p) != (
            self.node.node,
            self.node.p,
        ):
            raise ConfigError("the verifier's secret belongs to another node or field")
        if not (0 < self.node.x < self.node.p and all(0 <= v < self.node.p for v in _ints(self.node))):
            raise ConfigError(f"node {self.node.node!r}: a value outside the field")

    def to_json(self) -> str:
        """The share as JSON (integers as ``0x…`` strings, as :meth:`PathProfile.to_json`)."""
        doc: dict[str, Any] = {
            "path": list(self.path),
            "p": hex(self.node.p),
            "node": {"node": self.node.node} | {f: hex(getattr(self.node, f)) for f in _NODE_INTS},
        }
        if self.verifier is not None:
            doc["verifier"] = {"node": self.verifier.node, "secret": hex(self.verifier.secret)}
        return json.dumps(doc)

    @classmethod
    def from_json(cls, text: str | bytes) -> NodeShare:
        """Parse :meth:`to_json`'s output.

        Raises:
            ConfigError: not JSON, a missing or malformed field, or an inconsistent share.
        """
        try:
            doc = json.loads(text)
            p = _hex(doc["p"])
            node = doc["node"]
            mine = NodeProfile(node["node"], p, *(_hex(node[f]) for f in _NODE_INTS))
            verifier = doc.get("verifier")
            secret = (
                None if verifier is None else VerifierProfile(verifier["node"], p, _hex(verifier["secret"]))
            )
            path = doc["path"]
            if not isinstance(path, list):
                raise TypeError("path must be a list of node names")
            return cls(tuple(path), mine, secret)
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"not an OPoT node share: {exc}") from exc


def generate_profiles(
    path_nodes: Sequence[str], *, p: int = DEFAULT_PRIME, rng: RandomSource = secrets
) -> PathProfile:
    """New profiles for a path: random POLY-1 (its constant term the SECRET), POLY-2 and points.

    Args:
        path_nodes: node names, ingress first and verifier last; at least 2, distinct.
        p: the prime field (checked with :func:`check_prime`).
        rng: a CSPRNG; ``secrets`` unless a test needs reproducible profiles. Drawn in this order: POLY-1's
            k coefficients (constant term first), POLY-2's k − 1 (x¹ first), then each point as
            ``1 + randbelow(p − 1)``, redrawing repeats and point sets that fail the RND check below.

    The points are chosen so that no proper prefix of the path's LPCs sums to 0 mod p: then a packet whose
    RND alone was changed on any hop always fails (see ``_prefix_sums_nonzero``).

    Raises:
        ConfigError: a bad prime or a bad node list.
    """
    names = _check_nodes(path_nodes)
    check_prime(p)
    k = len(names)
    poly1 = tuple(rng.randbelow(p) for _ in range(k))
    poly2 = tuple(rng.randbelow(p) for _ in range(k - 1))
    xs: list[int] = []
    while len(xs) < k or not _prefix_sums_nonzero(xs, p):
        if len(xs) == k:
            xs.clear()  # points under which a changed RND could go unseen: draw them again (probability ~k/p)
        x = 1 + rng.randbelow(p - 1)
        if x not in xs:
            xs.append(x)
    nodes = tuple(
        NodeProfile(name, p, x, _poly_eval(poly1, x, p), lpc(xs, i, p), _poly_eval((0, *poly2), x, p))
        for i, (name, x) in enumerate(zip(names, xs, strict=True))
    )
    return PathProfile(p, poly2, nodes, VerifierProfile(names[-1], p, poly1[0]))


def node_update(node: NodeProfile, cml: int, rnd: int) -> int:
    """:func:`cml_update` with a node's profile."""
    return cml_update(cml, node.share, node.pre, rnd, node.lpc, node.p)


@dataclass(frozen=True)
class Mask:
    """One hop's pads for one packet: XORed onto RND and CML."""

    rnd: int = field(repr=False)
    cml: int = field(repr=False)


@dataclass(frozen=True)
class PotField:
    """The OPoT data a packet carries between two nodes: its sequence number and masked RND and CML."""

    seq: int
    rnd: int
    cml: int

    def __post_init__(self) -> None:
        if not all(0 <= v < _WORD for v in (self.seq, self.rnd, self.cml)):
            raise ConfigError("seq, rnd and cml are 64-bit unsigned values")


def derive_mask(key: bytes, seq: int, *, context: bytes = b"") -> Mask:
    """The mask of packet ``seq`` on a hop whose two ends share ``key`` (QKD key bytes).

    ``HMAC-SHA256(key, "sdqkd-opot-mask-v1" ‖ len(context) (2 bytes) ‖ context ‖ seq (8 bytes))``, bytes
    0–7 masking RND and 8–15 masking CML (big-endian). ``context`` (e.g. the path's name) separates paths that
    share a hop key.

    Raises:
        ConfigError: a key shorter than 16 bytes, a context over 65535 bytes, or seq outside 64 bits.
    """
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"a mask key needs at least {MIN_KEY_BYTES} bytes")
    if len(context) >= 2**16 or not 0 <= seq < _WORD:
        raise ConfigError("context over 65535 bytes or seq outside 64 bits")
    message = _MASK_LABEL + len(context).to_bytes(2, "big") + context + seq.to_bytes(8, "big")
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return Mask(int.from_bytes(digest[:8], "big"), int.from_bytes(digest[8:16], "big"))


def opot_ingress(
    node: NodeProfile, rnd: int, seq: int, downstream_key: bytes, *, context: bytes = b""
) -> PotField:
    """The ingress: CML from 0 with its own update, then ``(RND, CML)`` masked for the next hop."""
    if not 0 <= rnd < node.p:
        raise ConfigError("rnd must lie in the field")
    return _masked(seq, rnd, node_update(node, 0, rnd), derive_mask(downstream_key, seq, context=context))


def opot_transit(
    node: NodeProfile, pot: PotField, upstream_key: bytes, downstream_key: bytes, *, context: bytes = b""
) -> PotField | None:
    """A transit node: un-mask with the upstream hop's mask, update CML, re-mask for the downstream hop.

    RND passes through unchanged. A packet not masked for this hop un-masks to garbage: the verifier rejects
    it, and when the garbage falls outside the field this node already can.

    Returns:
        The field for the next hop, or None when the un-masked RND or CML is not below p: drop the packet.
    """
    rnd, cml = _unmasked(pot, derive_mask(upstream_key, pot.seq, context=context))
    if not (rnd < node.p and cml < node.p):
        return None
    new_cml = node_update(node, cml, rnd)
    return _masked(pot.seq, rnd, new_cml, derive_mask(downstream_key, pot.seq, context=context))


def opot_verify(
    node: NodeProfile, verifier: VerifierProfile, pot: PotField, upstream_key: bytes, *, context: bytes = b""
) -> bool:
    """The verifier: un-mask with the upstream hop's mask, do its own update, check ``CML = SECRET + RND``."""
    if node.node != verifier.node or node.p != verifier.p:
        raise ConfigError("the node and verifier profiles belong to different nodes or fields")
    rnd, cml = _unmasked(pot, derive_mask(upstream_key, pot.seq, context=context))
    if not (rnd < node.p and cml < node.p):
        return False
    return verify_cml(node_update(node, cml, rnd), rnd, verifier.secret, node.p)


def _masked(seq: int, rnd: int, cml: int, mask: Mask) -> PotField:
    return PotField(seq, rnd ^ mask.rnd, cml ^ mask.cml)


def _unmasked(pot: PotField, mask: Mask) -> tuple[int, int]:
    return pot.rnd ^ mask.rnd, pot.cml ^ mask.cml


def _poly_eval(coefficients: Sequence[int], x: int, p: int) -> int:
    """Horner's rule; ``coefficients`` lowest degree first."""
    value = 0
    for c in reversed(coefficients):
        value = (value * x + c) % p
    return value


def _prefix_sums_nonzero(xs: Sequence[int], p: int) -> bool:
    """Whether ``LPC_1 + … + LPC_j ≢ 0`` for every j < k.

    A packet whose RND is changed by δ after node j (its CML untouched) reaches the verifier with its CML off
    by ``(LPC_{j+1} + … + LPC_k − 1) · δ = −(LPC_1 + … + LPC_j) · δ``, since all the LPCs sum to 1; this
    condition makes that offset non-zero, so such a change always fails.
    """
    total = 0
    for i in range(len(xs) - 1):
        total = (total + lpc(xs, i, p)) % p
        if total == 0:
            return False
    return True


def _check_nodes(path_nodes: Sequence[str]) -> tuple[str, ...]:
    if isinstance(path_nodes, str):
        raise ConfigError("path_nodes must be a sequence of node names, not one string")
    names = tuple(path_nodes)
    if len(names) < 2:
        raise ConfigError("a path needs at least an ingress and a verifier (2 nodes)")
    if not all(isinstance(n, str) and n for n in names):
        raise ConfigError("node names must be non-empty strings")
    if len(set(names)) != len(names):
        raise ConfigError(f"a node appears twice on the path: {list(names)}")
    return names


def _check_points(xs: Sequence[int], p: int) -> None:
    if not all(isinstance(x, int) and 0 < x < p for x in xs) or len(set(xs)) != len(xs):
        raise ConfigError("points must be distinct, non-zero and below p")


def _ints(node: NodeProfile) -> tuple[int, ...]:
    return tuple(getattr(node, f) for f in _NODE_INTS)


def _hex(value: Any) -> int:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ValueError(f"expected a 0x… string, got {value!r}")
    return int(value, 16)
