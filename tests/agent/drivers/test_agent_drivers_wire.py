"""The emulator driver against a scripted emulator (``httpx.MockTransport``): what it sends, how it
reads answers and server-sent events, how it translates errors, and how it reopens a lost stream."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import aclosing
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from sdqkd.agent.drivers import (
    DeviceEvent,
    DeviceEventKind,
    DeviceRefused,
    ModuleState,
    QkdDeviceDriver,
)
from sdqkd.agent.emulator_driver import EmulatorDriver
from sdqkd.errors import DeviceError, NotFound, PkiError

pytestmark = pytest.mark.anyio

URL = "https://emulator.test:8443"


def module(module_id: str, node: str, role: str, attachment: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": module_id, "node": node, "model": "GG02 box", "technology": "CV-QKD", "protocol": "GG02",
        "role": role, "profile": "p", "wavelength_range_nm": [1528.0, 1568.0], "max_absorption_db": 12.0,
        "attachment": attachment, "etsi014_path": f"/devices/{module_id}",
    }  # fmt: skip


MODULES = {
    "modules": [
        module(
            "concepcion-tx", "concepcion", "transmitter", {"device": "switch", "id": "sw", "port": "common"}
        ),
        module("norte-rx", "norte", "receiver", {"device": "fibre", "id": "concepcion-norte"}),
        module("norte-tx", "norte", "transmitter", {"device": "fibre", "id": "norte-quintin"}),
    ]
}
STATUS = {
    "id": "norte-rx", "state": "up", "reason": "", "peers": ["concepcion-tx"], "dwdm_channel": 59,
    "wavelength_nm": 1530.33, "enabled": True, "paired_with": "concepcion-tx",
}  # fmt: skip


def sse(event_id: int, event_type: str, modules: list[str], **data: Any) -> str:
    payload = json.dumps({"time": 1.5, "modules": modules, **data})
    return f"id: {event_id}\nevent: {event_type}\ndata: {payload}\n\n"


SUBSCRIBED = "retry: 2000\n\n"


class ScriptedEmulator:
    """Answers the management API from ``answers`` (``"METHOD /path"`` → response or exception) and
    each ``GET /api/v1/events`` with the next of ``streams`` (a body, a response or an exception)."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.answers: dict[str, httpx.Response | Exception] = {
            "GET /api/v1/modules": httpx.Response(200, json=MODULES)
        }
        self.streams: list[str | httpx.Response | Exception] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = f"{request.method} {request.url.path}"
        if key == "GET /api/v1/events":
            answer = self.streams.pop(0) if self.streams else httpx.ConnectError("no more streams")
            if isinstance(answer, str):
                answer = httpx.Response(
                    200, content=answer.encode(), headers={"content-type": "text/event-stream"}
                )
        else:
            answer = self.answers.get(key, httpx.Response(404, json={"title": "Not Found", "detail": key}))
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def emulator() -> ScriptedEmulator:
    return ScriptedEmulator()


@pytest.fixture
async def driver(emulator: ScriptedEmulator) -> AsyncIterator[EmulatorDriver]:
    """Norte's driver over the scripted emulator (fast backoff: 1 ms doubling to 4 ms)."""
    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(emulator)) as http,
        EmulatorDriver(
            URL, None, None, None, "norte", http_client=http, backoff_initial_s=0.001, backoff_max_s=0.004
        ) as norte,
    ):
        yield norte


async def collect(driver: EmulatorDriver, done: Callable[[list[DeviceEvent]], bool]) -> list[DeviceEvent]:
    seen: list[DeviceEvent] = []
    with anyio.fail_after(5):
        async with aclosing(driver.events()) as events:
            async for event in events:
                seen.append(event)
                if done(seen):
                    break
    return seen


def syncs(count: int) -> Callable[[list[DeviceEvent]], bool]:
    return lambda seen: sum(e.kind is DeviceEventKind.SYNC for e in seen) >= count


def reopen_delays(caplog: pytest.LogCaptureFixture) -> Iterator[float]:
    for record in caplog.records:
        if match := re.search(r"reopening in ([0-9.e-]+) s", record.getMessage()):
            yield float(match.group(1))


# Requests and answers ------------------------------------------------------------------------------------


def test_the_emulator_driver_is_a_qkd_device_driver() -> None:
    assert issubclass(EmulatorDriver, QkdDeviceDriver)


async def test_configure_puts_the_documented_body_and_reads_the_status(
    driver: EmulatorDriver, emulator: ScriptedEmulator
) -> None:
    emulator.answers["PUT /api/v1/modules/norte-rx/config"] = httpx.Response(200, json=STATUS)

    status = await driver.configure("norte-rx", ["concepcion-tx"], 59, enabled=True)

    put = emulator.requests[-1]
    assert (put.method, str(put.url)) == ("PUT", f"{URL}/api/v1/modules/norte-rx/config")
    assert json.loads(put.content) == {"peers": ["concepcion-tx"], "dwdm_channel": 59, "enabled": True}
    assert status.state is ModuleState.UP
    assert (status.peers, status.paired_with) == (("concepcion-tx",), "concepcion-tx")


async def test_a_module_of_another_node_is_refused_without_asking_the_device(
    driver: EmulatorDriver, emulator: ScriptedEmulator
) -> None:
    with pytest.raises(NotFound, match="no module 'concepcion-tx' at node 'norte'"):
        await driver.configure("concepcion-tx", ["norte-rx"], 59, enabled=True)

    assert [(r.method, r.url.path) for r in emulator.requests] == [("GET", "/api/v1/modules")]


