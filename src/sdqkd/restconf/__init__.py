"""RESTCONF (RFC 8040) machinery that servers and clients share.

- :mod:`~sdqkd.restconf.codec`: the media type and the ``ietf-restconf:errors`` body both ways;
- :mod:`~sdqkd.restconf.paths` and :mod:`~sdqkd.restconf.data`: data resource paths over a YANG model
  (yangson) and RFC 7951 JSON walked beside its schema;
- :mod:`~sdqkd.restconf.sse`: server-sent events, the broker and the parser;
- :mod:`~sdqkd.restconf.notifications`: a notification stream (§6) of a YANG model;
- :mod:`~sdqkd.restconf.client`: an async client of data resources and notification streams.

The node agent serves RESTCONF with these (:mod:`sdqkd.agent.restconf`); the controller reads and writes
agents with the client. Neither imports the other.
"""

from __future__ import annotations

from sdqkd.restconf.client import RestconfClient
from sdqkd.restconf.codec import (
    MEDIA_TYPE,
    STATUS_OF_TAG,
    MalformedErrorBody,
    decode_errors,
    encode_errors,
    error_response,
    status_of,
)
from sdqkd.restconf.data import Content
from sdqkd.restconf.notifications import NOTIFICATION, NotificationStream
from sdqkd.restconf.paths import JsonValue, PathStep, ResourcePath, parse_resource_path
from sdqkd.restconf.sse import (
    EVENT_STREAM,
    Broker,
    EventParser,
    ServerSentEvent,
    event_stream_response,
    format_comment,
    format_event,
    parse_events,
)

__all__ = [
    "EVENT_STREAM",
    "MEDIA_TYPE",
    "NOTIFICATION",
    "STATUS_OF_TAG",
    "Broker",
    "Content",
    "EventParser",
    "JsonValue",
    "MalformedErrorBody",
    "NotificationStream",
    "PathStep",
    "ResourcePath",
    "RestconfClient",
    "ServerSentEvent",
    "decode_errors",
    "encode_errors",
    "error_response",
    "event_stream_response",
    "format_comment",
    "format_event",
    "parse_events",
    "parse_resource_path",
    "status_of",
]
