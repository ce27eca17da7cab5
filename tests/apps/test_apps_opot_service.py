"""Test traffic for a controller's OPoT service (``sdqkd.apps.opot_service``): the route that plays each
fault, and :func:`send_to_service` driving a path of three real :class:`OpotNode` s (loopback UDP, hops keyed
by in-memory ETSI 014 stand-ins) through a stand-in for the controller — its ``service`` answers what
``Services.show`` answers, its ``route_service`` re-points the nodes as the controller's re-ordering does.

``send_to_service`` blocks (it polls the controller), so the nodes' event loop runs in a thread of its own.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from sdqkd.apps.opot_keys import RefreshPolicy
from sdqkd.apps.opot_path import NodeConfig, OpotNode
from sdqkd.apps.opot_service import faulty_route, send_to_service
from sdqkd.apps.opot_traffic import Fault, Inject, Replay, Skip, Swap
from sdqkd.controller.client import ControllerClientError
from sdqkd.errors import ConfigError
from sdqkd.opot import generate_profiles
from standin_kmes import StandInKmes

PATH = ["n1", "n2", "n3"]
SERVICE_ID = "5d1c7a52-2b1e-4d7f-9c55-0a6b7e2f4c31"
_T = TypeVar("_T")


# faulty_route ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "route"),
    [
        (None, None),
        (Inject(5), None),
        (Replay(5), None),
        (Skip("n2"), ["n1", "n3", "n4"]),
        (Skip("n3"), ["n1", "n2", "n4"]),
        (Swap("n2", "n3"), ["n1", "n3", "n2", "n4"]),
        (Swap("n4", "n2"), ["n1", "n4", "n3", "n2"]),  # the verifier before the node it should follow
    ],
)
def test_the_route_of_a_fault_leaves_a_node_out_or_crosses_two(fault: Fault | None, route: list[str]) -> None:
    assert faulty_route(["n1", "n2", "n3", "n4"], fault) == route


@pytest.mark.parametrize(
    ("fault", "why"),
    [
        (Skip("n1"), "only a transit node can be skipped"),
        (Skip("n4"), "only a transit node can be skipped"),
        (Skip("n9"), "only a transit node can be skipped"),
        (Swap("n1", "n2"), "the ingress stays first"),
        (Swap("n2", "n2"), "two nodes"),
        (Swap("n2", "n9"), "two nodes"),
    ],
)
def test_a_fault_that_would_move_the_ingress_or_name_no_node_of_the_path_is_refused(
    fault: Fault, why: str
) -> None:
    with pytest.raises(ConfigError, match=why):
        faulty_route(["n1", "n2", "n3", "n4"], fault)


# send_to_service -------------------------------------------------------------------------------------------


class RunningPath:
    """Nodes n1 → n2 → n3 on loopback UDP, one stand-in KME pair per hop, on an event loop in a thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="opot-path", daemon=True)
        self.nodes: dict[str, OpotNode] = {}
        self.addresses: dict[str, tuple[str, int]] = {}

    def call(self, work: Coroutine[Any, Any, _T]) -> _T:
        """Run ``work`` on the nodes' loop; its result."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout=30)

    def start(self) -> None:
        self.thread.start()
        self.call(self._start())

    async def _start(self) -> None:
        profile = generate_profiles(PATH)
        hops = [StandInKmes() for _ in PATH[1:]]
        onward: tuple[str, int] | None = None
        for i in reversed(range(len(PATH))):  # the verifier first: each node needs the next one's port
            name = PATH[i]
            config = NodeConfig(
                profile.share_for(name),
                name,
                {n: f"{n}-app" for n in PATH},
                ("127.0.0.1", 0),
                onward,
                refresh=RefreshPolicy(packets=50, seconds=0),
                window=1024,
            )
            node = OpotNode(
                config,
                upstream_kme=hops[i - 1] if i > 0 else None,  # type: ignore[arg-type]
                downstream_kme=hops[i] if i < len(hops) else None,  # type: ignore[arg-type]
            )
            self.addresses[name] = onward = await node.start()
            self.nodes[name] = node

    async def reports(self) -> dict[str, dict[str, Any]]:
        return {name: node.report() for name, node in self.nodes.items()}

    async def route(self, via: list[str]) -> None:
        """Each node before the verifier sent on to the node after it on ``via`` (else on the path)."""
        onward = dict(itertools.pairwise(PATH)) | dict(itertools.pairwise(via))
        for name in PATH[:-1]:
            self.nodes[name].next_hop = self.addresses[onward[name]]

    def next_hops(self) -> dict[str, tuple[str, int] | None]:
        return {name: node.next_hop for name, node in self.nodes.items()}

    def close(self) -> None:
        async def closed() -> None:
            for node in self.nodes.values():
                await node.aclose()

        self.call(closed())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


class FakeController:
    """The controller as ``send_to_service`` sees it: ``service`` is ``Services.show``'s answer (the
    nodes' stats as now, each endpoint's pid its stats' pid), ``route_service`` re-points the nodes.
    ``fail_after_route``: the first read after a route change fails (the controller went away);
    ``fail_route``: the first route change is made but not answered (the controller timed out)."""

    def __init__(self, path: RunningPath) -> None:
        self.path = path
        self.routes: list[list[str]] = []
        self.fail_after_route = self.fail_route = False
        self.type, self.state = "opot", "active"

    def service(self, service_id: str) -> dict[str, Any]:
        if self.fail_after_route and self.routes:
            self.fail_after_route = False
            raise ControllerClientError("the controller did not answer")
        return self._shown(service_id)

    def _shown(self, service_id: str) -> dict[str, Any]:
        assert service_id == SERVICE_ID
        reports = self.path.call(self.path.reports())
        listen = {name: f"{host}:{port}" for name, (host, port) in self.path.addresses.items()}
        return {
            "id": SERVICE_ID,
            "type": self.type,
            "state": self.state,
            "reason": None,
            "path": list(PATH),
            "processes": {name: {"node": name, "args": {"listen": listen[name]}} for name in PATH},
            "endpoints": {
                name: {"node": name, "state": "running", "pid": os.getpid(), "stats": reports[name]}
                for name in PATH
            },
        }

    def route_service(self, service_id: str, via: list[str]) -> dict[str, Any]:
        assert service_id == SERVICE_ID
        self.routes.append(list(via))
        self.path.call(self.path.route(via))
        if self.fail_route:
            self.fail_route = False
            raise ControllerClientError("the controller did not answer in time")
        return self._shown(service_id)


@pytest.fixture
def running() -> Iterator[RunningPath]:
    path = RunningPath()
    path.start()
    try:
        yield path
    finally:
        path.close()


def test_normal_traffic_verifies_and_skipped_swapped_and_injected_datagrams_do_not(
    running: RunningPath,
) -> None:
    controller = FakeController(running)
    path_hops = running.next_hops()
    results: dict[str, dict[str, int]] = {}
    routes: dict[str, list[list[str]]] = {}
    for name, packets, fault in [
        ("normal", 300, None),
        ("skip n2", 100, Skip("n2")),
        ("swap", 100, Swap("n2", "n3")),
        ("inject", 50, Inject(20)),
        ("normal again", 100, None),
    ]:
        controller.routes = []
        results[name] = send_to_service(controller, SERVICE_ID, packets, fault, timeout_s=10).as_json()
        routes[name] = controller.routes
        assert running.next_hops() == path_hops, name  # the path is back after every run
    assert results["normal"] == {"sent": 300, "valid": 300, "invalid": 0, "lost": 0}
    assert routes["normal"] == []
    assert results["skip n2"] == {"sent": 100, "valid": 0, "invalid": 100, "lost": 0}  # at the verifier
    assert routes["skip n2"] == [["n1", "n3"], PATH]
    assert results["swap"]["valid"] == 0
    assert results["swap"]["sent"] == 100
    assert routes["swap"] == [["n1", "n3", "n2"], PATH]
    assert results["inject"] == {"sent": 70, "valid": 50, "invalid": 20, "lost": 0}  # none of the forged
    assert routes["inject"] == []
    assert results["normal again"] == {"sent": 100, "valid": 100, "invalid": 0, "lost": 0}
    verifier = running.nodes["n3"].stats
    assert verifier.valid == 300 + 50 + 100
    assert verifier.dropped["proof_failed"] >= 1  # forgeries naming the key in use fail the check


@pytest.mark.parametrize("failing", ["fail_after_route", "fail_route"])
def test_the_path_is_put_back_when_the_traffic_or_the_route_change_fails(
    running: RunningPath, failing: str
) -> None:
    controller = FakeController(running)
    path_hops = running.next_hops()
    setattr(controller, failing, True)
    with pytest.raises(ControllerClientError, match="did not answer"):
        send_to_service(controller, SERVICE_ID, 10, Skip("n2"), timeout_s=10)
    assert controller.routes == [["n1", "n3"], PATH]
    assert running.next_hops() == path_hops
    assert send_to_service(controller, SERVICE_ID, 20, timeout_s=10).as_json() == {
        "sent": 20, "valid": 20, "invalid": 0, "lost": 0,
    }  # fmt: skip


class StillStarting(FakeController):
    """A service whose n2 runs a new process that has not written its stats yet."""

    def service(self, service_id: str) -> dict[str, Any]:
        shown = super().service(service_id)
        shown["endpoints"]["n2"]["pid"] = os.getpid() + 1
        return shown


def test_a_service_that_is_not_a_live_opot_one_or_does_not_serve_gets_no_traffic(
    running: RunningPath,
) -> None:
    controller = FakeController(running)
    controller.type = "encrypted-tunnel"
    with pytest.raises(ConfigError, match="is not an OPoT service"):
        send_to_service(controller, SERVICE_ID, 10, Skip("n2"))
    controller.type, controller.state = "opot", "terminated"
    with pytest.raises(ConfigError, match="is terminated"):
        send_to_service(controller, SERVICE_ID, 10)
    starting = StillStarting(running)
    with pytest.raises(ConfigError, match=r"does not serve within 0\.3 s"):
        send_to_service(starting, SERVICE_ID, 10, Skip("n2"), timeout_s=0.3)
    assert controller.routes == starting.routes == []
    assert running.nodes["n1"].stats.packets_in == 0


@pytest.mark.parametrize(
    ("packets", "fault", "options", "why"),
    [
        (10, Skip("n1"), {}, "only a transit node"),
        (10, Swap("n1", "n3"), {}, "the ingress stays first"),
        (-1, None, {}, "0 or more"),
        (10, None, {"in_flight": 0}, "in_flight 1 or more"),
        (10, None, {"payload_bytes": -1}, "0 or more"),
    ],
)
def test_a_fault_it_cannot_play_or_bad_numbers_are_refused_before_any_route_changes(
    running: RunningPath, packets: int, fault: Fault | None, options: dict[str, int], why: str
) -> None:
    controller = FakeController(running)
    with pytest.raises(ConfigError, match=why):
        send_to_service(controller, SERVICE_ID, packets, fault, **options)  # type: ignore[arg-type]
    assert controller.routes == []
    assert running.nodes["n1"].stats.packets_in == 0
