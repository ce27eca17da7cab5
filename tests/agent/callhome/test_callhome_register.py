"""The agent's call-home against a fake controller over real mutual TLS: it registers with the agent's own
certificate and tells its URLs, tries again (with backoff) while the controller is down, failing, busy or
slow, stops at a refusal and says why, and is cancelled cleanly."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from callhome_support import Call, CallHomePki, FakeController, free_port, serve_on, wait_for_async

from sdqkd.agent.callhome import Backoff, CallHome, Registration, is_transient, register
from sdqkd.errors import ConfigError
from sdqkd.etsi015 import qkdn_id
from sdqkd.pki import IssuedCertificate, client_ssl_context

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

AGENT_URL = "https://norte.example:8460"
KME_URL = "https://kme-norte.example:8470"
NORTE = Registration("norte", qkdn_id("norte"), AGENT_URL, "Norte", KME_URL)
BODY = {"qkdn_id": str(qkdn_id("norte")), "agent_url": AGENT_URL, "kme_url": KME_URL, "location": "Norte"}
FAST = Backoff(first_s=0.02, max_s=0.1)
LOGGER = "sdqkd.agent.callhome"


@asynccontextmanager
async def client_as(
    pki: CallHomePki, issued: IssuedCertificate, timeout_s: float = 5.0
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTPS client presenting ``issued`` (verifying the server against the session's CA)."""
    context = client_ssl_context(issued.cert, issued.key, pki.ca.cert_path)
    async with httpx.AsyncClient(verify=context, timeout=timeout_s) as client:
        yield client


def test_the_backoff_doubles_from_a_fifth_of_a_second_to_at_most_five() -> None:
    assert list(itertools.islice(Backoff().delays(), 8)) == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0]


@pytest.mark.parametrize("status_code", [500, 502, 503, 504, 408, 429])
def test_a_failing_busy_or_timed_out_controller_is_worth_another_try(status_code: int) -> None:
    assert is_transient(status_code)


@pytest.mark.parametrize("status_code", [301, 400, 401, 403, 404, 409, 422])
def test_any_other_answer_is_not(status_code: int) -> None:
    assert not is_transient(status_code)


async def test_an_agent_registers_with_its_own_certificate_and_tells_its_urls(
    fake: FakeController, controller_url: str, pki: CallHomePki
) -> None:
    async with client_as(pki, pki.norte) as client:
        first = await register(client, controller_url, NORTE)
        again = await register(client, controller_url + "/", NORTE)

    assert (first, again) == (201, 200)
    assert fake.calls == [Call("norte", "agent:norte", BODY, 201), Call("norte", "agent:norte", BODY, 200)]


@pytest.mark.parametrize("status_code", [500, 503, 408, 429])
async def test_a_failing_or_busy_controller_is_tried_again_after_a_growing_wait_until_it_accepts(
    fake: FakeController, controller_url: str, pki: CallHomePki, status_code: int
) -> None:
    fake.answers = [status_code, status_code, status_code]
    waits: list[float] = []

    async def sleep(delay_s: float) -> None:
        waits.append(delay_s)

    async with client_as(pki, pki.norte) as client:
        accepted = await register(client, controller_url, NORTE, sleep=sleep)

    assert accepted == 201
    assert [call.status_code for call in fake.calls] == [status_code, status_code, status_code, 201]
    assert waits == [0.2, 0.4, 0.8]


async def test_a_controller_that_does_not_answer_in_time_is_tried_again(
    fake: FakeController, controller_url: str, pki: CallHomePki
) -> None:
    fake.delays_s = [0.5]  # the first answer comes after the client gave up on it

    async with client_as(pki, pki.norte, timeout_s=0.1) as client:
        accepted = await register(client, controller_url, NORTE, backoff=FAST)

    assert accepted == 201
    assert fake.calls[0] == Call("norte", "agent:norte", BODY, 201)  # the second attempt, answered first


async def test_a_registration_with_another_nodes_certificate_is_refused_at_once_with_the_controllers_word(
    fake: FakeController, controller_url: str, pki: CallHomePki
) -> None:
    async with client_as(pki, pki.quintin) as client:
        with pytest.raises(ConfigError, match="403 agent:quintin may not register node 'norte'"):
            await register(client, controller_url, NORTE, backoff=FAST)

    assert len(fake.calls) == 1


