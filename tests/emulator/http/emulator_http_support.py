"""Test support for the emulator's HTTPS API (imported by the conftest and the tests): the session's
certificates, polling, and reading server-sent events with a deadline."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from polling import wait_for as wait_for
from sdqkd.emulator.client import EmulatorClient
from sdqkd.pki import CertificateAuthority, IssuedCertificate

# Fast enough that every test finds key at once, slow enough that the 100,000-key buffers do not fill
# during a test (Madrid's pairs make 45-58 kbit/s: ~20,000 keys a second at x100).
TIME_SCALE = 100.0

_T = TypeVar("_T")

_PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    """``response`` is an RFC 9457 problem of ``status`` with a detail; its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == _PROBLEM
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert body["type"] == "about:blank"
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


ClientAs = Callable[[IssuedCertificate], EmulatorClient]
HttpAs = Callable[..., httpx.Client]


@dataclass(frozen=True)
class EmulatorPki:
    """A CA, the emulator's server certificate, and a certificate for every kind of caller."""

    ca: CertificateAuthority
    server: IssuedCertificate
    operator: IssuedCertificate
    controller: IssuedCertificate
    agent_norte: IssuedCertificate
    kme_concepcion: IssuedCertificate
    kme_norte: IssuedCertificate
    kme_quintin: IssuedCertificate
    sae_x: IssuedCertificate


@dataclass(frozen=True)
class ServerSentEvent:
    id: int
    type: str
    data: dict[str, Any]


def server_sent_events(lines: Iterator[str]) -> Iterator[ServerSentEvent]:
    """The events of an SSE stream (WHATWG HTML §9.2.6: fields up to a blank line; comments and
    retry-only blocks skipped)."""
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "event" in fields:
                yield ServerSentEvent(int(fields["id"]), fields["event"], json.loads(fields["data"]))
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


def events_until(
    events: Iterator[ServerSentEvent], done: Callable[[list[ServerSentEvent]], bool], within_s: float
) -> list[ServerSentEvent]:
    """Read ``events`` until ``done(events so far)``; AssertionError if that takes over ``within_s``.

    The client's read timeout bounds each wait: a stream that falls silent raises httpx.ReadTimeout.
    """
    deadline = time.monotonic() + within_s
    seen: list[ServerSentEvent] = []
    for event in events:
        seen.append(event)
        if done(seen):
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"not done within {within_s} s; got {[e.type for e in seen]}")
    else:
        raise AssertionError(f"the stream ended; got {[e.type for e in seen]}")
    assert time.monotonic() <= deadline, f"took over {within_s} s: {[e.type for e in seen]}"
    return seen


@contextmanager
def event_stream(client: httpx.Client, path: str = "/api/v1/events") -> Iterator[Iterator[ServerSentEvent]]:
    """The events of ``GET path``, once the server has subscribed the stream (it sends ``retry:``
    after subscribing, so nothing published after this returns is missed)."""
    with client.stream("GET", path) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        assert next(lines).startswith("retry:")
        yield server_sent_events(lines)
