"""OpenAPI documents that say what a service really answers: its error statuses, in its own error format.

FastAPI documents the answers a route returns and, for every route with parameters or a body, a 422
validation error. sdqkd's services answer a malformed request with 400 (no service speaks 422), and
refuse calls with 401/403, unknown resources with 404, oversized bodies with 413, each in the error
format of the service's protocol (ETSI GS QKD 014 §6.5 Error, RFC 9457 problem details, RFC 8040
errors, the controller's ``{"message", "details"}``). :func:`document_errors` rewrites an app's
generated document once, from one :class:`ErrorAnswers` per app, instead of a ``responses=`` on every
route: it drops the 422 and its schemas, adds each error status to the operations it applies to (see
:data:`Applies`), gives every error answer (also those a route declares itself, e.g. a 409 on one
route) the service's error body, and names mutual TLS as the security scheme.

Which operation gets which status follows from what the framework and the app's error table do:
every operation can be refused (401, 403: the caller is checked first); one with parameters or a body
can be malformed (400); one with path parameters can name nothing (404); one with a body can be too
large (413). A status only some routes give is declared on those routes.

The fuzz tests (``tests/fuzz``) hold every service to its document: each status, content type, body
and header answered must be documented.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import StreamingResponse

__all__ = [
    "EVENT_STREAM_ROUTE",
    "MUTUAL_TLS",
    "Applies",
    "ErrorAnswers",
    "document_errors",
    "install_openapi",
    "problem_details_schema",
]

Applies = Literal["always", "input", "path", "body", "write"]
"""To which operations an error status is added: ``always`` every one; ``input`` those with parameters
or a request body; ``path`` those with path parameters; ``body`` those with a request body; ``write``
those that change something (PUT, POST, PATCH, DELETE)."""

MUTUAL_TLS: dict[str, Any] = {
    "type": "mutualTLS",
    "description": "TLS 1.2+ client certificate from the network's CA, carrying the caller's identity "
    "urn:sdqkd:ROLE:NAME; the role decides what the caller may do",
}
"""The security scheme of every sdqkd service (OpenAPI 3.1 ``mutualTLS``)."""


class _EventStream(StreamingResponse):
    media_type = "text/event-stream"


EVENT_STREAM_ROUTE: dict[str, Any] = {
    "response_class": _EventStream,
    "responses": {
        200: {
            "description": "Server-sent events (HTML Living Standard §9.2), until the client leaves",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
}
"""Options of a route that answers an event stream (``@app.get(path, **EVENT_STREAM_ROUTE)``), so that
its document says ``text/event-stream``, not FastAPI's default JSON."""

_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def problem_details_schema() -> dict[str, Any]:
    """JSON Schema of an RFC 9457 problem details object (§3.1 members; extensions allowed)."""
    return {
        "type": "object",
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 100, "maximum": 599},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
        },
        "required": ["title", "status"],
    }


@dataclass(frozen=True)
class ErrorAnswers:
    """The error answers of one service, for its OpenAPI document.

    Attributes:
        name: the component name of the error body (``components.schemas``).
        schema: JSON Schema of the error body.
        media_type: the error body's media type.
        statuses: status → (description, to which operations it applies).
        headers: response headers every error answer carries (name → OpenAPI header object).
    """

    name: str
    schema: Mapping[str, Any]
    media_type: str
    statuses: Mapping[int, tuple[str, Applies]]
    headers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def document_errors(document: dict[str, Any], answers: ErrorAnswers) -> dict[str, Any]:
    """``document`` (an OpenAPI 3.1 document, changed in place and returned) with the error answers of
    ``answers`` instead of FastAPI's 422, and mutual TLS as its security.

    An error status an operation declares itself keeps its description and gets the error body.
    """
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for unused in _FASTAPI_VALIDATION:
        schemas.pop(unused, None)
    schemas[answers.name] = copy.deepcopy(dict(answers.schema))
    components["securitySchemes"] = {"mutualTLS": MUTUAL_TLS}
    document["security"] = [{"mutualTLS": []}]
    body = {answers.media_type: {"schema": {"$ref": f"#/components/schemas/{answers.name}"}}}
    for path_item in document.get("paths", {}).values():
        shared = path_item.get("parameters", [])
        for method in _METHODS:
            operation = path_item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            for status, (description, applies) in answers.statuses.items():
                if str(status) not in responses and _applies(applies, method, operation, shared):
                    responses[str(status)] = {"description": description}
            for status, answer in responses.items():
                if status[:1] in ("4", "5"):
                    answer["content"] = copy.deepcopy(body)
                    if answers.headers:
                        answer["headers"] = {name: dict(header) for name, header in answers.headers.items()}
    return document


def _applies(
    applies: Applies, method: str, operation: Mapping[str, Any], shared: list[Mapping[str, Any]]
) -> bool:
    parameters = [*shared, *operation.get("parameters", [])]
    has_body = "requestBody" in operation
    if applies == "always":
        return True
    if applies == "write":
        return method in ("put", "post", "patch", "delete")
    if applies == "input":
        return bool(parameters) or has_body
    if applies == "path":
        return any(parameter.get("in") == "path" for parameter in parameters)
    return has_body


def install_openapi(app: FastAPI, answers: ErrorAnswers) -> Callable[[], dict[str, Any]]:
    """Make ``app.openapi()`` (and ``/openapi.json``, if the app serves it) the generated document
    rewritten by :func:`document_errors` with ``answers``; made once, on first use."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = document_errors(document, answers)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to replace it
    return openapi
