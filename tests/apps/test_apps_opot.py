"""Ordered Proof of Transit: the iOAM worked example number for number, honest paths that always verify,
and skipped, swapped, injected and tampered packets that fail.

Golden vectors: the 3-node example of https://github.com/CiscoDevNet/iOAM, ``scripts/lib-pot/Readme.md``
(commit 4149e7ae0f6f8098389eea0c1029945e56232c2f; the same profiles in ``scripts/lib-pot/sample_config.txt``,
commit d0f1b2f5b39bb2c4645288576eb8a7bcabf491d7): prime 0xffffffbd3f0331, three profiles (secret share, LPC,
POLY-2 pre-evaluation), the verifier's key, one RND and the cumulative after each of the three nodes. The
Readme gives no points or polynomial coefficients; the values in ``README_POINTS``, ``README_POLY1`` and
``README_POLY2`` were solved from its numbers here (LPCs 1, 3, −3 are those of the points 3, 1, 2; the shares
and pre-evaluations then fix both polynomials) — ``PathProfile`` re-checks every Readme number against them.

Failure properties are stated exactly where the algebra allows (a changed CML or RND on a hop always fails,
see ``_prefix_sums_nonzero``); where they hold only with overwhelming probability (a wrong HMAC mask un-masks
to garbage that verifies with probability ~2⁻⁶⁴) hypothesis runs derandomised, so the examples are fixed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sdqkd.apps.opot import (
    DEFAULT_PRIME,
    NodeProfile,
    PathProfile,
    PotField,
    VerifierProfile,
    check_prime,
    cml_update,
    derive_mask,
    generate_profiles,
    is_prime,
    lpc,
    new_rnd,
    node_update,
    opot_ingress,
    opot_transit,
    opot_verify,
    verify_cml,
)
from sdqkd.errors import ConfigError

README_PRIME = 0xFFFFFFBD3F0331
README_VALIDATE_KEY = 0xFFFFFFBD3F032F
# (secret_share, lpc, polynomial2) of the three profiles, in the order test.c updates the cumulative
README_PROFILES = (
    (0x23DC164FA011AA, 0x1, 0x5DC0A0163D348),
    (0x3FC03A91E02EA, 0x3, 0x1FC0011E554B0),
    (0xFF00B18FE08CE, 0xFFFFFFBD3F032E, 0x3F00367B145C8),
)
README_RND = 0xC9554D4442AD67
README_CUMULATIVES = (0xF30D6D95469259, 0x60F5615B5B97C9, 0xC9554D4442AD65)
README_POINTS = (3, 1, 2)
README_POLY1 = (README_VALIDATE_KEY, 0x1C5BD0170, 0x3FC01E361017C)  # constant term first
README_POLY2 = (0x1FFFE6FF2067C, 0xFFFC015F325165)  # x¹, x² (constant term: the packet's RND)

FAST = settings(max_examples=40, deadline=None)
FIXED = settings(max_examples=40, deadline=None, derandomize=True)


class SeededRng:
    """A reproducible ``RandomSource`` for tests (profiles in production come from ``secrets``)."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)

    def randbelow(self, n: int, /) -> int:
        return self._random.randrange(n)


class ScriptedRng:
    """Returns the given draws in order, checking each is in range."""

    def __init__(self, draws: Sequence[int]) -> None:
        self._draws = list(draws)

    def randbelow(self, n: int, /) -> int:
        value = self._draws.pop(0)
        assert 0 <= value < n
        return value


def _keys(count: int, seed: int) -> list[bytes]:
    """One 32-byte key per hop, as QKD would supply them."""
    return [random.Random(seed + 1000 * i).randbytes(32) for i in range(count)]


