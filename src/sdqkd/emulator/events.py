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
    """Fan-out of events to subscribers; a slow subscriber loses its oldest events, never blocks."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._queue_size = queue_size
        self._subscribers: set[asyncio.Queue[Event]] = set()
        self._ids = itertools.count(1)

    def publish(self, type_: str, data: dict[str, Any], modules: tuple[str, ...] = ()) -> Event:
        event = Event(id=next(self._ids), type=type_, data=data, modules=modules)
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)
        return event

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue(self._queue_size)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)
