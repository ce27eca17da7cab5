"""The order of the controller's writes into the agents, over a recording southbound (no servers): an
application backed by a link reaches an agent only once that agent holds the link, so an agent never
refuses it for a ``backing_qkdl_id`` that names no link of its."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast
from uuid import uuid4

import pytest

from sdqkd.controller.admission import Admission, AppRequest
from sdqkd.controller.links import LinkState
from sdqkd.controller.network import Network
from sdqkd.controller.paths import PathPolicy
from sdqkd.controller.reconcile import Reconciler
from sdqkd.controller.registry import NodeView
from sdqkd.controller.relay import RelayPlanner
from sdqkd.controller.southbound import Southbound
from sdqkd.controller.store import AppRecord, ControllerStore, NodeRecord
from sdqkd.controller.virtual import VirtualLink, virtual_name
from sdqkd.etsi015 import NodeTree, qkdn_id
from sdqkd.topology.loader import load_topology

NODES = ("concepcion", "norte", "quintin")


class RecordingSouthbound:
    """Takes every write, and keeps what each agent holds (link and app ids) in the order written."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, str]] = []  # (node, last path segment)

    async def put(self, agent_url: str, path: str, body: dict[str, Any]) -> bool:
        self.writes.append((agent_url.removeprefix("https://"), path.rsplit("/", 1)[-1]))
        return True

    async def delete(self, agent_url: str, path: str) -> bool:
        return True

    async def put_kme_virtual_link(self, kme_url: str, body: dict[str, Any]) -> None:
        return None


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ControllerStore]:
    opened = ControllerStore(tmp_path / "state.db")
    yield opened
    opened.close()


def _views(trees: dict[str, dict[str, Any]] | None = None) -> dict[str, NodeView]:
    now = dt.datetime.now(dt.UTC)
    views = {}
    for node in NODES:
        record = NodeRecord(node, qkdn_id(node), f"https://{node}", None, node.title(), now)
        views[node] = NodeView(record, reachable=True, tree=NodeTree.parse((trees or {}).get(node, {})))
    return views


def _relayed(network: Network) -> VirtualLink:
    hops = ("concepcion-norte", "norte-quintin")
    return VirtualLink(NODES, hops, tuple(network.link(hop).qkdl_id for hop in hops))


def test_a_relayed_application_is_written_after_its_virtual_link_at_every_node_of_the_path(
    store: ControllerStore,
) -> None:
    views = _views()
    network = Network(load_topology("madrid"), views)
    southbound = RecordingSouthbound()
    reconciler = Reconciler(cast(Southbound, southbound), network.links, views)
    relay = RelayPlanner(network, views, PathPolicy.BALANCED)
    virtual = _relayed(network)
    relay.virtual[virtual.ends] = virtual
    network.states.update({"concepcion-norte": LinkState.UP, "norte-quintin": LinkState.UP})
    network.states["concepcion-quintin"] = LinkState.STANDBY
    admission = Admission(store, network, relay, reconciler, views, replan=lambda: None)

    request = AppRequest("concepcion-app", "concepcion", "quintin-app", "quintin", {"min_bandwidth": 0})
    app = asyncio.run(admission.create(request))

    assert app.link_id == virtual_name("concepcion", "quintin")
    virtual_link = f"qkd_link={virtual.qkdl_id}"
    app_entry = f"qkd_app={app.app_id}"
    for node in NODES:
        assert (node, virtual_link) in southbound.writes
    first_app = min(i for i, (_, what) in enumerate(southbound.writes) if what == app_entry)
    last_link = max(i for i, (_, what) in enumerate(southbound.writes) if what == virtual_link)
    assert last_link < first_app
    assert [node for node, what in southbound.writes if what == app_entry] == ["concepcion", "quintin"]


