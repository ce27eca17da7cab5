"""RESTCONF (RFC 8040) over one :class:`~sdqkd.agent.datastore.Datastore`, and a notification stream.

    GET                    /.well-known/host-meta         the RESTCONF root, as XRD (RFC 8040 §3.1)
    GET                    /restconf                      the API resource (§3.3) and where the stream is
    GET                    /restconf/yang-library-version, /restconf/operations (none: the model has no RPCs)
    GET HEAD OPTIONS POST  /restconf/data                 the datastore (§3.3.1); POST creates a top node
    GET HEAD OPTIONS PUT POST PATCH DELETE  /restconf/data/PATH   a data resource (§3.5, §4)
    GET                    /restconf/streams/NAME/json    notifications as server-sent events (§6)
    GET                    /metrics                       Prometheus text format (``metrics_readers``)

Data is JSON only (``application/yang-data+json``, RFC 7951). ``GET`` takes the query parameters
``content`` (``all``, ``config``, ``nonconfig``) and ``depth`` (1-65535 or ``unbounded``), nothing else.
``PUT`` answers 201 when it created the resource and 204 when it replaced it; ``POST`` 201 with
``Location``; ``PATCH`` (plain patch, §4.6.1) and ``DELETE`` 204.

Event stream: the notifications the owner publishes on its
:class:`~sdqkd.restconf.notifications.NotificationStream` (for the ETSI GS QKD
015 agent: ``etsi-qkd-sdn-node:sdqkdn_interface_new`` and the module's other notifications), each as
one server-sent event whose ``data:`` is ``{"ietf-restconf:notification": {"eventTime": ...,
"etsi-qkd-sdn-node:sdqkdn_interface_new": {...}}}`` (§6.4), from
``/restconf/streams/etsi-qkd-sdn-node/json``. The model here has no ``ietf-restconf-monitoring``, so the
stream's location is advertised beside the API resource in ``GET /restconf``: member
``ietf-restconf-monitoring:restconf-state`` shaped as that module's ``streams`` (§9.3). No replay, no
filter. Comment lines (``: keep-alive``) keep idle connections open.

Access (mutual TLS; the caller's identity is its client certificate's) is the app's
:class:`~sdqkd.server.authz.Table`, per method: :func:`restconf_table` gives the read methods and the
stream to ``readers``, the write methods to ``writers``, ``/metrics`` to the operator (the owner's
collector and the durations of the datastore's writes, by method and status); the node agent's is
:data:`AGENT_TABLE`. No usable certificate: 401; a caller not admitted: 403 (error-tag
``access-denied``). At most ``max_subscribers`` event streams are open at once (503), at most
``max_subscribers_per_caller`` per certificate identity (429), both error-tag ``resource-denied``.

The OpenAPI document of these routes (:mod:`sdqkd.agent.restconf_openapi`) is ``app.openapi()``, in
process only.

Errors are always an ``ietf-restconf:errors`` body (§7.1, :mod:`sdqkd.restconf.codec`) with the status
of §7's table (400
invalid-value/malformed-message/unknown-element, 401/403 access-denied, 404 no such resource, 405
operation-not-supported, 406/415 media types, 409 data-exists/data-missing, 413 too-big, 500
operation-failed). Every response carries ``Cache-Control: no-store``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from prometheus_client import CollectorRegistry
from prometheus_client.registry import Collector

from sdqkd import __version__
from sdqkd.agent.datastore import Content, Datastore
from sdqkd.agent.restconf_openapi import restconf_openapi
from sdqkd.errors import (
    Forbidden,
    ResourceNotFound,
    RestconfError,
    SubscriptionsFull,
    TooManySubscriptions,
    Unauthenticated,
)
from sdqkd.pki.identity import Role
from sdqkd.restconf.codec import MEDIA_TYPE, error_response
from sdqkd.restconf.notifications import NotificationStream, notification_event
from sdqkd.restconf.paths import JsonValue
from sdqkd.restconf.sse import EVENT_STREAM, event_stream_response, format_comment
from sdqkd.server import strict_json
from sdqkd.server.authz import OWN_NODE, Check, Condition, Grant, Rule, Table, allow, authorise
from sdqkd.server.errors import ErrorTable, HTTPError, install_error_handlers
from sdqkd.server.health import HEALTH_READERS, add_health_route
from sdqkd.server.identity import peer_identity
from sdqkd.server.loops import LoopState
from sdqkd.server.metrics import TimedRequests, add_metrics_route, request_duration_histogram
from sdqkd.server.middleware import NoStoreAndContain
from sdqkd.server.streams import StreamLimits
from sdqkd.server.whole_paths import match_whole_paths

__all__ = ["AGENT_TABLE", "create_restconf_app", "restconf_table"]

logger = logging.getLogger(__name__)

_JSON_TYPES = frozenset({MEDIA_TYPE, "application/json"})
_YANG_LIBRARY_VERSION = "2016-06-21"  # RFC 8040 §3.3.3: the revision of ietf-yang-library (RFC 7895)
_MAX_BODY_BYTES = 1 << 20
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DATA_METHODS = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
_ALLOW_RESOURCE = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
_ALLOW_DATASTORE = "GET, HEAD, OPTIONS, POST"
_QUERY = frozenset({"content", "depth"})
_CONTENTS: dict[str, Content] = {"all": "all", "config": "config", "nonconfig": "nonconfig"}


class _UnsupportedMediaType(RestconfError):
    """415: a request body in a media type other than JSON."""

    def __init__(self, message: str) -> None:
        super().__init__("protocol", "invalid-value", message)


class _NotAcceptable(RestconfError):
    """406: the client accepts none of the media types of the answer."""

    def __init__(self, message: str) -> None:
        super().__init__("protocol", "invalid-value", message)


def _yang_json(body: JsonValue, status_code: int = 200, *, head: bool = False) -> Response:
    content = b"" if head else json.dumps(body, ensure_ascii=False).encode()
    return Response(content, status_code=status_code, media_type=MEDIA_TYPE)


# Errors: RFC 8040 §7 bodies for every refusal ---------------------------------------------------------


def _refused(request: Request, exc: RestconfError) -> Response:
    response = error_response(exc)
    if response.status_code == 405:
        datastore_itself = request.url.path.rstrip("/").endswith("/restconf/data")
        response.headers["Allow"] = _ALLOW_DATASTORE if datastore_itself else _ALLOW_RESOURCE
    if response.status_code >= 500:
        logger.error("RESTCONF %s refused: %s", request.method, exc)
    return response


def _framework_refusal(request: Request, exc: HTTPError) -> Response:
    if exc.status_code == 404:
        error = RestconfError("protocol", "invalid-value", f"no resource at {request.url.path}")
    elif exc.status_code == 405:
        error = RestconfError(
            "protocol", "operation-not-supported", f"{request.method} is not supported here"
        )
    elif exc.status_code == 413:  # RFC 8040 §7: too-big, the request is too large to handle
        error = RestconfError("protocol", "too-big", str(exc.detail))
    else:
        error = RestconfError("protocol", "invalid-value", str(exc.detail))
    response = error_response(error, exc.status_code)
    response.headers.update(exc.headers or {})
    return response


_ERROR_TABLE: ErrorTable = {
    RestconfError: _refused,
    _UnsupportedMediaType: lambda _, exc: error_response(exc, 415),
    _NotAcceptable: lambda _, exc: error_response(exc, 406),
    Unauthenticated: lambda _, exc: error_response(RestconfError("protocol", "access-denied", str(exc)), 401),
    Forbidden: lambda _, exc: error_response(RestconfError("protocol", "access-denied", str(exc)), 403),
    # RFC 8040 §7: resource-denied, "request could not be completed because of insufficient resources"
    TooManySubscriptions: lambda _, exc: error_response(
        RestconfError("application", "resource-denied", str(exc)), 429
    ),
    SubscriptionsFull: lambda _, exc: error_response(
        RestconfError("application", "resource-denied", str(exc)), 503
    ),
    RequestValidationError: lambda _, exc: error_response(
        RestconfError("protocol", "invalid-value", "the request is not valid")
    ),
    HTTPError: _framework_refusal,
}
"""RFC 8040 §7: 401 without a usable certificate, 403 for a role that may not, 404 for no resource,
406/415 for media types, otherwise the status of the error-tag."""


# Request helpers ------------------------------------------------------------------------------------


def _resource_of(request: Request) -> str | None:
    """The data resource path after ``/restconf/data/``, still percent-encoded: a comma or slash inside
    a key is told from the separators only there (RFC 8040 §3.5.3)."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    path = raw.decode("latin-1").split("?", 1)[0]
    _, _, rest = path.partition("/restconf/data")
    return rest.removeprefix("/") or None


