"""Chaos: under steady SAE load on the Madrid network, kill roles with SIGKILL, cut and restore fibres and
move the optical switch for N minutes; then check that nothing was lost and nothing duplicated.

The network is ``sdqkd up --topology madrid`` itself (every role its own process, on loopback): its
supervisor starts every role that dies again, as it started it and on the same port
(:mod:`sdqkd.runtime.supervisor`, at most 5 times a minute per process).

Load: for each SAE pair a master calls ETSI GS QKD 014 ``enc_keys`` (one 256-bit key) every
``--period`` seconds and keeps, per key ID, a SHA-256 of the key (never the key); its slave claims
those IDs with ``dec_keys`` in batches as they come. Pairs: norte→quintin and quintin→norte over the
fixed norte-quintin link (direct, each direction drawing on its own end's blocks), and concepcion→norte,
concepcion→quintin behind Concepción's optical switch: one of them direct, the other relayed through
the third node, as the switch (the controller's schedule, and this benchmark) stands.

Chaos, from ``--seed``: every ``--kill-interval`` seconds a role is killed (``kill -9``): the kinds
(kme, agent, controller, emulator) in rounds that take each once in random order, the node at
random; every ``--plant-interval`` seconds either a fibre is cut (restored ``--cut-seconds`` later)
or the switch is moved to its other port.

Then every fibre is restored and the run settles (every role up, the slaves still claiming) for up
to ``--settle-seconds``. Verdict (each figure in the report):

- every key a master received is claimed by its slave exactly once with the same bytes (hash); a key a
  master was refused (an ETSI 014 error answer: 400/401/503) was never a key. ``lost``: a slave was
  refused a key its master holds; ``lost_answer_in_flight``: of those, keys whose ``dec_keys`` answer
  was cut off by a kill (the slave's KME had committed the delivery, then died) — ETSI 014 delivers a
  key once, so the retry is refused;
- no key ID twice to a master or to a slave, and no key bytes under two IDs;
- a second ``dec_keys`` of a claimed ID is refused (a sample per pair);
- the KME pools reconcile. On each QKD link each KME pulls its *own* blocks from its module as master
  (``pending`` until the peer KME holds its copy, then ``ready``) and holds the *peer's* copies
  (``blocks_held_for_peer``); an own block leaves only as a key (the peer consumes its copy when a
  slave claims the key) or as a relay pad (the peer consumes its copy when the hop arrives). So, read
  through ``GET /api/v1/kme`` as the operator, for each link and each owner A with peer B:
  (R1) ``B.blocks_held_for_peer >= A.ready_blocks`` — every block A may still hand out is held at B;
  (R2) ``B.peer_blocks_used_for_relay <= A.blocks_used_for_relay`` — B never used more of A's pads
  than A spent (the difference: pads of hops that never arrived, spent by design);
  reported too: ``orphan_blocks = B.held - A.ready - A.pending``, B's copies of blocks A no longer
  has (pads of lost hops, keys whose ``enc_keys`` answer died with A); they expire with the key TTL.

Prints a table (or ``--format json``), writes the JSON to ``RUN/chaos-report.json`` too; exits 1
when the verdict fails. Keys are never printed or
logged: only their hashes are kept.

Run: ``python benchmarks/chaos.py --minutes 10 --seed 1 [--run-dir DIR] [--format json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import itertools
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from chaos_report import reconcile, render_table, verdict
from sdqkd.errors import SdqkdError
from sdqkd.etsi014 import Etsi014Client
from sdqkd.etsi014.client import Etsi014ClientError
from sdqkd.runtime.rundir import RunDir, sae_id
from sdqkd.runtime.status import network_status, operator_client, operator_http

SDQKD = [sys.executable, "-c", "from sdqkd.cli.app import run; run()"]  # `sdqkd` of this interpreter
PAIRS = [  # (master node, slave node, how its keys travel)
    ("norte", "quintin", "direct"),
    ("quintin", "norte", "direct"),
    ("concepcion", "norte", "switched: direct or relayed"),
    ("concepcion", "quintin", "switched: direct or relayed"),
]
KINDS = ("kme", "agent", "controller", "emulator")
SWITCH = "concepcion-switch"
CLAIM_BATCH = 20
SECOND_DEC_SAMPLE = 50


@dataclass
class Ledger:
    """What one SAE pair saw (key hashes only)."""

    master: str
    slave: str
    kind: str
    delivered: dict[str, str] = field(default_factory=dict)  # key ID -> SHA-256 of the key
    pending: list[str] = field(default_factory=list)  # delivered, not claimed yet
    claimed: dict[str, str] = field(default_factory=dict)
    refused_to_slave: set[str] = field(default_factory=set)
    answer_cut: dict[str, tuple[float, str]] = field(default_factory=dict)  # ID -> (when, why) a
    # dec_keys naming it got no answer
    enc_calls: int = 0
    enc_refused: Counter[int] = field(default_factory=Counter)
    enc_no_answer: int = 0
    dec_calls: int = 0
    dec_refused: Counter[int] = field(default_factory=Counter)
    dec_no_answer: int = 0
    dup_master: int = 0
    dup_slave: int = 0
    mismatched: int = 0
    second_dec_checked: int = 0
    second_dec_delivered: int = 0
    ok_times: list[float] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{sae_id(self.master)}→{sae_id(self.slave)}"


@dataclass
class Chaos:
    """What the chaos did."""

    kills: Counter[str] = field(default_factory=Counter)
    fibre_cuts: int = 0
    fibre_restores: int = 0
    switch_moves: int = 0
    plant_failures: int = 0
    events: list[tuple[float, str]] = field(default_factory=list)
    relayed_out: dict[str, int] = field(default_factory=dict)  # virtual link -> keys relayed (max seen)
    settled_s: float | None = None  # after the chaos, until the network served again
    start: float = 0.0  # monotonic, when the chaos began


def digest(material: bytes) -> str:
    return hashlib.sha256(material).hexdigest()


def client(status: dict[str, Any], node: str) -> Etsi014Client:
    found = next(n for n in status["nodes"] if n["id"] == node)
    sae = found["saes"][0]
    return Etsi014Client(
        found["kme_url"], cert=Path(sae["cert"]), key=Path(sae["key"]), ca=Path(status["ca"]), timeout_s=10.0
    )


# Load ------------------------------------------------------------------------------------------------


async def master_loop(status: dict[str, Any], ledger: Ledger, period_s: float, end: float) -> None:
    """``enc_keys`` every ``period_s`` until ``end`` (monotonic)."""
    async with client(status, ledger.master) as master:
        while time.monotonic() < end:
            started = time.monotonic()
            ledger.enc_calls += 1
            try:
                answer = await master.enc_keys(sae_id(ledger.slave), number=1)
            except Etsi014ClientError as exc:
                if exc.status_code is None:
                    ledger.enc_no_answer += 1
                else:
                    ledger.enc_refused[exc.status_code] += 1
            else:
                for key in answer.keys:
                    key_id = str(key.key_id)
                    if key_id in ledger.delivered:
                        ledger.dup_master += 1
                        continue
                    ledger.delivered[key_id] = digest(key.material())
                    ledger.pending.append(key_id)
                if answer.keys:
                    ledger.ok_times.append(time.monotonic())
            await asyncio.sleep(max(0.0, period_s - (time.monotonic() - started)))


def _take(ledger: Ledger, keys: list[Any]) -> None:
    for key in keys:
        key_id = str(key.key_id)
        if key_id in ledger.claimed:
            ledger.dup_slave += 1
            continue
        ledger.claimed[key_id] = digest(key.material())
        if ledger.claimed[key_id] != ledger.delivered.get(key_id):
            ledger.mismatched += 1


async def claim_once(slave: Etsi014Client, ledger: Ledger, ids: list[str]) -> bool:
    """One ``dec_keys`` of ``ids``; False when it got no answer or 5xx (worth retrying later)."""
    ledger.dec_calls += 1
    try:
        answer = await slave.dec_keys(sae_id(ledger.master), [UUID(i) for i in ids])
    except Etsi014ClientError as exc:
        if exc.status_code is None:
            ledger.dec_no_answer += 1
            why = type(exc.__cause__).__name__
            ledger.answer_cut.update(dict.fromkeys(ids, (time.monotonic(), why)))
            return False
        ledger.dec_refused[exc.status_code] += 1
        if exc.status_code >= 500:
            return False
        if len(ids) == 1:  # refused for good (all or none: a batch is split to find which)
            ledger.refused_to_slave.add(ids[0])
            ledger.pending.remove(ids[0])
            return True
        for one in ids:
            if not await claim_once(slave, ledger, [one]):
                return False
        return True
    _take(ledger, answer.keys)
    returned = {str(key.key_id) for key in answer.keys}
    ledger.pending[:] = [i for i in ledger.pending if i not in returned]
    return True


async def slave_loop(
    status: dict[str, Any], ledger: Ledger, done: asyncio.Event, deadline: list[float]
) -> None:
    """Claim what the master got, in batches, until ``done`` is set and nothing is pending, or past
    ``deadline[0]``."""
    async with client(status, ledger.slave) as slave:
        while time.monotonic() < deadline[0]:
            if ledger.pending:
                ok = await claim_once(slave, ledger, list(ledger.pending[:CLAIM_BATCH]))
                await asyncio.sleep(0.05 if ok else 1.0)
                continue
            if done.is_set():
                return
            await asyncio.sleep(0.5)


async def retry_refused(status: dict[str, Any], ledger: Ledger) -> None:
    """Ask once more, one by one, for the keys a slave was refused (a refusal must be final)."""
    async with client(status, ledger.slave) as slave:
        for key_id in sorted(ledger.refused_to_slave):
            try:
                answer = await slave.dec_keys(sae_id(ledger.master), [UUID(key_id)])
            except Etsi014ClientError:
                continue
            ledger.refused_to_slave.discard(key_id)
            _take(ledger, answer.keys)


async def second_dec(status: dict[str, Any], ledger: Ledger, rng: random.Random) -> None:
    """``dec_keys`` of already claimed IDs, one by one: each must be refused."""
    claimed = sorted(ledger.claimed)
    sample = rng.sample(claimed, min(SECOND_DEC_SAMPLE, len(claimed)))
    async with client(status, ledger.slave) as slave:
        for key_id in sample:
            ledger.second_dec_checked += 1
            try:
                answer = await slave.dec_keys(sae_id(ledger.master), [UUID(key_id)])
            except Etsi014ClientError as exc:
                if exc.status_code is None or exc.status_code >= 500:
                    ledger.second_dec_checked -= 1  # no answer: proves nothing either way
                continue
            ledger.second_dec_delivered += len(answer.keys)


# Chaos -----------------------------------------------------------------------------------------------


def processes(run: RunDir) -> dict[str, int]:
    return {name: int(pid) for name, pid in run.read_json(run.network).get("processes", {}).items()}


def kill_one(run: RunDir, rng: random.Random, chaos: Chaos, nodes: list[str], kinds: list[str]) -> None:
    """``kill -9`` one role: the next kind of a round that takes every kind once, in random order
    (``kinds`` holds what is left of the round), at a random node."""
    if not kinds:
        kinds[:] = rng.sample(KINDS, len(KINDS))
    kind = kinds.pop()
    name = kind if kind in ("controller", "emulator") else f"{kind}-{rng.choice(nodes)}"
    pid = processes(run).get(name)
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:  # already dead and not restarted yet: not counted
        return
    chaos.kills[kind] += 1
    chaos.events.append((time.monotonic(), f"kill -9 {name} ({pid})"))


def plant_action(run: RunDir, rng: random.Random, chaos: Chaos, cut: dict[str, float], cut_s: float) -> None:
    with operator_client(run) as plant:
        if rng.random() < 0.5:
            fibres = [f["id"] for f in plant.fibres() if not f["cut"] and f["id"] not in cut]
            if fibres:
                fibre = rng.choice(fibres)
                plant.fibre_action(fibre, "cut")
                cut[fibre] = time.monotonic() + cut_s
                chaos.fibre_cuts += 1
                chaos.events.append((time.monotonic(), f"cut {fibre}"))
            return
        switch = next(s for s in plant.switches() if s["id"] == SWITCH)
        ports = [p["id"] for p in switch["ports"] if p["id"] != switch.get("connected_port")]
        port = rng.choice(ports)
        plant.set_switch(SWITCH, port)
        chaos.switch_moves += 1
        chaos.events.append((time.monotonic(), f"switch to {port}"))


def restore_due(run: RunDir, chaos: Chaos, cut: dict[str, float], everything: bool = False) -> None:
    due = [f for f, at in cut.items() if everything or at <= time.monotonic()]
    if not due:
        return
    with operator_client(run) as plant:
        for fibre in due:
            plant.fibre_action(fibre, "restore")
            del cut[fibre]
            chaos.fibre_restores += 1
            chaos.events.append((time.monotonic(), f"restore {fibre}"))


def watch_relays(run: RunDir, chaos: Chaos) -> None:
    """The keys relayed so far, per virtual link, from the masters' KMEs (counters only grow)."""
    try:
        record = run.read_json(run.network)
    except SdqkdError:
        return
    with operator_http(run) as http:
        for url in record["kmes"].values():
            try:
                body = http.get(f"{url}/api/v1/kme").json()
            except Exception:  # a KME being restarted: next time
                continue
            for virtual in body.get("virtual_links", []):
                out = int(virtual.get("keys_relayed_out", 0))
                chaos.relayed_out[virtual["id"]] = max(chaos.relayed_out.get(virtual["id"], 0), out)


