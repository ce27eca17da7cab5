"""What one node of an OPoT path is given (:class:`sdqkd.opot.NodeShare`): its own profile and the path's
node names, the SECRET only at the verifier — never another node's share — and the checks of its JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from sdqkd.errors import ConfigError
from sdqkd.opot import DEFAULT_PRIME, NodeShare, generate_profiles, lpc

PATH = ["n1", "n2", "n3", "n4"]
PROFILES = generate_profiles(PATH)


def test_each_node_gets_its_own_profile_and_only_the_verifier_the_secret() -> None:
    for i, name in enumerate(PATH):
        share = PROFILES.share_for(name)
        assert share.path == tuple(PATH)
        assert share.node == PROFILES.nodes[i]
        assert share.verifier == (PROFILES.verifier if name == PATH[-1] else None)


def test_the_shares_of_one_path_interpolate_to_the_verifiers_secret() -> None:
    shares = [PROFILES.share_for(name) for name in PATH]
    xs = [s.node.x for s in shares]
    p = shares[0].node.p
    assert [s.node.lpc for s in shares] == [lpc(xs, i, p) for i in range(len(xs))]
    verifier = shares[-1].verifier
    assert verifier is not None
    assert sum(s.node.lpc * s.node.share for s in shares) % p == verifier.secret
    other = generate_profiles(PATH).share_for("n2")  # a share of another path does not fit
    mixed = [shares[0], other, *shares[2:]]
    assert sum(s.node.lpc * s.node.share for s in mixed) % p != verifier.secret


def test_a_node_not_on_the_path_gets_no_share() -> None:
    with pytest.raises(ConfigError, match="'n9' is not on the path"):
        PROFILES.share_for("n9")


def test_a_share_survives_a_json_round_trip_and_its_json_holds_no_other_nodes_secret() -> None:
    for name in PATH:
        share = PROFILES.share_for(name)
        text = share.to_json()
        assert NodeShare.from_json(text) == share
        assert NodeShare.from_json(text.encode()) == share
        others = [hex(n.share) for n in PROFILES.nodes if n.node != name]
        assert not any(f'"{value}"' in text for value in others)
        assert (f'"{hex(PROFILES.verifier.secret)}"' in text) == (name == PATH[-1])


def test_a_shares_repr_hides_its_share_and_the_secret() -> None:
    text = repr(PROFILES.share_for(PATH[-1]))
    assert str(PROFILES.nodes[-1].share) not in text
    assert str(PROFILES.verifier.secret) not in text


def _doc(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(PROFILES.share_for(name).to_json())
    return doc


Edit = Callable[[dict[str, Any]], Any]


@pytest.mark.parametrize(
    ("name", "edit", "why"),
    [
        ("n1", lambda d: d.update(verifier={"node": "n1", "secret": "0x5"}), "only it, holds the verifier"),
        ("n4", lambda d: d.pop("verifier"), "only it, holds the verifier"),
        ("n4", lambda d: d["verifier"].update(node="n3"), "another node or field"),
        ("n2", lambda d: d["node"].update(node="n9"), "'n9' is not on the path"),
        ("n2", lambda d: d["node"].update(share=hex(DEFAULT_PRIME)), "outside the field"),
        ("n2", lambda d: d["node"].update(x="0x0"), "outside the field"),
        ("n2", lambda d: d["node"].update(share=5), "0x"),
        ("n2", lambda d: d["node"].pop("lpc"), "lpc"),
        ("n2", lambda d: d.update(path="n1,n2,n3,n4"), "list"),
        ("n2", lambda d: d.update(path=["n1", "n2", "n2", "n4"]), "appears twice"),
        ("n1", lambda d: d.update(path=["n1"]), "at least an ingress and a verifier"),
        ("n2", lambda d: d.update(p=hex(DEFAULT_PRIME + 2)), "not prime"),
        ("n2", lambda d: d.pop("p"), "'p'"),
    ],
)
def test_a_share_that_is_not_one_nodes_of_one_path_is_refused(name: str, edit: Edit, why: str) -> None:
    doc = _doc(name)
    edit(doc)
    with pytest.raises(ConfigError, match=why):
        NodeShare.from_json(json.dumps(doc))


@pytest.mark.parametrize("text", ["{not json", "[]", '"share"', "null", PROFILES.to_json()])
def test_text_that_is_no_share_at_all_is_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="not an OPoT node share"):
        NodeShare.from_json(text)
