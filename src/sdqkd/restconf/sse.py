"""Server-sent events (WHATWG HTML §9.2, ``text/event-stream``), both ends.

Server side: :class:`Broker` fans what an owner publishes out to every subscriber, each with a bounded
queue (a slow subscriber loses its oldest items and never blocks the owner), and
:func:`event_stream_response` serves one subscription as an event stream with keep-alive comments.
:func:`format_event` writes one event.

Client side: :class:`EventParser` turns the text of a stream, in chunks cut anywhere, into
:class:`ServerSentEvent` s; :func:`parse_events` does it over an async iterator of chunks.

The RESTCONF notification stream (RFC 8040 §6) and the emulator's management event stream both use
these; what an event carries is theirs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

from starlette.responses import StreamingResponse

__all__ = [
    "EVENT_STREAM",
    "Broker",
    "EventParser",
    "ServerSentEvent",
    "event_stream_response",
    "format_comment",
    "format_event",
    "parse_events",
]

EVENT_STREAM = "text/event-stream"

_T = TypeVar("_T")


# Server side ------------------------------------------------------------------------------------------


class Broker(Generic[_T]):
    """Fan-out of items to subscribers; a slow subscriber loses its oldest items, never blocks.

    Publishing is safe from any thread: an item reaches a subscriber on the subscriber's event loop.

    Args:
        queue_size: items kept for a subscriber that has not read them yet.
    """

    def __init__(self, queue_size: int = 1000) -> None:
        self._queue_size = queue_size
        self._subscribers: dict[asyncio.Queue[_T], asyncio.AbstractEventLoop] = {}

    def publish(self, item: _T) -> None:
        """Offer ``item`` to every subscriber."""
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for queue, loop in list(self._subscribers.items()):
            if loop is running:
                _offer(queue, item)
                continue
            try:
                loop.call_soon_threadsafe(_offer, queue, item)
            except RuntimeError:  # its loop is closed: the subscriber has gone with it
                self._subscribers.pop(queue, None)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[_T]]:
        """A queue that receives every item published while the context is open."""
        queue: asyncio.Queue[_T] = asyncio.Queue(self._queue_size)
        self._subscribers[queue] = asyncio.get_running_loop()
        try:
            yield queue
        finally:
            self._subscribers.pop(queue, None)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)


def _offer(queue: asyncio.Queue[_T], item: _T) -> None:
    if queue.full():
        queue.get_nowait()  # the oldest goes: a subscriber that lags sees the newest state
    queue.put_nowait(item)


def format_event(
    data: str | None = None,
    *,
    event: str | None = None,
    id: str | int | None = None,
    retry_ms: int | None = None,
) -> str:
    """One event (WHATWG HTML §9.2.5): its fields, then the blank line that dispatches it. A ``data``
    of several lines becomes several ``data:`` lines, which the client joins again with newlines."""
    lines = []
    if id is not None:
        lines.append(f"id: {id}")
    if event is not None:
        lines.append(f"event: {event}")
    if retry_ms is not None:
        lines.append(f"retry: {retry_ms}")
    if data is not None:
        lines.extend(f"data: {line}" for line in data.split("\n"))
    return "\n".join(lines) + "\n\n"


def format_comment(text: str) -> str:
    """A comment block (``: text``): clients ignore it; it keeps an idle connection open."""
    return f": {text}\n\n"


def event_stream_response(
    broker: Broker[_T],
    render: Callable[[_T], str | None],
    *,
    is_disconnected: Callable[[], Awaitable[bool]],
    opening: str,
    heartbeat_s: float,
    headers: Mapping[str, str] | None = None,
) -> StreamingResponse:
    """A ``text/event-stream`` answer that follows one subscription to ``broker``.

    Args:
        broker: what to follow.
        render: an item as the text of its event (:func:`format_event`), or None to skip it.
        is_disconnected: whether the client has gone (``request.is_disconnected``).
        opening: sent once subscribed: the client knows nothing published from then on is missed.
        heartbeat_s: seconds of silence before a keep-alive comment.
        headers: further response headers.
    """

    async def events() -> AsyncIterator[str]:
        async with broker.subscribe() as queue:
            yield opening
            while not await is_disconnected():
                try:
                    item = await asyncio.wait_for(queue.get(), timeout=heartbeat_s)
                except TimeoutError:
                    yield format_comment("keep-alive")
                    continue
                text = render(item)
                if text is not None:
                    yield text

    return StreamingResponse(events(), media_type=EVENT_STREAM, headers=headers)


# Client side ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerSentEvent:
    """One block of an event stream: the fields up to a blank line (WHATWG HTML §9.2.6).

    Every block with at least one field is reported, even one without ``data`` (a browser would not
    dispatch it): a ``retry``-only block is how a server may say it has subscribed the client.

    Attributes:
        event: the ``event`` field (None: absent; a browser calls that type ``message``).
        data: the ``data`` fields joined with newlines (None: absent).
        id: the ``id`` field (None: absent; one holding NUL is ignored, as §9.2.6 says).
        retry_ms: the ``retry`` field when it is all digits.
    """

    event: str | None = None
    data: str | None = None
    id: str | None = None
    retry_ms: int | None = None


class EventParser:
    """An event stream's text, fed in chunks cut anywhere (inside a line, between CR and LF), as events.

    Lines end with CRLF, LF or CR; a leading byte order mark is dropped; ``:`` lines are comments; a
    field's value loses one leading space; a line without ``:`` is a field with an empty value; unknown
    fields are ignored. An event not ended by a blank line when the stream ends is dropped (§9.2.6).
    """

    def __init__(self) -> None:
        self._pending = ""
        self._started = False
        self._after_cr = False
        self._fields: dict[str, list[str]] = {}
        self._seen = False

    def feed(self, chunk: str) -> list[ServerSentEvent]:
        """The events that ``chunk`` completes."""
        if not chunk:
            return []
        if not self._started:
            self._started = True
            chunk = chunk.removeprefix("\ufeff")
        if self._after_cr and chunk.startswith("\n"):
            chunk = chunk[1:]  # the LF of a CRLF cut between chunks: the line has ended already
        text = self._pending + chunk
        self._after_cr = text.endswith("\r")
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        self._pending = lines.pop()
        events = []
        for line in lines:
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def _line(self, line: str) -> ServerSentEvent | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon:
            value = value.removeprefix(" ")
        if name in ("event", "data", "id", "retry"):
            self._fields.setdefault(name, []).append(value)
        self._seen = True
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        fields, seen = self._fields, self._seen
        self._fields, self._seen = {}, False
        if not seen:
            return None
        ids = [value for value in fields.get("id", []) if "\0" not in value]
        retry = fields.get("retry", [""])[-1]
        return ServerSentEvent(
            event=fields["event"][-1] if "event" in fields else None,
            data="\n".join(fields["data"]) if "data" in fields else None,
            id=ids[-1] if ids else None,
            retry_ms=int(retry) if retry.isascii() and retry.isdigit() else None,
        )


async def parse_events(chunks: AsyncIterable[str]) -> AsyncGenerator[ServerSentEvent, None]:
    """The events of a stream whose text arrives in ``chunks`` (e.g. ``response.aiter_text()``)."""
    parser = EventParser()
    async for chunk in chunks:
        for event in parser.feed(chunk):
            yield event
