"""Service intents (``sdqkd.controller.services``) against in-memory stand-ins for the service managers
and admission: the order of the steps, the port the exit's manager chooses reaching the entry, the
states a service goes through, re-ordering what a manager lost, undoing a creation that fails, and
the store that a restarted controller reads back; for OPoT, an application per hop, the verifier first
with each node pointed at the next one's port, a share of its own to each node that is never shown,
re-routing for test traffic and putting the path back."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from sdqkd.controller.admission import AppRequest
from sdqkd.controller.services import EncryptedTunnel, OpotChain, Services
from sdqkd.controller.store import AppRecord, ControllerStore
from sdqkd.errors import AdmissionRefused, AgentUnavailable, ConfigError, UnknownResource
from sdqkd.etsi015 import AppStatus
from sdqkd.opot import NodeShare, lpc

MANAGERS = {"n1": "https://localhost:18101", "n3": "https://localhost:18103"}
INTENT = EncryptedTunnel.model_validate(
    {
        "type": "encrypted-tunnel",
        "a": {"node": "n1", "listen": "127.0.0.1:9000"},
        "b": {"node": "n3", "forward": "127.0.0.1:8080"},
        "rekey_s": 5,
        "min_rate_bps": 1000,
    }
)


class FakeManagers:
    """Service managers as the controller sees them (those of ``urls``; n1 and n3 unless told): a port
    of 0 becomes 40000 + n; a process runs once ordered unless ``refuse`` names its kind or its node (then
    400), or ``fail`` its node (then ``failed``); the same order again changes nothing, another replaces
    the process (a new pid). An OPoT node's stats name its pid — after ``slow_start[node]`` reads of it —
    and its share is answered masked, as a manager does; ``orders`` keeps every order as sent."""

    def __init__(self, urls: Mapping[str, str] = MANAGERS) -> None:
        self.urls = dict(urls)
        self.processes: dict[str, dict[str, dict[str, Any]]] = {url: {} for url in self.urls.values()}
        self.calls: list[tuple[str, str]] = []
        self.orders: list[tuple[str, dict[str, Any]]] = []
        self.refuse: set[str] = set()
        self.fail: set[str] = set()
        self.slow_start: dict[str, int] = {}
        self.down: set[str] = set()
        self.next_port = 40001
        self.next_pid = 100
        self._sent: dict[str, dict[str, Any]] = {}
        self._reads: dict[str, int] = {}

    async def manager_request(
        self, method: str, url: str, body: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        base, _, process_id = url.rpartition("/api/v1/nfv/processes/")
        if base in self.down:
            raise AgentUnavailable(f"{method} {url}: connection refused")
        self.calls.append((method, url))
        node = {manager: name for name, manager in self.urls.items()}[base]
        processes = self.processes[base]
        if method == "PUT":
            assert body is not None
            self.orders.append((url, copy.deepcopy(body)))
            if body["kind"] in self.refuse or node in self.refuse:
                return 400, {"detail": "refused"}
            old = processes.get(process_id)
            if old is not None and old["state"] != "failed" and self._sent[process_id] == body:
                return 200, old
            self._sent[process_id] = copy.deepcopy(body)
            processes[process_id] = self._started(node, process_id, body)
            self._reads[process_id] = 0
            return (201 if old is None else 200), processes[process_id]
        if process_id not in processes:
            return 404, {"detail": "no such process"}
        if method == "DELETE":
            del processes[process_id]
            return 204, None
        process = processes[process_id]
        self._reads[process_id] += 1
        if self._reads[process_id] > self.slow_start.get(node, 0):
            process["stats"].setdefault("pid", process["pid"])  # it serves: its stats are its own
        return 200, process

    def _started(self, node: str, process_id: str, body: dict[str, Any]) -> dict[str, Any]:
        args = dict(body["args"])
        if args["listen"].endswith(":0"):
            args["listen"] = args["listen"][:-1] + str(self.next_port)
            self.next_port += 1
        if "share" in args:
            args["share"] = "**********"
        pid, self.next_pid = self.next_pid, self.next_pid + 1
        stats: dict[str, Any] = (
            {"node": node, "packets_in": 0, "dropped": {}, "hops": {}}
            if body["kind"] == "opot-node"
            else {"epochs": 1, "key_ids": ["k1"]}
        )
        state, reason = ("failed", "died 6 times within 30 s") if node in self.fail else ("running", None)
        return {
            "id": process_id, "kind": body["kind"], "args": args, "state": state, "pid": pid,
            "restarts": 0, "last_exit": None, "stats": stats, "reason": reason,
        }  # fmt: skip

    def process(self, node: str, kind: str) -> dict[str, Any]:
        (found,) = [p for p in self.processes[self.urls[node]].values() if p["kind"] == kind]
        return found


class FakeApps:
    """Admission that admits everything (or refuses, with ``refusal``); ``problem`` is the carrier's."""

    def __init__(self) -> None:
        self.apps: dict[UUID, AppRecord] = {}
        self.requests: list[AppRequest] = []
        self.refusal: str | None = None
        self.no_path_for = 0
        """So many tries are refused for want of a path now (a switch re-synchronising) first."""
        self.problem: str | None = None

    async def create(self, request: AppRequest) -> AppRecord:
        if self.refusal is not None:
            raise AdmissionRefused(self.refusal)
        if self.no_path_for > 0:
            self.no_path_for -= 1
            raise AdmissionRefused("no QKD link or relay path joins n1 and n3 now", no_path_now=True)
        self.requests.append(request)
        app = AppRecord(
            uuid4(), request.server_sae_id, request.server_node, request.client_sae_id,
            request.client_node, "v-n1-n3", uuid4(), dict(request.qos), 0, dt.datetime.now(dt.UTC),
        )  # fmt: skip
        self.apps[app.app_id] = app
        return app

    async def delete(self, app_id: UUID) -> None:
        if self.apps.pop(app_id, None) is None:
            raise UnknownResource(f"no application {app_id}")

    def app_status(self, app: AppRecord) -> AppStatus:
        return AppStatus.ON

    def carrier_problem(self, app: AppRecord) -> str | None:
        return self.problem


