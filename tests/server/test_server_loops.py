"""Background loops that survive their errors (:mod:`sdqkd.server.loops`) and ``GET /health``."""

from __future__ import annotations

import asyncio
import logging

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from asgi_support import clients_presenting
from sdqkd.errors import DeviceError, Forbidden, Unauthenticated
from sdqkd.pki import CertificateAuthority, IssuedCertificate, Role
from sdqkd.server.authz import Table, authorise
from sdqkd.server.errors import install_error_handlers
from sdqkd.server.health import HEALTH_READERS, add_health_route
from sdqkd.server.loops import Idle, Loops

pytestmark = pytest.mark.anyio

_SECRET = "d41d8cd98f00b204-key-bytes"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Script:
    """A round body that plays ``plan`` (an exception to raise, or the pause to return), then returns
    ``Idle`` forever; ``rounds`` counts the rounds, ``times`` when each began."""

    def __init__(self, *plan: BaseException | float | Idle | None) -> None:
        self.plan = list(plan)
        self.rounds = 0
        self.times: list[float] = []

    async def __call__(self) -> float | Idle | None:
        self.rounds += 1
        self.times.append(asyncio.get_running_loop().time())
        step = self.plan.pop(0) if self.plan else Idle(0.01)
        if isinstance(step, BaseException):
            raise step
        return step


async def until(condition: object, timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.005)


async def test_a_failing_round_is_logged_backed_off_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="test.loops")
    loops = Loops(logger=logging.getLogger("test.loops"), backoff_s=0.05, max_backoff_s=0.1)
    script = Script(
        KeyError(_SECRET),
        ValueError(_SECRET),
        DeviceError("module m1 did not answer"),
        RuntimeError(_SECRET),
        0.0,
    )
    state = loops.start("supply", script)
    await until(lambda: state.failures == 2)
    assert (state.state, state.last_error, state.last_success) == ("backing-off", "ValueError", None)
    assert not loops.healthy
    await until(lambda: state.state == "running")
    await loops.stop()

    assert (state.state, state.failures, state.total_failures) == ("stopped", 0, 4)
    assert state.last_success is not None
    pauses = [later - earlier for earlier, later in zip(script.times, script.times[1:], strict=False)]
    assert pauses[0] == pytest.approx(0.05, abs=0.04)
    assert pauses[1] >= 0.09
    assert pauses[2] >= 0.09
    assert pauses[2] < 0.3
    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert messages[0][0] == logging.WARNING
    assert "KeyError at test_server_loops.py" in messages[0][1]
    assert [level for level, _ in messages[1:4]] == [logging.DEBUG] * 3
    assert "DeviceError: module m1 did not answer" in messages[2][1]  # sdqkd errors say what went wrong
    assert messages[4] == (logging.INFO, "supply: recovered after 4 failed round(s)")
    assert _SECRET not in caplog.text


async def test_an_idle_round_after_failures_does_not_count_as_recovery() -> None:
    loops = Loops(backoff_s=0.01, max_backoff_s=0.01)
    state = loops.start("supply", Script(RuntimeError("x"), Idle(0.01), Idle(0.01), 0.01))
    await until(lambda: state.total_failures == 1)
    await until(lambda: state.state == "running")
    assert state.failures == 0
    await loops.stop()
    fresh = Loops()
    idle = fresh.start("idle", Script())
    await until(lambda: idle.state == "running")  # without failures, an idle round is a good one
    await fresh.stop()


async def test_cancelling_ends_a_loop_even_while_it_backs_off() -> None:
    loops = Loops(backoff_s=10.0)
    state = loops.start("stuck", Script(RuntimeError("x")))
    await until(lambda: state.failures == 1)
    async with asyncio.timeout(1.0):
        await loops.stop()
    assert state.state == "stopped"


@pytest.fixture(scope="module")
def certificates(ca_issuing_into: object) -> dict[str, IssuedCertificate]:
    ca: CertificateAuthority = ca_issuing_into("health")  # type: ignore[operator]
    return {role: ca.issue(Role(role), f"{role}-1") for role in ("operator", "controller", "sae", "kme")}


async def test_health_is_200_when_every_loop_runs_and_503_while_one_backs_off(
    certificates: dict[str, IssuedCertificate],
) -> None:
    loops = Loops(backoff_s=10.0)
    # who may read /health is the app's table's to say: the entry every service has
    app = FastAPI(dependencies=[authorise(Table("svc", {("GET", "/health"): HEALTH_READERS}))])
    install_error_handlers(
        app,
        {
            Unauthenticated: lambda _, exc: JSONResponse({}, status_code=401),
            Forbidden: lambda _, exc: JSONResponse({}, status_code=403),
        },
    )
    add_health_route(app, loops.states)
    good = loops.start("good", Script(0.01))
    bad = loops.start("bad", Script(0.01, RuntimeError(_SECRET)))
    async with clients_presenting(app, "http://svc") as call_as:
        await until(lambda: good.state == "running" and bad.state == "running")
        ok = await call_as(certificates["operator"]).get("/health")
        await until(lambda: bad.state == "backing-off")
        degraded = await call_as(certificates["controller"]).get("/health")
        refused = [(await call_as(certificates[role]).get("/health")).status_code for role in ("sae", "kme")]
        anonymous = await call_as(None).get("/health")
    await loops.stop()

    assert ok.status_code == 200
    assert ok.json()["status"] == "ok"
    assert degraded.status_code == 503
    assert degraded.json()["status"] == "degraded"
    by_name = {loop["name"]: loop for loop in degraded.json()["loops"]}
    assert by_name["bad"]["state"] == "backing-off"
    assert (by_name["bad"]["failures"], by_name["bad"]["last_error"]) == (1, "RuntimeError")
    assert by_name["good"]["state"] == "running"
    assert _SECRET not in degraded.text
    assert degraded.headers["cache-control"] == "no-store"
    assert refused == [403, 403]
    assert anonymous.status_code == 401
