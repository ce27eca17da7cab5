"""Events of the emulated world (status, rate changes, failures) for subscribers, such as the
server-sent event stream of the management API."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sdqkd.restconf.sse import Broker

__all__ = ["Event", "EventBroker"]


@dataclass(frozen=True)
class Event:
    """Something that happened. ``modules`` names the modules it concerns (empty: the plant)."""

    id: int
    type: str
    data: dict[str, Any]
    modules: tuple[str, ...] = ()
    time_s: float = field(default_factory=time.time)


class EventBroker:
    """Numbers events and fans them out (:class:`~sdqkd.restconf.sse.Broker`): a slow subscriber
    loses its oldest events, never blocks."""

    def __init__(self, queue_size: int = 1000) -> None:
        self.broker: Broker[Event] = Broker(queue_size)
        self._ids = itertools.count(1)

    def publish(self, type_: str, data: dict[str, Any], modules: tuple[str, ...] = ()) -> Event:
        event = Event(id=next(self._ids), type=type_, data=data, modules=modules)
        self.broker.publish(event)
        return event

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[Event]]:
        async with self.broker.subscribe() as queue:
            yield queue

    @property
    def subscriber_count(self) -> int:
        return self.broker.subscriber_count