def test_a_node_that_lacks_an_applications_link_gets_the_application_only_with_the_link() -> None:
    views = _views()
    network = Network(load_topology("madrid"), views)
    virtual = _relayed(network)
    southbound = RecordingSouthbound()
    reconciler = Reconciler(cast(Southbound, southbound), network.links, views)
    app = AppRecord(uuid4(), "concepcion-app", "concepcion", "quintin-app", "quintin", virtual.id,
                    virtual.qkdl_id, {}, 0, dt.datetime.now(dt.UTC))  # fmt: skip

    # not relayed (yet): the agent holds no link that could back the app, so it is not written
    asyncio.run(reconciler.provision(views["quintin"], [], [app]))
    assert all(what != f"qkd_app={app.app_id}" for _, what in southbound.writes)

    # relayed: the VIRT link, then the app
    asyncio.run(reconciler.provision(views["quintin"], [virtual], [app]))
    written = [what for node, what in southbound.writes if node == "quintin"]
    assert written.index(f"qkd_link={virtual.qkdl_id}") < written.index(f"qkd_app={app.app_id}")


def test_a_service_sees_a_relay_in_place_of_the_direct_link_and_a_key_source_that_makes_no_key(
    store: ControllerStore,
) -> None:
    views = _views()
    network = Network(load_topology("madrid"), views)
    reconciler = Reconciler(cast(Southbound, RecordingSouthbound()), network.links, views)
    relay = RelayPlanner(network, views, PathPolicy.BALANCED)
    virtual = _relayed(network)
    relay.virtual[virtual.ends] = virtual
    network.states.update({"concepcion-norte": LinkState.UP, "norte-quintin": LinkState.UP})
    network.states["concepcion-quintin"] = LinkState.DOWN  # the direct link's fibre is cut
    admission = Admission(store, network, relay, reconciler, views, replan=lambda: None)
    request = AppRequest("quintin-app", "quintin", "concepcion-app", "concepcion", {"min_bandwidth": 0})
    app = asyncio.run(admission.create(request))

    assert admission.carrier_problem(app) == (
        "its keys are relayed over concepcion → norte → quintin: "
        "the direct QKD link concepcion-quintin is down"
    )
    network.states["norte-quintin"] = LinkState.DOWN
    assert admission.carrier_problem(app) == f"its key source {virtual.id} makes no key"


def test_a_service_admitted_on_the_direct_link_sees_the_relay_that_carries_its_keys_once_the_link_is_down(
    store: ControllerStore,
) -> None:
    views = _views()
    network = Network(load_topology("madrid"), views)
    reconciler = Reconciler(cast(Southbound, RecordingSouthbound()), network.links, views)
    relay = RelayPlanner(network, views, PathPolicy.BALANCED)
    network.states.update(
        {"concepcion-norte": LinkState.UP, "norte-quintin": LinkState.UP, "concepcion-quintin": LinkState.UP}
    )
    admission = Admission(store, network, relay, reconciler, views, replan=lambda: None)
    request = AppRequest("quintin-app", "quintin", "concepcion-app", "concepcion", {"min_bandwidth": 0})
    app = asyncio.run(admission.create(request))
    assert app.link_id == "concepcion-quintin"
    assert admission.carrier_problem(app) is None

    network.states["concepcion-quintin"] = LinkState.DOWN  # its fibre is cut: no association yet
    assert admission.carrier_problem(app) == "its key source concepcion-quintin makes no key"
    virtual = _relayed(network)  # the relay plan gives the nodes an association, their KMEs relay
    relay.virtual[virtual.ends] = virtual
    assert admission.carrier_problem(app) == (
        "its keys are relayed over concepcion → norte → quintin: "
        "the direct QKD link concepcion-quintin is down"
    )
    network.states["norte-quintin"] = LinkState.DOWN  # the relay path broken too
    assert admission.carrier_problem(app) == "its key source concepcion-quintin makes no key"
    network.states.update({"norte-quintin": LinkState.UP, "concepcion-quintin": LinkState.UP})
    del relay.virtual[virtual.ends]  # restored: the association is no longer planned
    assert admission.carrier_problem(app) is None