def _query(request: Request, allowed: frozenset[str]) -> dict[str, str]:
    items = request.query_params.multi_items()
    names = [name for name, _ in items]
    for name in names:
        if name not in allowed:
            raise RestconfError(
                "protocol", "invalid-value", f"query parameter {name!r} is not supported here"
            )
        if names.count(name) > 1:
            raise RestconfError("protocol", "invalid-value", f"query parameter {name!r} is repeated")
    return dict(items)


def _read_parameters(request: Request) -> tuple[Content, int | None]:
    """RFC 8040 §4.8.1 ``content`` and §4.8.2 ``depth``."""
    query = _query(request, _QUERY)
    content = _CONTENTS.get(query.get("content", "all"))
    if content is None:
        raise RestconfError("protocol", "invalid-value", "content is one of all, config, nonconfig")
    depth_text = query.get("depth", "unbounded")
    if depth_text == "unbounded":
        return content, None
    depth = int(depth_text) if depth_text.isdigit() else 0
    if not 1 <= depth <= 65535:
        raise RestconfError("protocol", "invalid-value", "depth is 1 to 65535 or unbounded")
    return content, depth


def _check_accept(request: Request, offered: frozenset[str]) -> None:
    header = request.headers.get("accept")
    if not header:
        return
    major = {media.split("/")[0] + "/*" for media in offered}
    for part in header.split(","):
        media = part.split(";")[0].strip().lower()
        if media in offered or media in major or media == "*/*":
            return
    raise _NotAcceptable(f"this resource is served as {', '.join(sorted(offered))}")


