"""Server-sent events (WHATWG HTML §9.2): the parser over chunks cut anywhere, the formatter it reads
back, and the broker's bounded queues."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdqkd.restconf import Broker, EventParser, ServerSentEvent, format_comment, format_event, parse_events

STREAM = (
    "retry: 2000\n\n"
    ": keep-alive\n\n"
    'id: 7\nevent: link_up\ndata: {"a": 1}\n\n'
    "data: first line\ndata: second line\n\n"
)
EXPECTED = [
    ServerSentEvent(retry_ms=2000),
    ServerSentEvent(event="link_up", data='{"a": 1}', id="7"),
    ServerSentEvent(data="first line\nsecond line"),
]


def parse(*chunks: str) -> list[ServerSentEvent]:
    parser = EventParser()
    return [event for chunk in chunks for event in parser.feed(chunk)]


def test_fields_comments_and_multi_line_data() -> None:
    assert parse(STREAM) == EXPECTED


@given(st.lists(st.integers(0, len(STREAM)), max_size=8))
def test_chunks_cut_anywhere_give_the_same_events(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(STREAM)]
    chunks = [STREAM[a:b] for a, b in itertools.pairwise(bounds)]

    assert parse(*chunks) == EXPECTED


@pytest.mark.parametrize("newline", ["\r\n", "\r", "\n"])
def test_every_line_ending_is_a_line_ending(newline: str) -> None:
    assert parse(STREAM.replace("\n", newline)) == EXPECTED


def test_a_crlf_split_between_chunks_is_one_line_ending() -> None:
    assert parse("data: x\r", "\n\r", "\n") == [ServerSentEvent(data="x")]


def test_an_event_not_ended_by_a_blank_line_is_not_dispatched() -> None:
    assert parse("data: done\n\ndata: half") == [ServerSentEvent(data="done")]


def test_values_lose_one_leading_space_and_lines_without_a_colon_are_empty_fields() -> None:
    assert parse("data:  two spaces\ndata\nevent:x\n\n") == [ServerSentEvent(event="x", data=" two spaces\n")]


def test_a_byte_order_mark_at_the_start_is_dropped() -> None:
    assert parse("\ufeffdata: x\n\n") == [ServerSentEvent(data="x")]


def test_the_last_of_repeated_fields_counts_and_an_id_with_nul_is_ignored() -> None:
    events = parse("event: a\nevent: b\nid: 1\nid: 2\0\nretry: soon\ndata: x\n\n")

    assert events == [ServerSentEvent(event="b", data="x", id="1")]


def test_unknown_fields_make_an_empty_event_and_comments_make_none() -> None:
    assert parse(": hello\n\n\n\nfoo: bar\n\n") == [ServerSentEvent()]


@pytest.mark.parametrize(
    ("data", "event", "event_id", "retry_ms"),
    [("one", None, None, None), ("a\nb\n\nc", "rate", 12, None), (None, None, None, 2000), ("", "x", "y", 5)],
)
def test_what_is_formatted_parses_back(
    data: str | None, event: str | None, event_id: str | int | None, retry_ms: int | None
) -> None:
    text = format_event(data, event=event, id=event_id, retry_ms=retry_ms)

    expected = ServerSentEvent(
        event=event, data=data, id=None if event_id is None else str(event_id), retry_ms=retry_ms
    )
    assert parse(format_comment("hi") + text) == [expected]


@pytest.mark.anyio
async def test_parse_events_reads_an_async_stream_of_chunks() -> None:
    async def chunks() -> AsyncIterator[str]:
        for index in range(0, len(STREAM), 5):
            yield STREAM[index : index + 5]

    assert [event async for event in parse_events(chunks())] == EXPECTED


# The broker ---------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_every_subscriber_gets_every_item_while_subscribed() -> None:
    broker: Broker[int] = Broker()
    broker.publish(0)  # nobody is listening: lost
    async with broker.subscribe() as first, broker.subscribe() as second:
        assert broker.subscriber_count == 2
        broker.publish(1)
        broker.publish(2)
        for queue in (first, second):
            assert [queue.get_nowait(), queue.get_nowait()] == [1, 2]
    assert broker.subscriber_count == 0
    broker.publish(3)
    assert first.empty()


@pytest.mark.anyio
async def test_a_slow_subscriber_loses_its_oldest_items_and_never_blocks_the_publisher() -> None:
    broker: Broker[int] = Broker(queue_size=3)
    async with broker.subscribe() as slow:
        for item in range(10):
            broker.publish(item)
        assert [slow.get_nowait() for _ in range(slow.qsize())] == [7, 8, 9]


@pytest.mark.anyio
async def test_items_may_be_published_from_another_thread() -> None:
    broker: Broker[str] = Broker()
    async with broker.subscribe() as queue:
        publisher = threading.Thread(target=broker.publish, args=("from a thread",))
        publisher.start()
        publisher.join()
        assert await asyncio.wait_for(queue.get(), timeout=5) == "from a thread"
