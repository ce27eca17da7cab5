"""Two KMEs synchronised over the KME↔KME API: both ends serve at once without overlapping key
material, every key reaches its slave exactly once, pools refill from the QKD modules, a block is
handed out only once the peer holds its copy, and unused key material expires at both ends."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator

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

from sdqkd.etsi014 import Etsi014ClientError, KeyContainer

pytestmark = pytest.mark.integration


def key_blocks(network: Network, node: str, owner: str) -> dict[str, list[str]]:
    """Key ID → block IDs of the keys in ``node``'s store made by ``owner`` ('self' or 'peer')."""
    found = rows(network.stores[node].path, "SELECT key_id, block_ids FROM keys WHERE owner = ?", owner)
    return {key_id: json.loads(blocks) for key_id, blocks in found}


def test_both_ends_serve_at_once_without_overlap_and_deliver_each_key_once(network: Network) -> None:
    pki = network.pki

    async def scenario() -> tuple[list[KeyContainer], list[KeyContainer], list[object], list[object]]:
        async with (
            network.client("n1", pki.n1_app) as at_n1,
            network.client("n2", pki.n2_app) as at_n2,
        ):
            from_n1, from_n2 = await asyncio.gather(
                asyncio.gather(*(at_n1.enc_keys("n2-app", number=2) for _ in range(50))),
                asyncio.gather(*(at_n2.enc_keys("n1-app", number=2) for _ in range(50))),
            )
            # every key asked for twice at once by its slave: exactly one of the two gets it
            racing_at_n2 = [
                at_n2.dec_keys("n1-app", [k.key_id for k in c.keys]) for c in from_n1 for _ in "ab"
            ]
            racing_at_n1 = [
                at_n1.dec_keys("n2-app", [k.key_id for k in c.keys]) for c in from_n2 for _ in "ab"
            ]
            fetched_at_n2, fetched_at_n1 = await asyncio.gather(
                asyncio.gather(*racing_at_n2, return_exceptions=True),
                asyncio.gather(*racing_at_n1, return_exceptions=True),
            )
        return list(from_n1), list(from_n2), list(fetched_at_n2), list(fetched_at_n1)

    from_n1, from_n2, fetched_at_n2, fetched_at_n1 = asyncio.run(scenario())

    made = [key for container in [*from_n1, *from_n2] for key in container.keys]
    assert len(made) == 200
    assert len({key.key_id for key in made}) == 200
    assert len({key.material() for key in made}) == 200
    for made_there, fetched in ((from_n1, fetched_at_n2), (from_n2, fetched_at_n1)):
        for index, container in enumerate(made_there):
            pair = fetched[2 * index : 2 * index + 2]
            served = [answer for answer in pair if isinstance(answer, KeyContainer)]
            refused = [answer for answer in pair if isinstance(answer, Etsi014ClientError)]
            assert len(served) == len(refused) == 1, pair
            assert refused[0].status_code == 401
            assert [k.material() for k in served[0].keys] == [k.material() for k in container.keys]

    # In the stores: each end made its keys from its own blocks, the other recorded the same blocks.
    own = {node: key_blocks(network, node, "self") for node in ("n1", "n2")}
    copies = {node: key_blocks(network, node, "peer") for node in ("n1", "n2")}
    for maker, holder, made_there in (("n1", "n2", from_n1), ("n2", "n1", from_n2)):
        for container in made_there:
            for key in container.keys:
                assert copies[holder][str(key.key_id)] == own[maker][str(key.key_id)]
    blocks_n1 = [b for blocks in own["n1"].values() for b in blocks]
    blocks_n2 = [b for blocks in own["n2"].values() for b in blocks]
    assert len(set(blocks_n1)) == len(blocks_n1)
    assert len(set(blocks_n2)) == len(blocks_n2)
    assert not set(blocks_n1) & set(blocks_n2)


_READY = "SELECT block_id FROM blocks WHERE owner = 'self' AND state = 'ready'"
_HELD = "SELECT block_id FROM blocks WHERE owner = 'peer'"


def test_a_block_is_handed_out_only_once_the_peer_holds_its_copy(network: Network) -> None:
    def check() -> bool:
        ready_at_n1 = rows(network.stores["n1"].path, _READY)
        held_at_n2 = rows(network.stores["n2"].path, _HELD)
        assert set(ready_at_n1) <= set(held_at_n2)
        ready_at_n2 = rows(network.stores["n2"].path, _READY)
        held_at_n1 = rows(network.stores["n1"].path, _HELD)
        assert set(ready_at_n2) <= set(held_at_n1)
        return bool(ready_at_n1 and ready_at_n2)

    assert check()
    # the same copies' bytes: a key n2 makes is composed at n1 from the same blocks
    delivered = etsi(network, "n2", network.pki.n2_app, lambda c: c.enc_keys("n1-app", number=3, size=264))
    fetched = etsi(
        network, "n1", network.pki.n1_app, lambda c: c.dec_keys("n2-app", [k.key_id for k in delivered.keys])
    )
    assert [k.material() for k in fetched.keys] == [k.material() for k in delivered.keys]