@pytest.fixture
def store(tmp_path: Path) -> Any:
    opened = ControllerStore(tmp_path / "state.db")
    yield opened
    opened.close()


def _services(store: ControllerStore, managers: FakeManagers, apps: FakeApps) -> Services:
    return Services(store, apps, managers, managers.urls, "{node}-app", poll_interval_s=60, ready_timeout_s=2)


def test_a_tunnel_is_an_application_then_the_exit_then_the_entry_connecting_to_the_exits_port(
    store: ControllerStore,
) -> None:
    managers, apps = FakeManagers(), FakeApps()
    services = _services(store, managers, apps)
    record = asyncio.run(services.create(INTENT))

    (request,) = apps.requests
    assert (request.client_sae_id, request.client_node) == ("n1-app", "n1")
    assert (request.server_sae_id, request.server_node) == ("n3-app", "n3")
    assert request.qos == {"min_bandwidth": 1000}
    assert record["apps"] == [str(next(iter(apps.apps)))]
    puts = [url for method, url in managers.calls if method == "PUT"]
    assert puts[0].startswith(MANAGERS["n3"])  # the exit first: the entry needs its port
    assert puts[-1].startswith(MANAGERS["n1"])
    exit_ = managers.process("n3", "tunnel-exit")
    assert exit_["args"] == {"node": "n3", "listen": "127.0.0.1:40001", "forward": "127.0.0.1:8080"}
    entry = managers.process("n1", "tunnel-entry")
    assert entry["args"] == {
        "node": "n1", "peer": "n3", "listen": "127.0.0.1:9000", "connect": "127.0.0.1:40001", "rekey_s": 5.0,
    }  # fmt: skip
    assert record["state"] == "instantiating"
    assert record["processes"]["exit"]["args"]["listen"] == "127.0.0.1:40001"

    asyncio.run(services.refresh())
    assert services.get(record["id"])["state"] == "active"
    assert services.get(record["id"])["reason"] is None
    shown = asyncio.run(services.show(record["id"]))
    assert shown["endpoints"]["entry"]["stats"] == {"epochs": 1, "key_ids": ["k1"], "pid": 101}
    assert shown["endpoints"]["exit"]["pid"] == 100


