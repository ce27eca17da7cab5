"""``sdqkd scenario switching``: one transmitter serving several receivers through an optical switch,
scheduled by the controller while applications at every receiver consume key.

Once every receiver's pool holds the schedule's low-water mark (a receiver left on standby since the
network started has none yet), for ``duration_s`` seconds an application pair per switched receiver
(the transmitter node's SAE as master, the receiver node's as slave, with the certificates ``sdqkd up``
issued) fetches keys over ETSI GS QKD 014 — ``enc_keys`` at the master's KME, ``dec_keys`` of the same
key at the slave's — at ``rate_keys_per_s``. Every ``interval_s`` (0.2 s) the scenario samples the
controller's view of the switch (``GET /api/v1/switches``: port, moves, shares), each pair's pool (the
lower of its two KMEs' ready key, ``GET /api/v1/kme``) and each pair's key rate at the emulator.

The report has each receiver's time share, the moves, its lowest pool, whether its pool ran dry (an
application told ``not enough key``), and the key the pair made against ideal time-sharing with the
same shares and no dead time (:func:`sdqkd.controller.optical.switching.ideal_key_bits`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sdqkd.errors import ConfigError, SdqkdError
from sdqkd.etsi014.client import Etsi014Client, Etsi014ClientError
from sdqkd.pki.identity import Role
from sdqkd.runtime.status import kme_pools, operator_http
from sdqkd.scenarios.network import Sae, ScenarioNetwork
from sdqkd.scenarios.sampler import Clock, Sampler, wall_time

__all__ = [
    "ConsumerTally",
    "ReceiverSample",
    "SwitchSample",
    "SwitchingRecord",
    "run_switching",
]


@dataclass(frozen=True)
class ReceiverSample:
    """A switched receiver at one moment.

    Attributes:
        pool_bits: the pair's ready key, the lower of its two KMEs' (None: a KME did not answer).
        emulator_bps: the pair's key rate at the emulator, world bit/s (None: not making key).
    """

    link: str
    port: str
    node: str
    connected: bool
    share: float
    status: str
    pool_bits: float | None
    emulator_bps: float | None


@dataclass(frozen=True)
class SwitchSample:
    """The switch at scenario time ``t_s``."""

    t_s: float
    port: str | None
    moves: int
    receivers: tuple[ReceiverSample, ...]


@dataclass
class ConsumerTally:
    """What one application pair got: keys delivered at both ends, and the refusals."""

    link: str
    master: str
    slave: str
    requests: int = 0
    keys: int = 0
    bits: int = 0
    not_enough_key: int = 0
    first_dry_s: float | None = None
    failures: int = 0
    last_failure: str | None = None


@dataclass
class SwitchingRecord:
    """What a run of the scenario recorded (the report is made from it).

    Attributes:
        ports: the switch's ports that lead to a receiver, in the switch's order.
        time_scale: the emulated world's time scale (the pairs' rates are per world second).
        started_at: when the consumers started (UTC), after the warm-up.
        low_water_bits: the schedule's low-water mark, bits.
        warm_up_s: how long the scenario waited for every receiver's pool to hold the low-water mark.
    """

    switch: str
    node: str
    transmitter: str | None
    ports: list[str]
    time_scale: float
    duration_s: float
    rate_keys_per_s: float
    key_bits: int
    started_at: dt.datetime
    low_water_bits: float | None = None
    samples: list[SwitchSample] = field(default_factory=list)
    consumers: dict[str, ConsumerTally] = field(default_factory=dict)
    actions: list[dict[str, Any]] = field(default_factory=list)
    sampler_failures: int = 0
    warm_up_s: float = 0.0


def _is_dry(exc: Etsi014ClientError) -> bool:
    """The KME's answer when the pool holds too little key (ETSI GS QKD 014: 503, or 400)."""
    return exc.status_code in (400, 503) and "not enough key" in exc.message.lower()


async def _consume(
    master: Sae,
    slave: Sae,
    tally: ConsumerTally,
    ca: Path,
    clock: Clock,
    until_s: float,
    rate_keys_per_s: float,
    key_bits: int,
) -> None:
    """One application pair: a key every ``1 / rate_keys_per_s`` seconds, fetched at both ends."""
    async with (
        Etsi014Client(master.kme_url, cert=master.cert, key=master.key, ca=ca, peer=Role.KME) as at_master,
        Etsi014Client(slave.kme_url, cert=slave.cert, key=slave.key, ca=ca, peer=Role.KME) as at_slave,
    ):
        next_s = clock.now_s()
        while (now_s := clock.now_s()) < until_s:
            tally.requests += 1
            try:
                sent = await at_master.enc_keys(slave.id, number=1, size=key_bits)
                got = await at_slave.dec_keys(master.id, [k.key_id for k in sent.keys])
                tally.keys += len(got.keys)
                tally.bits += len(got.keys) * key_bits
            except Etsi014ClientError as exc:
                if _is_dry(exc):
                    tally.not_enough_key += 1
                    tally.first_dry_s = now_s if tally.first_dry_s is None else tally.first_dry_s
                else:
                    tally.failures += 1
                    tally.last_failure = str(exc)
            next_s += 1.0 / rate_keys_per_s
            await asyncio.sleep(max(0.0, next_s - clock.now_s()))


