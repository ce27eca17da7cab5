"""The services' logs: one JSON object per record with the documented fields (``--log-format json``),
today's text lines otherwise, sdqkd's INFO kept and other libraries' dropped, and bytes never
written."""

from __future__ import annotations

import io
import json
import logging
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sdqkd.server.logs import JsonFormatter, LogFormat, configure_logging
from sdqkd.server.request_id import request_id_scope


def _strict_json(line: str) -> dict[str, Any]:
    """``line`` parsed as JSON proper (Python's parser would take NaN and Infinity)."""

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    parsed = json.loads(line, parse_constant=refuse)
    assert isinstance(parsed, dict)
    return parsed


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger of its own writing JSON lines (role ``kme``, node ``n2``) to a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter("kme", "n2"))
    logger = logging.getLogger("sdqkd.tests.jsonlogs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, buffer
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


def _lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [_strict_json(line) for line in buffer.getvalue().splitlines()]


def test_a_record_is_one_json_object_with_time_level_role_node_logger_event_and_extras(
    logged: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = logged
    before = datetime.now(UTC)

    logger.warning("relay over %s failed", "v-n1-n3", extra={"virtual_link": "v-n1-n3", "keys": 2})

    (entry,) = _lines(buffer)
    assert list(entry)[:6] == ["time", "level", "role", "node", "logger", "event"]
    assert entry["level"] == "WARNING"
    assert (entry["role"], entry["node"]) == ("kme", "n2")
    assert entry["logger"] == "sdqkd.tests.jsonlogs"
    assert entry["event"] == "relay over v-n1-n3 failed"
    assert (entry["virtual_link"], entry["keys"]) == ("v-n1-n3", 2)
    written = datetime.fromisoformat(entry["time"])
    assert written.utcoffset() == timedelta(0)  # UTC, with its offset written
    assert before - timedelta(seconds=1) <= written <= datetime.now(UTC) + timedelta(seconds=1)
    assert "request_id" not in entry  # outside any request
    assert "exception" not in entry


def test_a_role_of_no_node_writes_no_node_field() -> None:
    record = logging.LogRecord("sdqkd.controller", logging.INFO, __file__, 1, "started", None, None)

    entry = _strict_json(JsonFormatter("controller").format(record))

    assert entry["role"] == "controller"
    assert "node" not in entry


def test_a_message_over_several_lines_stays_on_one_line(logged: tuple[logging.Logger, io.StringIO]) -> None:
    logger, buffer = logged

    logger.info("first line\nsecond line")
    logger.info("next record")

    assert len(buffer.getvalue().splitlines()) == 2
    assert [entry["event"] for entry in _lines(buffer)] == ["first line\nsecond line", "next record"]


def test_an_exception_is_a_field_with_its_traceback(logged: tuple[logging.Logger, io.StringIO]) -> None:
    logger, buffer = logged

    try:
        raise RuntimeError("the peer KME went away")
    except RuntimeError:
        logger.exception("relay failed")

    (entry,) = _lines(buffer)
    assert entry["event"] == "relay failed"
    assert entry["level"] == "ERROR"
    assert entry["exception"].startswith("Traceback (most recent call last):")
    assert entry["exception"].rstrip().endswith("RuntimeError: the peer KME went away")


def test_a_record_within_a_request_carries_its_id(logged: tuple[logging.Logger, io.StringIO]) -> None:
    logger, buffer = logged

    with request_id_scope("op-42"):
        logger.info("inside")
    logger.info("outside")

    inside, outside = _lines(buffer)
    assert inside["request_id"] == "op-42"
    assert "request_id" not in outside


class _Opaque:
    def __repr__(self) -> str:
        return "<opaque thing>"


def test_extras_json_cannot_hold_are_written_as_repr_and_bytes_only_as_their_length(
    logged: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = logged
    secret = bytes(range(200, 232))

    logger.info(
        "odd fields",
        extra={
            "thing": _Opaque(),
            "material": secret,
            "nested": {"ids": ("a", "b"), "raw": bytearray(b"\x00\x01")},
            "ratio": float("nan"),
            "level": "an extra must not replace the record's level",
        },
    )

    text = buffer.getvalue()
    (entry,) = _lines(buffer)  # strict JSON: no NaN
    assert entry["thing"] == "<opaque thing>"
    assert entry["material"] == "<32 bytes>"
    assert entry["nested"] == {"ids": ["a", "b"], "raw": "<2 bytes>"}
    assert entry["ratio"] == "nan"
    assert entry["level"] == "INFO"
    assert secret.hex() not in text
    assert repr(secret) not in text


@pytest.fixture
def process_logging() -> Iterator[None]:
    """Put back the root logger, sdqkd's level and the warnings' capture after a test configured them
    as a service process does."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    sdqkd_level = logging.getLogger("sdqkd").level
    try:
        yield
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        logging.getLogger("sdqkd").setLevel(sdqkd_level)
        logging.captureWarnings(False)


@pytest.mark.usefixtures("process_logging")
def test_a_json_process_log_keeps_sdqkds_info_and_other_libraries_warnings_only() -> None:
    stream = io.StringIO()
    configure_logging(LogFormat.JSON, "agent", "n1", stream=stream)

    logging.getLogger("sdqkd.agent.callhome").info("registered with the controller")
    logging.getLogger("httpx").info("HTTP Request: GET https://localhost/ 200 OK")
    logging.getLogger("uvicorn.error").warning("a warning from a library")
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # the suite turns warnings into errors
        warnings.warn("a library's warning", UserWarning, stacklevel=1)

    entries = [_strict_json(line) for line in stream.getvalue().splitlines()]
    assert [(e["logger"], e["event"]) for e in entries[:2]] == [
        ("sdqkd.agent.callhome", "registered with the controller"),
        ("uvicorn.error", "a warning from a library"),
    ]
    assert entries[2]["logger"] == "py.warnings"
    assert "a library's warning" in entries[2]["event"]
    assert all((e["role"], e["node"]) == ("agent", "n1") for e in entries)


@pytest.mark.usefixtures("process_logging")
def test_a_text_process_log_writes_todays_lines() -> None:
    stream = io.StringIO()
    configure_logging(LogFormat.TEXT, "kme", "n1", stream=stream)

    logging.getLogger("sdqkd.kms.kme").info("virtual link v-n1-n3 added")

    (line,) = stream.getvalue().splitlines()
    stamp, level, rest = line.split(" ", 3)[1:]  # date, time, level, "logger: message"
    assert level == "INFO"
    assert rest == "sdqkd.kms.kme: virtual link v-n1-n3 added"
    assert stamp.count(":") == 2
    assert not line.startswith("{")
