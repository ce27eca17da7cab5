"""Routes that match the whole path (:mod:`sdqkd.server.whole_paths`) and the ``Allow`` of a 405
(:mod:`sdqkd.server.methods`): a path with a newline still reaches its mount or its ``{x:path}``
route, a mount can be limited to the paths it serves, and a 405 names every method of the path."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

from sdqkd.server.errors import install_error_handlers, problem_table
from sdqkd.server.whole_paths import match_whole_paths, mount

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _inner() -> FastAPI:
    inner = FastAPI()

    @inner.get("/keys/{sae_id}")
    async def keys(sae_id: str) -> dict[str, str]:
        return {"served_by": "inner", "sae_id": sae_id}

    return inner


def _outer(*, under: tuple[str, ...] = ()) -> FastAPI:
    outer = FastAPI()
    install_error_handlers(outer, problem_table({}))

    @outer.get("/own/{item}")
    async def get_own(item: str) -> dict[str, str]:
        return {"served_by": "outer"}

    @outer.delete("/own/{item}")
    async def delete_own(item: str) -> dict[str, str]:
        return {"served_by": "outer"}

    @outer.get("/files/{name:path}")
    async def files(request: Request, name: str) -> PlainTextResponse:
        return PlainTextResponse(name)

    match_whole_paths(outer)
    mount(outer, "/", _inner(), under=under)
    return outer


async def _call(app: FastAPI, method: str, path: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        return await client.request(method, path)


async def test_a_path_with_a_newline_reaches_the_mounted_app() -> None:
    response = await _call(_outer(), "GET", "/keys/a%0Ab")

    assert response.status_code == 200
    assert response.json() == {"served_by": "inner", "sae_id": "a\nb"}


async def test_a_path_parameter_takes_a_newline_and_a_final_one() -> None:
    app = _outer()

    assert (await _call(app, "GET", "/files/a%0Ab/c")).text == "a\nb/c"
    assert (await _call(app, "GET", "/files/a%0A")).text == "a\n"


async def test_a_mount_limited_to_its_paths_leaves_the_others_to_the_outer_app() -> None:
    app = _outer(under=("/keys",))

    assert (await _call(app, "GET", "/keys/x")).json()["served_by"] == "inner"
    unknown = await _call(app, "GET", "/nothing")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"  # the outer app's 404


async def test_a_wrong_method_is_405_with_every_method_of_the_path() -> None:
    # without ``under`` the mount at / would take PUT /own/x (a mount matches any method): 404
    response = await _call(_outer(under=("/keys",)), "PUT", "/own/x")

    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET"  # both routes of the path, not the first only
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_mount_at_the_root_that_takes_every_path_hides_the_405() -> None:
    response = await _call(_outer(), "PUT", "/own/x")

    assert response.status_code == 404  # why the KME limits its ETSI 014 mount
