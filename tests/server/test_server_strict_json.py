"""Strict JSON request bodies (:mod:`sdqkd.server.strict_json`): one meaning per body, bounded depth,
and FastAPI routes that really parse through it."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from hypothesis import given
from hypothesis import strategies as st

from sdqkd.server.errors import install_error_handlers, validation_problems
from sdqkd.server.strict_json import MAX_DEPTH, StrictJsonError, StrictJsonRoute, _depth_exceeds, loads

_TRICKY = st.sampled_from(["[", "]", "{", "}", '"', "\\", "a"])  # what could fool a bracket count
_JSON = st.recursive(
    st.none() | st.integers() | st.text(_TRICKY, max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(_TRICKY, max_size=3), inner, max_size=3)
    ),
    max_leaves=30,
)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


@given(_JSON, st.integers(min_value=0, max_value=12))
def test_the_depth_counts_brackets_outside_strings_only(value: Any, limit: int) -> None:
    text = json.dumps(value).encode()
    assert _depth_exceeds(text, limit) == (_depth(value) > limit)


def test_a_body_as_deep_as_the_limit_parses_and_one_level_more_is_refused() -> None:
    assert loads("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    with pytest.raises(StrictJsonError, match="nested deeper"):
        loads("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))


@pytest.mark.parametrize("depth", [10_000, 1_000_000])
def test_nesting_past_the_parser_s_recursion_is_refused_not_a_recursion_error(depth: int) -> None:
    with pytest.raises(StrictJsonError, match="nested deeper"):
        loads("[" * depth + "]" * depth)
    with pytest.raises(StrictJsonError):  # unbalanced too
        loads("[" * depth)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('{"a": 1, "a": 1}', "repeated"),
        ('[{"b": {"a": 1, "a": 2}}]', "repeated"),
        ('{"x": NaN}', "NaN"),
        ("[Infinity]", "NaN"),
        ("{", "Expecting"),
        (b"\xff", "UTF-8"),
    ],
)
def test_what_is_not_strict_json_is_refused_without_quoting_it(text: str | bytes, said: str) -> None:
    with pytest.raises(StrictJsonError, match=said) as raised:
        loads(text)
    assert raised.value.doc == ""


def test_the_same_name_in_different_objects_is_fine() -> None:
    assert loads('[{"a": 1}, {"a": 2}]') == [{"a": 1}, {"a": 2}]


@pytest.fixture
def app() -> FastAPI:
    app = FastAPI()
    app.router.route_class = StrictJsonRoute

    @app.post("/echo")
    async def echo(body: dict[str, Any]) -> dict[str, Any]:
        return body

    def invalid(_: Any, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"problems": validation_problems(exc)}, status_code=400)

    install_error_handlers(app, {RequestValidationError: invalid})
    return app


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b'{"a": 1, "a": 2}', "JSON decode error: a member name is repeated in one object"),
        (
            b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}",
            "JSON decode error: the JSON is nested deeper than 64 levels",
        ),
    ],
)
async def test_a_fastapi_route_parses_its_body_strictly(app: FastAPI, body: bytes, said: str) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        refused = await client.post("/echo", content=body, headers={"content-type": "application/json"})
        accepted = await client.post("/echo", json={"a": [[1]]})
    assert refused.status_code == 400
    assert refused.json()["problems"][0]["problem"] == said
    assert accepted.json() == {"a": [[1]]}