def test_a_restarting_process_or_a_poor_key_source_degrades_the_service_until_it_heals(
    store: ControllerStore,
) -> None:
    managers, apps = FakeManagers(), FakeApps()
    services = _services(store, managers, apps)
    service_id = asyncio.run(services.create(INTENT))["id"]
    entry = managers.process("n1", "tunnel-entry")
    entry.update(state="restarting", restarts=1, last_exit={"signal": "SIGKILL"})
    asyncio.run(services.refresh())
    record = services.get(service_id)
    assert record["state"] == "degraded"
    assert "the entry at n1 is restarting" in record["reason"]
    assert "SIGKILL" in record["reason"]

    entry.update(state="running")
    apps.problem = "its keys are relayed over n1 → n2 → n3: the direct QKD link is down"
    asyncio.run(services.refresh())
    assert services.get(service_id)["state"] == "degraded"
    assert services.get(service_id)["reason"] == apps.problem

    apps.problem = None
    asyncio.run(services.refresh())
    assert services.get(service_id)["state"] == "active"


def test_a_process_its_manager_lost_or_failed_is_ordered_again_with_the_same_port(
    store: ControllerStore,
) -> None:
    managers, apps = FakeManagers(), FakeApps()
    services = _services(store, managers, apps)
    service_id = asyncio.run(services.create(INTENT))["id"]
    managers.processes[MANAGERS["n3"]].clear()  # its manager restarted: it runs nothing
    managers.process("n1", "tunnel-entry")["state"] = "failed"
    asyncio.run(services.refresh())
    record = services.get(service_id)
    assert record["state"] == "healing"
    assert "the exit at n3 was lost: ordered again" in record["reason"]
    assert "the entry at n1 was failed" in record["reason"]
    assert managers.process("n3", "tunnel-exit")["args"]["listen"] == "127.0.0.1:40001"  # not port 0
    asyncio.run(services.refresh())
    assert services.get(service_id)["state"] == "active"

    managers.down.add(MANAGERS["n1"])
    asyncio.run(services.refresh())
    assert "the service manager of n1 does not answer" in services.get(service_id)["reason"]


def test_delete_removes_both_processes_and_the_application(store: ControllerStore) -> None:
    managers, apps = FakeManagers(), FakeApps()
    services = _services(store, managers, apps)
    service_id = asyncio.run(services.create(INTENT))["id"]
    asyncio.run(services.delete(service_id))
    assert managers.processes == {url: {} for url in MANAGERS.values()}
    assert apps.apps == {}
    assert services.get(service_id)["state"] == "terminated"
    asyncio.run(services.delete(service_id))  # nothing left to do
    with pytest.raises(UnknownResource):
        asyncio.run(services.delete(str(uuid4())))


def test_an_application_refused_for_want_of_a_path_now_is_tried_again_within_the_wait(
    store: ControllerStore,
) -> None:
    managers, apps = FakeManagers(), FakeApps()
    apps.no_path_for = 2  # two tries, half a second apart, within the wait
    services = Services(store, apps, managers, managers.urls, poll_interval_s=60, admit_wait_s=5)
    record = asyncio.run(services.create(INTENT))
    assert apps.no_path_for == 0
    assert len(record["apps"]) == 1
    assert record["state"] == "instantiating"

    apps.no_path_for = 100  # never within a wait of 0 s: refused after one try
    waitless = Services(store, apps, managers, managers.urls, poll_interval_s=60, admit_wait_s=0)
    with pytest.raises(AdmissionRefused, match="no QKD link or relay path"):
        asyncio.run(waitless.create(INTENT))
    assert apps.no_path_for == 99


