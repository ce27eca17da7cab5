"""Reading the upstream services: a controller that does not answer leaves every part empty with one
problem (and is not asked eight times); a refused document leaves only its own part empty; the feed
reads again only once its snapshot is older than its interval."""

from __future__ import annotations

import json

import httpx
import pytest
from web_support import documents, upstream

from sdqkd.controller.client import ControllerClient
from sdqkd.web import SnapshotFeed, Upstream, UpstreamReader

pytestmark = pytest.mark.anyio

URL = "https://controller.test"


def _controller(handler: httpx.MockTransport) -> ControllerClient:
    return ControllerClient(URL, http_client=httpx.Client(transport=handler))


def test_an_unreachable_controller_is_asked_once_and_said_so() -> None:
    asked: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        raise httpx.ConnectError("connection refused", request=request)

    found = UpstreamReader(_controller(httpx.MockTransport(refuse))).read()
    assert asked == ["/api/v1/topology"]
    assert found.topology is None
    assert found.links is None
    assert found.problems[0].startswith("controller: topology: cannot reach the controller")
    assert found.problems[-1] == "controller: nothing else read"


def test_a_refused_document_leaves_only_its_part_empty() -> None:
    answers = documents("madrid_up")["controller"]

    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/v1/")
        if path == "switches":
            return httpx.Response(404, json={"message": "no optical layer", "details": []})
        return httpx.Response(200, content=json.dumps(answers[path]))

    found = UpstreamReader(_controller(httpx.MockTransport(answer))).read()
    assert found.switches is None
    assert found.links == answers["links"]
    assert found.actions == answers["optical/actions"]["actions"]
    assert len(found.problems) == 1
    assert "switches" in found.problems[0]
    assert "no optical layer" in found.problems[0]


async def test_the_feed_reads_again_only_once_its_snapshot_is_older_than_its_interval() -> None:
    now = [100.0]
    reads: list[float] = []

    def read() -> Upstream:
        reads.append(now[0])
        return upstream("madrid_up")

    feed = SnapshotFeed(read, interval_s=1.0, clock=lambda: now[0])
    first = await feed.current()
    now[0] += 0.5
    assert await feed.current() is first
    assert len(reads) == 1
    now[0] += 0.6
    await feed.current()
    assert len(reads) == 2


async def test_the_feed_publishes_each_snapshot_it_reads_to_its_subscribers() -> None:
    feed = SnapshotFeed(lambda: upstream("madrid_up"), interval_s=1.0)
    async with feed.broker.subscribe() as queue:
        made = await feed.refresh()
        assert queue.get_nowait() is made
