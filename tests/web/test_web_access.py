"""Who gets into the dashboard, in process: nothing answers without the operator's credential (401
on every path, static files and the API alike); the token opens a session (303, a cookie that is not
the token, HttpOnly, Secure, SameSite=Strict) that later expires; a bearer token and the operator's
client certificate let a caller in; another role's certificate does not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from web_support import TOKEN, WebPki, upstream

from asgi_support import CallAs, clients_presenting
from sdqkd.web import SESSION_COOKIE, Sessions, SnapshotFeed, create_web_app

pytestmark = pytest.mark.anyio

BASE = "https://localhost"
PATHS = ["/", "/static/app.js", "/static/style.css", "/api/snapshot", "/api/events", "/metrics", "/nowhere"]
SESSION_TTL_S = 600.0


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def static_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "static"
    folder.mkdir()
    (folder / "index.html").write_text("<!doctype html><title>sdqkd</title><section id=view-topology>")
    (folder / "app.js").write_text("'use strict';\n")
    (folder / "style.css").write_text("body { margin: 0 }\n")
    return folder


@pytest.fixture
async def call_as(static_dir: Path, clock: Clock) -> AsyncIterator[CallAs]:
    feed = SnapshotFeed(lambda: upstream("madrid_up"), interval_s=1.0)
    app = create_web_app(feed, TOKEN, Sessions(SESSION_TTL_S, clock), static_dir)
    async with clients_presenting(app, BASE) as make:
        yield make


def _cookie(response: httpx.Response) -> SimpleCookie:
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(response.headers["set-cookie"])
    return cookie


async def _refused(client: httpx.AsyncClient, path: str, **kwargs: object) -> httpx.Response:
    response = await client.get(path, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 401, (path, response.status_code)
    assert response.headers["cache-control"] == "no-store"
    if path.startswith("/api/"):
        body = response.json()
        assert set(body) == {"message", "details"}
    else:
        assert response.headers["content-type"].startswith("text/html")
        assert "sdqkd up" in response.text
    return response


@pytest.mark.parametrize("path", PATHS)
async def test_every_path_is_refused_without_a_credential(call_as: CallAs, path: str) -> None:
    response = await _refused(call_as(None), path)
    assert TOKEN not in response.text


@pytest.mark.parametrize("path", PATHS)
async def test_every_path_is_refused_with_a_wrong_token(call_as: CallAs, path: str) -> None:
    client = call_as(None)
    await _refused(client, path, params={"token": TOKEN[:-1] + "x"})
    await _refused(client, path, headers={"Authorization": f"Bearer {TOKEN}x"})
    await _refused(client, path, headers={"Authorization": f"Basic {TOKEN}"})
    await _refused(client, path, headers={"Cookie": f"{SESSION_COOKIE}={TOKEN}"})  # the token is no session


async def test_the_token_opens_a_session_in_a_cookie_that_is_not_the_token(call_as: CallAs) -> None:
    client = call_as(None)
    response = await client.get("/", params={"token": TOKEN})
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    morsel = _cookie(response)[SESSION_COOKIE]
    assert morsel.value
    assert TOKEN not in morsel.value
    assert morsel["httponly"] is True
    assert morsel["secure"] is True
    assert morsel["samesite"] == "Strict"
    assert morsel["path"] == "/"
    assert TOKEN not in response.headers.get("location", "")

    page = await client.get("/")  # the client keeps the cookie, as a browser does
    assert page.status_code == 200
    assert "view-topology" in page.text
    assert (await client.get("/static/app.js")).text == "'use strict';\n"
    snapshot = await client.get("/api/snapshot")
    assert snapshot.status_code == 200
    assert snapshot.json()["network"] == "madrid"


async def test_the_token_on_another_path_keeps_that_path_and_its_other_parameters(call_as: CallAs) -> None:
    response = await call_as(None).get("/static/style.css", params={"view": "links", "token": TOKEN})
    assert response.status_code == 303
    assert response.headers["location"] == "/static/style.css?view=links"


async def test_an_expired_session_is_refused_everywhere(call_as: CallAs, clock: Clock) -> None:
    client = call_as(None)
    await client.get("/", params={"token": TOKEN})
    assert (await client.get("/api/snapshot")).status_code == 200
    clock.now += SESSION_TTL_S + 1
    for path in PATHS:
        response = await _refused(client, path)
        if path.startswith("/api/"):
            assert "expired" in response.json()["message"]


async def test_a_session_id_made_up_is_refused(call_as: CallAs) -> None:
    await _refused(call_as(None), "/api/snapshot", headers={"Cookie": f"{SESSION_COOKIE}=made-up-session-id"})


async def test_a_bearer_token_lets_a_script_in(call_as: CallAs) -> None:
    response = await call_as(None).get("/api/snapshot", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert {node["id"] for node in response.json()["nodes"]} == {"concepcion", "norte", "quintin"}
    assert "set-cookie" not in response.headers


async def test_the_operators_certificate_lets_a_caller_in(call_as: CallAs, pki: WebPki) -> None:
    client = call_as(pki.operator)
    assert (await client.get("/api/snapshot")).status_code == 200
    assert (await client.get("/")).status_code == 200


async def test_the_metrics_answer_the_operator_in_prometheus_text(call_as: CallAs, pki: WebPki) -> None:
    client = call_as(pki.operator)
    assert (await client.get("/api/snapshot")).status_code == 200  # one snapshot built
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {family.name: family for family in text_string_to_metric_families(response.text)}
    assert {"sdqkd_web_snapshots", "sdqkd_web_event_streams", "sdqkd_web_sessions"} <= set(families)
    assert families["sdqkd_web_snapshots"].samples[0].value >= 1
    assert families["sdqkd_web_snapshot_problems"].samples[0].value == 0
    assert TOKEN not in response.text


async def test_another_roles_certificate_is_refused(call_as: CallAs, pki: WebPki) -> None:
    response = await _refused(call_as(pki.kme), "/api/snapshot")
    assert "kme:norte" in response.json()["message"]


async def test_answers_carry_the_security_headers_and_are_not_cached(call_as: CallAs, pki: WebPki) -> None:
    response = await call_as(pki.operator).get("/")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"


async def test_an_unknown_path_is_a_404_in_the_dashboards_error_format(call_as: CallAs, pki: WebPki) -> None:
    response = await call_as(pki.operator).get("/api/nowhere")
    assert response.status_code == 404
    assert set(response.json()) == {"message", "details"}


async def test_a_missing_page_is_a_404_not_a_failure(pki: WebPki, tmp_path: Path) -> None:
    feed = SnapshotFeed(lambda: upstream("madrid_up"))
    app = create_web_app(feed, TOKEN, Sessions(60.0), tmp_path / "no-such-folder")
    async with clients_presenting(app, BASE) as make:
        client = make(pki.operator)
        assert (await client.get("/")).status_code == 404
        assert (await client.get("/static/app.js")).status_code == 404
        assert (await client.get("/api/snapshot")).status_code == 200


async def test_the_packaged_page_and_its_modules_are_served(pki: WebPki) -> None:
    feed = SnapshotFeed(lambda: upstream("madrid_up"))
    async with clients_presenting(create_web_app(feed, TOKEN, Sessions(60.0)), BASE) as make:
        client = make(pki.operator)
        page = await client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        for view in ("topology", "links", "spectra", "switches", "services", "timeline"):
            assert f'id="view-{view}"' in page.text
        script = await client.get("/static/app.js")
        assert script.status_code == 200
        assert "javascript" in script.headers["content-type"]
        assert (await client.get("/static/style.css")).headers["content-type"].startswith("text/css")