async def _read_json(request: Request) -> JsonValue:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in _JSON_TYPES:
        raise _UnsupportedMediaType(f"send the body as {MEDIA_TYPE} (YANG Patch and XML are not supported)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > _MAX_BODY_BYTES:
            raise RestconfError("protocol", "too-big", f"the body exceeds {_MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    text = b"".join(chunks)
    if not text.strip():
        raise RestconfError("protocol", "malformed-message", "the request has no body")
    try:  # RFC 7951 data has no repeated members; nesting is bounded (a RecursionError is a 500)
        value: JsonValue = strict_json.loads(text)
    except strict_json.StrictJsonError as exc:
        raise RestconfError("protocol", "malformed-message", f"the body is not JSON: {exc.msg}") from None
    return value


def restconf_table(service: str, readers: Rule, writers: Rule, note: str = "") -> Table:
    """The table of a RESTCONF app: ``readers`` on every read (GET, HEAD, OPTIONS, the API resource,
    the event stream), ``writers`` on every write (PUT, POST, PATCH, DELETE), the operator on
    ``/metrics``."""
    rules: dict[tuple[str, str], Rule] = {
        ("GET", path): readers
        for path in (
            "/.well-known/host-meta",
            "/restconf",
            "/restconf/yang-library-version",
            "/restconf/operations",
            "/restconf/streams/{name}/json",
        )
    }
    for path in ("/restconf/data", "/restconf/data/{resource:path}"):
        for method in _DATA_METHODS:
            rules[(method, path)] = readers if method in _READ_METHODS else writers
    rules[("GET", "/metrics")] = allow(Role.OPERATOR)
    rules[("GET", "/health")] = HEALTH_READERS
    return Table(service, rules, note)


AGENT_TABLE = restconf_table(
    "Node agent (`sdqkd agent`): ETSI GS QKD 015 over RESTCONF",
    # DESIGN §7: an agent is read by the controller and its own node's KME (and by the operator, who
    # only reads); only the controller writes it
    readers=allow(Role.CONTROLLER, Role.OPERATOR, Grant(Role.KME, OWN_NODE)),
    writers=allow(Role.CONTROLLER),
    note="Over a QKD-TLS control channel the agent's front attributes every request to the controller.",
)
"""Who may call a node agent."""


def _write_operation(method: str, path: str) -> str | None:
    """A write to the datastore is timed under its method; nothing else is."""
    if method in _READ_METHODS or not path.startswith("/restconf/data"):
        return None
    return method if method in _DATA_METHODS else None


# The app --------------------------------------------------------------------------------------------


def create_restconf_app(
    datastore: Datastore,
    *,
    table: Table,
    checks: Mapping[Condition, Check] | None = None,
    stream: NotificationStream | None = None,
    heartbeat_s: float = 15.0,
    title: str = "sdqkd RESTCONF",
    metrics: Collector | None = None,
    health: Callable[[], list[LoopState]] | None = None,
    max_subscribers: int = 32,
    max_subscribers_per_caller: int = 4,
) -> FastAPI:
    """A RESTCONF server of ``datastore`` (see the module's description).

    Args:
        datastore: what is served.
        table: who may call what (:func:`restconf_table`).
        checks: the predicates of the table's conditions.
        stream: the notification stream to serve, if any.
        heartbeat_s: seconds between keep-alive comments on an idle event stream.
        title: the app's title.
        metrics: the owner's figures, served at ``/metrics`` beside the writes' durations.
        health: the owner's background loops, shown at ``/health`` (:mod:`sdqkd.server.health`; none:
            an empty list).
        max_subscribers: event streams open at once, all callers together.
        max_subscribers_per_caller: event streams open at once for one certificate identity.
    """
    app = FastAPI(
        title=title,
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[authorise(table, checks)],
    )
    # not served (RESTCONF describes itself in YANG): in process, for tools and the fuzz tests
    document = restconf_openapi(title, __version__, stream=stream.name if stream is not None else None)
    app.openapi = lambda: document  # type: ignore[method-assign]
    app.add_middleware(
        NoStoreAndContain,
        error_response=lambda: error_response(
            RestconfError("application", "operation-failed", "the server could not complete the request")
        ),
        logger=logger,
        label="RESTCONF",
        traceback=True,  # no key material in a datastore of configuration and state
    )
    limits = StreamLimits(max_subscribers, max_subscribers_per_caller)

    install_error_handlers(app, _ERROR_TABLE)
    registry = CollectorRegistry()  # the server's own: other services may share the process
    if metrics is not None:
        registry.register(metrics)
    writes = request_duration_histogram(
        registry,
        "sdqkd_agent_restconf_write_duration_seconds",
        "time to apply a write to the datastore (PUT, POST, PATCH, DELETE), by method and status, seconds",
    )
    app.add_middleware(TimedRequests, histogram=writes, operation=_write_operation)
    add_metrics_route(app, registry)
    add_health_route(app, health or list)

    @app.get("/.well-known/host-meta", include_in_schema=False)
    async def host_meta(request: Request) -> Response:
        # RFC 8040 §3.1 (RFC 6415 host-meta): where the RESTCONF API lives.
        xrd = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n'
            '  <Link rel="restconf" href="/restconf"/>\n'
            "</XRD>\n"
        )
        return Response(xrd, media_type="application/xrd+xml")

    @app.get("/restconf", include_in_schema=False)
    async def api_root(request: Request) -> Response:
        _query(request, frozenset())
        _check_accept(request, _JSON_TYPES)
        body: dict[str, Any] = {
            "ietf-restconf:restconf": {
                "data": {},
                "operations": {},
                "yang-library-version": _YANG_LIBRARY_VERSION,
            }
        }
        if stream is not None:
            location = f"{str(request.base_url).rstrip('/')}/restconf/streams/{stream.name}/json"
            body["ietf-restconf-monitoring:restconf-state"] = {
                "streams": {
                    "stream": [
                        {
                            "name": stream.name,
                            "description": stream.description,
                            "replay-support": False,
                            "access": [{"encoding": "json", "location": location}],
                        }
                    ]
                }
            }
        return _yang_json(body)

    @app.get("/restconf/yang-library-version", include_in_schema=False)
    async def yang_library_version(request: Request) -> Response:
        return _yang_json({"ietf-restconf:yang-library-version": _YANG_LIBRARY_VERSION})

    @app.get("/restconf/operations", include_in_schema=False)
    async def operations(request: Request) -> Response:
        return _yang_json({"ietf-restconf:operations": {}})

    @app.api_route("/restconf/data", methods=_DATA_METHODS, include_in_schema=False)
    @app.api_route("/restconf/data/{resource:path}", methods=_DATA_METHODS, include_in_schema=False)
    async def data(request: Request) -> Response:
        method = request.method
        resource = _resource_of(request)
        if resource is None and method not in _ALLOW_DATASTORE:
            # before the body is read: PUT /restconf/data without a JSON body is 405, not 415
            raise RestconfError("protocol", "operation-not-supported", f"{method} is not supported here")
        if method == "OPTIONS":
            methods = _ALLOW_RESOURCE if resource else _ALLOW_DATASTORE
            return Response(status_code=200, headers={"Allow": methods, "Accept-Patch": MEDIA_TYPE})
        if method in ("GET", "HEAD"):
            content, depth = _read_parameters(request)
            _check_accept(request, _JSON_TYPES)
            return _yang_json(datastore.get(resource, content, depth), head=method == "HEAD")
        _query(request, frozenset())  # insert/point (ordered-by user) are not supported
        if method == "DELETE":
            await datastore.delete(resource or "")
            return Response(status_code=204)
        body = await _read_json(request)
        if method == "POST":
            created = await datastore.post(resource, body)
            location = f"{str(request.base_url).rstrip('/')}/restconf/data/{created}"
            return Response(status_code=201, headers={"Location": location})
        if method == "PUT":
            return Response(status_code=201 if await datastore.put(resource or "", body) else 204)
        await datastore.patch(resource or "", body)
        return Response(status_code=204)

    @app.get("/restconf/streams/{name}/json", include_in_schema=False)
    async def events(request: Request, name: str) -> StreamingResponse:
        if stream is None or name != stream.name:
            raise ResourceNotFound(f"no event stream {name!r}")
        _query(request, frozenset())  # no replay (start-time), no filter
        _check_accept(request, frozenset({EVENT_STREAM}))
        return limits.held_by(
            await peer_identity(request),
            event_stream_response(
                stream.broker,
                notification_event,
                is_disconnected=request.is_disconnected,
                opening=format_comment("subscribed"),  # the client knows it is subscribed once this arrives
                heartbeat_s=heartbeat_s,
            ),
        )

    match_whole_paths(app)  # a key with a newline (%0A) is a resource path too, checked like any other
    return app