def test_a_refused_application_orders_nothing_and_a_failed_order_undoes_everything(
    store: ControllerStore,
) -> None:
    managers, apps = FakeManagers(), FakeApps()
    services = _services(store, managers, apps)
    apps.refusal = "no QKD link or relay path joins n1 and n3 now"
    with pytest.raises(AdmissionRefused, match="no QKD link"):
        asyncio.run(services.create(INTENT))
    assert managers.calls == []

    apps.refusal = None
    managers.refuse.add("tunnel-entry")
    with pytest.raises(AgentUnavailable, match="refused: HTTP 400"):
        asyncio.run(services.create(INTENT))
    assert managers.processes == {url: {} for url in MANAGERS.values()}  # the exit is gone again
    assert apps.apps == {}
    assert services.list() == []
    assert store.services() == []


def test_nodes_without_a_manager_or_one_node_at_both_ends_are_refused(store: ControllerStore) -> None:
    services = _services(store, FakeManagers(), FakeApps())
    other = INTENT.model_copy(update={"b": INTENT.b.model_copy(update={"node": "n2"})})
    with pytest.raises(ConfigError, match="'n2' has no service manager"):
        asyncio.run(services.create(other))
    same = INTENT.model_copy(update={"b": INTENT.b.model_copy(update={"node": "n1"})})
    with pytest.raises(ConfigError, match="appears twice"):
        asyncio.run(services.create(same))


def test_a_restarted_controller_knows_its_services_from_the_store(tmp_path: Path) -> None:
    managers, apps = FakeManagers(), FakeApps()
    first = ControllerStore(tmp_path / "state.db")
    services = _services(first, managers, apps)
    service_id = asyncio.run(services.create(INTENT))["id"]
    asyncio.run(services.refresh())
    first.close()

    second = ControllerStore(tmp_path / "state.db")
    try:
        again = _services(second, managers, apps)

        async def resumed() -> dict[str, Any]:
            again.start()
            try:
                return again.get(service_id)
            finally:
                await again.stop()

        record = asyncio.run(resumed())
    finally:
        second.close()
    assert record["state"] == "active"
    assert record["a"] == {"node": "n1", "listen": "127.0.0.1:9000"}
    assert record["processes"]["exit"]["args"]["listen"] == "127.0.0.1:40001"


def test_a_process_that_died_and_was_restarted_between_two_rounds_shows_as_healing_once(
    store: ControllerStore,
) -> None:
    managers, apps = FakeManagers(), FakeApps()
    services = _services(store, managers, apps)
    service_id = asyncio.run(services.create(INTENT))["id"]
    asyncio.run(services.refresh())
    managers.process("n1", "tunnel-entry").update(pid=101, restarts=1, last_exit={"signal": "SIGKILL"})
    asyncio.run(services.refresh())
    record = services.get(service_id)
    assert record["state"] == "healing"
    assert "the entry at n1 died ({'signal': 'SIGKILL'}) and was restarted by its manager" in record["reason"]
    asyncio.run(services.refresh())
    assert [change["state"] for change in services.get(service_id)["history"]] == [
        "active",
        "healing",
        "active",
    ]


# Ordered Proof of Transit --------------------------------------------------------------------------------

OPOT_MANAGERS = {
    "n1": "https://10.0.0.1:18100",
    "n2": "https://10.0.0.2:18100",
    "n3": "https://[fd00::3]:18100",
}
OPOT = OpotChain.model_validate(
    {
        "type": "opot",
        "path": ["n1", "n2", "n3"],
        "listen": "0.0.0.0:5000",
        "forward": "127.0.0.1:8080",
        "refresh_packets": 500,
        "refresh_s": 5,
        "min_rate_bps": 2000,
    }
)


def _opot(store: ControllerStore) -> tuple[Services, FakeManagers, FakeApps, dict[str, Any]]:
    managers, apps = FakeManagers(OPOT_MANAGERS), FakeApps()
    services = _services(store, managers, apps)
    record = asyncio.run(services.create(OPOT))
    return services, managers, apps, record


