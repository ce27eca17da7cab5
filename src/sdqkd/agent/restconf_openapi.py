"""The OpenAPI document of an agent's RESTCONF server (:mod:`sdqkd.agent.restconf`), written for its
routes.

RESTCONF (RFC 8040) describes itself with YANG, not OpenAPI, and its data resources are paths into the
YANG data tree (``/restconf/data/etsi-qkd-sdn-node:qkd_node/qkd_links/qkd_link=ID``): FastAPI cannot
generate a document for them. This one says what the server answers, route by route, so that tools
that speak OpenAPI (and the fuzz tests, ``tests/fuzz``) can hold the server to it: the statuses of
RFC 8040 §4 for each method, the §7 ``ietf-restconf:errors`` body of every refusal, the media types
(``application/yang-data+json``; the XRD of host-meta; server-sent events), and the headers RFC 8040
requires (``Location`` of a created resource; ``Allow``/``Accept-Patch`` of OPTIONS; ``Allow`` of a
405). A data resource is one path parameter: OpenAPI has no multi-segment parameter, so generated
paths name one segment (a top-level node or an unknown one); deeper paths are the RESTCONF tests'.

Statuses (RFC 8040 §7 maps each error-tag to one): 400 malformed or invalid, 401 no usable client
certificate, 403 a role that may not, 404 no such resource, 405 a method the resource has not, 406 an
``Accept`` the server cannot meet, 409 the data exists/is missing/is in use, 413 a body over the
server's limit, 415 a body that is not JSON, 500 ``operation-failed`` (a driver that could not apply a
change, reported as RFC 8040 prescribes).
"""

from __future__ import annotations

import copy
from typing import Any

from sdqkd.server.openapi import MUTUAL_TLS

__all__ = ["restconf_openapi"]

_YANG = "application/yang-data+json"
_ERRORS = {"$ref": "#/components/schemas/Errors"}

_ERRORS_SCHEMA: dict[str, Any] = {
    "description": "RFC 8040 §7.1 (ietf-restconf yang-data errors), in RFC 7951 JSON",
    "type": "object",
    "required": ["ietf-restconf:errors"],
    "properties": {
        "ietf-restconf:errors": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["error-type", "error-tag"],
                        "properties": {
                            "error-type": {"enum": ["transport", "rpc", "protocol", "application"]},
                            "error-tag": {"type": "string"},
                            "error-app-tag": {"type": "string"},
                            "error-path": {"type": "string"},
                            "error-message": {"type": "string"},
                            "error-info": {"type": "object"},
                        },
                    },
                }
            },
        }
    },
}

_DESCRIPTIONS = {
    400: "Malformed request, or data the YANG model refuses (invalid-value, malformed-message, ...)",
    401: "No usable client certificate (access-denied)",
    403: "The caller's role may not read, or may not write, this datastore (access-denied)",
    404: "No such resource (invalid-value)",
    405: "The resource has not this method (operation-not-supported); Allow names those it has",
    406: "The Accept header admits none of the resource's media types",
    409: "The data exists, is missing or is in use (data-exists, data-missing, in-use)",
    413: "The request body is over the server's limit (too-big)",
    415: "The request body is not JSON (application/yang-data+json)",
    500: "The change could not be applied (operation-failed): a device refused or did not answer",
}


def _refusals(*statuses: int) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for status in statuses:
        answer: dict[str, Any] = {
            "description": _DESCRIPTIONS[status],
            "content": {_YANG: {"schema": _ERRORS}},
        }
        if status == 405:
            answer["headers"] = {"Allow": {"required": True, "schema": {"type": "string"}}}
        answers[str(status)] = answer
    return answers


_YANG_JSON = {_YANG: {"schema": {"type": "object"}}}
_BODY = {"required": True, "content": _YANG_JSON}
_RESOURCE = {
    "name": "resource",
    "in": "path",
    "required": True,
    "description": "a data resource (RFC 8040 §3.5.3): module-qualified node names, list keys after =",
    "schema": {"type": "string"},
}
_READ_QUERY = [
    {
        "name": "content",
        "in": "query",
        "required": False,
        "description": "RFC 8040 §4.8.1",
        "schema": {"enum": ["all", "config", "nonconfig"]},
    },
    {
        "name": "depth",
        "in": "query",
        "required": False,
        "description": "RFC 8040 §4.8.2: 1 to 65535, or unbounded",
        "schema": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 65535}, {"const": "unbounded"}]},
    },
]
_READ_REFUSALS = (400, 401, 403, 404, 406)
_WRITE_REFUSALS = (400, 401, 403, 404, 409, 413, 415, 500)


def _read(summary: str, *, head: bool = False) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "The data (RFC 7951 JSON)"}
    if not head:
        ok["content"] = copy.deepcopy(_YANG_JSON)
    return {
        "summary": summary,
        "parameters": copy.deepcopy(_READ_QUERY),
        "responses": {"200": ok, **_refusals(*_READ_REFUSALS)},
    }


