"""The controller's pure parts: the links it provisions from a topology, a link's status from what its
two agents say, its configuration file, and its durable store (no YANG modules or servers needed)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from uuid import uuid4

import pytest

from sdqkd.controller.config import load_controller_config
from sdqkd.controller.links import (
    EndState,
    LinkState,
    end_state,
    link_entries,
    link_state,
    planned_links,
)
from sdqkd.controller.store import AlarmKind, AppRecord, ControllerStore, NodeRecord, Severity
from sdqkd.errors import ConfigError
from sdqkd.etsi015 import InterfaceStatus, LinkStatus, NodeTree, qkdi_id, qkdn_id
from sdqkd.etsi015 import link_qkdl_id as qkdl_id
from sdqkd.topology.loader import load_topology

TYPES = "etsi-qkd-node-types:"


def _end(status: str | None, interface: str = "ENABLED", skr: int = 0, provisioned: bool = True) -> EndState:
    link_status = None if status is None else LinkStatus(status)
    return EndState(provisioned, link_status, InterfaceStatus(interface), skr, skr)


def test_every_topology_link_is_planned_with_the_same_id_at_both_ends() -> None:
    topology = load_topology("madrid")
    links = {link.id: link for link in planned_links(topology)}

    assert set(links) == {"concepcion-norte", "concepcion-quintin", "norte-quintin"}
    norte_quintin = links["norte-quintin"]
    assert norte_quintin.nodes == ("norte", "quintin")
    assert norte_quintin.switched is False
    assert links["concepcion-norte"].switched is True  # Concepción's transmitter sits behind a switch
    at_norte, at_quintin = norte_quintin.entry("norte"), norte_quintin.entry("quintin")
    assert at_norte["qkdl_id"] == at_quintin["qkdl_id"] == str(qkdl_id("norte-quintin"))
    assert (
        at_norte["qkdl_local"]
        == at_quintin["qkdl_remote"]
        == {
            "qkdn_id": str(qkdn_id("norte")),
            "qkdi_id": qkdi_id("norte-tx"),
        }
    )
    assert at_norte["phys_qkd_role"] == f"{TYPES}TRANSMITTER"
    assert at_quintin["phys_qkd_role"] == f"{TYPES}RECEIVER"
    assert at_norte["phys_wavelength"] == "59"
    entries = link_entries(topology)
    assert sorted(entries) == ["concepcion", "norte", "quintin"]
    assert len(entries["concepcion"]) == 2  # one module, two links through the switch


@pytest.mark.parametrize(
    ("a", "b", "switched", "sharing_up", "expected"),
    [
        (_end("ACTIVE", skr=5), _end("ACTIVE", skr=5), False, False, LinkState.UP),
        (_end("ACTIVE"), _end("OFF"), False, False, LinkState.DOWN),
        (_end("PASSIVE"), _end("PASSIVE"), False, False, LinkState.DOWN),
        (_end("ACTIVE"), _end("PENDING", interface="FAILED"), True, True, LinkState.DOWN),
        (_end("PENDING"), _end("OFF"), True, True, LinkState.STANDBY),
        (_end("PENDING"), _end("OFF"), True, False, LinkState.DOWN),
        (_end("PENDING"), _end("OFF"), False, True, LinkState.DOWN),
        (_end(None, provisioned=False), _end("ACTIVE"), False, False, LinkState.UNPROVISIONED),
        (None, _end("ACTIVE"), False, False, LinkState.UNKNOWN),
    ],
)
def test_a_links_status_combines_both_ends(
    a: EndState | None, b: EndState | None, switched: bool, sharing_up: bool, expected: LinkState
) -> None:
    link = next(link for link in planned_links(load_topology("madrid")) if link.switched is switched)
    ends = dict(zip(link.nodes, (a, b), strict=True))

    assert link_state(link, ends, sharing_up=sharing_up) is expected


def test_an_end_is_read_from_the_agents_tree() -> None:
    link = next(link for link in planned_links(load_topology("madrid")) if link.id == "norte-quintin")
    tree = {
        "qkd_interfaces": {
            "qkd_interface": [{"qkdi_id": qkdi_id("norte-tx"), "qkdi_status": f"{TYPES}ENABLED"}]
        },
        "qkd_links": {
            "qkd_link": [
                {
                    **link.entry("norte"),
                    "qkdl_status": f"{TYPES}ACTIVE",
                    "qkdl_performance": {"skr": 58_000, "eskr": 57_000},
                }
            ]
        },
    }

    expected = EndState(True, LinkStatus.ACTIVE, InterfaceStatus.ENABLED, 58_000, 57_000)
    assert end_state(NodeTree.parse(tree), link, "norte") == expected
    assert end_state(NodeTree.parse({}), link, "norte") == EndState(False, None, None, 0, 0)


def test_the_configuration_resolves_paths_from_its_folder(tmp_path: Path) -> None:
    config = tmp_path / "controller.yaml"
    config.write_text(
        "tls: {cert: pki/c.crt, key: pki/c.key, ca: pki/ca.crt}\ndatabase: state.db\ntopology: chain:4\n"
    )

    loaded = load_controller_config(config)

    assert loaded.tls.cert == tmp_path / "pki" / "c.crt"
    assert loaded.database == tmp_path / "state.db"
    assert loaded.topology == "chain:4"
    assert loaded.poll_interval_s == 1.0
    assert loaded.relay_policy == "balanced"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("tls: {cert: a, key: b, ca: c}\n", "database: Field required"),
        ("tls: {cert: a, key: b, ca: c}\ndatabase: d\nport: 70000\n", "port:"),
        ("tls: {cert: a, key: b, ca: c}\ndatabase: d\nsurprise: 1\n", "surprise: Extra inputs"),
        ("- a list\n", "a controller configuration is a mapping"),
        (
            "tls: {cert: a, key: b, ca: c}\ndatabase: d\nrelay_policy: shortest\n",
            "relay_policy: Input should be",
        ),
    ],
)
def test_a_bad_configuration_is_a_one_line_error_naming_the_field(
    tmp_path: Path, text: str, words: str
) -> None:
    config = tmp_path / "controller.yaml"
    config.write_text(text)

    with pytest.raises(ConfigError, match=words):
        load_controller_config(config)


def _node(node_id: str, url: str = "https://a:1") -> NodeRecord:
    from datetime import UTC, datetime

    return NodeRecord(node_id, qkdn_id(node_id), url, None, node_id.title(), datetime.now(UTC))


def test_the_store_keeps_nodes_apps_and_alarms_across_reopening(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    path = tmp_path / "state.db"
    store = ControllerStore(path)
    assert store.upsert_node(_node("norte")) is True
    assert store.upsert_node(_node("norte", "https://b:2")) is False
    app = AppRecord(uuid4(), "a", "norte", "b", "quintin", "norte-quintin", qkdl_id("norte-quintin"),
                    {"min_bandwidth": 1000}, 2, datetime.now(UTC))  # fmt: skip
    store.add_app(app)
    raised = store.raise_alarm(AlarmKind.LINK_DOWN, "link:x", Severity.MAJOR, "down")
    assert raised is not None
    assert store.raise_alarm(AlarmKind.LINK_DOWN, "link:x", Severity.MAJOR, "again") is None  # one at a time
    store.close()

    reopened = ControllerStore(path)
    assert [(n.node_id, n.agent_url) for n in reopened.nodes()] == [("norte", "https://b:2")]
    assert reopened.apps() == [app]
    assert reopened.apps()[0].reserved_bps == 1000
    (alarm,) = reopened.alarms(active_only=True)
    assert (alarm.id, alarm.message, alarm.active) == (raised.id, "down", True)
    assert reopened.clear_alarms(AlarmKind.LINK_DOWN, "link:x") == 1
    assert reopened.alarms(active_only=True) == []
    assert reopened.alarms()[0].cleared_at is not None
    new = reopened.raise_alarm(AlarmKind.LINK_DOWN, "link:x", Severity.MAJOR, "down again")
    assert new is not None
    assert new.id != raised.id
    assert reopened.remove_app(app.app_id) is True
    assert reopened.remove_app(app.app_id) is False
    reopened.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