def _sent(managers: FakeManagers) -> dict[str, dict[str, Any]]:
    """The last order each node's manager got, as sent (the share in clear), by node."""
    by_url = {url: node for node, url in OPOT_MANAGERS.items()}
    return {by_url[url.rpartition("/api/v1/nfv/processes/")[0]]: body for url, body in managers.orders}


def _share_values(managers: FakeManagers) -> list[str]:
    """Every secret the nodes were given, as their JSON writes them (hex)."""
    values = []
    for body in _sent(managers).values():
        doc = json.loads(body["args"]["share"])
        values.append(doc["node"]["share"])
        if "verifier" in doc:
            values.append(doc["verifier"]["secret"])
    return values


def _puts(managers: FakeManagers) -> list[str]:
    return [url for method, url in managers.calls if method == "PUT"]


def test_an_opot_service_admits_one_application_per_hop_and_orders_the_verifier_first(
    store: ControllerStore,
) -> None:
    _, managers, apps, record = _opot(store)
    hops = [(r.client_sae_id, r.client_node, r.server_sae_id, r.server_node) for r in apps.requests]
    assert hops == [("n1-app", "n1", "n2-app", "n2"), ("n2-app", "n2", "n3-app", "n3")]
    assert all(r.qos == {"min_bandwidth": 2000} for r in apps.requests)
    assert record["apps"] == [str(app_id) for app_id in apps.apps]
    assert [url.rpartition("/api/v1/nfv/processes/")[0] for url in _puts(managers)] == [
        OPOT_MANAGERS["n3"], OPOT_MANAGERS["n2"], OPOT_MANAGERS["n1"],
    ]  # fmt: skip
    sent = {node: body["args"] for node, body in _sent(managers).items()}
    assert all(body["kind"] == "opot-node" for body in _sent(managers).values())
    listens = {node: managers.process(node, "opot-node")["args"]["listen"] for node in OPOT_MANAGERS}
    assert listens == {"n1": "0.0.0.0:5000", "n2": "10.0.0.2:40002", "n3": "[fd00::3]:40001"}
    assert {k: v for k, v in sent["n3"].items() if k != "share"} == {
        "node": "n3", "listen": "[fd00::3]:0", "forward": "127.0.0.1:8080", "refresh_packets": 500,
        "refresh_s": 5.0,
    }  # fmt: skip
    assert sent["n2"]["next"] == listens["n3"]  # the port n3's manager chose
    assert sent["n1"]["next"] == listens["n2"]
    assert "forward" not in sent["n1"]
    assert "forward" not in sent["n2"]
    assert record["route"] == ["n1", "n2", "n3"]
    assert record["processes"]["n2"]["args"]["listen"] == "10.0.0.2:40002"
    assert record["state"] == "instantiating"


def test_each_node_is_given_a_share_of_its_own_and_the_shares_belong_to_one_path(
    store: ControllerStore,
) -> None:
    _, managers, _, _ = _opot(store)
    shares = {node: NodeShare.from_json(body["args"]["share"]) for node, body in _sent(managers).items()}
    for node, share in shares.items():
        assert share.node.node == node
        assert share.path == ("n1", "n2", "n3")
        assert (share.verifier is not None) == (node == "n3")
    ordered = [shares[node] for node in ("n1", "n2", "n3")]
    xs, p = [s.node.x for s in ordered], ordered[0].node.p
    assert [s.node.lpc for s in ordered] == [lpc(xs, i, p) for i in range(3)]
    secret = ordered[-1].verifier.secret  # type: ignore[union-attr]
    assert sum(s.node.lpc * s.node.share for s in ordered) % p == secret  # they interpolate to the SECRET