def _opot_walk(
    profile: PathProfile, order: Sequence[int], keys: Sequence[bytes], rnd: int, seq: int
) -> PotField | None:
    """The packet as it leaves the last node of ``order`` (indices into the path), each node using the keys
    of *its own* hops on the path; None when a node drops it."""
    first = order[0]
    pot: PotField | None = opot_ingress(profile.nodes[first], rnd, seq, keys[first])
    for i in order[1:]:
        if pot is None:
            return None
        pot = opot_transit(profile.nodes[i], pot, keys[i - 1], keys[i])
    return pot


def _opot_run(profile: PathProfile, order: Sequence[int], keys: Sequence[bytes], rnd: int, seq: int) -> bool:
    """Ingress ``order[0]``, transits ``order[1:]``, then the path's verifier."""
    pot = _opot_walk(profile, order, keys, rnd, seq)
    verifier = profile.nodes[-1]
    return pot is not None and opot_verify(verifier, profile.verifier, pot, keys[-1])


def _honest(profile: PathProfile) -> list[int]:
    return list(range(len(profile.nodes) - 1))


# --- the iOAM worked example -------------------------------------------------------------------------------


def test_lpc_of_points_3_1_2_are_the_readme_lpcs() -> None:
    assert [lpc(README_POINTS, i, README_PRIME) for i in range(3)] == [lpc_ for _, lpc_, _ in README_PROFILES]


def test_cml_update_reproduces_the_readme_cumulative_after_each_node() -> None:
    cml = 0
    seen = []
    for share, lpc_, pre in README_PROFILES:
        cml = cml_update(cml, share, pre, README_RND, lpc_, README_PRIME)
        seen.append(cml)
    assert seen == list(README_CUMULATIVES)
    assert verify_cml(cml, README_RND, README_VALIDATE_KEY, README_PRIME)
    assert not verify_cml((cml + 1) % README_PRIME, README_RND, README_VALIDATE_KEY, README_PRIME)


def test_generate_profiles_with_the_readme_draws_gives_the_readme_profiles() -> None:
    # points are drawn as 1 + randbelow(p - 1): 3, 1, 2
    rng = ScriptedRng([*README_POLY1, *README_POLY2, 2, 0, 1])
    profile = generate_profiles(["n1", "n2", "n3"], p=README_PRIME, rng=rng)
    assert [(n.share, n.lpc, n.pre) for n in profile.nodes] == list(README_PROFILES)
    assert [n.x for n in profile.nodes] == list(README_POINTS)
    assert profile.verifier.secret == README_VALIDATE_KEY
    assert profile.poly2 == README_POLY2


def test_readme_profiles_verify_through_the_ordered_scheme() -> None:
    profile = generate_profiles(
        ["n1", "n2", "n3"], p=README_PRIME, rng=ScriptedRng([*README_POLY1, *README_POLY2, 2, 0, 1])
    )
    assert _opot_run(profile, [0, 1], _keys(2, 7), README_RND, seq=1)


# --- primes and parameters ---------------------------------------------------------------------------------


def test_is_prime_agrees_with_trial_division_below_ten_thousand() -> None:
    def trial(n: int) -> bool:
        return n >= 2 and all(n % d for d in range(2, int(n**0.5) + 1))

    assert [n for n in range(10_000) if is_prime(n)] == [n for n in range(10_000) if trial(n)]


def test_is_prime_knows_64_bit_primes_and_strong_pseudoprimes() -> None:
    assert all(is_prime(n) for n in (DEFAULT_PRIME, README_PRIME, 2**61 - 1))
    assert not any(is_prime(n) for n in (2**64 - 1, (2**32 - 5) * (2**31 - 1)))
    assert not is_prime(3_825_123_056_546_413_051)  # strong pseudoprime to bases 2 … 23


@pytest.mark.parametrize(
    "p", [DEFAULT_PRIME + 2, 2**64 - 1, 0xFFFFFFBD3F0333, 65_537, 2**31 - 1, 2**89 - 1, -7, 0]
)
def test_check_prime_refuses_composites_and_primes_out_of_range(p: int) -> None:
    with pytest.raises(ConfigError):
        check_prime(p)


