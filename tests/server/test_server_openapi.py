"""An app's OpenAPI document says what it answers (:mod:`sdqkd.server.openapi`): no 422 (validation
failures are 400s), each error status on the operations that can give it, every error answer with
the service's error body, mutual TLS as the security scheme; event streams as text/event-stream."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import BaseModel

from sdqkd.server.openapi import (
    EVENT_STREAM_ROUTE,
    ErrorAnswers,
    install_openapi,
    problem_details_schema,
)

_ANSWERS = ErrorAnswers(
    name="Problem",
    schema=problem_details_schema(),
    media_type="application/problem+json",
    statuses={
        400: ("malformed", "input"),
        401: ("no certificate", "always"),
        404: ("no such thing", "path"),
        409: ("refused", "write"),
        413: ("too large", "body"),
    },
)


class _Thing(BaseModel):
    name: str


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/things")
    async def things() -> list[str]:
        return []

    @app.get("/things/{thing_id}", responses={503: {"description": "the store is down"}})
    async def thing(thing_id: str) -> dict[str, Any]:
        return {}

    @app.put("/things/{thing_id}")
    async def put_thing(thing_id: str, body: _Thing) -> dict[str, Any]:
        return {}

    @app.delete("/things/{thing_id}", status_code=204)
    async def delete_thing(thing_id: str) -> None:
        return None

    @app.get("/events", **EVENT_STREAM_ROUTE)
    async def events() -> None:
        return None

    install_openapi(app, _ANSWERS)
    return app


def _statuses(document: dict[str, Any], path: str, method: str) -> set[str]:
    return set(document["paths"][path][method]["responses"])


def test_each_error_status_goes_to_the_operations_that_can_give_it() -> None:
    document = _app().openapi()

    assert _statuses(document, "/things", "get") == {"200", "401"}
    assert _statuses(document, "/things/{thing_id}", "get") == {"200", "400", "401", "404", "503"}
    assert _statuses(document, "/things/{thing_id}", "put") == {"200", "400", "401", "404", "409", "413"}
    assert _statuses(document, "/things/{thing_id}", "delete") == {"204", "400", "401", "404", "409"}


def test_no_operation_lists_fastapis_422_or_its_schemas() -> None:
    document = _app().openapi()

    assert all("422" not in item[m]["responses"] for item in document["paths"].values() for m in item)
    assert not {"HTTPValidationError", "ValidationError"} & set(document["components"]["schemas"])


def test_every_error_answer_has_the_error_body_also_one_a_route_declares() -> None:
    document = _app().openapi()
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}

    answers = document["paths"]["/things/{thing_id}"]["get"]["responses"]
    assert answers["503"] == {"description": "the store is down", "content": problem}
    assert answers["404"] == {"description": "no such thing", "content": problem}
    assert document["components"]["schemas"]["Problem"]["required"] == ["title", "status"]


def test_the_document_names_mutual_tls() -> None:
    document = _app().openapi()

    assert document["components"]["securitySchemes"]["mutualTLS"]["type"] == "mutualTLS"
    assert document["security"] == [{"mutualTLS": []}]


def test_an_event_stream_is_documented_as_text_event_stream() -> None:
    ok = _app().openapi()["paths"]["/events"]["get"]["responses"]["200"]

    assert set(ok["content"]) == {"text/event-stream"}


def test_the_document_served_is_the_rewritten_one() -> None:
    app = _app()

    async def fetch() -> dict[str, Any]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            document: dict[str, Any] = (await client.get("/openapi.json")).json()
        return document

    served = asyncio.run(fetch())

    assert served == app.openapi()
    assert "422" not in served["paths"]["/things/{thing_id}"]["put"]["responses"]
