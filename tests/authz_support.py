"""Walking a service's authorisation table: one in-process request per route, role and name, as that
certificate's holder (the client certificate reaches the app as ``scope["extensions"]["tls"]``, as in
:mod:`asgi_support`), driven at the ASGI level so that an event stream ends as soon as it has answered.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sdqkd.pki import CertificateAuthority, IssuedCertificate, Role
from sdqkd.server.authz import Condition, Table

ROLES = tuple(role for role in Role if role is not Role.CA)
STRANGER = "stranger"
_PARAM = re.compile(r"\{([A-Za-z_]+)(?::path)?\}")


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def call(
    app: Any,
    method: str,
    path: str,
    pem: str | None,
    body: bytes = b"",
    timeout_s: float | None = 10.0,
    *,
    hold_until: asyncio.Event | None = None,
    started: list[int] | None = None,
) -> Answer:
    """``method path`` to ``app`` presenting the certificate ``pem`` (None: none): its status,
    headers and body, the body as far as it came before the client left.

    The client disconnects once the response has started (an event stream then ends), or, with
    ``hold_until``, once that is set; each status is appended to ``started`` as the response starts.
    An exception that escapes the app (a route that passed the table but had nothing to run
    against) is a 500.
    """
    headers = [(b"host", b"service"), (b"content-length", str(len(body)).encode())]
    if body:
        headers.append((b"content-type", b"application/json"))
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("service", 443),
        "extensions": {} if pem is None else {"tls": {"client_cert_chain": [pem]}},
        "state": {},
    }
    began = asyncio.Event()
    sent_body = False
    answer: dict[str, Any] = {"status": 0, "headers": {}, "body": b""}

    async def receive() -> dict[str, Any]:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}
        await (hold_until or began).wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
            if started is not None:
                started.append(message["status"])
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")
            began.set()

    try:
        await asyncio.wait_for(app(scope, receive, send), timeout_s)
    except TimeoutError:
        raise
    except Exception:  # the route ran (the table let it through) and failed on its own
        if not answer["status"]:
            answer["status"] = 500
    return Answer(answer["status"], answer["headers"], answer["body"])


def concrete(path: str, values: Mapping[str, str]) -> str:
    """``path`` with each ``{param}`` replaced by ``values[param]``."""
    return _PARAM.sub(lambda match: values[match.group(1)], path)


def expected(
    table: Table, role: Role, name: str, method: str, path: str, meets: Mapping[Condition, set[str]]
) -> bool:
    """Whether the table admits ``role:name``, with the names meeting each condition given by the test
    (not by the service's predicates: the walk checks the predicates too)."""
    rule = table.rule(method, path)
    assert rule is not None
    return any(
        grant.role is role and (grant.condition is None or name in meets[grant.condition])
        for grant in rule.grants
    )


class Certificates:
    """Certificates issued on demand, one per identity, from the session's CA."""

    def __init__(self, ca: CertificateAuthority) -> None:
        self.ca = ca
        self._issued: dict[tuple[Role, str], IssuedCertificate] = {}

    def pem(self, role: Role, name: str) -> str:
        if (role, name) not in self._issued:
            self._issued[(role, name)] = self.ca.issue(role, name)
        return self._issued[(role, name)].cert.read_text()


async def walk(
    app: Any,
    table: Table,
    certificates: Certificates,
    values: Mapping[str, str],
    meets: Mapping[Condition, set[str]],
    refused_status: frozenset[int] = frozenset({401, 403}),
    prefix: str = "",
) -> list[str]:
    """Every route of ``table`` × every role × every name that matters (each condition's names and a
    stranger) against ``app`` (at ``prefix``: a mounted app): the mismatches, as lines (empty: the
    app does what the table says)."""
    names = sorted({STRANGER, *(name for found in meets.values() for name in found)})
    wrong: list[str] = []
    for (method, template), _ in sorted(table.rules.items()):
        path = prefix + concrete(template, values)
        body = b"{}" if method in ("PUT", "POST", "PATCH") else b""
        for role in ROLES:
            for name in names:
                answer = await call(app, method, path, certificates.pem(role, name), body)
                admitted = expected(table, role, name, method, template, meets)
                refused = answer.status in refused_status and _is_table_refusal(answer, role, name)
                if admitted == refused:
                    verdict = "refused" if refused else f"let through ({answer.status})"
                    wrong.append(f"{method} {path} as {role}:{name}: {verdict}, table says {admitted}")
        anonymous = await call(app, method, path, None, body)
        if anonymous.status != 401:
            wrong.append(f"{method} {path} without a certificate: {anonymous.status}")
    return wrong


def _is_table_refusal(answer: Answer, role: Role, name: str) -> bool:
    # the table's refusal names the caller ("kme:n2 may not ..."): a refusal by the domain (an SAE
    # asking for keys that are not its own) is a different one, and means the table let it through
    text = answer.body.decode("utf-8", "replace")
    return f"{role}:{name} may not" in text or "is no operator" in text
