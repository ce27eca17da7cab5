"""One error table per app (:func:`sdqkd.server.errors.install_error_handlers`): the most specific class
decides, the framework's own refusals go through the table too, and a validation problem says where
and why without repeating what was sent. The role guard tells an unknown caller (401) from a known
one that may not call (403)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID

import pytest
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from asgi_support import CallAs, clients_presenting
from sdqkd.errors import DeviceError, Forbidden, NotFound, SdqkdError, Unauthenticated
from sdqkd.pki import CertificateAuthority, Role
from sdqkd.server.authz import Table, allow, authorise
from sdqkd.server.errors import (
    ErrorRenderer,
    HTTPError,
    install_error_handlers,
    problem_table,
    validation_problems,
)
from sdqkd.server.identity import PeerDep

pytestmark = pytest.mark.anyio

_SECRET = "7c1d6a1e-key-material-that-must-not-come-back"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class _Body(BaseModel):
    count: int
    key_id: UUID | None = None


def _answer(status: int) -> ErrorRenderer:
    def render(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"class": type(exc).__name__, "message": str(exc)}, status_code=status)

    return render


def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse({"problems": validation_problems(exc)}, status_code=400)


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(
        app,
        {
            Unauthenticated: _answer(401),
            Forbidden: _answer(403),
            DeviceError: _answer(409),
            NotFound: _answer(404),
            RequestValidationError: _invalid,
            HTTPError: _answer(418),
        },
    )

    @app.get("/raise/{which}")
    async def raise_(which: str) -> None:
        errors: dict[str, SdqkdError] = {"device": DeviceError("refused"), "missing": NotFound("no fibre")}
        raise errors[which]

    @app.post("/counts")
    async def counts(body: dict[str, list[dict[str, int]]]) -> int:
        return len(body)

    @app.post("/count")
    async def count(body: _Body) -> dict[str, int]:
        return {"count": body.count}

    @app.get(
        "/operators", dependencies=[authorise(Table("test", {("GET", "/operators"): allow(Role.OPERATOR)}))]
    )
    async def operators(caller: PeerDep) -> dict[str, str]:
        return {"caller": str(caller)}

    return app


@pytest.fixture
async def call_as() -> AsyncIterator[CallAs]:
    async with clients_presenting(_app(), "http://test") as make:
        yield make


async def test_the_most_specific_class_of_the_table_decides(call_as: CallAs) -> None:
    client = call_as(None)
    missing, refused = await client.get("/raise/missing"), await client.get("/raise/device")
    assert (missing.status_code, missing.json()["class"]) == (404, "NotFound")  # not its base's 409
    assert (refused.status_code, refused.json()["class"]) == (409, "DeviceError")


async def test_the_frameworks_refusals_go_through_the_table(call_as: CallAs) -> None:
    response = await call_as(None).get("/nowhere")
    assert (response.status_code, response.json()["class"]) == (418, "HTTPException")


async def test_a_validation_problem_says_where_and_why_but_not_what_was_sent(call_as: CallAs) -> None:
    response = await call_as(None).post("/count", json={"count": _SECRET})
    assert response.status_code == 400
    (problem,) = response.json()["problems"]
    assert problem["field"] == "body.count"
    assert problem["problem"]
    assert _SECRET not in response.text


async def test_a_parsing_problem_does_not_quote_the_input(call_as: CallAs) -> None:
    response = await call_as(None).post("/count", json={"count": 1, "key_id": "Q" + _SECRET})
    (problem,) = response.json()["problems"]
    assert problem == {"field": "body.key_id", "problem": "Input should be a valid UUID"}


async def test_validation_problems_are_bounded_however_large_the_request(call_as: CallAs) -> None:
    # a member name is the input too: it appears in the problem's location (here: a list of dicts
    # whose values must be counts, under a 100 kB key), and a long list makes as many problems
    huge_name = "n" * 100_000
    response = await call_as(None).post("/counts", json={"counts": [{huge_name: "x"} for _ in range(20)]})
    assert response.status_code == 400
    problems = response.json()["problems"]
    assert len(problems) == 16
    assert all(len(problem["field"]) <= 200 and len(problem["problem"]) <= 200 for problem in problems)
    assert len(response.content) < 8192


async def test_a_caller_without_a_certificate_is_unauthenticated(call_as: CallAs) -> None:
    response = await call_as(None).get("/operators")
    assert (response.status_code, response.json()["class"]) == (401, "Unauthenticated")


async def test_a_known_caller_of_another_role_is_forbidden(call_as: CallAs, ca: CertificateAuthority) -> None:
    response = await call_as(ca.issue(Role.SAE, "sae-1")).get("/operators")
    assert (response.status_code, response.json()) == (
        403,
        {"class": "Forbidden", "message": "sae:sae-1 may not GET /operators"},
    )


async def test_a_caller_of_the_role_is_admitted(call_as: CallAs, ca: CertificateAuthority) -> None:
    response = await call_as(ca.issue(Role.OPERATOR, "ops-1")).get("/operators")
    assert response.json() == {"caller": "operator:ops-1"}


def _problem_app() -> FastAPI:
    app = FastAPI()
    refusals = {NotFound: (404, "Not Found"), Forbidden: (403, "Forbidden")}
    table = problem_table(refusals, {"Cache-Control": "no-store"})
    install_error_handlers(app, table)

    @app.post("/things/{thing}")
    async def thing(thing: str, body: _Body) -> None:
        raise NotFound(f"no thing {thing!r}")

    return app


async def test_a_problem_table_answers_rfc_9457_problems_with_its_headers() -> None:
    async with clients_presenting(_problem_app(), "http://test") as make:
        client = make(None)
        missing = await client.post("/things/x", json={"count": 1})
        invalid = await client.post("/things/x", json={"count": _SECRET})
        wrong_method = await client.get("/things/x")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    problem = {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "no thing 'x'"}
    assert missing.json() == problem
    assert (invalid.status_code, invalid.json()["title"]) == (400, "Bad Request")
    assert invalid.json()["detail"].startswith("body.count: ")
    assert _SECRET not in invalid.text
    assert (wrong_method.status_code, wrong_method.headers["allow"]) == (405, "POST")
    assert all(r.headers["cache-control"] == "no-store" for r in (missing, invalid, wrong_method))
