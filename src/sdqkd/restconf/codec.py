"""RESTCONF's media type and its error bodies (RFC 8040 §7.1), both ways.

A server answers a refused operation with an ``ietf-restconf:errors`` body of one or more ``error``
entries and the HTTP status that §7's table gives the first entry's ``error-tag``; a client turns such
a body back into a :class:`~sdqkd.errors.RestconfError` with every field of every entry kept (the first
entry's fields on the error itself, all entries in :attr:`~sdqkd.errors.RestconfError.errors`)::

    RestconfError  ──encode_errors / error_response──▶  (status, {"ietf-restconf:errors": {...}})
    RestconfError  ◀──────────decode_errors──────────   (status, body bytes)

A body that is not an errors body decodes to :class:`MalformedErrorBody`, itself a RestconfError, so a
client raises what it decodes whatever the peer sent.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from sdqkd.errors import ResourceNotFound, RestconfError, RestconfErrorType, SdqkdError

__all__ = [
    "MEDIA_TYPE",
    "STATUS_OF_TAG",
    "MalformedErrorBody",
    "decode_errors",
    "encode_errors",
    "error_response",
    "status_of",
]

MEDIA_TYPE = "application/yang-data+json"
"""RFC 8040 §11.3.2: YANG data in JSON (RFC 7951)."""

_ERRORS = "ietf-restconf:errors"
_ERROR_TYPES: dict[str, RestconfErrorType] = {
    "transport": "transport",
    "rpc": "rpc",
    "protocol": "protocol",
    "application": "application",
}

STATUS_OF_TAG: dict[str, int] = {
    "in-use": 409,
    "invalid-value": 400,
    "too-big": 413,
    "missing-attribute": 400,
    "bad-attribute": 400,
    "unknown-attribute": 400,
    "bad-element": 400,
    "unknown-element": 400,
    "unknown-namespace": 400,
    "access-denied": 403,
    "lock-denied": 409,
    "resource-denied": 409,
    "rollback-failed": 500,
    "data-exists": 409,
    "data-missing": 409,
    "operation-not-supported": 405,
    "operation-failed": 500,
    "partial-operation": 500,
    "malformed-message": 400,
}
"""RFC 8040 §7: the status of each error-tag. Where the table gives several (invalid-value: 400, 404,
406, 415; access-denied: 401, 403; operation-not-supported: 405, 501), the first, or 403: the others
depend on a cause the tag does not carry, so a server names them itself (:func:`error_response`)."""


class MalformedErrorBody(RestconfError):
    """An answer with an error status whose body is not an ``ietf-restconf:errors`` body (RFC 8040
    §7.1): error-type ``transport``, error-tag ``operation-failed``, the message says what was wrong.

    Attributes:
        status_code: the HTTP status of the answer (None when not known).
    """

    def __init__(self, reason: str, status_code: int | None = None) -> None:
        self.status_code = status_code
        status = f"HTTP {status_code}" if status_code is not None else "an answer"
        super().__init__("transport", "operation-failed", f"{status} without a RESTCONF error body: {reason}")


# Server side ------------------------------------------------------------------------------------------


def status_of(error: RestconfError) -> int:
    """The HTTP status of ``error``: 404 for :class:`~sdqkd.errors.ResourceNotFound`, else its error-tag's
    (RFC 8040 §7), 400 for a tag the table does not have."""
    if isinstance(error, ResourceNotFound):
        return 404
    return STATUS_OF_TAG.get(error.error_tag, 400)


def encode_errors(*errors: RestconfError) -> dict[str, Any]:
    """The ``ietf-restconf:errors`` body (RFC 8040 §7.1) of ``errors``, each with its
    :attr:`~sdqkd.errors.RestconfError.others`, in order."""
    entries = [_entry(entry) for error in errors for entry in error.errors]
    return {_ERRORS: {"error": entries}}


_MAX_MESSAGE = 512
_MAX_PATH = 1024


def _cut(text: str, most: int) -> str:
    # a message or path may name what the request sent (a member, a key): never echoed at length
    return text if len(text) <= most else text[: most - 1] + "…"


def _entry(error: RestconfError) -> dict[str, Any]:
    # The members in the order of the ietf-restconf module's ``error`` grouping; the message and
    # path bounded (512 and 1024 characters).
    entry: dict[str, Any] = {"error-type": error.error_type, "error-tag": error.error_tag}
    if error.error_app_tag is not None:
        entry["error-app-tag"] = error.error_app_tag
    if error.error_path is not None:
        entry["error-path"] = _cut(error.error_path, _MAX_PATH)
    entry["error-message"] = _cut(error.error_message, _MAX_MESSAGE)
    if error.error_info is not None:
        entry["error-info"] = error.error_info
    return entry


def error_response(error: RestconfError, status_code: int | None = None) -> Response:
    """The answer to a refused request: ``error``'s body in :data:`MEDIA_TYPE` with ``status_code``
    (default: :func:`status_of`)."""
    body = json.dumps(encode_errors(error), ensure_ascii=False).encode()
    return Response(body, status_code=status_code or status_of(error), media_type=MEDIA_TYPE)


# Client side ------------------------------------------------------------------------------------------


def decode_errors(content: bytes | str, status_code: int | None = None) -> RestconfError:
    """The error an ``ietf-restconf:errors`` body (RFC 8040 §7.1) carries: the first ``error`` entry's
    fields, the further entries in :attr:`~sdqkd.errors.RestconfError.others`. With ``status_code`` 404
    the error is a :class:`~sdqkd.errors.ResourceNotFound`.

    Never raises: what is not such a body decodes to a :class:`MalformedErrorBody` saying why, so the
    caller raises the result either way.

    Args:
        content: the response body.
        status_code: the response's HTTP status.
    """
    try:
        document = json.loads(content)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return MalformedErrorBody(f"not JSON ({exc})", status_code)
    try:
        entries = _entries(document)
        errors = [_error(entry, not_found=status_code == 404) for entry in entries]
    except _MalformedError as exc:
        return MalformedErrorBody(str(exc), status_code)
    first, *others = errors
    first.others = tuple(others)
    return first


class _MalformedError(SdqkdError):
    """What is wrong with a body; never leaves this module (it becomes a MalformedErrorBody)."""


def _entries(document: Any) -> list[dict[str, Any]]:
    if not isinstance(document, dict) or list(document) != [_ERRORS]:
        raise _MalformedError(f"the body is not one {_ERRORS!r} member")
    container = document[_ERRORS]
    entries = container.get("error") if isinstance(container, dict) else None
    if not isinstance(entries, list) or not entries:
        raise _MalformedError(f"{_ERRORS} has no 'error' entry")
    if not all(isinstance(entry, dict) for entry in entries):
        raise _MalformedError("an 'error' entry is not an object")
    return entries


def _error(entry: dict[str, Any], *, not_found: bool) -> RestconfError:
    error_type = entry.get("error-type")
    tag = entry.get("error-tag")
    kind = _ERROR_TYPES.get(error_type) if isinstance(error_type, str) else None
    if kind is None:
        raise _MalformedError(f"error-type {error_type!r} is not one of {sorted(_ERROR_TYPES)}")
    if not isinstance(tag, str) or not tag:
        raise _MalformedError(f"error-tag {tag!r} is not a tag")
    message = entry.get("error-message", "")  # optional in §7.1, though servers nearly always send it
    path = entry.get("error-path")
    app_tag = entry.get("error-app-tag")
    if not isinstance(message, str):
        raise _MalformedError(f"error-message {message!r} is not a string")
    for name, value in (("error-path", path), ("error-app-tag", app_tag)):
        if value is not None and not isinstance(value, str):
            raise _MalformedError(f"{name} {value!r} is not a string")
    info = entry.get("error-info")
    if info is not None and not isinstance(info, dict):
        raise _MalformedError(f"error-info {info!r} is not an object")
    if not_found:
        # RFC 8040 §7: 404 is invalid-value; a peer that sends another tag with it keeps its tag.
        error: RestconfError = ResourceNotFound(message, error_path=path)
        RestconfError.__init__(
            error, kind, tag, message, error_path=path, error_app_tag=app_tag, error_info=info
        )
        return error
    return RestconfError(kind, tag, message, error_path=path, error_app_tag=app_tag, error_info=info)