def test_the_pools_refill_after_draining(network: Network) -> None:
    pki = network.pki
    network.wait_for_ready_blocks(POOL_TARGET_BLOCKS)
    lowest = POOL_TARGET_BLOCKS
    taken: list[KeyContainer] = []
    refusals: list[int | None] = []

    async def drain() -> None:
        nonlocal lowest
        async with network.client("n1", pki.n1_app) as client:
            deadline = time.monotonic() + 10
            while len(taken) < 3:  # three whole pools: 128 keys of 1024 bits take 512 blocks
                assert time.monotonic() < deadline, "the supply did not keep up"
                try:
                    taken.append(await client.enc_keys("n2-app", number=128, size=1024))
                except Etsi014ClientError as exc:  # momentarily empty: the supply catches up
                    refusals.append(exc.status_code)
                    await asyncio.sleep(0.02)
                lowest = min(lowest, network.stores["n1"].levels(LINK).ready_self)

    asyncio.run(drain())
    assert set(refusals) <= {503}
    assert lowest < POOL_TARGET_BLOCKS // 2
    network.wait_for_ready_blocks(POOL_TARGET_BLOCKS)
    levels = network.pools("n1")
    assert levels["ready_blocks"] == POOL_TARGET_BLOCKS
    assert levels["pending_blocks"] == 0
    fetched = [  # as the master got them: at most max_key_per_request (128) key IDs a request
        etsi(
            network,
            "n2",
            pki.n2_app,
            lambda c, ids=[k.key_id for k in container.keys]: c.dec_keys("n1-app", ids),
        )
        for container in taken
    ]
    assert [k.material() for f in fetched for k in f.keys] == [k.material() for c in taken for k in c.keys]
    assert network.pools("n2")["keys_awaiting_slaves"] == 0  # delivered: wiped at n2


def test_status_counts_the_ready_pool(network: Network) -> None:
    network.wait_for_ready_blocks(POOL_TARGET_BLOCKS)
    status = etsi(network, "n1", network.pki.n1_app, lambda c: c.status("n2-app"))
    assert status.stored_key_count == POOL_TARGET_BLOCKS  # 256-bit keys, one block each
    assert status.max_key_count == POOL_TARGET_BLOCKS


# Expiry --------------------------------------------------------------------------------------------


@pytest.fixture
def short_lived(kms_pki: KmsPki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    """A network of its own whose KMEs keep key material 1 s."""
    with running_network(kms_pki, tmp_path_factory.mktemp("kms-ttl"), key_ttl_s=1.0) as running:
        running.wait_for_ready_blocks()
        yield running


def test_unused_blocks_and_keys_expire_at_both_ends(short_lived: Network) -> None:
    network, pki = short_lived, short_lived.pki
    # within the TTL the usual flow works
    fresh = etsi(network, "n1", pki.n1_app, lambda c: c.enc_keys("n2-app"))
    fetched = etsi(network, "n2", pki.n2_app, lambda c: c.dec_keys("n1-app", [k.key_id for k in fresh.keys]))
    assert fetched.keys[0].material() == fresh.keys[0].material()

    stale = etsi(network, "n1", pki.n1_app, lambda c: c.enc_keys("n2-app", size=512))
    (stale_id,) = [str(key.key_id) for key in stale.keys]
    blocks_then = {
        node: {row[0] for row in rows(network.stores[node].path, "SELECT block_id FROM blocks")}
        for node in ("n1", "n2")
    }
    assert set(key_blocks(network, "n1", "self")[stale_id]) <= blocks_then["n2"]  # held for n1 at n2

    def gone() -> bool:
        for node in ("n1", "n2"):
            now = {row[0] for row in rows(network.stores[node].path, "SELECT block_id FROM blocks")}
            if now & blocks_then[node]:
                return False
        return not rows(network.stores["n1"].path, "SELECT 1 FROM keys WHERE key_id = ?", stale_id)

    wait_for(gone, bool, timeout_s=5, what="the old blocks and the unclaimed key expired")
    late = refusal(network, "n2", pki.n2_app, lambda c: c.dec_keys("n1-app", [uuid.UUID(stale_id)]))
    assert late.status_code == 401
    assert not rows(network.stores["n2"].path, "SELECT 1 FROM keys WHERE key_id = ?", stale_id)
    network.wait_for_ready_blocks()  # the supply goes on with new blocks
