"""The node agent's notification stream (RFC 8040 §6) over mutual TLS: device events in the emulator reach
a subscriber of Norte's agent as ETSI GS QKD 015 notifications within 2 s."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from agent_node_support import (
    DATA,
    NODE,
    READ,
    STREAM,
    TYPES,
    Network,
    NodePki,
    client,
    link_ids,
    notifications,
    pairs,
    provision,
    receive,
    validate_notification,
    wait_for,
)

from sdqkd.emulator.client import EmulatorClient
from sdqkd.etsi015 import qkdi_id

pytestmark = pytest.mark.integration

EVENT_DEADLINE_S = 2.0
INTERFACE_DOWN = "etsi-qkd-sdn-node:sdqkdn_interface_down"
LINK_DOWN = "etsi-qkd-sdn-node:sdqkdn_link_down"


@pytest.fixture
def provisioned(network: Network, pki: NodePki, operator: EmulatorClient) -> Iterator[None]:
    """Every Madrid link written to its agents and Concepción-Norte making key; the plant put right after."""
    provision(network, pki)
    wait_for(
        operator.links, lambda links: pairs(links)[("concepcion-tx", "norte-rx")]["active"], timeout_s=3.0
    )
    yield
    operator.module_action("norte-rx", "repair")
    operator.fibre_action("concepcion-norte", "restore")


@pytest.mark.usefixtures("provisioned")
def test_a_module_failure_and_a_fibre_cut_are_notified_within_two_seconds(
    network: Network, pki: NodePki, operator: EmulatorClient, model: Any
) -> None:
    link_id = link_ids(network.topology)["concepcion-norte"]
    with (
        client(network.agent_urls["norte"], pki.controller, pki, read_s=EVENT_DEADLINE_S) as norte,
        norte.stream("GET", STREAM, headers={"Accept": "text/event-stream"}) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        assert next(lines) == ": subscribed"  # nothing published from here on is missed
        received = notifications(lines)

        failed_at = time.monotonic()
        operator.module_action("norte-rx", "fail")
        interface = qkdi_id("norte-rx")
        down = receive(
            received,
            INTERFACE_DOWN,
            lambda n: n["qkd_interface"]["qkdi_id"] == interface,
            failed_at,
            EVENT_DEADLINE_S,
        )
        status = f"{DATA}/{NODE}/qkd_interfaces/qkd_interface={interface}/qkdi_status"
        wait_for(
            lambda: norte.get(status, headers=READ).json(),
            lambda answer: answer == {"etsi-qkd-sdn-node:qkdi_status": f"{TYPES}FAILED"},
            timeout_s=1.0,
            what="norte-rx FAILED in the datastore",
        )

        operator.module_action("norte-rx", "repair")
        wait_for(
            operator.links, lambda links: pairs(links)[("concepcion-tx", "norte-rx")]["active"], timeout_s=3.0
        )
        cut_at = time.monotonic()
        operator.fibre_action("concepcion-norte", "cut")
        # the failure took the link down too: this one is the cut's
        cut = receive(
            received,
            LINK_DOWN,
            lambda n: n["qkd_link"]["qkdl_id"] == link_id and "cut" in n["qkd_link"]["reason"],
            cut_at,
            EVENT_DEADLINE_S,
        )

    for notification, name in ((down, INTERFACE_DOWN), (cut, LINK_DOWN)):
        assert notification["eventTime"].endswith("Z")
        validate_notification(model, name, notification[name])
    assert cut[LINK_DOWN]["qkd_link"]["reason"] == "fibre concepcion-norte is cut"
