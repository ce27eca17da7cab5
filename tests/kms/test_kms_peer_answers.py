"""A peer KME that answers the KME↔KME API with something that is not its answer (not JSON, members
missing or of the wrong type, blocks it was not asked about; all with HTTP 200) holds up the link's
key supply, which is logged once and retried, and resumes when the peer answers properly again; no
block is lost, handed out by one end only, or given out by both."""

from __future__ import annotations

import logging
import uuid
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest
from kms_support import (
    LINK,
    POOL_TARGET_BLOCKS,
    KmsPki,
    Network,
    etsi,
    refusal,
    rows,
    running_network,
    wait_for,
)

pytestmark = pytest.mark.integration

_MARKER = "GARBAGE-7f3a"  # in every garbage answer: it must not reach the logs

# (content type, body) of a 200 answer to "hold your copies of these blocks"
_GARBAGE: list[tuple[str, bytes]] = [
    ("text/html", f"<html><body>{_MARKER}</body></html>".encode()),  # not JSON
    ("application/json", b""),  # empty
    ("application/json", b"\xff\xfe" + _MARKER.encode()),  # not even UTF-8
    ("application/json", f'["{_MARKER}"]'.encode()),  # JSON, not an object
    ("application/json", b'{"held": []}'),  # a member missing
    ("application/json", f'{{"held": "{_MARKER}", "missing": 7}}'.encode()),  # wrong types
    ("application/json", f'{{"held": ["{uuid.uuid4()}"], "missing": []}}'.encode()),  # blocks not asked
]


class GarbagePeer:
    """The peer KME's app behind a fake that, while ``on``, answers every call of one KME↔KME
    operation (``/blocks`` by default) itself, 200 with the next body of :data:`_GARBAGE`, and does
    nothing; every other call goes through."""

    def __init__(self, app: Any, operation: str = "/blocks") -> None:
        self.app = app
        self.operation = operation
        self.on = True
        self.served = 0

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if not (self.on and scope["type"] == "http" and scope["path"].endswith(self.operation)):
            await self.app(scope, receive, send)
            return
        while (await receive()).get("more_body"):
            pass
        content_type, body = _GARBAGE[self.served % len(_GARBAGE)]
        self.served += 1
        headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def own_blocks(network: Network, node: str, state: str) -> dict[str, bytes]:
    """Block ID → material of ``node``'s own blocks in ``state`` ('pending' or 'ready')."""
    found = rows(
        network.stores[node].path,
        "SELECT block_id, material FROM blocks WHERE owner = 'self' AND state = ?",
        state,
    )
    return dict(found)


def held_for_peer(network: Network, node: str) -> dict[str, bytes]:
    """Block ID → material of the copies ``node`` holds of its peer's blocks."""
    return dict(rows(network.stores[node].path, "SELECT block_id, material FROM blocks WHERE owner = 'peer'"))


def supply_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The log records of the key supply loop of the link (both KMEs' if both fail)."""
    return [
        record
        for record in caplog.records
        if record.name == "sdqkd.kms.kme" and getattr(record, "loop", None) == f"kme-n1-supply-{LINK}"
    ]


def test_garbage_from_the_peer_kme_is_logged_once_retried_and_loses_no_block(
    kms_pki: KmsPki, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="sdqkd.kms.kme")
    fakes: list[GarbagePeer] = []

    def serve(node: str, app: Any) -> Any:
        if node != "n2":
            return app
        fakes.append(GarbagePeer(app))
        return fakes[-1]

    with running_network(kms_pki, tmp_path, serve=serve) as network:
        (fake,) = fakes
        wait_for(lambda: fake.served, lambda n: n >= len(_GARBAGE), timeout_s=30, what="each kind of garbage")
        # n1 pulled blocks as master, but none is handed out: the peer never confirmed holding a copy
        pending = own_blocks(network, "n1", "pending")
        assert pending
        assert own_blocks(network, "n1", "ready") == {}
        assert network.pools("n1")["ready_blocks"] == 0

        fake.on = False
        wait_for(
            lambda: network.pools("n1")["ready_blocks"],
            lambda ready: ready >= POOL_TARGET_BLOCKS,
            timeout_s=30,
            what="n1's pool full again",
        )

        # the blocks left pending by the garbage were asked about again: ready now, and n2 holds the
        # same material for each
        ready, at_n2 = own_blocks(network, "n1", "ready"), held_for_peer(network, "n2")
        assert set(pending) <= set(ready)
        assert all(at_n2.get(block_id) == material for block_id, material in ready.items())
        # each end hands out only its own blocks: no block is both ends'
        assert not set(ready) & set(own_blocks(network, "n2", "ready"))
        # and a key made at n1 is the key n2 gives its slave
        made = etsi(network, "n1", network.pki.n1_app, lambda c: c.enc_keys("n2-app", size=512))
        got = etsi(network, "n2", network.pki.n2_app, lambda c: c.dec_keys("n1-app", [made.keys[0].key_id]))
        assert got.keys[0].material() == made.keys[0].material()

        # (before the teardown, whose closing connections fail rounds of their own)
        records = supply_records(caplog)
        warnings = [r for r in records if r.levelno == logging.WARNING]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]  # once for the whole run of failures
        assert f"supply-{LINK}" in warnings[0].getMessage()
        assert "PeerKmeUnavailable" in warnings[0].getMessage()
        retried = [r for r in records if r.levelno == logging.DEBUG]
        assert len(retried) + 1 >= len(_GARBAGE)  # every garbage answer failed a round, and was retried
        assert [r.getMessage() for r in records if r.levelno == logging.INFO] == [
            f"kme-n1-supply-{LINK}: recovered after {len(retried) + 1} failed round(s)"
        ]
        assert _MARKER not in caplog.text  # the peer's answer is not repeated


def test_garbage_about_assignments_is_a_503_to_the_slave_and_spends_no_key(
    kms_pki: KmsPki, tmp_path: Path
) -> None:
    fakes: list[GarbagePeer] = []

    def serve(node: str, app: Any) -> Any:
        if node != "n1":
            return app
        fakes.append(GarbagePeer(app, "/assignments"))
        return fakes[-1]

    with running_network(kms_pki, tmp_path, serve=serve) as network:
        (fake,) = fakes
        fake.on = False
        network.wait_for_ready_blocks()
        pki = network.pki
        made = etsi(network, "n1", pki.n1_app, lambda c: c.enc_keys("n2-app", number=2))
        key_ids = [key.key_id for key in made.keys]
        fake.on = True
        # n2 asks n1 which keys it made for n2-app; every garbled answer is a 503 the SAE may retry
        for _ in _GARBAGE:
            error = refusal(network, "n2", pki.n2_app, lambda c: c.dec_keys("n1-app", key_ids))
            assert error.status_code == 503
        assert fake.served == len(_GARBAGE)
        fake.on = False
        got = etsi(network, "n2", pki.n2_app, lambda c: c.dec_keys("n1-app", key_ids))
        assert [key.material() for key in got.keys] == [key.material() for key in made.keys]