@pytest.mark.parametrize("status_code", [400, 404, 409])
async def test_any_other_refusal_is_not_tried_again(
    fake: FakeController, controller_url: str, pki: CallHomePki, status_code: int
) -> None:
    fake.answers = [status_code]

    async with client_as(pki, pki.norte) as client:
        with pytest.raises(ConfigError, match=f"refused to register node 'norte': {status_code} not now"):
            await register(client, controller_url, NORTE, backoff=FAST)

    assert [call.status_code for call in fake.calls] == [status_code]


async def test_the_call_home_keeps_calling_while_the_controller_is_down_and_registers_once_it_is_up(
    fake: FakeController, pki: CallHomePki, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    port = free_port()
    call_home = CallHome(
        f"https://localhost:{port}",
        "norte",
        location="Norte",
        kme_url=KME_URL,
        tls=pki.tls(pki.norte),
        backoff=FAST,
    )
    call_home.start(AGENT_URL)
    try:
        await wait_for_async(lambda: call_home.attempts, lambda n: n >= 4, 5.0, "four attempts")
        assert (call_home.state, call_home.status_code) == ("calling", None)
        down_attempts = call_home.attempts

        with serve_on(fake.app(), pki.tls(pki.controller), port):
            await asyncio.wait_for(call_home.wait(), timeout=5.0)
    finally:
        await call_home.stop()

    assert (call_home.state, call_home.status_code) == ("registered", 201)
    # at most two more, not a flood: none when the attempt counted already was still connecting as the
    # controller came up (an attempt is counted when it starts), and then got through
    assert down_attempts <= call_home.attempts <= down_attempts + 2
    assert fake.calls == [Call("norte", "agent:norte", BODY, 201)]
    warnings = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]
    assert len(warnings) == 1  # the controller being down is said once, not at every attempt
    assert "cannot register with the controller" in warnings[0].getMessage()
    (info,) = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.INFO]
    assert f"registered with the controller at https://localhost:{port} as {AGENT_URL}" in info.getMessage()


async def test_a_refused_call_home_logs_the_controllers_message_and_calls_no_more(
    fake: FakeController, controller_url: str, pki: CallHomePki, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    call_home = CallHome(controller_url, "norte", location="Norte", tls=pki.tls(pki.quintin), backoff=FAST)

    call_home.start(AGENT_URL)
    await asyncio.wait_for(call_home.wait(), timeout=5.0)
    await asyncio.sleep(0.3)  # time for several retries, were there any

    assert (call_home.state, call_home.attempts, len(fake.calls)) == ("refused", 1, 1)
    assert call_home.refusal is not None
    assert "agent:quintin may not register node 'norte'" in call_home.refusal
    (error,) = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.ERROR]
    assert "agent:quintin may not register node 'norte'" in error.getMessage()
    await call_home.stop()
    assert call_home.state == "refused"


async def test_stopping_the_call_home_while_it_calls_cancels_it(pki: CallHomePki) -> None:
    call_home = CallHome(
        f"https://localhost:{free_port()}", "norte", location="Norte", tls=pki.tls(pki.norte), backoff=FAST
    )
    call_home.start(AGENT_URL)
    await wait_for_async(lambda: call_home.attempts, lambda n: n >= 1, 5.0, "calling")

    await asyncio.wait_for(call_home.stop(), timeout=1.0)
    attempts = call_home.attempts
    await asyncio.sleep(0.2)  # time for several attempts, were it still calling

    assert call_home.state == "stopped"
    assert call_home.attempts == attempts


async def test_the_call_home_tells_the_advertised_url_rather_than_the_served_one(
    fake: FakeController, controller_url: str, pki: CallHomePki
) -> None:
    async with client_as(pki, pki.norte) as client:
        call_home = CallHome(
            controller_url, "norte", location="Norte", advertise_url="https://norte.lab:443", client=client
        )
        call_home.start("https://localhost:40123")
        await asyncio.wait_for(call_home.wait(), timeout=5.0)
        await call_home.stop()

    (call,) = fake.calls
    assert call.body == {**BODY, "agent_url": "https://norte.lab:443", "kme_url": None}


def test_a_call_home_takes_the_agents_tls_files_or_a_client_not_both(pki: CallHomePki) -> None:
    with pytest.raises(ValueError, match="not both"):
        CallHome("https://controller:8443", "norte", location="Norte")
    with pytest.raises(ValueError, match="not both"):
        CallHome(
            "https://controller:8443",
            "norte",
            location="Norte",
            tls=pki.tls(pki.norte),
            client=httpx.AsyncClient(),
        )
