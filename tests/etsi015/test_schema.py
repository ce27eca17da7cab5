"""The models of what the controller reads from an agent's tree: a tree as an agent serves it (valid
against the shipped YANG modules) parses, members the models do not know are ignored, and a
malformed entry is one error that names the member."""

from __future__ import annotations

import copy
from typing import Any
from uuid import UUID

import pytest
from yangson import DataModel
from yangson.enumerations import ContentType

from sdqkd.errors import ConfigError
from sdqkd.etsi015 import (
    QKD_NODE,
    AppStatus,
    AppType,
    InterfaceAddress,
    InterfaceStatus,
    LinkStatus,
    LinkType,
    ModuleRole,
    NodeTree,
    PhysicalLink,
    QkdApp,
    QkdLink,
    link_entry,
    link_qkdl_id,
    qkdi_id,
    qkdn_id,
    virtual_qkdl_id,
)

TYPES = "etsi-qkd-node-types:"
NORTE, QUINTIN, CONCEPCION = qkdn_id("norte"), qkdn_id("quintin"), qkdn_id("concepcion")
PHYS_ID, VIRT_ID = link_qkdl_id("norte-quintin"), virtual_qkdl_id("concepcion", "quintin")
CLIENT_APP = UUID("0b7e0c1c-9d2f-4c39-9a8e-3f8f1d6c2a10")
INTERNAL_APP = UUID("5d1e8a0e-3c7b-4a51-8e0f-2b9c4d7a6e21")


def _agent_tree() -> dict[str, Any]:
    """Norte's tree as its agent serves it: its module, a PHYS link making key, the VIRT link it relays
    for Concepción–Quintín, a CLIENT app and the INTERNAL app that reserves the relay's rate."""
    local = InterfaceAddress(NORTE, qkdi_id("norte-tx"))
    remote = InterfaceAddress(QUINTIN, qkdi_id("quintin-rx"))
    physical = PhysicalLink(PHYS_ID, local, remote, dwdm_channel=59, role=ModuleRole.TRANSMITTER)
    return {
        "qkdn_id": str(NORTE),
        "qkdn_status": f"{TYPES}OPERATING",
        "qkdn_location_id": "Norte",
        "qkdn_capabilities": {
            "link_stats_support": True,
            "application_stats_support": True,
            "key_relay_mode_enable": True,
        },
        "qkd_interfaces": {
            "qkd_interface": [
                {
                    "qkdi_id": qkdi_id("norte-tx"),
                    "qkdi_model": "sdqkd-emulated-cvqkd",
                    "qkdi_type": f"{TYPES}CV-QKD",
                    "qkdi_att_point": {"device": "norte-switch", "port": 2},
                    "qkdi_capabilities": {"role_support": f"{TYPES}TRANSMITTER", "wavelength_range": "12-61"},
                    "qkdi_status": f"{TYPES}ENABLED",
                }
            ]
        },
        "qkd_links": {
            "qkd_link": [
                link_entry(physical, status=LinkStatus.ACTIVE, skr_bps=58_000, eskr_bps=57_000),
                {
                    "qkdl_id": str(VIRT_ID),
                    "qkdl_enable": True,
                    "qkdl_type": f"{TYPES}VIRT",
                    "qkdl_status": f"{TYPES}ACTIVE",
                    "qkdl_local": {"qkdn_id": str(CONCEPCION)},
                    "qkdl_remote": {"qkdn_id": str(QUINTIN)},
                    "virt_prev_hop": str(CONCEPCION),
                    "virt_next_hop": [str(QUINTIN)],
                    "virt_bandwidth": 5_000,
                },
            ]
        },
        "qkd_applications": {
            "qkd_app": [
                {
                    "app_id": str(CLIENT_APP),
                    "app_type": f"{TYPES}CLIENT",
                    "app_status": f"{TYPES}ON",
                    "server_app_id": "urn:sdqkd:sae:norte-app",
                    "client_app_id": ["urn:sdqkd:sae:quintin-app"],
                    "app_priority": 3,
                    "app_qos": {"max_bandwidth": 20_000, "min_bandwidth": 10_000, "jitter": 10, "ttl": 3600},
                    "backing_qkdl_id": [str(PHYS_ID)],
                    "local_qkdn_id": str(NORTE),
                    "remote_qkdn_id": str(QUINTIN),
                    "creation_time": "2026-01-02T03:04:05Z",
                    "app_statistics": {
                        "statistics": [
                            {
                                "end_time": "2026-01-02T03:04:06Z",
                                "start_time": "2026-01-02T03:04:05Z",
                                "consumed_bits": 1024,
                            }
                        ]
                    },
                },
                {
                    "app_id": str(INTERNAL_APP),
                    "app_type": f"{TYPES}INTERNAL",
                    "server_app_id": f"urn:sdqkd:virtual-link:{VIRT_ID}",
                    "client_app_id": [f"urn:sdqkd:virtual-link:{VIRT_ID}"],
                    "app_qos": {"min_bandwidth": 5_000},
                    "backing_qkdl_id": [str(PHYS_ID)],
                    "local_qkdn_id": str(NORTE),
                    "remote_qkdn_id": str(QUINTIN),
                },
            ]
        },
    }


