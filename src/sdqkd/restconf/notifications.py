"""A RESTCONF notification stream (RFC 8040 §6): notifications of a YANG model, each wrapped as an
``ietf-restconf:notification`` with its event time, fanned out to subscribers by a
:class:`~sdqkd.restconf.sse.Broker`."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from yangson.enumerations import ContentType
from yangson.exceptions import YangsonException

from sdqkd.errors import RestconfError
from sdqkd.restconf.paths import JsonValue
from sdqkd.restconf.sse import Broker, format_event

__all__ = ["NOTIFICATION", "NotificationStream", "notification_event"]

NOTIFICATION = "ietf-restconf:notification"
"""RFC 8040 §6.4: the member that wraps each notification of a JSON event stream."""


def _event_time() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class NotificationStream:
    """A RESTCONF notification stream: what the owner publishes goes to every subscriber; a slow
    subscriber loses its oldest notifications and never blocks the owner.

    Args:
        name: the stream's name, the last-but-one step of its URL.
        model: when given, each notification is validated against it (a notification of the model).
        description: what the stream carries (advertised in ``GET /restconf``).
        queue_size: notifications kept for a subscriber that has not read them yet.
    """

    def __init__(
        self,
        name: str = "etsi-qkd-sdn-node",
        *,
        model: Any = None,
        description: str = "ETSI GS QKD 015 notifications of this SD-QKD node",
        queue_size: int = 1000,
    ) -> None:
        self.name = name
        self.description = description
        self._model = model
        self.broker: Broker[dict[str, JsonValue]] = Broker(queue_size)
        self.published: Counter[str] = Counter()
        """Notifications published so far, by module-qualified name (for the metrics)."""
        self._count_lock = threading.Lock()  # publish() may be called from any thread

    def publish(
        self, notification: dict[str, JsonValue], event_time: str | None = None
    ) -> dict[str, JsonValue]:
        """Send a notification to every subscriber. Safe to call from any thread.

        Args:
            notification: ``{"module:notification": {...}}``, e.g.
                ``{"etsi-qkd-sdn-node:sdqkdn_interface_new": {"qkd_interface": {...}}}``.
            event_time: RFC 3339 time (default: now, UTC).

        Returns:
            The ``ietf-restconf:notification`` sent.

        Raises:
            RestconfError: the notification is not valid for the model (invalid-value).
        """
        self._validate(notification)
        envelope = {NOTIFICATION: {"eventTime": event_time or _event_time(), **notification}}
        self.broker.publish(envelope)
        with self._count_lock:
            self.published[next(iter(notification))] += 1
        return envelope

    def _validate(self, notification: dict[str, JsonValue]) -> None:
        if not isinstance(notification, dict) or len(notification) != 1:
            raise RestconfError("application", "invalid-value", "a notification is an object of one member")
        ((name, content),) = notification.items()
        if ":" not in name:
            raise RestconfError(
                "application", "invalid-value", f"{name!r} is not module-qualified (RFC 7951 §4)"
            )
        if self._model is None:
            return
        try:
            self._model.from_raw(content, subschema=name).validate(ctype=ContentType.all)
        except YangsonException as exc:
            raise RestconfError(
                "application", "invalid-value", f"not a valid {name} notification: {exc}"
            ) from exc

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[dict[str, JsonValue]]]:
        """A queue that receives every notification published while the context is open."""
        async with self.broker.subscribe() as queue:
            yield queue

    @property
    def subscriber_count(self) -> int:
        return self.broker.subscriber_count


def notification_event(envelope: dict[str, JsonValue]) -> str:
    """RFC 8040 §6.4: one notification per event, its JSON on the data field."""
    return format_event(json.dumps(envelope, ensure_ascii=False))