def test_no_share_is_ever_shown_in_the_services_record_list_or_status(store: ControllerStore) -> None:
    services, managers, _, record = _opot(store)
    values = _share_values(managers)
    assert len(values) == 4  # three shares, one secret
    asyncio.run(services.refresh())
    shown = asyncio.run(services.show(record["id"]))
    routed = asyncio.run(services.route(record["id"], ["n1", "n3"]))
    for view in (record, shown, services.list(), routed):
        text = json.dumps(view)
        assert not any(value in text for value in values)
    assert {p["args"]["share"] for p in record["processes"].values()} == {"**********"}
    assert {e["args"]["share"] for e in shown["endpoints"].values()} == {"**********"}
    # the controller keeps them, to order a node again
    kept = services.get(record["id"])["processes"]
    assert NodeShare.from_json(kept["n2"]["args"]["share"]).node.node == "n2"


def test_the_creation_waits_until_every_opot_node_serves(store: ControllerStore) -> None:
    managers, apps = FakeManagers(OPOT_MANAGERS), FakeApps()
    managers.slow_start = {"n2": 3}  # its stats name another pid for its first three reads
    services = _services(store, managers, apps)
    record = asyncio.run(services.create(OPOT))
    n2 = record["processes"]["n2"]["process"]
    assert managers.process("n2", "opot-node")["stats"]["pid"] == managers.process("n2", "opot-node")["pid"]
    assert sum(1 for method, url in managers.calls if method == "GET" and url.endswith(n2)) == 4


def test_an_opot_node_whose_stats_are_not_its_current_processes_is_not_serving(
    store: ControllerStore,
) -> None:
    services, managers, _, record = _opot(store)
    asyncio.run(services.refresh())
    assert services.get(record["id"])["state"] == "active"
    transit = managers.process("n2", "opot-node")
    transit["pid"] = 999  # a new process, still without its first key: the stats are the old one's
    asyncio.run(services.refresh())
    assert services.get(record["id"])["state"] == "degraded"
    assert services.get(record["id"])["reason"] == "the n2 at n2 is starting (its first key, then its socket)"
    transit["stats"]["pid"] = 999
    asyncio.run(services.refresh())
    assert services.get(record["id"])["state"] == "active"


def test_an_opot_services_status_sums_up_its_verifier_and_each_hops_keys(store: ControllerStore) -> None:
    services, managers, _, record = _opot(store)
    managers.process("n2", "opot-node")["stats"]["hops"] = {"n1->n2": ["k12"], "n2->n3": ["k23-sent"]}
    managers.process("n3", "opot-node")["stats"] |= {"valid": 7, "invalid": 2, "hops": {"n2->n3": ["k23"]}}
    shown = asyncio.run(services.show(record["id"]))
    assert shown["opot"] == {
        "valid": 7,
        "invalid": 2,
        "dropped": {},
        "hops": {"n1->n2": ["k12"], "n2->n3": ["k23"]},
    }
    assert shown["endpoints"]["n3"]["pid"] == managers.process("n3", "opot-node")["pid"]


def test_a_route_that_skips_a_node_orders_only_the_ingress_again_and_the_path_puts_it_back(
    store: ControllerStore,
) -> None:
    services, managers, _, record = _opot(store)
    before = dict(_sent(managers)["n1"]["args"])
    listens = {node: managers.process(node, "opot-node")["args"]["listen"] for node in OPOT_MANAGERS}
    ingress_pid = managers.process("n1", "opot-node")["pid"]
    done = len(_puts(managers))

    routed = asyncio.run(services.route(record["id"], ["n1", "n3"]))
    (put,) = _puts(managers)[done:]
    assert put == f"{OPOT_MANAGERS['n1']}/api/v1/nfv/processes/{record['processes']['n1']['process']}"
    assert _sent(managers)["n1"]["args"] == before | {"next": listens["n3"]}  # the same share and listen
    assert managers.process("n1", "opot-node")["pid"] != ingress_pid  # replaced, and serving again
    assert routed["route"] == ["n1", "n3"]
    assert services.get(record["id"])["processes"]["n1"]["args"]["next"] == listens["n3"]

    back = asyncio.run(services.route(record["id"], ["n1", "n2", "n3"]))
    (put,) = _puts(managers)[done + 1 :]
    assert _sent(managers)["n1"]["args"] == before  # next: n2's port again
    assert back["route"] == ["n1", "n2", "n3"]
    asyncio.run(services.route(record["id"], ["n1", "n2", "n3"]))
    assert len(_puts(managers)) == done + 2  # already so: nothing ordered