def test_the_tree_used_here_is_a_valid_instance_of_the_model(packaged_model: DataModel) -> None:
    packaged_model.from_raw({QKD_NODE: _agent_tree()}).validate(ctype=ContentType.all)


def test_an_agents_tree_parses_into_typed_entries() -> None:
    tree = NodeTree.parse(_agent_tree())

    assert tree.qkdn_id == NORTE
    (interface,) = tree.interfaces
    assert interface.qkdi_id == qkdi_id("norte-tx")
    assert interface.qkdi_status is InterfaceStatus.ENABLED
    assert interface.qkdi_type == "CV-QKD"
    assert interface.qkdi_att_point is not None
    assert (interface.qkdi_att_point.device, interface.qkdi_att_point.port) == ("norte-switch", 2)
    assert tree.interface(qkdi_id("norte-tx")) is interface
    assert tree.interface(7) is None

    physical, virtual = tree.links
    assert tree.link(PHYS_ID) is physical
    assert (physical.qkdl_type, physical.qkdl_status) == (LinkType.PHYS, LinkStatus.ACTIVE)
    assert physical.qkdl_local.qkdi_id == qkdi_id("norte-tx")
    assert physical.qkdl_remote.qkdn_id == QUINTIN
    assert (physical.phys_wavelength, physical.phys_qkd_role) == (59, ModuleRole.TRANSMITTER)
    assert (physical.qkdl_performance.skr, physical.qkdl_performance.eskr) == (58_000, 57_000)
    assert not physical.virtual
    assert virtual.virtual
    assert (virtual.virt_prev_hop, virtual.virt_next_hop) == (CONCEPCION, [QUINTIN])
    assert virtual.virt_bandwidth == 5_000
    assert virtual.qkdl_local.qkdi_id is None

    client = tree.app(CLIENT_APP)
    assert client is not None
    assert (client.app_type, client.app_status) == (AppType.CLIENT, AppStatus.ON)
    assert client.backing_qkdl_id == [PHYS_ID]
    assert client.app_qos.min_bandwidth == 10_000
    assert (client.local_qkdn_id, client.remote_qkdn_id) == (NORTE, QUINTIN)
    internal = tree.app(INTERNAL_APP)
    assert internal is not None
    assert internal.app_type is AppType.INTERNAL


def test_a_node_without_entries_has_empty_lists() -> None:
    for raw in ({"qkdn_id": str(NORTE)}, {"qkd_links": {}, "qkd_interfaces": {}, "qkd_applications": {}}):
        tree = NodeTree.parse(raw)
        assert (tree.interfaces, tree.links, tree.apps) == ([], [], [])


def test_members_the_models_do_not_know_are_ignored() -> None:
    raw = _agent_tree()
    raw["vendor-ext:extra"] = {"anything": 1}
    raw["qkd_links"]["qkd_link"][0]["vendor-ext:temperature"] = "21.5"
    raw["qkd_links"]["qkd_link"][0]["qkdl_performance"]["expected_consumption"] = 4
    raw["qkd_applications"]["qkd_app"][0]["expiration_time"] = "2027-01-01T00:00:00Z"

    assert NodeTree.parse(raw).link(PHYS_ID) == NodeTree.parse(_agent_tree()).link(PHYS_ID)