async def chaos_loop(
    run: RunDir, args: argparse.Namespace, chaos: Chaos, end: float, nodes: list[str]
) -> None:
    rng = random.Random(args.seed)
    start = time.monotonic()
    next_kill = start + args.kill_interval
    next_plant = start + args.plant_interval / 2
    next_watch = start
    cut: dict[str, float] = {}
    kinds: list[str] = []
    while time.monotonic() < end:
        now = time.monotonic()
        if now >= next_kill:
            next_kill += args.kill_interval
            await asyncio.to_thread(kill_one, run, rng, chaos, nodes, kinds)
        if now >= next_plant:
            next_plant += args.plant_interval
            try:
                await asyncio.to_thread(plant_action, run, rng, chaos, cut, args.cut_seconds)
            except SdqkdError:  # the emulator is being restarted: tried again in a second
                chaos.plant_failures += 1
                next_plant = time.monotonic() + 1.0
        with contextlib.suppress(SdqkdError):  # tried again in 0.2 s
            await asyncio.to_thread(restore_due, run, chaos, cut)
        if now >= next_watch:
            next_watch += 5.0
            await asyncio.to_thread(watch_relays, run, chaos)
        await asyncio.sleep(0.2)
    deadline = time.monotonic() + args.settle_seconds
    while cut and time.monotonic() < deadline:  # nothing stays cut
        try:
            await asyncio.to_thread(restore_due, run, chaos, cut, True)
        except SdqkdError:
            await asyncio.sleep(1.0)