@pytest.mark.parametrize(
    "via",
    [[], ["n2", "n3"], ["n1", "n2", "n2", "n3"], ["n1", "n4", "n3"], ["n1", "n2"], ["n1", "n3", "n1"]],
)
def test_a_route_not_from_the_ingress_through_nodes_of_the_path_to_the_verifier_is_refused(
    store: ControllerStore, via: list[str]
) -> None:
    services, managers, _, record = _opot(store)
    done = len(managers.calls)
    with pytest.raises(ConfigError, match="via must start at the ingress 'n1'"):
        asyncio.run(services.route(record["id"], via))
    assert managers.calls[done:] == []
    assert services.get(record["id"])["route"] == ["n1", "n2", "n3"]


def test_only_a_live_opot_service_can_be_routed(store: ControllerStore) -> None:
    managers, apps = FakeManagers(), FakeApps()
    services = _services(store, managers, apps)
    tunnel = asyncio.run(services.create(INTENT))
    with pytest.raises(ConfigError, match="not a live OPoT service"):
        asyncio.run(services.route(tunnel["id"], ["n1", "n3"]))
    opot, _, _, record = _opot(store)
    asyncio.run(opot.delete(record["id"]))
    with pytest.raises(ConfigError, match="not a live OPoT service"):
        asyncio.run(opot.route(record["id"], ["n1", "n2", "n3"]))
    with pytest.raises(UnknownResource):
        asyncio.run(opot.route(str(uuid4()), ["n1", "n2", "n3"]))


def test_deleting_an_opot_service_stops_its_nodes_ingress_first_and_removes_every_application(
    store: ControllerStore,
) -> None:
    services, managers, apps, record = _opot(store)
    done = len(managers.calls)
    asyncio.run(services.delete(record["id"]))
    deletes = [url for method, url in managers.calls[done:] if method == "DELETE"]
    assert deletes == [
        f"{OPOT_MANAGERS[node]}/api/v1/nfv/processes/{record['processes'][node]['process']}"
        for node in ("n1", "n2", "n3")
    ]
    assert managers.processes == {url: {} for url in OPOT_MANAGERS.values()}
    assert apps.apps == {}
    assert services.get(record["id"])["state"] == "terminated"


@pytest.mark.parametrize(("refused", "failed"), [("n1", None), ("n2", None), (None, "n3")])
def test_a_failure_while_ordering_an_opot_service_undoes_everything(
    store: ControllerStore, refused: str | None, failed: str | None
) -> None:
    managers, apps = FakeManagers(OPOT_MANAGERS), FakeApps()
    managers.refuse |= {refused} if refused else set()
    managers.fail |= {failed} if failed else set()
    services = _services(store, managers, apps)
    with pytest.raises(AgentUnavailable, match="refused: HTTP 400" if refused else "failed: died 6 times"):
        asyncio.run(services.create(OPOT))
    assert managers.processes == {url: {} for url in OPOT_MANAGERS.values()}
    assert len(apps.requests) == 2
    assert apps.apps == {}
    assert services.list() == []
    assert store.services() == []


def test_an_opot_path_through_a_node_without_a_manager_or_twice_through_one_is_refused(
    store: ControllerStore,
) -> None:
    managers, apps = FakeManagers(OPOT_MANAGERS), FakeApps()
    services = _services(store, managers, apps)
    with pytest.raises(ConfigError, match="'n4' has no service manager"):
        asyncio.run(services.create(OPOT.model_copy(update={"path": ["n1", "n4", "n3"]})))
    with pytest.raises(ConfigError, match="appears twice"):
        asyncio.run(services.create(OPOT.model_copy(update={"path": ["n1", "n2", "n1"]})))
    assert managers.calls == []
    assert apps.requests == []