def _options() -> dict[str, Any]:
    header = {"required": True, "schema": {"type": "string"}}
    return {
        "summary": "The methods of the resource (RFC 8040 §4.1)",
        "responses": {
            "200": {
                "description": "Allow: the resource's methods; Accept-Patch: the media type of PATCH",
                "headers": {"Allow": header, "Accept-Patch": header},
            },
            **_refusals(401, 403),
        },
    }


def _write(summary: str, created: dict[str, Any], done: str | None, *, body: bool = True) -> dict[str, Any]:
    responses: dict[str, Any] = {"201": created}
    if done is not None:
        responses["204"] = {"description": done}
    refusals = _WRITE_REFUSALS if body else (400, 401, 403, 404, 409, 500)
    operation: dict[str, Any] = {"summary": summary, "responses": {**responses, **_refusals(*refusals)}}
    if body:
        operation["requestBody"] = copy.deepcopy(_BODY)
    return operation


_CREATED = {
    "description": "Created (RFC 8040 §4.4.1); Location names the new resource",
    "headers": {"Location": {"required": True, "schema": {"type": "string"}}},
}


def _data_resource() -> dict[str, Any]:
    operations = {
        "get": _read("Read a data resource (RFC 8040 §4.3)"),
        "head": _read("The headers of a read (RFC 8040 §4.2)", head=True),
        "options": _options(),
        "post": _write("Create a child of the resource (RFC 8040 §4.4.1)", _CREATED, None),
        "put": _write(
            "Create or replace the resource (RFC 8040 §4.5)", {"description": "Created"}, "Replaced"
        ),
        "patch": _write("Merge into the resource (RFC 8040 §4.6.1)", {"description": "-"}, "Merged"),
        "delete": _write("Delete the resource (RFC 8040 §4.7)", {"description": "-"}, "Deleted", body=False),
    }
    # PATCH and DELETE never create
    del operations["patch"]["responses"]["201"]
    del operations["delete"]["responses"]["201"]
    for operation in operations.values():
        operation["parameters"] = [copy.deepcopy(_RESOURCE), *operation.get("parameters", [])]
    return operations


def _simple_get(summary: str, media_type: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "responses": {
                "200": {"description": summary, "content": {media_type: {"schema": schema}}},
                **_refusals(401, 403),
            },
        }
    }


def restconf_openapi(title: str, version: str, *, stream: str | None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of a RESTCONF server built by
    :func:`~sdqkd.agent.restconf.create_restconf_app`.

    Args:
        title: the server's title.
        version: its version.
        stream: the name of its notification stream, if it serves one.
    """
    api_root = _simple_get(
        "The API root (RFC 8040 §3.3)", _YANG, {"type": "object", "required": ["ietf-restconf:restconf"]}
    )
    api_root["get"]["responses"].update(_refusals(400, 406))
    paths: dict[str, Any] = {
        "/.well-known/host-meta": _simple_get(
            "Where the RESTCONF API is (RFC 8040 §3.1, RFC 6415)", "application/xrd+xml", {"type": "string"}
        ),
        "/restconf": api_root,
        "/restconf/yang-library-version": _simple_get(
            "The ietf-yang-library revision (RFC 8040 §3.3.3)",
            _YANG,
            {"type": "object", "required": ["ietf-restconf:yang-library-version"]},
        ),
        "/restconf/operations": _simple_get(
            "The RPC operations: none (RFC 8040 §3.3.2)",
            _YANG,
            {"type": "object", "required": ["ietf-restconf:operations"]},
        ),
        "/restconf/data": {
            "get": _read("Read the datastore (RFC 8040 §3.3.1)"),
            "head": _read("The headers of a read of the datastore", head=True),
            "options": _options(),
            "post": _write("Create a top-level data resource (RFC 8040 §4.4.1)", _CREATED, None),
        },
        "/restconf/data/{resource}": _data_resource(),
        "/metrics": _simple_get("Prometheus text format (operators)", "text/plain", {"type": "string"}),
    }
    if stream is not None:
        events = _simple_get(
            "The notification stream as server-sent events (RFC 8040 §6.3)",
            "text/event-stream",
            {"type": "string"},
        )
        events["get"]["parameters"] = [
            {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
        ]
        events["get"]["responses"].update(_refusals(400, 404, 406))
        paths["/restconf/streams/{name}/json"] = events
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": "RESTCONF (RFC 8040) over mutual TLS"},
        "paths": paths,
        "components": {
            "schemas": {"Errors": copy.deepcopy(_ERRORS_SCHEMA)},
            "securitySchemes": {"mutualTLS": copy.deepcopy(MUTUAL_TLS)},
        },
        "security": [{"mutualTLS": []}],
    }