# The run ---------------------------------------------------------------------------------------------


def wait_serving(run: RunDir, up: subprocess.Popen[bytes], timeout_s: float) -> dict[str, Any]:
    """The network's status once every KME answers with its pools and the relay is configured."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if up.poll() is not None:
            raise SystemExit(f"the network exited ({up.returncode}); see {run.root / 'chaos-up.log'}")
        if run.network.exists():
            try:
                status = network_status(run)
            except Exception:  # a role not answering yet
                status = None
            if status is not None and _serving(status):
                return status
        time.sleep(1.0)
    raise SystemExit(f"the network did not serve within {timeout_s:.0f} s")


def _serving(status: dict[str, Any]) -> bool:
    physical = [link for link in status["links"] if link["type"] == "PHYS"]
    virtual = [link for link in status["links"] if link["type"] == "VIRT"]
    pools = {node for link in physical for node in link["pools"]}
    return (
        len(pools) == len(status["nodes"])
        and any(link["status"] == "up" for link in physical)
        and all(set(v["configured_kmes"]) == set(v["path"]) for v in virtual)
    )


def settle(run: RunDir, until: float) -> float | None:
    """Seconds after the chaos until the network serves again (every KME answering, the relays
    configured); None if not by ``until`` (monotonic)."""
    started = time.monotonic()
    while time.monotonic() < until:
        try:
            with operator_client(run) as plant:  # nothing stays cut (e.g. a restore lost in a kill)
                for fibre in plant.fibres():
                    if fibre["cut"]:
                        plant.fibre_action(fibre["id"], "restore")
            if _serving(network_status(run)):
                return round(time.monotonic() - started, 1)
        except Exception:  # a role not answering yet
            pass
        time.sleep(1.0)
    return None


def pool_snapshot(run: RunDir) -> dict[str, dict[str, Any]]:
    """Every KME's ``GET /api/v1/kme`` as the operator, by node (retried until all answer, twice
    the same: the supply loops may still be filling)."""
    record = run.read_json(run.network)
    previous: dict[str, dict[str, Any]] = {}
    for _ in range(20):
        found: dict[str, dict[str, Any]] = {}
        with operator_http(run) as http:
            for node, url in record["kmes"].items():
                try:
                    response = http.get(f"{url}/api/v1/kme")
                    response.raise_for_status()
                    found[node] = response.json()
                except Exception:  # restarting still
                    pass
        if len(found) == len(record["kmes"]) and found == previous:
            return found
        previous = found
        time.sleep(1.0)
    return previous


async def drive(run: RunDir, status: dict[str, Any], args: argparse.Namespace) -> tuple[list[Ledger], Chaos]:
    ledgers = [Ledger(m, s, kind) for m, s, kind in PAIRS]
    chaos = Chaos()
    start = chaos.start = time.monotonic()
    end = start + args.minutes * 60
    done = asyncio.Event()
    deadline = [float("inf")]
    nodes = [n["id"] for n in status["nodes"]]
    masters = [asyncio.create_task(master_loop(status, lg, args.period, end)) for lg in ledgers]
    slaves = [asyncio.create_task(slave_loop(status, lg, done, deadline)) for lg in ledgers]
    await chaos_loop(run, args, chaos, end, nodes)
    await asyncio.gather(*masters)
    chaos.events.append((time.monotonic(), "chaos over: settling"))
    settle_end = time.monotonic() + args.settle_seconds
    chaos.settled_s = await asyncio.to_thread(settle, run, settle_end)
    deadline[0] = max(settle_end, time.monotonic() + 30.0)  # the slaves claim with everything up
    done.set()
    await asyncio.gather(*slaves)
    for ledger in ledgers:
        await retry_refused(status, ledger)
        await second_dec(status, ledger, random.Random(args.seed))
        ledger.ok_times = [start, *ledger.ok_times, end]
    return ledgers, chaos


def run_chaos(args: argparse.Namespace) -> dict[str, Any]:
    root = args.run_dir or Path(tempfile.mkdtemp(prefix="sdqkd-chaos-"))
    run = RunDir(root.resolve())
    run.root.mkdir(parents=True, exist_ok=True)
    load_start = os.getloadavg()
    time_scale = ["--time-scale", str(args.time_scale)]
    with (run.root / "chaos-up.log").open("ab") as log:
        up = subprocess.Popen(
            [*SDQKD, "up", "--topology", "madrid", "--run-dir", str(run.root), *time_scale],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        started = time.monotonic()
        status = wait_serving(run, up, args.start_timeout)
        start_s = time.monotonic() - started
        ledgers, chaos = asyncio.run(drive(run, status, args))
        alive = {name: pid for name, pid in processes(run).items() if _alive(pid)}
        up_still = up.poll() is None
        settled = chaos.settled_s is not None
        if up_still:
            watch_relays(run, chaos)
        pools = pool_snapshot(run) if up_still else {}
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGTERM)
            try:
                up.wait(timeout=60)
            except subprocess.TimeoutExpired:
                up.kill()
                up.wait()
    answered = {lg.name: delivered_by_kme(run, lg) for lg in ledgers}
    report = {
        "command": "python benchmarks/chaos.py " + " ".join(sys.argv[1:]),
        "run_dir": str(run.root),
        "seed": args.seed,
        "minutes": args.minutes,
        "kill_interval_s": args.kill_interval,
        "plant_interval_s": args.plant_interval,
        "period_s": args.period,
        "time_scale": args.time_scale,
        "start_s": round(start_s, 1),
        "machine": {"cpus": os.cpu_count(), "loadavg_start": load_start, "loadavg_end": os.getloadavg()},
        "kills": {kind: chaos.kills[kind] for kind in KINDS} | {"total": sum(chaos.kills.values())},
        "fibre_cuts": chaos.fibre_cuts,
        "fibre_restores": chaos.fibre_restores,
        "switch_moves": chaos.switch_moves,
        "plant_actions_failed": chaos.plant_failures,
        "recovered": {
            "network_running": up_still,
            "serving_after_settle": settled,
            "serving_again_after_s": chaos.settled_s,
            "processes_alive": len(alive),
        },
        "keys_relayed_out": chaos.relayed_out,
        "pairs": [_pair_report(lg, chaos.start, answered[lg.name]) for lg in ledgers],
        "events": [f"{at - chaos.start:.1f} s: {what}" for at, what in chaos.events],
        "reconcile": reconcile(pools),
    }
    report["totals"] = {
        name: sum(p[name] for p in report["pairs"])
        for name in report["pairs"][0]
        if isinstance(report["pairs"][0][name], int)
    }
    report["verdict"] = verdict(report)
    return report


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def delivered_by_kme(run: RunDir, ledger: Ledger) -> set[str]:
    """The lost keys the slave's KME records as delivered to the slave (``deliveries``, read from its
    database once the network stopped): its ``dec_keys`` committed, and the answer never arrived."""
    lost = [k for k in ledger.delivered if k not in ledger.claimed]
    path = run.kme_dir / f"{ledger.slave}.db"
    if not lost or not path.exists():
        return set()
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {
            key_id
            for key_id in lost
            if db.execute(
                "SELECT 1 FROM deliveries WHERE key_id = ? AND sae_id = ?", (key_id, sae_id(ledger.slave))
            ).fetchone()
        }
    finally:
        db.close()


def _when(cut: tuple[float, str] | None, start: float) -> str | None:
    return None if cut is None else f"{cut[0] - start:.1f} s: {cut[1]}"


def _pair_report(ledger: Ledger, start: float, answered: set[str]) -> dict[str, Any]:
    lost = {k for k in ledger.delivered if k not in ledger.claimed}
    times = ledger.ok_times
    outage = max((b - a for a, b in itertools.pairwise(times)), default=0.0)
    material = Counter(ledger.delivered.values())
    return {
        "pair": ledger.name,
        "kind": ledger.kind,
        "enc_calls": ledger.enc_calls,
        "keys_delivered": len(ledger.delivered),
        "enc_refused_cleanly": sum(ledger.enc_refused.values()),
        "enc_refused_by_status": {str(k): v for k, v in sorted(ledger.enc_refused.items())},
        "enc_no_answer": ledger.enc_no_answer,
        "dec_calls": ledger.dec_calls,
        "dec_no_answer": ledger.dec_no_answer,
        "dec_refused_by_status": {str(k): v for k, v in sorted(ledger.dec_refused.items())},
        "keys_claimed": len(ledger.claimed),
        "keys_lost": len(lost),
        "keys_lost_answer_in_flight": len(lost & answered),
        "keys_lost_by_kms": len(lost - answered),
        "lost": [  # key IDs only (never the keys); when and why an earlier dec_keys got no answer
            {
                "key_id": k,
                "kme_recorded_delivery": k in answered,
                "answer_cut": _when(ledger.answer_cut.get(k), start),
            }
            for k in sorted(lost)
        ][:20],
        "keys_unclaimed_at_deadline": len(lost - ledger.refused_to_slave),
        "keys_mismatched": ledger.mismatched,
        "keys_duplicated": ledger.dup_master + ledger.dup_slave + sum(n - 1 for n in material.values()),
        "second_dec_checked": ledger.second_dec_checked,
        "second_dec_delivered": ledger.second_dec_delivered,
        "longest_outage_s": round(outage, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the chaos lasts")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--run-dir", type=Path, default=None, help="the run directory (default: a new temporary one)"
    )
    parser.add_argument("--kill-interval", type=float, default=15.0, help="seconds between kills")
    parser.add_argument(
        "--plant-interval", type=float, default=30.0, help="seconds between fibre cuts/switch moves"
    )
    parser.add_argument("--cut-seconds", type=float, default=10.0, help="how long a fibre stays cut")
    parser.add_argument("--period", type=float, default=0.2, help="seconds between a master's enc_keys")
    parser.add_argument("--settle-seconds", type=float, default=90.0)
    parser.add_argument("--time-scale", type=float, default=50.0)
    parser.add_argument("--start-timeout", type=float, default=180.0)
    parser.add_argument("--format", choices=("table", "json"), default="table")
    args = parser.parse_args()
    report = run_chaos(args)
    Path(report["run_dir"], "chaos-report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        print(render_table(report))
    raise SystemExit(0 if report["verdict"]["pass"] else 1)


if __name__ == "__main__":
    main()
