"""A service process's log: today's text lines, or one JSON object per line (``--log-format json``).

Every role (emulator, controller, agent, KME, service manager) logs to stderr, which ``sdqkd up``
appends to the role's file in the run directory. sdqkd's own messages from INFO, other libraries'
from WARNING (httpx says INFO for every request it makes).

A JSON line holds ``time`` (UTC, ISO 8601), ``level``, ``role``, ``node`` (where the role has one),
``logger``, ``event`` (the message), ``request_id`` (within a request:
:mod:`sdqkd.server.request_id`), the fields passed with ``extra=`` and, for a failure,
``exception`` (its traceback as text). A field whose value JSON cannot hold is written as its
``repr()``; bytes never are: they are written as their length only, since bytes in a key service may
be key material.
"""

from __future__ import annotations

import enum
import json
import logging
import math
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from sdqkd.server.request_id import current_request_id

__all__ = ["JsonFormatter", "LogFormat", "configure_logging"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
"""The text lines' format (what the roles have always written)."""


class LogFormat(enum.StrEnum):
    """How a service process writes its log."""

    TEXT = "text"
    JSON = "json"


# The attributes every LogRecord has: anything else on a record came with ``extra=``.
_STANDARD = frozenset(logging.LogRecord("", logging.INFO, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",  # Python 3.12+
    "color_message",  # uvicorn's coloured copy of the message
}
# What the formatter writes itself: an ``extra=`` of the same name does not replace it.
_RESERVED = frozenset(
    {"time", "level", "role", "node", "logger", "event", "request_id", "exception", "stack"}
)


def _jsonable(value: Any) -> Any:
    """``value`` as JSON can hold it: bytes as their length only; what JSON has no type for (and NaN,
    the infinities) as ``repr()``."""
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # JSON has no NaN or infinity
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return repr(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines inside strings are escaped by JSON).

    Args:
        role: the service's role (``kme``, ``agent``, …).
        node: the node it serves (None: a role of no node, e.g. the controller).
    """

    def __init__(self, role: str, node: str | None = None) -> None:
        super().__init__()
        self.role = role
        self.node = node

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "role": self.role,
        }
        if self.node is not None:
            entry["node"] = self.node
        entry["logger"] = record.name
        entry["event"] = record.getMessage()
        request_id = current_request_id()
        if request_id is not None:
            entry["request_id"] = request_id
        for name, value in record.__dict__.items():
            if name not in _STANDARD and name not in _RESERVED and not name.startswith("_"):
                entry[name] = _jsonable(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, allow_nan=False)


def configure_logging(
    log_format: LogFormat, role: str, node: str | None = None, stream: TextIO | None = None
) -> logging.Handler:
    """Make this process's log ``log_format`` lines on ``stream`` (default stderr): the root logger
    at WARNING with this one handler (any earlier one removed), ``sdqkd``'s loggers at INFO, Python's
    warnings logged too. Returns the handler.

    Args:
        log_format: text (today's lines) or JSON (one object per line).
        role: the role named in each JSON line.
        node: the node named in each JSON line (None: none).
        stream: where to write (None: ``sys.stderr``).
    """
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    if log_format is LogFormat.JSON:
        handler.setFormatter(JsonFormatter(role, node))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for previous in list(root.handlers):
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("sdqkd").setLevel(logging.INFO)
    logging.captureWarnings(True)
    return handler