async def test_a_refusal_keeps_the_problem_details(
    driver: EmulatorDriver, emulator: ScriptedEmulator
) -> None:
    problem = {"type": "about:blank", "title": "Refused by the device", "status": 409, "detail": "channel 90"}
    emulator.answers["PUT /api/v1/modules/norte-rx/config"] = httpx.Response(409, json=problem)

    with pytest.raises(DeviceRefused) as refused:
        await driver.configure("norte-rx", [], 90, enabled=True)

    assert (refused.value.status_code, refused.value.title, refused.value.detail) == (
        409,
        "Refused by the device",
        "channel 90",
    )
    assert "409" in str(refused.value)


async def test_a_404_is_not_found(driver: EmulatorDriver, emulator: ScriptedEmulator) -> None:
    await driver.discover()

    with pytest.raises(NotFound, match="404"):
        await driver.performance("norte-rx")  # no answer scripted: the emulator says 404


async def test_an_unreachable_emulator_is_a_device_error_chained_to_the_transport_error(
    driver: EmulatorDriver, emulator: ScriptedEmulator
) -> None:
    emulator.answers["GET /api/v1/modules"] = httpx.ConnectError("connection refused")

    with pytest.raises(DeviceError, match="cannot reach the emulator") as failed:
        await driver.discover()

    assert isinstance(failed.value.__cause__, httpx.ConnectError)


@pytest.mark.parametrize(
    "body",
    [b"not json", json.dumps({"modules": [{"id": "norte-rx"}]}).encode(), b"[]"],
    ids=["not-json", "missing-members", "wrong-shape"],
)
async def test_an_unreadable_answer_is_a_device_error(
    driver: EmulatorDriver, emulator: ScriptedEmulator, body: bytes
) -> None:
    emulator.answers["GET /api/v1/modules"] = httpx.Response(200, content=body)

    with pytest.raises(DeviceError, match="unreadable"):
        await driver.discover()


def test_an_unusable_certificate_is_a_pki_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"

    with pytest.raises(PkiError, match="cannot use certificate"):
        EmulatorDriver(URL, missing, missing, missing, "norte")


def test_a_driver_needs_a_certificate_or_a_client() -> None:
    with pytest.raises(TypeError):
        EmulatorDriver(URL, None, None, None, "norte")


# Events ------------------------------------------------------------------------------------------------


async def test_the_stream_starts_with_a_sync_and_keeps_only_this_nodes_module_events(
    driver: EmulatorDriver, emulator: ScriptedEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.streams.append(
        SUBSCRIBED
        + sse(1, "fibre_cut", [], fibre="concepcion-norte")
        + sse(2, "link_down", ["concepcion-tx", "norte-rx"], transmitter="concepcion-tx", receiver="norte-rx",
              fibre="concepcion-norte", active=False, reason="fibre concepcion-norte is cut", skr_bps=0.0)
        + sse(3, "link_up", ["concepcion-tx", "quintin-rx"], transmitter="concepcion-tx",
              receiver="quintin-rx", active=True, reason="", skr_bps=5.0e4)
        + ": keep-alive\n\n"
        + sse(4, "rate", ["norte-tx", "quintin-rx2"], transmitter="norte-tx", receiver="quintin-rx2",
              active=True, reason="", skr_bps=4.2e4)
        + sse(5, "module_failed", ["norte-tx"], module="norte-tx")
        + sse(6, "something_new", ["norte-rx"])
        + "event: link_up\ndata: {not json\n\n"
    )  # fmt: skip
    emulator.streams.append(SUBSCRIBED)

    with caplog.at_level(logging.WARNING, logger="sdqkd.agent.emulator_driver"):
        seen = await collect(driver, syncs(2))

    assert [(e.kind, e.modules) for e in seen] == [
        (DeviceEventKind.SYNC, ("norte-rx", "norte-tx")),
        (DeviceEventKind.LINK_DOWN, ("norte-rx",)),
        (DeviceEventKind.RATE, ("norte-tx",)),
        (DeviceEventKind.MODULE_DOWN, ("norte-tx",)),
        (DeviceEventKind.SYNC, ("norte-rx", "norte-tx")),
    ]
    down, rate = seen[1], seen[2]
    assert (down.transmitter, down.receiver, down.reason, down.skr_bps, down.time_s) == (
        "concepcion-tx",
        "norte-rx",
        "fibre concepcion-norte is cut",
        0.0,
        1.5,
    )
    assert rate.skr_bps == 4.2e4
    assert any("unreadable link_up event" in r.getMessage() for r in caplog.records)
    assert list(reopen_delays(caplog)) == [0.001]  # the first stream ended: reopened after 1 ms


async def test_a_lost_stream_is_reopened_with_a_doubling_backoff_reset_once_subscribed(
    driver: EmulatorDriver, emulator: ScriptedEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.streams += [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("silent"),
        httpx.Response(503, json={"title": "Service Unavailable", "detail": "busy"}),
        httpx.ConnectError("refused"),
        SUBSCRIBED,
        httpx.ConnectError("refused"),
        SUBSCRIBED,
    ]

    with caplog.at_level(logging.WARNING, logger="sdqkd.agent.emulator_driver"):
        seen = await collect(driver, syncs(2))

    assert [e.kind for e in seen] == [DeviceEventKind.SYNC, DeviceEventKind.SYNC]
    assert list(reopen_delays(caplog)) == [0.001, 0.002, 0.004, 0.004, 0.001, 0.002]


async def test_a_stream_this_certificate_may_not_read_is_not_retried(
    driver: EmulatorDriver, emulator: ScriptedEmulator
) -> None:
    problem = {"title": "Not allowed", "status": 403, "detail": "kme:norte may not call this"}
    emulator.streams.append(httpx.Response(403, json=problem))

    with pytest.raises(DeviceRefused) as refused:
        await collect(driver, syncs(1))

    assert refused.value.status_code == 403
    assert len(emulator.requests) == 1
