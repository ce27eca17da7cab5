"""Trusted-node key relay as a user runs it: ``sdqkd up`` on ``chain:5`` gives the SAEs at the two ends
matching keys over ETSI GS QKD 014, and on ``grid:3x3`` a fibre cut on the relay path (``sdqkd plant
cut``) is routed around within 5 s while an application keeps asking, with no key lost or repeated."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from runtime_support import Launch, link, relayed, sdqkd, status_now, wait_for, wait_until_serving

from sdqkd.etsi014 import Etsi014Client
from sdqkd.etsi014.client import Etsi014ClientError

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REROUTE_DEADLINE_S = 5.0


def _sae(status: dict[str, Any], node: str) -> Etsi014Client:
    found = next(n for n in status["nodes"] if n["id"] == node)
    sae = found["saes"][0]
    return Etsi014Client(
        found["kme_url"], cert=Path(sae["cert"]), key=Path(sae["key"]), ca=Path(status["ca"])
    )


def test_the_saes_at_the_ends_of_a_chain_of_five_get_the_same_keys(
    launch: Launch, run_dir: Path, tmp_path: Path
) -> None:
    up = launch(run_dir, tmp_path / "up.out", topology="chain:5")
    status = wait_until_serving(run_dir, up, tmp_path / "up.out", ready=lambda s: relayed(s, "v-n1-n5"))
    assert link(status, "v-n1-n5")["path"] == ["n1", "n2", "n3", "n4", "n5"]

    async def exchange() -> tuple[list[bytes], list[bytes], list[bytes]]:
        async with _sae(status, "n1") as master, _sae(status, "n5") as slave:
            sent = await master.enc_keys("n5-app", number=3, size=512)
            ids = [key.key_id for key in sent.keys]
            received = await slave.dec_keys("n1-app", ids)
            back = await slave.enc_keys("n1-app", number=1)  # the other way round too
            returned = await master.dec_keys("n5-app", [back.keys[0].key_id])
            with pytest.raises(Etsi014ClientError) as again:  # once only
                await slave.dec_keys("n1-app", ids[:1])
            assert again.value.status_code == 401
            return (
                [k.material() for k in sent.keys] + [back.keys[0].material()],
                [k.material() for k in received.keys] + [returned.keys[0].material()],
                [k.material() for k in sent.keys],
            )

    sent, received, first = asyncio.run(exchange())
    assert sent == received
    assert all(len(key) == 64 for key in first)
    assert len(set(sent)) == 4

    shown = sdqkd("status", "--run-dir", run_dir)
    assert shown.returncode == 0, shown.stderr
    assert "v-n1-n5" in shown.stdout
    assert "VIRT" in shown.stdout


def test_a_cut_on_the_relay_path_is_routed_around_with_nothing_lost_or_repeated(
    launch: Launch, run_dir: Path, tmp_path: Path
) -> None:
    up = launch(run_dir, tmp_path / "up.out", topology="grid:3x3")
    status = wait_until_serving(run_dir, up, tmp_path / "up.out", ready=lambda s: relayed(s, "v-r1c1-r3c3"))
    before = link(status, "v-r1c1-r3c3")
    cut = before["hops"][1]  # a hop inside the path (not at either end's node only)

    delivered: list[tuple[float, str, bytes]] = []
    refusals: list[tuple[float, int | None]] = []

    async def ask_until(stop_at: float) -> None:
        async with _sae(status, "r1c1") as master:
            while time.monotonic() < stop_at:
                try:
                    answer = await master.enc_keys("r3c3-app", number=1)
                except Etsi014ClientError as exc:
                    refusals.append((time.monotonic(), exc.status_code))  # a failed relay: 503, no key
                else:
                    key = answer.keys[0]
                    delivered.append((time.monotonic(), str(key.key_id), key.material()))
                await asyncio.sleep(0.02)  # the SAE asks every 20 ms, before and after the cut

    async def scenario() -> float:
        asking = asyncio.create_task(ask_until(time.monotonic() + 12))
        await asyncio.sleep(2)  # keys flow over the first path for a while before it is cut
        cut_at = time.monotonic()
        result = await asyncio.to_thread(sdqkd, "plant", "cut", "--fibre", cut, "--run-dir", run_dir)
        assert result.returncode == 0, result.stderr
        await asking
        return cut_at

    cut_at = asyncio.run(scenario())

    after = wait_for(
        lambda: status_now(run_dir), lambda s: s is not None and relayed(s, "v-r1c1-r3c3"), 10, "relay"
    )
    assert after is not None
    assert cut not in link(after, "v-r1c1-r3c3")["hops"]
    resumed = [t for t, _, _ in delivered if t > cut_at]
    assert resumed, f"no key after the cut ({len(refusals)} refusals)"
    assert {status for _, status in refusals} <= {503}
    # keys flowed until the cut; the first one over the new path came within the deadline
    assert any(t < cut_at for t, _, _ in delivered)
    gap = min(resumed) - cut_at
    assert gap < REROUTE_DEADLINE_S, f"keys resumed {gap:.1f} s after the cut"

    async def claim() -> list[bytes]:
        async with _sae(status, "r3c3") as slave:
            found: list[bytes] = []
            ids = [key_id for _, key_id, _ in delivered]
            for start in range(0, len(ids), 50):
                batch = await slave.dec_keys("r1c1-app", [UUID(i) for i in ids[start : start + 50]])
                found += [key.material() for key in batch.keys]
            return found

    claimed = asyncio.run(claim())
    assert claimed == [value for _, _, value in delivered]  # every key the master got, once, the same
    assert len({value for _, _, value in delivered}) == len(delivered)  # none repeated
