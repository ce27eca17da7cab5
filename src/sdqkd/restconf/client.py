"""An async RESTCONF (RFC 8040) client: data resources read and written in RFC 7951 JSON, and a
server's notification stream (§6).

One client serves many servers: every call names the server's base URL (``https://host:port``) and
the data resource path after ``{root}/data/`` (RFC 8040 §3.5.3, percent-encoded by the caller). The
HTTPS client (and so the TLS identity) is the caller's, who also closes it.

Errors, translated once here: a server's ``ietf-restconf:errors`` body becomes the
:class:`~sdqkd.errors.RestconfError` it carries (:func:`~sdqkd.restconf.codec.decode_errors`: every
entry kept, a 404 as :class:`~sdqkd.errors.ResourceNotFound`, a body that is none as
:class:`~sdqkd.restconf.codec.MalformedErrorBody`); no answer at all, or a success answer that is not
RESTCONF, becomes the ``unavailable`` class given (an :class:`~sdqkd.errors.Unavailable`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator
from typing import Any

import httpx

from sdqkd.errors import Unavailable
from sdqkd.restconf.codec import MEDIA_TYPE, decode_errors
from sdqkd.restconf.notifications import NOTIFICATION
from sdqkd.restconf.paths import JsonValue
from sdqkd.restconf.sse import EVENT_STREAM, parse_events

__all__ = ["RestconfClient"]

log = logging.getLogger(__name__)

_ACCEPT = {"accept": MEDIA_TYPE}
_SEND = {"accept": MEDIA_TYPE, "content-type": MEDIA_TYPE}


class RestconfClient:
    """RESTCONF's methods on data resources, over the caller's ``httpx.AsyncClient``.

    Args:
        http: the HTTPS client (its TLS context, timeouts and connection limits are used as they are).
        unavailable: the error raised when a server cannot be reached or answers outside RESTCONF.
        root: the RESTCONF root (RFC 8040 §3.1; ``/.well-known/host-meta`` tells it).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        unavailable: type[Unavailable] = Unavailable,
        root: str = "/restconf",
    ) -> None:
        self._http = http
        self._unavailable = unavailable
        self._root = root.rstrip("/")

    def data_url(self, server: str, path: str = "") -> str:
        """The URL of data resource ``path`` at ``server`` (the datastore itself if ``path`` is empty)."""
        base = f"{server.rstrip('/')}{self._root}/data"
        return f"{base}/{path}" if path else base

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        if self._http.is_closed:
            raise self._unavailable(f"{method} {url}: the client is closed")
        try:
            return await self._http.request(method, url, **kwargs)
        except (httpx.HTTPError, RuntimeError) as exc:  # RuntimeError: the client closed meanwhile
            raise self._unavailable(f"{method} {url}: {type(exc).__name__}: {exc}") from exc

    async def get(
        self, server: str, path: str = "", *, params: dict[str, str] | None = None
    ) -> dict[str, JsonValue]:
        """``GET`` of a data resource (RFC 8040 §4.3): its RFC 7951 JSON object, e.g.
        ``{"module:node": {...}}``.

        Args:
            server: the server's base URL.
            path: the resource path ('' for the whole datastore).
            params: query parameters (``content``, ``depth``, ...).

        Raises:
            RestconfError: the server refused (ResourceNotFound for 404).
            Unavailable: no answer, or not a JSON object (the class given at construction).
        """
        url = self.data_url(server, path)
        response = await self._send("GET", url, headers=_ACCEPT, params=params)
        if response.status_code != 200:
            raise decode_errors(response.content, response.status_code)
        try:
            body = response.json()
        except ValueError as exc:
            raise self._unavailable(f"GET {url}: the answer is not JSON") from exc
        if not isinstance(body, dict):
            raise self._unavailable(f"GET {url}: the answer is not a JSON object")
        return body

    async def put(self, server: str, path: str, body: JsonValue) -> bool:
        """``PUT`` (RFC 8040 §4.5): create or replace a data resource; True if it was created."""
        response = await self._send("PUT", self.data_url(server, path), content=_encode(body), headers=_SEND)
        if response.status_code not in (201, 204):
            raise decode_errors(response.content, response.status_code)
        return response.status_code == 201

    async def post(self, server: str, path: str, body: JsonValue) -> str:
        """``POST`` (RFC 8040 §4.4.1): create a child of a data resource; the ``Location`` of what
        was created."""
        url = self.data_url(server, path)
        response = await self._send("POST", url, content=_encode(body), headers=_SEND)
        if response.status_code != 201:
            raise decode_errors(response.content, response.status_code)
        location: str | None = response.headers.get("location")
        if not location:
            raise self._unavailable(f"POST {url}: 201 without a Location")
        return location

    async def patch(self, server: str, path: str, body: JsonValue) -> None:
        """Plain ``PATCH`` (RFC 8040 §4.6.1): merge ``body`` into a data resource."""
        response = await self._send(
            "PATCH", self.data_url(server, path), content=_encode(body), headers=_SEND
        )
        if response.status_code not in (200, 204):
            raise decode_errors(response.content, response.status_code)

    async def delete(self, server: str, path: str) -> bool:
        """``DELETE`` (RFC 8040 §4.7) of a data resource; False if there was none (404)."""
        response = await self._send("DELETE", self.data_url(server, path), headers=_ACCEPT)
        if response.status_code == 404:
            return False
        if response.status_code not in (200, 204):
            raise decode_errors(response.content, response.status_code)
        return True

    async def notifications(
        self, server: str, stream: str, *, connect_timeout_s: float = 5.0
    ) -> AsyncGenerator[dict[str, JsonValue], None]:
        """The notifications of ``server``'s JSON event stream ``stream`` as they come (the content of
        each event's ``ietf-restconf:notification``, RFC 8040 §6.4), until the stream ends. Events that
        are not notifications are logged and skipped. The stream has no read timeout: a server's
        keep-alive comments are what tell a live stream from a lost one, and that is the caller's to
        watch.

        Raises:
            RestconfError: the server refused the stream.
            Unavailable: the stream could not be opened, or broke.
        """
        url = f"{server.rstrip('/')}{self._root}/streams/{stream}/json"
        if self._http.is_closed:
            raise self._unavailable(f"GET {url}: the client is closed")
        timeout = httpx.Timeout(connect_timeout_s, read=None)
        try:
            async with self._http.stream(
                "GET", url, headers={"accept": EVENT_STREAM}, timeout=timeout
            ) as answer:
                if answer.status_code != 200:
                    raise decode_errors(await answer.aread(), answer.status_code)
                async for event in parse_events(answer.aiter_text()):
                    if event.data is None:
                        continue
                    notification = _notification(event.data)
                    if notification is None:
                        log.warning("%s: an event that is not a notification", url)
                        continue
                    yield notification
        except (httpx.HTTPError, RuntimeError) as exc:  # RuntimeError: the client closed meanwhile
            raise self._unavailable(f"GET {url}: {type(exc).__name__}: {exc}") from exc


def _encode(body: JsonValue) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


def _notification(data: str) -> dict[str, JsonValue] | None:
    try:
        notification = json.loads(data)[NOTIFICATION]
    except (ValueError, KeyError, TypeError):
        return None
    return notification if isinstance(notification, dict) else None