@pytest.mark.parametrize("p", [DEFAULT_PRIME + 2, 2**61 + 1, 17])
def test_generate_profiles_refuses_a_bad_prime(p: int) -> None:
    with pytest.raises(ConfigError):
        generate_profiles(["a", "b", "c"], p=p)


@pytest.mark.parametrize("nodes", [[], ["a"], ["a", "b", "a"], ["a", ""], "abc", ["a", 3]])
def test_generate_profiles_refuses_a_bad_node_list(nodes: object) -> None:
    with pytest.raises(ConfigError):
        generate_profiles(nodes, p=DEFAULT_PRIME)  # type: ignore[arg-type]


@pytest.mark.parametrize("xs", [(1, 2, 2), (0, 1, 2), (1, README_PRIME)])
def test_lpc_refuses_zero_repeated_or_out_of_field_points(xs: tuple[int, ...]) -> None:
    with pytest.raises(ConfigError):
        lpc(xs, 0, README_PRIME)


def test_derive_mask_refuses_short_keys_and_out_of_range_seq() -> None:
    with pytest.raises(ConfigError):
        derive_mask(bytes(15), 0)
    with pytest.raises(ConfigError):
        derive_mask(bytes(16), 2**64)


def test_masks_differ_per_packet_per_key_and_per_context_and_are_redacted() -> None:
    key, other = _keys(2, 3)
    masks = {
        derive_mask(key, 0),
        derive_mask(key, 1),
        derive_mask(other, 0),
        derive_mask(key, 0, context=b"p2"),
    }
    assert len(masks) == 4
    assert derive_mask(key, 5) == derive_mask(key, 5)
    assert str(derive_mask(key, 5).rnd) not in repr(derive_mask(key, 5))


def test_profile_repr_hides_shares_and_the_secret() -> None:
    profile = generate_profiles(["a", "b", "c"], rng=SeededRng(1))
    text = repr(profile)
    assert str(profile.verifier.secret) not in text
    assert all(str(n.share) not in text for n in profile.nodes)


# --- JSON --------------------------------------------------------------------------------------------------


@FAST
@given(k=st.integers(2, 10), seed=st.integers(0, 2**32))
def test_profiles_survive_a_json_round_trip(k: int, seed: int) -> None:
    profile = generate_profiles([f"n{i}" for i in range(k)], rng=SeededRng(seed))
    assert PathProfile.from_json(profile.to_json()) == profile


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["nodes"][1].update(share=hex(int(d["nodes"][1]["share"], 16) ^ 1)),
        lambda d: d["nodes"][0].update(lpc="0x1"),
        lambda d: d["nodes"][2].update(pre="0x5"),
        lambda d: d["verifier"].update(node="n0"),
        lambda d: d.update(p=hex(DEFAULT_PRIME + 2)),
        lambda d: d.update(poly2=d["poly2"][:-1]),
        lambda d: d["nodes"][0].pop("x"),
        lambda d: d["nodes"][0].update(x=12),
    ],
)
def test_from_json_refuses_altered_profiles(edit: object) -> None:
    doc = json.loads(generate_profiles(["n0", "n1", "n2"], rng=SeededRng(5)).to_json())
    edit(doc)  # type: ignore[operator]
    with pytest.raises(ConfigError):
        PathProfile.from_json(json.dumps(doc))


def test_from_json_refuses_non_json() -> None:
    with pytest.raises(ConfigError):
        PathProfile.from_json("{not json")


# --- honest traffic ----------------------------------------------------------------------------------------


@FAST
@given(k=st.integers(3, 10), seed=st.integers(0, 2**32), seq=st.integers(0, 2**64 - 1))
def test_any_path_of_3_to_10_nodes_verifies_in_both_schemes(k: int, seed: int, seq: int) -> None:
    rng = SeededRng(seed)
    profile = generate_profiles([f"n{i}" for i in range(k)], rng=rng)
    rnd = new_rnd(profile.p, rng)
    cml = 0
    for node in profile.nodes:
        cml = node_update(node, cml, rnd)
    assert verify_cml(cml, rnd, profile.verifier.secret, profile.p)
    assert _opot_run(profile, _honest(profile), _keys(k - 1, seed), rnd, seq)