def _pool_bits(pools: dict[str, dict[str, dict[str, Any]]], link: str, nodes: Sequence[str]) -> float | None:
    levels = [pools.get(node, {}).get(link) for node in nodes]
    if any(level is None for level in levels):
        return None
    return float(min(level["ready_blocks"] * level.get("block_bits", 256) for level in levels if level))


def run_switching(
    network: ScenarioNetwork,
    switch_id: str | None,
    duration_s: float,
    rate_keys_per_s: float,
    key_bits: int,
    say: Callable[[str], None],
    interval_s: float = 0.2,
    warm_up_timeout_s: float = 120.0,
) -> SwitchingRecord:
    """Run the scenario on ``switch_id`` (default: the network's first switched transmitter), once every
    receiver's pool holds the schedule's low-water mark (waiting at most ``warm_up_timeout_s``).

    Raises:
        ConfigError: no such switched transmitter, or bad figures.
    """
    if not (duration_s > 0 and rate_keys_per_s > 0 and key_bits > 0):
        raise ConfigError("the duration, the consumers' rate and the key size must be > 0")
    with network.controller() as controller:
        found = [s for s in controller.switches() if switch_id in (None, s["id"]) and len(s["receivers"]) > 1]
        if not found:
            raise ConfigError(
                f"no switched transmitter {switch_id or ''} serving several receivers".replace("  ", " ")
            )
        switch = found[0]
    receivers = {r["link"]: r for r in switch["receivers"]}
    master = network.sae(switch["node"])
    slaves = {link: network.sae(r["node"]) for link, r in receivers.items()}
    pairs = {(link.transmitter, link.receiver): link.id for link in network.topology.qkd_links}
    ends = {
        link.id: [network.topology.module(m).node for m in (link.transmitter, link.receiver)]
        for link in network.topology.qkd_links
        if link.id in receivers
    }
    urls = {n: u for n, u in network.kme_urls().items() if any(n in nodes for nodes in ends.values())}
    record = SwitchingRecord(
        switch=switch["id"],
        node=switch["node"],
        transmitter=switch.get("transmitter"),
        ports=[r["port"] for r in switch["receivers"]],
        time_scale=network.time_scale,
        duration_s=duration_s,
        rate_keys_per_s=rate_keys_per_s,
        key_bits=key_bits,
        started_at=dt.datetime.now(dt.UTC),
        low_water_bits=switch.get("schedule", {}).get("low_water_bits"),
        consumers={link: ConsumerTally(link, master.id, slave.id) for link, slave in slaves.items()},
    )
    say(
        f"{record.switch} at {record.node} serves {', '.join(receivers)}; consuming "
        f"{rate_keys_per_s:g} keys/s of {key_bits} bits at each pair for {duration_s:g} s"
    )
    with (
        network.emulator() as plant,
        network.controller() as sampler_controller,
        operator_http(network.run) as http,
    ):

        def probe(t_s: float) -> SwitchSample:
            now = next(s for s in sampler_controller.switches() if s["id"] == record.switch)
            pools = kme_pools(http, urls)
            rates = {
                pairs[(p["transmitter"], p["receiver"])]: float(p["skr_bps"])
                for p in plant.links()
                if p["active"] and (p["transmitter"], p["receiver"]) in pairs
            }
            return SwitchSample(
                t_s,
                now["port"],
                int(now["moves"]),
                tuple(
                    ReceiverSample(
                        r["link"],
                        r["port"],
                        r["node"],
                        bool(r["connected"]),
                        float(r["share"]),
                        r["status"],
                        _pool_bits(pools, r["link"], ends[r["link"]]),
                        rates.get(r["link"]),
                    )
                    for r in now["receivers"]
                ),
            )

        record.warm_up_s = _warm_up(probe, record.low_water_bits or 0.0, warm_up_timeout_s, say)
        clock = Clock()
        record.started_at = clock.started_at
        with Sampler(probe, clock, interval_s) as sampler:
            until_s = clock.now_s() + duration_s

            async def consume_all() -> None:
                await asyncio.gather(
                    *(
                        _consume(
                            master,
                            slave,
                            record.consumers[link],
                            network.run.ca_cert,
                            clock,
                            until_s,
                            rate_keys_per_s,
                            key_bits,
                        )
                        for link, slave in slaves.items()
                    )
                )

            asyncio.run(consume_all())
        record.samples = sampler.samples
        record.sampler_failures = sampler.failures
    with network.controller() as controller:
        record.actions = [
            a
            for a in controller.actions(1000)
            if a["kind"] == "switch_port"
            and a.get("target") == record.switch
            and wall_time(a["time"]) >= record.started_at
        ]
    return record


def _warm_up(
    probe: Callable[[float], SwitchSample],
    low_water_bits: float,
    timeout_s: float,
    say: Callable[[str], None],
) -> float:
    """Wait until every receiver's pool holds the schedule's low-water mark, so that the run measures
    the schedule rather than the start of the network (a receiver still on standby since the start has
    no key yet); the seconds waited. After ``timeout_s`` the run starts anyway, and says so."""
    start = time.monotonic()
    while True:
        try:
            sample = probe(0.0)
        except SdqkdError:
            sample = None
        if sample is not None and all((r.pool_bits or 0.0) >= low_water_bits for r in sample.receivers):
            return time.monotonic() - start
        if time.monotonic() - start > timeout_s:
            say(f"the receivers' pools did not all reach {low_water_bits / 1e3:.0f} kbit in {timeout_s:g} s")
            return time.monotonic() - start
        time.sleep(0.25)
