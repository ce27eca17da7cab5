"""Test support for validating what the node agents really serve (imported by the agent conformance
tests): an emulated Madrid served with mutual TLS, the agents of its three nodes on sdqkd's own YANG
modules, driven in process as the controller drives them (PHYS links, a virtual link with its INTERNAL
apps, a CLIENT app), then hit by a module failure and a fibre cut; their trees and notifications at each
phase, and what the agent-side builders make of the devices they met.

The agent-side builders are imported from where they are now (``sdqkd.agent``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from yangson import DataModel

from polling import wait_for_async
from sdqkd.agent.drivers import DeviceDescription, Performance
from sdqkd.agent.emulator_driver import EmulatorDriver
from sdqkd.agent.node import NodeAgent
from sdqkd.controller.links import link_entries
from sdqkd.controller.virtual import VirtualLink
from sdqkd.emulator.app import create_emulator_app
from sdqkd.emulator.client import EmulatorClient
from sdqkd.emulator.engine import Emulator
from sdqkd.etsi015 import QKD_NODE, link_qkdl_id, qkdn_id
from sdqkd.pki import CertificateAuthority, Role
from sdqkd.server import BackgroundServer, TlsFiles
from sdqkd.topology.loader import load_topology

NODES = ("concepcion", "norte", "quintin")
PHASES = ("started", "provisioned", "failed")
"""The agents' trees are taken when they have started (interfaces only), once the controller's links and
apps are in and making key, and after a module failure and a fibre cut."""
TIME_SCALE = 50.0
APP_ID = "5a1f2e3d-4c5b-4a69-8b7c-9d0e1f2a3b4c"
LINKS = f"{QKD_NODE}/qkd_links/qkd_link"
APPS = f"{QKD_NODE}/qkd_applications/qkd_app"
NODE_MODULE = "etsi-qkd-sdn-node:"
TYPES = "etsi-qkd-node-types:"


@dataclass
class Served:
    """What the agents served and published, and what they met.

    Attributes:
        trees: by (node, phase): the datastore (``ContentType.all``).
        config_trees: by (node, phase): the RESTCONF ``content=config`` view of it.
        notifications: by node: each published ``{"etsi-qkd-sdn-node:<name>": content}``, in order.
        modules: by node: the modules its driver discovered.
        performance: by module id: its performance while its links made key.
        app_entries: by node: the ``qkd_app`` entries the controller wrote.
    """

    trees: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    config_trees: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    notifications: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    modules: dict[str, list[DeviceDescription]] = field(default_factory=dict)
    performance: dict[str, Performance] = field(default_factory=dict)
    app_entries: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def published(self, name: str) -> list[dict[str, Any]]:
        """Every notification ``name`` (without its module) the agents published."""
        member = f"{NODE_MODULE}{name}"
        return [n for notes in self.notifications.values() for n in notes if member in n]


def _link_statuses(agent: NodeAgent) -> dict[str, str]:
    entries = agent.datastore.tree()[QKD_NODE].get("qkd_links", {}).get("qkd_link", [])
    return {entry["qkdl_id"]: str(entry.get("qkdl_status", "")) for entry in entries}


async def _until(condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    await wait_for_async(condition, bool, timeout_s, what, interval_s=0.05)


def _collect(served: Served, queues: Mapping[str, asyncio.Queue[Any]]) -> None:
    """Move what the agents published since the last call into ``served.notifications``."""
    for node, queue in queues.items():
        notes = served.notifications.setdefault(node, [])
        while not queue.empty():
            content = dict(queue.get_nowait()["ietf-restconf:notification"])
            content.pop("eventTime")
            notes.append(content)


def _interface_statuses(agent: NodeAgent) -> set[str]:
    entries = agent.datastore.tree()[QKD_NODE].get("qkd_interfaces", {}).get("qkd_interface", [])
    return {str(entry.get("qkdi_status", "")) for entry in entries}


def _client_app(node: str, other: str, link_id: str) -> dict[str, Any]:
    """A CLIENT ``qkd_app`` entry as the controller writes it, QoS and expiration included."""
    return {
        "app_id": APP_ID,
        "app_type": f"{TYPES}CLIENT",
        "server_app_id": "urn:sdqkd:sae:alice",
        "client_app_id": ["urn:sdqkd:sae:bob"],
        "app_priority": 2,
        "expiration_time": "2099-01-01T00:00:00Z",
        "app_qos": {"max_bandwidth": 4096, "min_bandwidth": 512, "jitter": 10, "ttl": 600},
        "backing_qkdl_id": [link_id],
        "local_qkdn_id": str(qkdn_id(node)),
        "remote_qkdn_id": str(qkdn_id(other)),
    }


def _snapshot(served: Served, agents: Mapping[str, NodeAgent], phase: str) -> None:
    for node, agent in agents.items():
        served.trees[node, phase] = agent.datastore.tree()
        served.config_trees[node, phase] = agent.datastore.get(content="config")["ietf-restconf:data"]


async def _scenario(url: str, ca: CertificateAuthority, operator: EmulatorClient, model: DataModel) -> Served:
    topology = load_topology("madrid")
    served = Served()
    agents = {}
    for node in NODES:
        issued = ca.issue(Role.AGENT, node)
        driver = EmulatorDriver(url, issued.cert, issued.key, ca.cert_path, node)
        agents[node] = NodeAgent(node, topology.node(node).name, driver, model)
    async with contextlib.AsyncExitStack() as stack:
        queues = {node: await stack.enter_async_context(a.stream.subscribe()) for node, a in agents.items()}
        for agent in agents.values():
            stack.push_async_callback(agent.stop)
            await agent.start()
        _snapshot(served, agents, "started")

        def mark() -> dict[str, int]:
            """How many notifications each agent has published so far."""
            _collect(served, queues)
            return {node: len(served.notifications[node]) for node in NODES}

        def published_since(since: Mapping[str, int], node: str, name: str) -> bool:
            """Whether ``node`` published notification ``name`` after the ``since[node]`` first ones."""
            _collect(served, queues)
            return any(f"{NODE_MODULE}{name}" in note for note in served.notifications[node][since[node] :])

        # the controller's PHYS links, then a virtual link Concepción → Norte → Quintín with its INTERNAL
        # apps, and a CLIENT app over Norte-Quintín at both its ends
        for node, entries in link_entries(topology).items():
            for link_id, entry in entries:
                await agents[node].datastore.put(f"{LINKS}={link_id}", {f"{NODE_MODULE}qkd_link": [entry]})
        hops = ("concepcion-norte", "norte-quintin")
        hop_ids = tuple(str(link_qkdl_id(hop)) for hop in hops)
        active = f"{TYPES}ACTIVE"
        await _until(
            lambda: all(_link_statuses(agents["norte"]).get(hop) == active for hop in hop_ids),
            "Norte's links ACTIVE",
        )
        path = ("concepcion", "norte", "quintin")
        virtual = VirtualLink(path, hops, tuple(link_qkdl_id(hop) for hop in hops), reserved_bps=1000)
        for node, agent in agents.items():
            entry = virtual.entry(node)
            await agent.datastore.put(f"{LINKS}={virtual.qkdl_id}", {f"{NODE_MODULE}qkd_link": [entry]})
            for app_id, app in virtual.internal_apps(node).items():
                await agent.datastore.put(f"{APPS}={app_id}", {f"{NODE_MODULE}qkd_app": [app]})
        for node, other in (("norte", "quintin"), ("quintin", "norte")):
            app = _client_app(node, other, hop_ids[1])
            await agents[node].datastore.put(f"{APPS}={APP_ID}", {f"{NODE_MODULE}qkd_app": [app]})
        for node, agent in agents.items():
            entries = agent.datastore.tree()[QKD_NODE].get("qkd_applications", {}).get("qkd_app", [])
            served.app_entries[node] = entries
            served.modules[node] = list(agent.modules)
            for module in agent.modules:
                served.performance[module.id] = await agent.driver.performance(module.id)
        await _until(
            lambda: all(str(virtual.qkdl_id) in _link_statuses(a) for a in agents.values()),
            "the virtual link in",
        )
        # a refresh at every agent once all is in: statuses, rates, a link_perf_update
        since = mark()
        await _until(
            lambda: all(published_since(since, node, "sdqkdn_link_perf_update") for node in NODES),
            "a refresh at every agent",
        )
        _snapshot(served, agents, "provisioned")

        # a failed module (interface_down), a cut fibre under the virtual link (link_down, the app
        # disconnected), and the CLIENT app removed at Norte
        since = mark()
        await asyncio.to_thread(operator.module_action, "concepcion-tx", "fail")
        await asyncio.to_thread(operator.fibre_action, "norte-quintin", "cut")
        await _until(
            lambda: _link_statuses(agents["norte"]).get(hop_ids[1]) not in (active, None),
            "Norte-Quintín down",
        )
        await _until(
            lambda: (
                f"{TYPES}FAILED" in _interface_statuses(agents["concepcion"])
                and published_since(since, "concepcion", "sdqkdn_interface_down")
                and published_since(since, "norte", "sdqkdn_link_down")
            ),
            "Concepción's module failed and Norte's link down, both announced",
        )
        _snapshot(served, agents, "failed")
        since = mark()
        await agents["norte"].datastore.delete(f"{APPS}={APP_ID}")
        await _until(
            lambda: published_since(since, "norte", "sdqkdn_application_disconnected"),
            "the removed app announced",
        )
        _collect(served, queues)
    return served


def serve_madrid(ca: CertificateAuthority, model: DataModel) -> Served:
    """Run the scenario: an emulated Madrid on loopback with mutual TLS (certificates from ``ca``), its
    agents in process."""
    emulator = ca.issue(Role.EMULATOR, "emulator")
    operator = ca.issue(Role.OPERATOR, "operator")
    tls = TlsFiles(emulator.cert, emulator.key, ca.cert_path)
    app = create_emulator_app(Emulator(load_topology("madrid"), time_scale=TIME_SCALE))
    with (
        BackgroundServer(app, tls) as server,
        EmulatorClient(server.url, operator.cert, operator.key, ca.cert_path) as client,
    ):
        return asyncio.run(_scenario(server.url, ca, client, model))
