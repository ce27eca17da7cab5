"""What the node agents really serve, valid under sdqkd's own ETSI GS QKD 015 YANG modules and the
official ones alike: the datastores of the agents of an emulated Madrid at each phase of a controller's
work (as they are, and as the configuration view RESTCONF gives), every notification they published, and
what each agent-side builder makes of the devices the agents met, in every status it can give.

The agents themselves run on the packaged modules, which validate every change they make; the official
modules then judge the same documents (skipped without them, failing in CI).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from agent_conformance_support import NODES, PHASES, Served, serve_madrid
from conformance_support import Document, Kind, verdict
from yangson import DataModel

from sdqkd.agent.applications import app_disconnected_notification, app_new_notification
from sdqkd.agent.consumption import ConsumptionPeriod, merged_statistics, statistics_entry
from sdqkd.agent.drivers import ModuleState
from sdqkd.agent.mapping import (
    interface_down_notification,
    interface_entry,
    interface_new_notification,
    link_down_notification,
    link_perf_update_notification,
    node_tree,
)
from sdqkd.agent.virtual import VirtualLink, virtual_link_entry
from sdqkd.etsi015 import (
    InterfaceAddress,
    LinkStatus,
    ModuleRole,
    NodeStatus,
    PhysicalLink,
    link_entry,
    link_qkdl_id,
    qkdi_id,
    qkdn_id,
    virtual_qkdl_id,
)
from sdqkd.pki import CertificateAuthority

pytestmark = pytest.mark.integration

NOTIFICATIONS = (
    "sdqkdn_interface_new",
    "sdqkdn_interface_down",
    "sdqkdn_link_down",
    "sdqkdn_link_perf_update",
    "sdqkdn_application_new",
    "sdqkdn_application_disconnected",
)


@pytest.fixture(scope="module")
def served(packaged_model: DataModel, ca_issuing_into: Callable[[str], CertificateAuthority]) -> Served:
    return serve_madrid(ca_issuing_into("conformance-agent"), packaged_model)


@pytest.fixture(params=["packaged", "official"])
def model(request: pytest.FixtureRequest) -> DataModel:
    """Each module set in turn."""
    return request.getfixturevalue(f"{request.param}_model")


def assert_valid(model: DataModel, body: dict[str, Any], kind: Kind = "data") -> None:
    assert verdict(model, Document("served", body, True, kind)) == "valid", body


# What the agents served ---------------------------------------------------------------------------------


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("node", NODES)
def test_the_datastore_of_each_agent_is_valid(
    served: Served, model: DataModel, node: str, phase: str
) -> None:
    assert_valid(model, served.trees[node, phase])


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("node", NODES)
def test_the_configuration_each_agent_serves_is_valid_configuration(
    served: Served, model: DataModel, node: str, phase: str
) -> None:
    assert_valid(model, served.config_trees[node, phase], "config")


def test_the_provisioned_datastores_hold_links_of_both_kinds_apps_of_both_kinds_and_state(
    served: Served,
) -> None:
    norte = served.trees["norte", "provisioned"]["etsi-qkd-sdn-node:qkd_node"]
    kinds = {link["qkdl_type"] for link in norte["qkd_links"]["qkd_link"]}
    assert kinds == {"etsi-qkd-node-types:PHYS", "etsi-qkd-node-types:VIRT"}
    apps = {app["app_type"] for app in norte["qkd_applications"]["qkd_app"]}
    assert apps == {"etsi-qkd-node-types:CLIENT", "etsi-qkd-node-types:INTERNAL"}
    assert all(
        "qkdl_status" in link and "qkdl_performance" in link for link in norte["qkd_links"]["qkd_link"]
    )
    assert all("app_status" in app and "creation_time" in app for app in norte["qkd_applications"]["qkd_app"])
    statuses = {
        i["qkdi_status"]
        for i in served.trees["concepcion", "failed"]["etsi-qkd-sdn-node:qkd_node"]["qkd_interfaces"][
            "qkd_interface"
        ]
    }
    assert "etsi-qkd-node-types:FAILED" in statuses


@pytest.mark.parametrize("name", NOTIFICATIONS)
def test_every_notification_the_agents_published_is_valid(
    served: Served, model: DataModel, name: str
) -> None:
    published = served.published(name)
    assert published, f"the agents published no {name}"
    for notification in published:
        assert_valid(model, notification, "notification")


# What the builders make of the devices ------------------------------------------------------------------


def _interface_trees(served: Served) -> list[dict[str, Any]]:
    """Per node, its interfaces in each module state."""
    return [
        node_tree(
            qkdn_id(node),
            node,
            [interface_entry(qkdi_id(module.id), module, state) for module in modules],
            [],
            [],
        )
        for node, modules in served.modules.items()
        for state in ModuleState
    ]


def _physical_link() -> PhysicalLink:
    """Norte's end of Norte-Quintín, every member set."""
    return PhysicalLink(
        qkdl_id=link_qkdl_id("norte-quintin"),
        local=InterfaceAddress(qkdn_id("norte"), qkdi_id("norte-tx")),
        remote=InterfaceAddress(qkdn_id("quintin"), qkdi_id("quintin-rx2")),
        dwdm_channel=35,
        role=ModuleRole.TRANSMITTER,
        channel_attenuation_db=4.25,
    )


