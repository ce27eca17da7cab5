"""The notification stream (RFC 8040 §6) in process: notifications validated against the model, wrapped
as ``ietf-restconf:notification`` with their event time, fanned out to every subscriber."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from typing import Any

import pytest

from sdqkd.errors import RestconfError
from sdqkd.restconf.notifications import NotificationStream

pytestmark = pytest.mark.anyio

TYPES = "etsi-qkd-node-types:"

INTERFACE_NEW = {
    "etsi-qkd-sdn-node:sdqkdn_interface_new": {
        "qkd_interface": {
            "qkdi_id": 3,
            "qkdi_model": "sdqkd emulated GG02 receiver",
            "qkdi_type": f"{TYPES}CV-QKD",
            "qkdi_att_point": {"device": "switch-norte", "port": 4},
            "qkdi_capabilities": {"role_support": f"{TYPES}RECEIVER", "wavelength_range": "20-60"},
        }
    }
}


async def test_every_subscriber_gets_each_notification_with_its_event_time(
    stream: NotificationStream,
) -> None:
    async with stream.subscribe() as first, stream.subscribe() as second:
        assert stream.subscriber_count == 2
        sent = stream.publish(INTERFACE_NEW)
        assert await first.get() == await second.get() == sent
    assert stream.subscriber_count == 0
    notification = sent["ietf-restconf:notification"]
    assert list(notification) == ["eventTime", "etsi-qkd-sdn-node:sdqkdn_interface_new"]
    assert notification["eventTime"].endswith("Z")
    when = dt.datetime.fromisoformat(notification["eventTime"])
    assert abs((dt.datetime.now(dt.UTC) - when).total_seconds()) < 5


@pytest.mark.parametrize(
    "notification",
    [
        {"etsi-qkd-sdn-node:sdqkdn_interface_new": {"qkd_interface": {"qkdi_id": "three"}}},
        {"etsi-qkd-sdn-node:sdqkdn_interface_new": {"qkd_link": {}}},
        {"etsi-qkd-sdn-node:qkd_node": {}},  # data, not a notification
        {"etsi-qkd-sdn-node:sdqkdn_no_such_thing": {}},
        {"etsi-qkd-sdn-node:alarm": {}, "etsi-qkd-sdn-node:event": {}},
    ],
)
async def test_a_notification_the_model_does_not_allow_is_refused(
    stream: NotificationStream, notification: dict[str, Any]
) -> None:
    async with stream.subscribe() as queue:
        with pytest.raises(RestconfError) as caught:
            stream.publish(notification)
        assert caught.value.error_tag == "invalid-value"
        assert queue.empty()


async def test_a_slow_subscriber_loses_its_oldest_notifications() -> None:
    stream = NotificationStream(queue_size=2)
    async with stream.subscribe() as queue:
        for qkdi_id in (1, 2, 3):
            stream.publish(
                {"etsi-qkd-sdn-node:sdqkdn_interface_out": {"qkd_interface": {"qkdi_id": qkdi_id}}}
            )
        kept = [queue.get_nowait()["ietf-restconf:notification"] for _ in range(queue.qsize())]
    assert [n["etsi-qkd-sdn-node:sdqkdn_interface_out"]["qkd_interface"]["qkdi_id"] for n in kept] == [2, 3]


async def test_notifications_may_be_published_from_another_thread(stream: NotificationStream) -> None:
    async with stream.subscribe() as queue:
        publisher = threading.Thread(target=stream.publish, args=(INTERFACE_NEW,))
        publisher.start()
        publisher.join()
        received = await asyncio.wait_for(queue.get(), timeout=5)
    assert received["ietf-restconf:notification"]["etsi-qkd-sdn-node:sdqkdn_interface_new"]
