"""Where the dashboard's snapshots come from: :class:`UpstreamReader` reads the controller's
northbound API and the emulator's plant API with the operator's certificate; :class:`SnapshotFeed`
keeps the latest snapshot and publishes a new one every ``interval_s`` while a browser watches.

Nobody watching, nothing is read: a snapshot asked for (``GET /api/snapshot``) is read then, unless
the latest is younger than ``interval_s``. A service that does not answer leaves its part of the
snapshot empty and a line in ``problems``; the dashboard itself never fails for it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

from sdqkd.controller.client import ControllerClient, ControllerClientError
from sdqkd.emulator.client import EmulatorClient, EmulatorClientError
from sdqkd.restconf.sse import Broker
from sdqkd.web.snapshot import MAX_EVENTS, Upstream, build_snapshot

__all__ = ["SnapshotFeed", "UpstreamReader"]

log = logging.getLogger(__name__)

Snapshot = dict[str, Any]


class UpstreamReader:
    """Reads what a snapshot is built from (blocking: the feed calls it in a worker thread).

    Args:
        controller: the controller's client (the operator's certificate).
        emulator: the emulator's client, for the plant's own fibres (None: the controller's view only).
    """

    def __init__(self, controller: ControllerClient, emulator: EmulatorClient | None = None) -> None:
        self.controller = controller
        self.emulator = emulator

    def read(self) -> Upstream:
        """Every document; those that could not be read are None, each with its problem."""
        problems: list[str] = []
        found: dict[str, Any] = {}
        c = self.controller
        reads: list[tuple[str, Callable[[], Any]]] = [
            ("topology", c.topology),
            ("links", c.links),
            ("apps", c.apps),
            ("services", c.services),
            ("alarms", c.alarms),
            ("fibres", c.fibres),
            ("actions", lambda: c.actions(limit=MAX_EVENTS)),
            ("switches", c.switches),
        ]
        for name, call in reads:
            try:
                found[name] = call()
            except ControllerClientError as exc:
                problems.append(f"controller: {name}: {exc}")
                if exc.status_code is None:  # not reachable at all: the other reads would wait too
                    problems.append("controller: nothing else read")
                    break
        if self.emulator is not None:
            try:
                found["plant_fibres"] = self.emulator.fibres()
            except EmulatorClientError as exc:
                problems.append(f"emulator: fibres: {exc}")
        return Upstream(**found, problems=tuple(problems))

    def close(self) -> None:
        self.controller.close()
        if self.emulator is not None:
            self.emulator.close()


class SnapshotFeed:
    """The latest snapshot, fresh enough, and a stream of new ones while someone subscribes.

    Args:
        read: reads the upstream documents (blocking; run in a worker thread).
        interval_s: how often subscribers get a snapshot, and the oldest one :meth:`current` returns.
        network: the network's name in the snapshots (None: the controller's).
        clock: monotonic seconds.
    """

    def __init__(
        self,
        read: Callable[[], Upstream],
        interval_s: float = 1.0,
        network: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.read = read
        self.interval_s = interval_s
        self.network = network
        self.clock = clock
        self.broker: Broker[Snapshot] = Broker(queue_size=4)  # a browser that lags sees the newest
        self._latest: tuple[float, Snapshot] | None = None
        self._lock = asyncio.Lock()
        self.built = 0
        """Snapshots built so far (for the metrics)."""

    @property
    def latest(self) -> Snapshot | None:
        """The last snapshot built, however old (None: none yet)."""
        return None if self._latest is None else self._latest[1]

    async def current(self) -> Snapshot:
        """The latest snapshot, read anew if it is older than ``interval_s``."""
        latest = self._latest
        if latest is not None and self.clock() - latest[0] < self.interval_s:
            return latest[1]
        return await self.refresh()

    async def refresh(self) -> Snapshot:
        """Read a new snapshot and publish it to the subscribers (callers that wait while another
        reads share its snapshot)."""
        asked = self.clock()
        async with self._lock:
            if self._latest is not None and self._latest[0] >= asked:
                return self._latest[1]
            taken = self.clock()
            upstream = await asyncio.to_thread(self.read)
            snapshot = build_snapshot(upstream, dt.datetime.now(dt.UTC), self.network)
            self._latest = (taken, snapshot)
            self.built += 1
        self.broker.publish(snapshot)
        return snapshot

    async def run(self) -> None:
        """Publish a snapshot every ``interval_s`` while anyone subscribes (until cancelled)."""
        while True:
            if self.broker.subscriber_count:
                try:
                    await self.refresh()
                except Exception:  # a bug in the builder must not end the feed: logged, tried again
                    log.exception("dashboard: building a snapshot failed")
            await asyncio.sleep(self.interval_s)
