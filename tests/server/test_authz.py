"""The authorisation model itself: a table per service enforced by one app-wide dependency that denies
by default, conditions whose predicates the service supplies, tables rendered for docs/security.md
(which a test keeps current), and the limits on open event streams."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.responses import StreamingResponse

from authz_support import Certificates, call
from sdqkd.errors import Forbidden, SubscriptionsFull, TooManySubscriptions, Unauthenticated
from sdqkd.pki import CertificateAuthority, Identity, Role
from sdqkd.server.authz import (
    OWN_NODE,
    Condition,
    Grant,
    Table,
    allow,
    authorise,
    markdown,
    own_node,
    route_keys,
)
from sdqkd.server.errors import install_error_handlers, problem_table
from sdqkd.server.streams import StreamLimits

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
BLUE = Condition("blue", "the caller's name is blue")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def certificates(ca_issuing_into: Callable[[str], CertificateAuthority]) -> Certificates:
    return Certificates(ca_issuing_into("authz"))


def _app(table: Table, checks: dict[Condition, Any] | None = None) -> FastAPI:
    app = FastAPI(dependencies=[authorise(table, checks)], docs_url=None, redoc_url=None, openapi_url=None)
    install_error_handlers(
        app, problem_table({Unauthenticated: (401, "Unauthorized"), Forbidden: (403, "Forbidden")})
    )

    @app.get("/named/{item}")
    async def named(item: str) -> dict[str, str]:
        return {"item": item}

    @app.put("/named/{item}")
    async def put_named(item: str) -> dict[str, str]:
        return {"item": item}

    @app.get("/forgotten")
    async def forgotten() -> dict[str, str]:
        return {}

    return app


TABLE = Table(
    "test",
    {
        ("GET", "/named/{item}"): allow(Role.OPERATOR, Grant(Role.KME, OWN_NODE)),
        ("PUT", "/named/{item}"): allow(Grant(Role.AGENT, BLUE)),
    },
)


async def test_a_route_the_table_does_not_name_is_refused_to_everyone(certificates: Certificates) -> None:
    app = _app(TABLE, {OWN_NODE: own_node("norte"), BLUE: lambda caller, request: caller.name == "blue"})
    for role in (Role.OPERATOR, Role.CONTROLLER, Role.KME):
        answer = await call(app, "GET", "/forgotten", certificates.pem(role, "norte"))
        assert answer.status == 403
        assert answer.json()["detail"] == f"{role}:norte may not GET /forgotten"


async def test_roles_and_conditions_decide(certificates: Certificates) -> None:
    app = _app(TABLE, {OWN_NODE: own_node("norte"), BLUE: lambda caller, request: caller.name == "blue"})
    cases = [
        ("GET", Role.OPERATOR, "anyone", 200),
        ("GET", Role.KME, "norte", 200),
        ("GET", Role.KME, "quintin", 403),  # another node's KME
        ("GET", Role.SAE, "norte", 403),  # the right name, the wrong role
        ("PUT", Role.AGENT, "blue", 200),
        ("PUT", Role.AGENT, "red", 403),
        ("PUT", Role.OPERATOR, "blue", 403),  # a method is its own entry: GET's grants do not carry
    ]
    for method, role, name, status in cases:
        answer = await call(app, method, "/named/x", certificates.pem(role, name))
        assert answer.status == status, (method, role, name)


async def test_no_certificate_is_401_before_the_table_is_looked_at() -> None:
    app = _app(TABLE, {OWN_NODE: own_node("norte"), BLUE: lambda caller, request: True})
    for path in ("/named/x", "/forgotten"):
        answer = await call(app, "GET", path, None)
        assert answer.status == 401


def test_a_condition_without_its_predicate_is_refused_when_the_app_is_built() -> None:
    with pytest.raises(ValueError, match="no predicate for condition"):
        authorise(TABLE, {OWN_NODE: own_node("norte")})


def test_route_keys_lists_every_method_of_every_route_and_what_the_table_cannot_guard() -> None:
    app = FastAPI()  # docs on: framework pages that no dependency guards
    app.add_api_route("/x", lambda: None, methods=["GET", "DELETE"])
    keys, unguarded = route_keys(app)
    assert keys == {("GET", "/x"), ("DELETE", "/x")}
    assert {"/docs", "/redoc", "/openapi.json"} <= unguarded


def test_the_tables_render_as_markdown_with_their_conditions() -> None:
    text = markdown([TABLE])
    assert text.splitlines()[:4] == [
        "### test",
        "",
        "| Method | Path | Who may call |",
        "| --- | --- | --- |",
    ]
    assert "| GET | `/named/{item}` | operator, kme (own node) |" in text
    assert "| PUT | `/named/{item}` | agent (blue) |" in text
    assert "- *blue*: the caller's name is blue." in text
    assert str(allow()) == "nobody"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("security_tables", ROOT / "scripts" / "security_tables.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_security_md_shows_the_tables_the_code_enforces() -> None:
    script = _script()
    document = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    assert document == script.regenerated(document), "run: python scripts/security_tables.py"
    for table in script.tables():
        assert f"### {table.service}" in document


def test_the_docs_check_fails_on_a_stale_document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = _script()
    stale = tmp_path / "security.md"
    stale.write_text(
        f"# Security\n\n{script.BEGIN}\n| GET | `/old` | everyone |\n{script.END}\n", encoding="utf-8"
    )
    monkeypatch.setattr(script, "DOCUMENT", stale)
    monkeypatch.setattr(sys, "argv", ["security_tables.py", "--check"])
    assert script.main() == 1
    monkeypatch.setattr(sys, "argv", ["security_tables.py"])
    assert script.main() == 0
    assert "`/old`" not in stale.read_text(encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["security_tables.py", "--check"])
    assert script.main() == 0


def test_stream_limits_count_per_caller_then_in_all() -> None:
    limits = StreamLimits(total=3, per_caller=2)
    alice, bob = Identity(Role.OPERATOR, "alice"), Identity(Role.OPERATOR, "bob")
    held = [limits.held_by(alice, _stream()), limits.held_by(alice, _stream())]
    with pytest.raises(TooManySubscriptions):
        limits.held_by(alice, _stream())
    held.append(limits.held_by(bob, _stream()))
    with pytest.raises(SubscriptionsFull):
        limits.held_by(bob, _stream())
    assert limits.open == 3
    held[0].release()  # type: ignore[attr-defined]
    held[0].release()  # type: ignore[attr-defined]  # once only
    assert limits.open == 2
    limits.held_by(bob, _stream())
    with pytest.raises(ValueError, match="at least 1"):
        StreamLimits(total=0)


def _stream() -> Any:
    async def nothing() -> Any:
        yield b""

    return StreamingResponse(nothing())
