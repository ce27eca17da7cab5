"""The dashboard over real HTTPS (a background server with its ``web`` certificate): browsers come
without a client certificate, the operator with one; the event stream's first snapshot comes at once
and parses, and new ones follow."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from web_support import TOKEN, WebPki, upstream

from sdqkd.pki import client_ssl_context
from sdqkd.restconf.sse import EventParser, ServerSentEvent
from sdqkd.server import BackgroundServer
from sdqkd.web import Sessions, SnapshotFeed, Upstream, create_web_app

pytestmark = pytest.mark.integration

READ_TIMEOUT_S = 10.0


@pytest.fixture
def server(pki: WebPki, tmp_path: Path) -> Iterator[BackgroundServer]:
    reads = iter(range(1_000_000))

    def read() -> Upstream:
        # each read a new world: the network's name tells the snapshots apart
        return upstream("madrid_up", topology={"name": f"madrid-{next(reads)}", "nodes": [], "edges": []})

    feed = SnapshotFeed(read, interval_s=0.2)
    app = create_web_app(feed, TOKEN, Sessions(60.0), tmp_path)
    with BackgroundServer(app, pki.server_tls(), client_cert_required=False) as running:
        yield running


def _browser(pki: WebPki) -> httpx.Client:
    """A client that verifies the dashboard with the run's CA and presents no certificate."""
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    return httpx.Client(verify=context, timeout=READ_TIMEOUT_S)


def test_a_browser_without_a_certificate_gets_in_with_the_token_only(
    server: BackgroundServer, pki: WebPki
) -> None:
    with _browser(pki) as browser:
        assert browser.get(f"{server.url}/api/snapshot").status_code == 401
        response = browser.get(f"{server.url}/api/snapshot", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200
        assert response.json()["network"].startswith("madrid-")


def test_the_operators_certificate_gets_in_over_tls(server: BackgroundServer, pki: WebPki) -> None:
    context = client_ssl_context(pki.operator.cert, pki.operator.key, pki.ca_cert)
    with httpx.Client(verify=context, timeout=READ_TIMEOUT_S) as operator:
        assert operator.get(f"{server.url}/api/snapshot").status_code == 200


def test_the_event_stream_sends_a_snapshot_at_once_then_new_ones(
    server: BackgroundServer, pki: WebPki
) -> None:
    parser = EventParser()
    events: list[ServerSentEvent] = []
    with (
        _browser(pki) as browser,
        browser.stream(
            "GET", f"{server.url}/api/events", headers={"Authorization": f"Bearer {TOKEN}"}
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for chunk in response.iter_text():
            events += parser.feed(chunk)
            if len(events) >= 3:
                break
    assert all(event.event == "snapshot" for event in events)
    snapshots = [json.loads(event.data) for event in events]
    assert {"nodes", "links", "fibres", "problems"} <= set(snapshots[0])
    assert len({snapshot["network"] for snapshot in snapshots}) >= 2  # new snapshots, not one repeated