def test_masked_fields_do_not_carry_rnd_or_cml_in_the_clear() -> None:
    profile = generate_profiles(["a", "b", "c"], rng=SeededRng(9))
    node = profile.nodes[0]
    pot = opot_ingress(node, 1234, 7, _keys(1, 9)[0])
    assert pot.rnd != 1234
    assert pot.cml != node_update(node, 0, 1234)


# --- skipped, swapped, injected, tampered ------------------------------------------------------------------


@FAST
@given(k=st.integers(3, 10), seed=st.integers(0, 2**32), data=st.data())
def test_skipping_a_node_fails_the_plain_scheme_unless_its_term_is_zero(
    k: int, seed: int, data: st.DataObject
) -> None:
    rng = SeededRng(seed)
    profile = generate_profiles([f"n{i}" for i in range(k)], rng=rng)
    rnd = new_rnd(profile.p, rng)
    skipped = data.draw(st.integers(0, k - 2))
    node = profile.nodes[skipped]
    # the sum lacks LPC_j·(share_j + pre_j + RND), and LPC_j ≠ 0: exact unless that bracket is 0 mod p
    assume((node.share + node.pre + rnd) % profile.p != 0)
    cml = 0
    for i, n in enumerate(profile.nodes):
        if i != skipped:
            cml = node_update(n, cml, rnd)
    assert not verify_cml(cml, rnd, profile.verifier.secret, profile.p)


@FAST
@given(k=st.integers(3, 10), seed=st.integers(0, 2**32), data=st.data())
def test_the_plain_scheme_cannot_see_order_which_is_why_masks_exist(
    k: int, seed: int, data: st.DataObject
) -> None:
    rng = SeededRng(seed)
    profile = generate_profiles([f"n{i}" for i in range(k)], rng=rng)
    rnd = new_rnd(profile.p, rng)
    order = data.draw(st.permutations(range(k)))
    cml = 0
    for i in order:
        cml = node_update(profile.nodes[i], cml, rnd)
    assert verify_cml(cml, rnd, profile.verifier.secret, profile.p)


@FIXED
@given(k=st.integers(3, 10), seed=st.integers(0, 2**32), data=st.data())
def test_a_packet_that_skips_a_node_fails_the_ordered_scheme(k: int, seed: int, data: st.DataObject) -> None:
    rng = SeededRng(seed)
    profile = generate_profiles([f"n{i}" for i in range(k)], rng=rng)
    order = _honest(profile)
    del order[data.draw(st.integers(1, k - 2))]  # a transit node (the ingress creates the packet)
    assert not _opot_run(profile, order, _keys(k - 1, seed), new_rnd(profile.p, rng), seq=seed)


@FIXED
@given(k=st.integers(4, 10), seed=st.integers(0, 2**32), data=st.data())
def test_two_transit_nodes_in_swapped_order_fail_the_ordered_scheme(
    k: int, seed: int, data: st.DataObject
) -> None:
    rng = SeededRng(seed)
    profile = generate_profiles([f"n{i}" for i in range(k)], rng=rng)
    order = _honest(profile)
    j = data.draw(st.integers(1, k - 3))
    order[j], order[j + 1] = order[j + 1], order[j]
    assert not _opot_run(profile, order, _keys(k - 1, seed), new_rnd(profile.p, rng), seq=seed)


