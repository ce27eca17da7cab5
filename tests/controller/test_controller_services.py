"""Service intents (``sdqkd.controller.services``) against in-memory stand-ins for the service managers
and admission: the order of the steps, the port the exit's manager chooses reaching the entry, the
states a service goes through, re-ordering what a manager lost, undoing a creation that fails, and
the store that a restarted controller reads back."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from sdqkd.controller.admission import AppRequest
from sdqkd.controller.services import EncryptedTunnel, Services
from sdqkd.controller.store import AppRecord, ControllerStore
from sdqkd.errors import AdmissionRefused, AgentUnavailable, ConfigError, UnknownResource
from sdqkd.etsi015 import AppStatus

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
    """The managers of n1 and n3 as the controller sees them: a port of 0 becomes 40000 + n; a
    process runs once ordered unless ``refuse`` names its kind."""

    def __init__(self) -> None:
        self.processes: dict[str, dict[str, dict[str, Any]]] = {url: {} for url in MANAGERS.values()}
        self.calls: list[tuple[str, str]] = []
        self.refuse: set[str] = set()
        self.down: set[str] = set()
        self.next_port = 40001

    async def manager_request(
        self, method: str, url: str, body: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        base, _, process_id = url.rpartition("/api/v1/nfv/processes/")
        if base in self.down:
            raise AgentUnavailable(f"{method} {url}: connection refused")
        self.calls.append((method, url))
        processes = self.processes[base]
        if method == "PUT":
            assert body is not None
            if body["kind"] in self.refuse:
                return 400, {"detail": "refused"}
            args = dict(body["args"])
            if args["listen"].endswith(":0"):
                args["listen"] = args["listen"][:-1] + str(self.next_port)
                self.next_port += 1
            processes[process_id] = {
                "id": process_id, "kind": body["kind"], "args": args, "state": "running", "pid": 100,
                "restarts": 0, "last_exit": None, "stats": {"epochs": 1, "key_ids": ["k1"]},
            }  # fmt: skip
            return 201, processes[process_id]
        if process_id not in processes:
            return 404, {"detail": "no such process"}
        if method == "DELETE":
            del processes[process_id]
            return 204, None
        return 200, processes[process_id]

    def process(self, node: str, kind: str) -> dict[str, Any]:
        (found,) = [p for p in self.processes[MANAGERS[node]].values() if p["kind"] == kind]
        return found


class FakeApps:
    """Admission that admits everything (or refuses, with ``refusal``); ``problem`` is the carrier's."""

    def __init__(self) -> None:
        self.apps: dict[UUID, AppRecord] = {}
        self.requests: list[AppRequest] = []
        self.refusal: str | None = None
        self.problem: str | None = None

    async def create(self, request: AppRequest) -> AppRecord:
        if self.refusal is not None:
            raise AdmissionRefused(self.refusal)
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
    return Services(store, apps, managers, MANAGERS, "{node}-app", poll_interval_s=60, ready_timeout_s=2)


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
    assert shown["endpoints"]["entry"]["stats"] == {"epochs": 1, "key_ids": ["k1"]}
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