def test_the_configuration_of_a_link_leaves_out_its_state() -> None:
    (written,) = [e for e in _agent_tree()["qkd_links"]["qkd_link"] if e["qkdl_id"] == str(PHYS_ID)]
    configured = {k: v for k, v in written.items() if k not in ("qkdl_status", "qkdl_performance")}

    assert QkdLink.parse(configured).configuration() == QkdLink.parse(written).configuration()
    retuned = configured | {"phys_wavelength": "60"}
    assert QkdLink.parse(retuned).configuration() != QkdLink.parse(written).configuration()


def _broken(change: dict[str, Any], where: str) -> dict[str, Any]:
    raw = copy.deepcopy(_agent_tree())
    container, item = {"link": ("qkd_links", "qkd_link"), "app": ("qkd_applications", "qkd_app"),
                       "interface": ("qkd_interfaces", "qkd_interface")}[where]  # fmt: skip
    entry = raw[container][item][0]
    for member, value in change.items():
        if value is None:
            del entry[member]
        else:
            entry[member] = value
    return raw


@pytest.mark.parametrize(
    ("change", "where", "words"),
    [
        (
            {"qkdl_status": "ACTIVE"},
            "link",
            f"qkd_node/qkd_links/qkd_link[qkdl_id=\"{PHYS_ID}\"]/qkdl_status: 'ACTIVE' is not module-qual",
        ),
        ({"qkdl_status": f"{TYPES}UP"}, "link", "qkdl_status: 'etsi-qkd-node-types:UP' is not one of"),
        ({"qkdl_type": "other-module:PHYS"}, "link", "qkdl_type: 'other-module:PHYS' is not one of"),
        ({"qkdl_id": None}, "link", "qkd_node/qkd_links/qkd_link[0]/qkdl_id: missing"),
        ({"qkdl_id": "not-a-uuid"}, "link", "qkdl_id: 'not-a-uuid' is not a yang:uuid"),
        ({"qkdl_performance": {"skr": "58000"}}, "link", "qkdl_performance/skr: Input should be a valid int"),
        ({"qkdl_performance": {"skr": -1}}, "link", "qkdl_performance/skr: Input should be greater than"),
        ({"qkdl_enable": "yes"}, "link", "qkdl_enable: Input should be a valid boolean"),
        ({"phys_wavelength": 59}, "link", "phys_wavelength: 59 is not a DWDM channel number"),
        ({"qkdl_local": {"qkdn_id": str(NORTE), "qkdi_id": 2**32}}, "link", "qkdl_local/qkdi_id: Input"),
        ({"qkdi_id": True}, "interface", "qkd_interface[qkdi_id=True]/qkdi_id: Input should be a valid int"),
        ({"qkdi_status": f"{TYPES}BROKEN"}, "interface", "qkdi_status: 'etsi-qkd-node-types:BROKEN' is not"),
        ({"app_type": f"{TYPES}SERVER"}, "app", f'qkd_app[app_id="{CLIENT_APP}"]/app_type:'),
        ({"backing_qkdl_id": str(PHYS_ID)}, "app", "backing_qkdl_id: Input should be a valid list"),
        ({"app_qos": {"min_bandwidth": 1.5}}, "app", "app_qos/min_bandwidth: Input should be a valid int"),
    ],
)
def test_a_malformed_entry_is_an_error_naming_the_member(
    change: dict[str, Any], where: str, words: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        NodeTree.parse(_broken(change, where))

    assert words in str(raised.value)


def test_a_malformed_container_or_a_lone_entry_is_named_too() -> None:
    with pytest.raises(ConfigError, match=r"^qkd_node/qkd_links: should be an object"):
        NodeTree.parse({"qkd_links": []})
    with pytest.raises(ConfigError, match=r"^qkd_node: should be an object"):
        NodeTree.parse(["not", "a", "node"])
    with pytest.raises(ConfigError, match=r"^qkd_app\[app_id=\"[^\"]+\"\]/remote_qkdn_id: 7 is not a yang:"):
        QkdApp.parse({"app_id": str(CLIENT_APP), "remote_qkdn_id": 7})