@FIXED
@given(k=st.integers(3, 10), seed=st.integers(0, 2**32), data=st.data())
def test_injected_random_fields_fail_at_any_hop(k: int, seed: int, data: st.DataObject) -> None:
    profile = generate_profiles([f"n{i}" for i in range(k)], rng=SeededRng(seed))
    keys = _keys(k - 1, seed)
    hop = data.draw(st.integers(0, k - 2))  # injected on the hop into node hop + 1
    words = st.integers(0, 2**64 - 1)
    pot: PotField | None = PotField(data.draw(words), data.draw(words), data.draw(words))
    for i in range(hop + 1, k - 1):
        assert pot is not None
        pot = opot_transit(profile.nodes[i], pot, keys[i - 1], keys[i])
    assert pot is None or not opot_verify(profile.nodes[-1], profile.verifier, pot, keys[-1])


@FAST
@given(k=st.integers(3, 10), seed=st.integers(0, 2**32), data=st.data())
def test_a_changed_cml_or_rnd_on_any_hop_always_fails(k: int, seed: int, data: st.DataObject) -> None:
    rng = SeededRng(seed)
    profile = generate_profiles([f"n{i}" for i in range(k)], rng=rng)
    keys, rnd = _keys(k - 1, seed), new_rnd(profile.p, rng)
    hop = data.draw(st.integers(0, k - 2))  # the packet leaving node `hop`
    pot = _opot_walk(profile, list(range(hop + 1)), keys, rnd, seq=seed)
    assert pot is not None
    flip = data.draw(st.integers(1, 2**64 - 1))
    changed = (
        PotField(pot.seq, pot.rnd ^ flip, pot.cml)
        if data.draw(st.booleans())
        else PotField(pot.seq, pot.rnd, pot.cml ^ flip)
    )
    # exact: a CML changed to another field value stays changed; an RND changed by δ moves the final CML
    # by −(LPC_1 + … + LPC_j)·δ ≠ 0 (generate_profiles guarantees the prefix sums); out of field: dropped
    for i in range(hop + 1, k - 1):
        assert changed is not None
        changed = opot_transit(profile.nodes[i], changed, keys[i - 1], keys[i])
    assert changed is None or not opot_verify(profile.nodes[-1], profile.verifier, changed, keys[-1])


@FIXED
@given(k=st.integers(3, 10), seed=st.integers(0, 2**32), other=st.integers(0, 2**64 - 1))
def test_a_replayed_field_under_another_sequence_number_fails(k: int, seed: int, other: int) -> None:
    assume(other != seed)
    rng = SeededRng(seed)
    profile = generate_profiles([f"n{i}" for i in range(k)], rng=rng)
    keys = _keys(k - 1, seed)
    pot = _opot_walk(profile, _honest(profile), keys, new_rnd(profile.p, rng), seq=seed)
    assert pot is not None
    assert opot_verify(profile.nodes[-1], profile.verifier, pot, keys[-1])
    replayed = PotField(other, pot.rnd, pot.cml)
    assert not opot_verify(profile.nodes[-1], profile.verifier, replayed, keys[-1])


def test_opot_verify_refuses_a_node_profile_of_another_node() -> None:
    profile = generate_profiles(["a", "b", "c"], rng=SeededRng(2))
    pot = PotField(0, 0, 0)
    with pytest.raises(ConfigError):
        opot_verify(profile.nodes[0], profile.verifier, pot, _keys(1, 2)[0])


def test_pot_field_refuses_values_beyond_64_bits() -> None:
    with pytest.raises(ConfigError):
        PotField(0, 2**64, 0)


def test_profiles_refuse_points_whose_lpc_prefix_sums_to_zero() -> None:
    # points 1, 2, 3: LPC_3 = 1 (as x₃ = x₁ + x₂), so LPC_1 + LPC_2 ≡ 0: a changed RND after node 2 would pass
    p = README_PRIME
    xs = (1, 2, 3)
    assert (lpc(xs, 0, p) + lpc(xs, 1, p)) % p == 0
    nodes = tuple(NodeProfile(f"n{i}", p, x, 0, lpc(xs, i, p), 0) for i, x in enumerate(xs))
    with pytest.raises(ConfigError, match="prefix"):
        PathProfile(p, (0, 0), nodes, VerifierProfile("n2", p, 0))
