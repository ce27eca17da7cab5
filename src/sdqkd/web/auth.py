"""Who may look at the dashboard: an operator, by a client certificate or by the token ``sdqkd up``
printed — the way notebook servers let a browser in.

Every request passes :class:`Gate` before it reaches a route, static files included. It is let
through with one of:

- the operator's client certificate (``operator:*``, verified by the TLS layer against the run's CA);
- ``Authorization: Bearer TOKEN`` (scripts, tests);
- the session cookie ``sdqkd_session`` a browser got by opening ``/?token=TOKEN``: that request is
  answered ``303`` to the same path without the token, with a cookie holding a random session ID
  (never the token itself; ``HttpOnly; Secure; SameSite=Strict``), valid for ``session_ttl_s``.

Anything else is answered 401: a JSON body ``{"message", "details"}`` under ``/api/``, else a small
HTML page that says where to get in. Tokens are compared in constant time and never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sdqkd.errors import ConfigError, Unauthenticated
from sdqkd.pki.identity import Identity, Role
from sdqkd.server.identity import PEER_EXTENSION, peer_identity

__all__ = [
    "SECURITY_HEADERS",
    "SESSION_COOKIE",
    "Gate",
    "Sessions",
    "new_token",
    "read_token",
]

log = logging.getLogger(__name__)

SESSION_COOKIE = "sdqkd_session"

SECURITY_HEADERS = {
    # only the dashboard's own files; no framing; the token in a URL is never sent on as a referrer
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
"""Headers on every answer of the dashboard."""

_TOKEN_BYTES = 32


def new_token(path: Path) -> str:
    """A fresh random token, written to ``path`` readable by its owner only (replacing any older one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    temporary = path.with_name(path.name + ".tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(token + "\n")
    os.replace(temporary, path)
    return token


def read_token(path: Path) -> str:
    """The token in ``path``; a new one (:func:`new_token`) when there is none yet.

    Raises:
        ConfigError: the file cannot be read, is empty, or others may read it.
    """
    if not path.exists():
        return new_token(path)
    try:
        if path.stat().st_mode & 0o077:
            raise ConfigError(f"{path}: the dashboard's token file must be readable by its owner only")
        token = path.read_text(encoding="ascii").strip()
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the dashboard's token file {path}: {exc}") from exc
    if len(token) < 16:
        raise ConfigError(f"{path}: the dashboard's token is empty or too short")
    return token


class Sessions:
    """The browsers' sessions, in memory (a restarted dashboard asks for the token again).

    Args:
        ttl_s: how long a session lasts, seconds.
        clock: monotonic seconds (a test's own clock).
    """

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._expiry: dict[bytes, float] = {}

    def open(self) -> str:
        """A new session's ID (to be set as the cookie)."""
        now = self._clock()
        self._expiry = {key: at for key, at in self._expiry.items() if at > now}  # forget expired ones
        session_id = secrets.token_urlsafe(_TOKEN_BYTES)
        self._expiry[_digest(session_id)] = now + self.ttl_s
        return session_id

    def open_count(self) -> int:
        """How many sessions have not expired."""
        now = self._clock()
        return sum(1 for at in self._expiry.values() if at > now)

    def valid(self, session_id: str) -> bool:
        """Whether ``session_id`` names a session that has not expired."""
        # looked up by its digest: the dictionary's timing tells nothing about a session ID
        expiry = self._expiry.get(_digest(session_id))
        return expiry is not None and self._clock() < expiry


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).digest()


class Gate:
    """ASGI middleware admitting only the operator (see the module's docstring).

    Args:
        app: the dashboard.
        token: the token ``sdqkd up`` printed.
        sessions: the browsers' sessions.
    """

    def __init__(self, app: ASGIApp, token: str, sessions: Sessions) -> None:
        self.app = app
        self._token = token.encode("ascii")
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # nothing else is served (no WebSocket): nothing gets past
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        request = Request(scope)
        offered = request.query_params.get("token")
        if offered is not None:
            if self._is_token(offered):
                await self._open_session(request, send_with_headers)
            else:
                log.warning("dashboard: a wrong token was offered")  # never the token itself
                await _refuse(request, send_with_headers, "the token is not this dashboard's")
            return
        admitted = await self._admitted(request)
        if isinstance(admitted, Identity):
            # who passed, for the app's table: the operator, by certificate, token or session
            scope["extensions"] = {**(scope.get("extensions") or {}), PEER_EXTENSION: admitted}
            await self.app(scope, receive, send_with_headers)
        else:
            await _refuse(request, send_with_headers, admitted)

    async def _admitted(self, request: Request) -> Identity | str:
        """Who ``request`` passes as (always an operator), or why it may not pass."""
        authorization = request.headers.get("authorization")
        if authorization is not None:
            scheme, _, credential = authorization.partition(" ")
            if scheme.lower() == "bearer" and self._is_token(credential.strip()):
                return Identity(Role.OPERATOR, "dashboard-token")
            return "the Authorization header carries no valid bearer token"
        session = request.cookies.get(SESSION_COOKIE)
        if session is not None and self.sessions.valid(session):
            # one identity per session (a digest, never the session ID): each browser its own share
            # of the event streams
            return Identity(Role.OPERATOR, f"dashboard-session-{_digest(session).hex()[:12]}")
        try:
            identity = await peer_identity(request)
        except Unauthenticated:
            identity = None
        if identity is not None and identity.role is Role.OPERATOR:
            return identity
        if session is not None:
            return "the session has expired"
        if identity is not None:
            return f"{identity} is no operator"
        return "no credential: open the URL sdqkd up printed"

    def _is_token(self, offered: str) -> bool:
        # constant-time: how much of a guess is right must not show in the answer's timing
        return hmac.compare_digest(offered.encode("utf-8", "surrogateescape"), self._token)

    async def _open_session(self, request: Request, send: Send) -> None:
        """303 to the same URL without the token, with a new session's cookie."""
        rest = [(k, v) for k, v in parse_qsl(request.url.query, keep_blank_values=True) if k != "token"]
        location = request.url.path + (f"?{urlencode(rest)}" if rest else "")
        cookie: SimpleCookie = SimpleCookie()
        cookie[SESSION_COOKIE] = self.sessions.open()
        morsel = cookie[SESSION_COOKIE]
        morsel["path"] = "/"
        morsel["max-age"] = str(int(self.sessions.ttl_s))
        morsel["httponly"] = True
        morsel["secure"] = True
        morsel["samesite"] = "Strict"
        headers = [
            (b"location", location.encode("latin-1")),
            (b"set-cookie", morsel.OutputString().encode("latin-1")),
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 303, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sdqkd dashboard</title></head>
<body><h1>sdqkd dashboard</h1><p>{message}.</p>
<p>Open the dashboard's URL that <code>sdqkd up</code> printed (it carries a token), or present the
operator's client certificate.</p></body></html>
"""


async def _refuse(request: Request, send: Send, message: str) -> None:
    """401: ``{"message", "details"}`` under ``/api/``, else a page saying how to get in."""
    if request.url.path.startswith("/api/"):
        body = json.dumps({"message": message, "details": []}).encode("utf-8")
        content_type = b"application/json"
    else:
        body = _PAGE.format(message=html.escape(message.capitalize())).encode("utf-8")
        content_type = b"text/html; charset=utf-8"
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode("ascii")),
        (b"www-authenticate", b'Bearer realm="sdqkd dashboard"'),
    ]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})