def _link_trees(served: Served) -> list[dict[str, Any]]:
    """Norte's PHYS link in each link status, with the performance its module reported (and none)."""
    link = _physical_link()
    performance = served.performance["norte-tx"]
    entries = [
        link_entry(link, status=status, skr_bps=performance.skr_bps, eskr_bps=eskr)
        for status in LinkStatus
        for eskr in (None, 0.0, 1e12)
    ]
    entries.append(link_entry(dataclasses.replace(link, dwdm_channel=None, role=None, enabled=False)))
    return [node_tree(qkdn_id("norte"), "norte", [], [entry], []) for entry in entries]


def _virtual_trees(served: Served) -> list[dict[str, Any]]:
    """A virtual link at each place on its path (source, intermediate, far end), in each status."""
    path = [qkdn_id(node) for node in ("concepcion", "norte", "quintin")]
    places = [(None, path[1]), (path[0], path[2]), (path[1], None)]
    trees = []
    for node, (prev_hop, next_hop) in zip(path, places, strict=True):
        for status in LinkStatus:
            link = VirtualLink(
                qkdl_id=virtual_qkdl_id("concepcion", "quintin"),
                source=path[0],
                destination=path[-1],
                prev_hop=prev_hop,
                next_hop=next_hop,
                enabled=True,
                bandwidth_bps=1000,
            )
            entry = virtual_link_entry(link, status=status, skr_bps=250)
            trees.append(node_tree(node, "site", [], [entry], []))
    return trees


def _node_trees(served: Served) -> list[dict[str, Any]]:
    """Norte in each node status (and none), with a version."""
    statuses: list[NodeStatus | None] = [*NodeStatus, None]
    return [
        node_tree(qkdn_id("norte"), "norte", [], [], [], status=s, version="sdqkd 0.1.0") for s in statuses
    ]


def _app_trees(served: Served) -> list[dict[str, Any]]:
    """The apps the controller wrote, with the statistics the agent would record for them."""
    start = dt.datetime(2024, 6, 11, 9, 30, tzinfo=dt.UTC)
    history: list[dict[str, Any]] = []
    for second in range(3):
        period = ConsumptionPeriod(
            start=start + dt.timedelta(seconds=second),
            end=start + dt.timedelta(seconds=second + 1),
            duration_s=1.0,
            relay_bits={},
            virtual_bits={},
        )
        history = merged_statistics(history, statistics_entry(period, [0, 2048, 2**40][second]))
    trees = []
    for node, entries in served.app_entries.items():
        apps = [entry | {"app_statistics": {"statistics": history}} for entry in entries]
        trees.append(node_tree(qkdn_id(node), node, [], [], apps))
    return trees


def _notifications(served: Served) -> list[dict[str, Any]]:
    """Each notification builder, on what the agents met."""
    link = _physical_link()
    found = []
    for node, modules in served.modules.items():
        for module in modules:
            found.append(interface_new_notification(qkdi_id(module.id), module))
            found.append(interface_down_notification(qkdi_id(module.id), f"{module.id} failed"))
            performance = served.performance[module.id]
            found.append(link_perf_update_notification(link.qkdl_id, performance))
            found.append(link_perf_update_notification(link.qkdl_id, performance, eskr_bps=-5.0))
            found.append(
                link_perf_update_notification(link.qkdl_id, dataclasses.replace(performance, snr=None))
            )
        for entry in served.app_entries[node]:
            found.append(app_new_notification(entry, qkdn_id(node)))
            found.append(app_disconnected_notification(uuid.UUID(entry["app_id"])))
    found.append(link_down_notification(link.qkdl_id, "fibre norte-quintin is cut"))
    return found


BUILDERS: dict[str, tuple[Callable[[Served], list[dict[str, Any]]], Kind]] = {
    "interface_entry-in-each-module-state": (_interface_trees, "data"),
    "link_entry-in-each-link-status": (_link_trees, "data"),
    "virtual_link_entry-at-each-place-and-status": (_virtual_trees, "data"),
    "node_tree-in-each-node-status": (_node_trees, "data"),
    "app-entries-with-statistics_entry": (_app_trees, "data"),
    "notification-builders": (_notifications, "notification"),
}


@pytest.mark.parametrize("builder", BUILDERS)
def test_what_each_builder_makes_of_the_devices_is_valid(
    served: Served, model: DataModel, builder: str
) -> None:
    make, kind = BUILDERS[builder]
    documents = make(served)
    assert documents
    for body in documents:
        assert_valid(model, body, kind)
