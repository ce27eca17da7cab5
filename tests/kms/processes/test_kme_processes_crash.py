"""Crash safety of the KMEs ``sdqkd up`` runs: ``kill -9`` of a KME under load loses no key a master
SAE received, delivers no key twice, and ``up`` restarts the KME (a bounded number of times)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

import pytest
from kme_process_support import (
    Up,
    keys_made_for,
    processes_mentioning,
    recorded_processes,
    sae_client,
    sdqkd,
    wait_for,
    wait_until_kme_restarted,
    wait_until_pools_ready,
)

from sdqkd.etsi014 import Etsi014Client, Etsi014ClientError
from sdqkd.runtime.rundir import RunDir
from sdqkd.runtime.supervisor import RESTART_WINDOW_S, RESTARTS

pytestmark = pytest.mark.integration

LINK = "n1-n2"
MASTER, SLAVE = "n1-app", "n2-app"
TASKS = 8  # concurrent SAE requests
KEYS_PER_REQUEST = 5
KEYS_BEFORE_KILL = 100  # keys the master holds when its KME is killed
KEYS_AFTER_RESTART = 100  # keys it must get from the restarted KME
SLAVE_BATCHES = 100  # enc_keys answers (of KEYS_PER_REQUEST keys) the slave claims in phase 2
LOAD_TIMEOUT_S = 30.0


async def until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} within {timeout_s} s")
        await asyncio.sleep(0.01)


def kill_kme(run_dir: Path, node: str) -> int:
    """``kill -9`` the KME of ``node``; its process id."""
    pid = recorded_processes(run_dir)[f"kme-{node}"]
    os.kill(pid, signal.SIGKILL)
    return pid


@dataclass
class MasterLoad:
    """What the master SAE got from its KME: only keys of answers that arrived."""

    received: dict[UUID, bytes] = field(default_factory=dict)
    batches: list[list[UUID]] = field(default_factory=list)
    in_flight: int = 0
    failed: int = 0


async def request_keys(client: Etsi014Client, load: MasterLoad, stop: asyncio.Event) -> None:
    """One SAE task: enc_keys in a loop until ``stop``; a failed request is counted, not retried."""
    while not stop.is_set():
        load.in_flight += 1
        try:
            container = await client.enc_keys(SLAVE, number=KEYS_PER_REQUEST)
        except Etsi014ClientError:
            load.failed += 1
            await asyncio.sleep(0.05)  # its KME is down: pace the requests until it is back
            continue
        finally:
            load.in_flight -= 1
        batch = [key.key_id for key in container.keys]
        assert len(batch) == KEYS_PER_REQUEST
        load.received.update((key.key_id, key.material()) for key in container.keys)
        load.batches.append(batch)


@dataclass
class PhaseOne:
    load: MasterLoad
    received_at_kill: int
    in_flight_at_kill: int
    failed_at_kill: int


async def master_load_killing_its_kme(run_dir: Path) -> PhaseOne:
    """TASKS master tasks against KME n1; KME n1 killed once the master holds KEYS_BEFORE_KILL keys;
    the load goes on until the master got KEYS_AFTER_RESTART more from the restarted KME."""
    load, stop = MasterLoad(), asyncio.Event()
    async with sae_client(run_dir, "n1") as client:
        tasks = [asyncio.create_task(request_keys(client, load, stop)) for _ in range(TASKS)]
        try:
            await until(
                lambda: len(load.received) >= KEYS_BEFORE_KILL, LOAD_TIMEOUT_S, "keys before the kill"
            )
            old = kill_kme(run_dir, "n1")
            # the same event loop runs the tasks: nothing moves between the kill and these counts
            phase = PhaseOne(load, len(load.received), load.in_flight, load.failed)
            await asyncio.to_thread(wait_until_kme_restarted, run_dir, "n1", old)
            await until(
                lambda: len(load.received) >= phase.received_at_kill + KEYS_AFTER_RESTART,
                LOAD_TIMEOUT_S,
                "keys from the restarted KME",
            )
        finally:
            stop.set()
            await asyncio.gather(*tasks)
    return phase


async def claim(client: Etsi014Client, batch: list[UUID]) -> dict[UUID, bytes]:
    container = await client.dec_keys(MASTER, batch)
    return {key.key_id: key.material() for key in container.keys}


async def claim_all(run_dir: Path, batches: list[list[UUID]]) -> dict[UUID, bytes]:
    """dec_keys of every batch at KME n2 as the slave SAE, TASKS at a time; the keys."""
    gate = asyncio.Semaphore(TASKS)
    async with sae_client(run_dir, "n2") as client:

        async def one(batch: list[UUID]) -> dict[UUID, bytes]:
            async with gate:
                return await claim(client, batch)

        claimed: dict[UUID, bytes] = {}
        for got in await asyncio.gather(*(one(batch) for batch in batches)):
            claimed.update(got)
    return claimed


async def master_keys(run_dir: Path, requests: int) -> MasterLoad:
    """``requests`` enc_keys answers for the master (no crash meanwhile: each must succeed)."""
    load, gate = MasterLoad(), asyncio.Semaphore(TASKS)
    async with sae_client(run_dir, "n1") as client:

        async def one() -> None:
            async with gate:
                container = await client.enc_keys(SLAVE, number=KEYS_PER_REQUEST)
            load.batches.append([key.key_id for key in container.keys])
            load.received.update((key.key_id, key.material()) for key in container.keys)

        await asyncio.gather(*(one() for _ in range(requests)))
    return load


@dataclass
class SlaveLoad:
    """The slave SAE claiming the master's batches at KME n2, retrying what fails (a real SAE's
    behaviour) until it gets the keys or a 401."""

    delivered: dict[int, dict[UUID, bytes]] = field(default_factory=dict)
    lost: set[int] = field(default_factory=set)  # 401 on a retry: the first answer died with the KME
    retried: set[int] = field(default_factory=set)
    in_flight: set[int] = field(default_factory=set)


async def claim_with_retries(client: Etsi014Client, queue: asyncio.Queue[int], batches: list[list[UUID]],
                             load: SlaveLoad) -> None:  # fmt: skip
    while not queue.empty():
        index = queue.get_nowait()
        deadline = time.monotonic() + LOAD_TIMEOUT_S
        while True:
            load.in_flight.add(index)
            try:
                got = await claim(client, batches[index])
            except Etsi014ClientError as exc:
                if exc.status_code == 401:
                    assert index in load.retried, "a first claim refused"
                    load.lost.add(index)
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(f"batch {index} not claimed within {LOAD_TIMEOUT_S} s") from exc
                load.retried.add(index)
                await asyncio.sleep(0.1)  # the slave's KME is down: claim again once it may be back
                continue
            finally:
                load.in_flight.discard(index)
            assert index not in load.delivered
            load.delivered[index] = got
            break


@dataclass
class PhaseTwo:
    load: SlaveLoad
    in_flight_at_kill: set[int]
    delivered_at_kill: int


async def slave_load_killing_its_kme(run_dir: Path, batches: list[list[UUID]]) -> PhaseTwo:
    """TASKS slave tasks claim ``batches`` at KME n2, which is killed once a third of them is
    delivered; they retry until the restarted KME answers."""
    load = SlaveLoad()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(batches)):
        queue.put_nowait(index)
    async with sae_client(run_dir, "n2") as client:
        tasks = [asyncio.create_task(claim_with_retries(client, queue, batches, load)) for _ in range(TASKS)]
        try:
            await until(lambda: len(load.delivered) >= len(batches) // 3, LOAD_TIMEOUT_S, "a third claimed")
            old = kill_kme(run_dir, "n2")
            phase = PhaseTwo(load, set(load.in_flight), len(load.delivered))
            await asyncio.to_thread(wait_until_kme_restarted, run_dir, "n2", old)
        finally:
            await asyncio.gather(*tasks)
    return phase


async def refused_again(run_dir: Path, key_ids: list[UUID]) -> set[int | None]:
    """The statuses of dec_keys of each key, alone, at KME n2."""
    gate = asyncio.Semaphore(TASKS)
    async with sae_client(run_dir, "n2") as client:

        async def again(key_id: UUID) -> int | None:
            async with gate:
                try:
                    await client.dec_keys(MASTER, [key_id])
                except Etsi014ClientError as exc:
                    return exc.status_code
                return 200

        return set(await asyncio.gather(*(again(key_id) for key_id in key_ids)))


def assert_restarted(output: Path, name: str, restart: int) -> None:
    """``up`` has said that it restarts ``name`` for the ``restart``-th time, and that it serves again
    (it says so once it has seen the new KME's endpoint record, a moment after the test can)."""
    text = wait_for(
        output.read_text,
        lambda text: text.count(f"{name} serves again at https://localhost:") >= restart,
        5,
        f"{name} restarted {restart} time(s)",
    )
    assert f"{name} was killed by SIGKILL; restarting it ({restart}/{RESTARTS})" in text, text


@pytest.mark.slow
def test_kill_9_of_either_kme_under_load_loses_no_received_key_and_delivers_none_twice(
    up_network: Up, tmp_path: Path
) -> None:
    run_dir, output = tmp_path / "run", tmp_path / "up.out"
    up = up_network("chain:2", run_dir, output)
    wait_until_pools_ready(run_dir, up, output, LINK)
    first = recorded_processes(run_dir)

    # Phase 1: the master's KME dies under enc_keys load.
    one = asyncio.run(master_load_killing_its_kme(run_dir))

    assert up.poll() is None, output.read_text()
    now = recorded_processes(run_dir)
    assert now["emulator"] == first["emulator"]
    assert now["kme-n2"] == first["kme-n2"]
    assert now["kme-n1"] != first["kme-n1"]
    assert_restarted(output, "kme-n1", 1)
    received = one.load.received
    assert len(set(received.values())) == len(received), "two keys with the same bytes"
    committed = keys_made_for(run_dir, "n1", MASTER)
    lost_to_master = committed - len(received)  # made, but the answer died with the KME
    assert 0 <= lost_to_master <= one.in_flight_at_kill * KEYS_PER_REQUEST
    claimed = asyncio.run(claim_all(run_dir, one.load.batches))
    assert claimed == received
    assert asyncio.run(refused_again(run_dir, list(received))) == {401}, "a key was delivered twice"
    print(
        f"\nphase 1 (kill -9 of the master's KME n1 under {TASKS} enc_keys tasks): the master received "
        f"{len(received)} keys ({one.received_at_kill} before the kill), {one.in_flight_at_kill} requests "
        f"were in flight at the kill, {one.load.failed - one.failed_at_kill} failed while it restarted; "
        f"{len(claimed)}/{len(received)} recovered at KME n2 (each exactly once); "
        f"{lost_to_master} keys made by n1 never reached the master (answers lost in the crash)"
    )

    # Phase 2: the slave's KME dies while the slave claims fresh keys.
    fresh = asyncio.run(master_keys(run_dir, SLAVE_BATCHES))
    two = asyncio.run(slave_load_killing_its_kme(run_dir, fresh.batches))

    assert up.poll() is None, output.read_text()
    after = recorded_processes(run_dir)
    assert after["emulator"] == first["emulator"]
    assert after["kme-n1"] == now["kme-n1"]
    assert after["kme-n2"] != first["kme-n2"]
    assert_restarted(output, "kme-n2", 1)
    slave = two.load
    assert set(slave.delivered) | slave.lost == set(range(SLAVE_BATCHES))
    assert not set(slave.delivered) & slave.lost
    for index, got in slave.delivered.items():
        assert got == {key_id: fresh.received[key_id] for key_id in fresh.batches[index]}
    assert slave.lost <= two.in_flight_at_kill, "a key lost that was not being claimed at the kill"
    recovered = [index for index in slave.delivered if index in slave.retried]
    assert two.delivered_at_kill < SLAVE_BATCHES  # keys were left to claim from the restarted KME
    all_fresh = [key_id for batch in fresh.batches for key_id in batch]
    assert asyncio.run(refused_again(run_dir, all_fresh)) == {401}, "a key was delivered twice"
    lost_keys = len(slave.lost) * KEYS_PER_REQUEST
    assert lost_keys <= len(two.in_flight_at_kill) * KEYS_PER_REQUEST
    print(
        f"phase 2 (kill -9 of the slave's KME n2 under {TASKS} dec_keys tasks): "
        f"{len(all_fresh)} keys to claim, {two.delivered_at_kill * KEYS_PER_REQUEST} claimed before the "
        f"kill, "
        f"{len(two.in_flight_at_kill)} requests in flight at the kill; "
        f"{(SLAVE_BATCHES - two.delivered_at_kill - len(slave.lost)) * KEYS_PER_REQUEST} claimed after the "
        f"restart ({len(recovered) * KEYS_PER_REQUEST} of them on a retry), each exactly once; "
        f"{lost_keys} lost in flight (delivered by the dying KME, the answer lost)"
    )

    assert sdqkd("down", "--run-dir", run_dir).returncode == 0
    assert up.wait(timeout=15) == 0
    assert processes_mentioning(str(run_dir)) == []
    assert not RunDir(run_dir).network.exists()


def test_a_kme_that_keeps_dying_stops_the_network_and_leaves_no_process(
    up_network: Up, tmp_path: Path
) -> None:
    run_dir, output = tmp_path / "run", tmp_path / "up.out"
    up = up_network("chain:2", run_dir, output)
    wait_until_pools_ready(run_dir, up, output, LINK)

    for restart in range(1, RESTARTS + 1):
        old = kill_kme(run_dir, "n2")
        wait_until_kme_restarted(run_dir, "n2", old)
        assert_restarted(output, "kme-n2", restart)
    kill_kme(run_dir, "n2")

    assert up.wait(timeout=15) == 1
    text = output.read_text()
    assert (
        f"sdqkd: error: kme-n2 was killed by SIGKILL, {RESTARTS + 1} times within "
        f"{RESTART_WINDOW_S:.0f} s: not restarting it" in text
    ), text
    wait_for(lambda: processes_mentioning(str(run_dir)), lambda left: left == [], 5, "no process left")
    assert not RunDir(run_dir).network.exists()
