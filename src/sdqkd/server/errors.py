"""One way for every service to turn errors into answers: a table from error class to response.

Domain code raises :mod:`sdqkd.errors` classes and never HTTP exceptions; each app declares, once, which
status and body (in its protocol's own error format) each class gets, and installs the table with
:func:`install_error_handlers`. Starlette picks the handler of the most specific class in the raised
error's MRO, so a table may map a base class and override one subclass. No handler looks at an error's
message: the class decides.

The rule for 401 and 403, the same in every service: :class:`~sdqkd.errors.Unauthenticated` (no usable
client certificate) is 401; :class:`~sdqkd.errors.Forbidden` (a known identity this is not for) is 403,
except where a protocol has no 403 (ETSI GS QKD 014 answers 401).

Services whose own API speaks RFC 9457 problem details (the KME's KME↔KME and management APIs, the
emulator's) build their table with :func:`problem_table`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from sdqkd.server.methods import allowed_methods

__all__ = [
    "ErrorRenderer",
    "ErrorTable",
    "HTTPError",
    "install_error_handlers",
    "problem_response",
    "problem_table",
    "validation_problems",
]

ErrorRenderer = Callable[[Request, Any], Response]
"""Makes the answer to one error: its status and its body in the service's error format."""

ErrorTable = Mapping[type[Exception], ErrorRenderer]
"""Error class → renderer. Include :class:`RequestValidationError` (pydantic rejected the request) and
Starlette's :class:`~starlette.exceptions.HTTPException` (no route, wrong method) so that the framework's
own refusals speak the protocol's format too."""


def install_error_handlers(app: FastAPI, table: ErrorTable) -> None:
    """Install one exception handler per entry of ``table`` on ``app``."""
    for error_class, render in table.items():
        app.add_exception_handler(error_class, _handler(render))


def _handler(render: ErrorRenderer) -> Callable[[Request, Exception], Any]:
    async def handle(request: Request, exc: Exception) -> Response:
        return render(request, exc)

    return handle


_MAX_PROBLEMS = 16
_MAX_NAME = 64  # characters of one part of a field's location (a member name may come from the input)
_MAX_PROBLEM = 200


def validation_problems(exc: RequestValidationError) -> list[dict[str, str]]:
    """pydantic's complaints about a request as ``{"field", "problem"}`` pairs (never the input itself,
    which may be large or hold secrets), at most 16 of them, each bounded: a location names a member
    the request sent (an unknown one, a dict key), so its parts are cut at 64 characters; a problem
    at 200."""
    return [
        {
            "field": ".".join(_cut(str(part), _MAX_NAME) for part in error.get("loc", ())),
            "problem": _cut(_problem(error), _MAX_PROBLEM),
        }
        for error in exc.errors()[:_MAX_PROBLEMS]
    ]


def _cut(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def _problem(error: Mapping[str, Any]) -> str:
    message = str(error.get("msg"))
    if error.get("type") == "json_invalid":  # why the parser stopped (a position, never the text)
        return f"{message}: {error.get('ctx', {}).get('error', 'not JSON')}"
    if str(error.get("type", "")).endswith("_parsing"):
        # what was expected, not where parsing stopped: "…a valid UUID, invalid character: found `k`
        # at 0" quotes the input
        return message.split(", ", 1)[0]
    return message


def problem_response(
    status: int, title: str, detail: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """An RFC 9457 problem details answer (``type`` ``about:blank``)."""
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status_code=status,
        media_type="application/problem+json",
        headers=dict(headers) if headers else None,
    )


def problem_table(
    refusals: Mapping[type[Exception], tuple[int, str]], headers: Mapping[str, str] | None = None
) -> ErrorTable:
    """The table of an API that answers in RFC 9457 problem details.

    Args:
        refusals: error class → (status, title); the error's message is the ``detail``.
        headers: added to every error answer (e.g. ``Cache-Control: no-store``).

    Returns:
        ``refusals`` as renderers, with pydantic's rejection of a request (400, the first problem:
        where and why) and the framework's refusals (no route, wrong method: their own status).
    """

    def refused(status: int, title: str) -> ErrorRenderer:
        def render(request: Request, exc: Exception) -> Response:
            return problem_response(status, title, str(exc), headers)

        return render

    def invalid(request: Request, exc: RequestValidationError) -> Response:
        problem = validation_problems(exc)[0]
        return problem_response(400, "Bad Request", f"{problem['field']}: {problem['problem']}", headers)

    def framework(request: Request, exc: StarletteHTTPException) -> Response:
        # the exception's own headers too: a 405 carries its Allow, of every route of the path
        merged = {**(exc.headers or {}), **(headers or {})}
        if exc.status_code == 405:
            merged["Allow"] = allowed_methods(request)
        return problem_response(exc.status_code, str(exc.detail), str(exc.detail), merged)

    table: dict[type[Exception], ErrorRenderer] = {
        error_class: refused(status, title) for error_class, (status, title) in refusals.items()
    }
    return {**table, RequestValidationError: invalid, StarletteHTTPException: framework}


# Re-exported so that an app's table names the framework's refusals without importing Starlette itself.
HTTPError = StarletteHTTPException
