"""Service intents (issue 13): an encrypted tunnel between two nodes, set up and kept by the controller.

``POST /api/v1/services`` ``{"type": "encrypted-tunnel", "a": {"node", "listen"}, "b": {"node",
"forward"}, "rekey_s", "min_rate_bps"}`` becomes, in this order:

1. an application admitted between the SAEs ``{a}-app`` (client) and ``{b}-app`` (server), its
   ``min_bandwidth`` the ``min_rate_bps`` (a refusal is the admission's own: nothing else happens);
2. a ``tunnel-exit`` ordered at b's service manager, listening on the manager's host at a port the
   manager chooses (``HOST:0``), forwarding where asked; the controller waits until it runs and its
   ``args`` show the port;
3. a ``tunnel-entry`` ordered at a's service manager: listening where asked, connecting to the exit;
4. the service recorded in the store (a restarted controller knows it and keeps it).

A step that fails undoes the ones before it. A background round (every poll interval) reads both
processes from their managers and sets the service's state and reason:

==================  ===========================================================================
``instantiating``   ordered, not both running yet
``active``          both running, the application's key source as asked
``degraded``        a process restarting, failed or unreadable, or the key source is down, a relay
                    path in place of a direct link, or below the reserved rate (``reason`` says)
``healing``         a process died and its manager restarted it since the last round, or the
                    controller ordered a process again (its manager lost or failed it)
``terminated``      deleted: both processes and the application are gone
==================  ===========================================================================

The managers are reached over HTTPS with the controller's certificate (:class:`Southbound`); they
run only what the controller orders (docs/nfv.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Mapping
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field

from sdqkd.controller.admission import AppRequest
from sdqkd.controller.store import AppRecord, ControllerStore
from sdqkd.errors import AgentUnavailable, ConfigError, UnknownResource
from sdqkd.etsi015 import AppStatus

__all__ = ["EncryptedTunnel", "ManagerCalls", "ServiceApps", "Services"]

log = logging.getLogger(__name__)

State = Literal["instantiating", "active", "degraded", "healing", "terminated"]
_HOST_PORT = r"^\S+:\d{1,5}$"
_PROCESSES = "/api/v1/nfv/processes"
HISTORY = 20
"""How many of its last state changes a service keeps (``history``: state, reason, when)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EntrySide(_Strict):
    node: str = Field(min_length=1, max_length=64)
    listen: str = Field(pattern=_HOST_PORT, max_length=300)


class ExitSide(_Strict):
    node: str = Field(min_length=1, max_length=64)
    forward: str = Field(pattern=_HOST_PORT, max_length=300)


class EncryptedTunnel(_Strict):
    """An ``encrypted-tunnel`` intent: plaintext TCP into ``a.listen`` comes out of b towards
    ``b.forward``, encrypted in between with keys of a QKD application of ``min_rate_bps``."""

    type: Literal["encrypted-tunnel"]
    a: EntrySide
    b: ExitSide
    rekey_s: float = Field(default=60.0, gt=0, le=86400, allow_inf_nan=False)
    min_rate_bps: int = Field(default=0, ge=0, le=2**32 - 1)


class ManagerCalls(Protocol):
    """HTTPS calls to a service manager (:meth:`Southbound.manager_request`)."""

    async def manager_request(
        self, method: str, url: str, body: dict[str, Any] | None = None
    ) -> tuple[int, Any]: ...


class ServiceApps(Protocol):
    """What services need of admission (:class:`~sdqkd.controller.admission.Admission`)."""

    apps: dict[UUID, AppRecord]

    async def create(self, request: AppRequest) -> AppRecord: ...

    async def delete(self, app_id: UUID) -> None: ...

    def app_status(self, app: AppRecord) -> AppStatus: ...

    def carrier_problem(self, app: AppRecord) -> str | None: ...


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _listen_host(manager_url: str) -> str:
    """The address a node's processes listen on for peers: its manager's host (``localhost`` as
    ``127.0.0.1``, so that the manager's bind test and the process bind the same address)."""
    host = urlsplit(manager_url).hostname or "127.0.0.1"
    if host == "localhost":
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


class Services:
    """The service intents of the controller, kept in ``store`` and watched every ``poll_interval_s``.

    Args:
        store: where the services are recorded.
        apps: admission (the application of each service).
        calls: HTTPS to the managers with the controller's certificate.
        managers: each node's service manager URL.
        sae_template: the SAE of a node's service processes (``{node}-app``).
        poll_interval_s: how often the processes are read.
        ready_timeout_s: how long the exit may take to run before the creation is given up.
    """

    def __init__(
        self,
        store: ControllerStore,
        apps: ServiceApps,
        calls: ManagerCalls,
        managers: Mapping[str, str],
        sae_template: str = "{node}-app",
        poll_interval_s: float = 1.0,
        ready_timeout_s: float = 30.0,
    ) -> None:
        self.store, self.apps, self.calls = store, apps, calls
        self.managers = {node: url.rstrip("/") for node, url in managers.items()}
        self.sae_template = sae_template
        self.poll_interval_s, self.ready_timeout_s = poll_interval_s, ready_timeout_s
        self.records: dict[str, dict[str, Any]] = {}
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # creation, deletion and the round do not interleave

    # Life cycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Take back the services recorded before a restart and start watching them."""
        self.records = {record["id"]: record for record in self.store.services()}
        if self._task is None:
            self._task = asyncio.create_task(self._watch(), name="services")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval_s)
            try:
                await self.refresh()
            except Exception:  # a round that fails must not end the watching
                log.exception("services: a refresh round failed")

    # Reading ----------------------------------------------------------------------------------------------

    def get(self, service_id: str) -> dict[str, Any]:
        """The record of a service.

        Raises:
            UnknownResource: no such service.
        """
        record = self.records.get(service_id)
        if record is None:
            raise UnknownResource(f"no service {service_id}")
        return record

    def list(self) -> list[dict[str, Any]]:
        return [dict(record) for record in self.records.values()]

    async def show(self, service_id: str) -> dict[str, Any]:
        """A service with each endpoint's process as its manager reports it now (state, restarts, pid,
        the entry's stats: epochs, key IDs, bytes)."""
        record = dict(self.get(service_id))
        if record["state"] != "terminated":
            entry, exit_ = await asyncio.gather(
                self._endpoint(record["a"]["node"], record["entry_process"]),
                self._endpoint(record["b"]["node"], record["exit_process"]),
            )
            record["endpoints"] = {"entry": entry, "exit": exit_}
        return record

    # Creating and deleting --------------------------------------------------------------------------------

    async def create(self, intent: EncryptedTunnel) -> dict[str, Any]:
        """Admit the service's application, order its exit and then its entry, record it.

        Raises:
            ConfigError: a node without a service manager, or the same node at both ends.
            UnknownResource, AdmissionRefused: the application is not admitted (its own error).
            AgentUnavailable: a manager did not answer, refused the order, or the exit did not run
                (everything done before is undone).
        """
        a, b = intent.a.node, intent.b.node
        for node in (a, b):
            if node not in self.managers:
                raise ConfigError(f"node {node!r} has no service manager")
        if a == b:
            raise ConfigError("a and b are the same node: a tunnel joins two nodes")
        service_id = str(uuid4())
        request = AppRequest(
            server_sae_id=self.sae_template.format(node=b),
            server_node=b,
            client_sae_id=self.sae_template.format(node=a),
            client_node=a,
            qos={"min_bandwidth": intent.min_rate_bps},
        )
        app = await self.apps.create(request)
        record: dict[str, Any] = {
            "id": service_id,
            "type": intent.type,
            "a": intent.a.model_dump(),
            "b": intent.b.model_dump(),
            "rekey_s": intent.rekey_s,
            "min_rate_bps": intent.min_rate_bps,
            "app_id": str(app.app_id),
            "entry_process": f"svc-{service_id}-entry",
            "exit_process": f"svc-{service_id}-exit",
            "entry_args": None,
            "exit_args": None,
            "state": "instantiating",
            "reason": "ordering the tunnel exit",
            "created_at": _now(),
            "updated_at": _now(),
            "restarts": {"entry": 0, "exit": 0},
            "history": [],
        }
        try:
            exit_args = {
                "node": b,
                "listen": f"{_listen_host(self.managers[b])}:0",
                "forward": intent.b.forward,
            }
            await self._order(b, record["exit_process"], "tunnel-exit", exit_args)
            running = await self._running(b, record["exit_process"])
            record["exit_args"] = running["args"]  # the port the manager chose
            entry_args = {
                "node": a,
                "peer": b,
                "listen": intent.a.listen,
                "connect": running["args"]["listen"],
                "rekey_s": intent.rekey_s,
            }
            ordered = await self._order(a, record["entry_process"], "tunnel-entry", entry_args)
            record["entry_args"] = ordered.get("args", entry_args)  # a listen port of 0 as chosen
        except BaseException:
            await self._undo(record)
            raise
        record["reason"] = "the tunnel entry is starting"
        async with self._lock:
            self.records[service_id] = record
            self.store.put_service(service_id, record)
        log.info("services: %s %s → %s ordered (application %s)", service_id, a, b, app.app_id)
        return dict(record)

    async def delete(self, service_id: str) -> None:
        """Stop both processes, remove the application: the service is ``terminated``.

        Raises:
            UnknownResource: no such service.
            AgentUnavailable: a manager did not answer (the service stays as it is; delete again).
        """
        async with self._lock:
            record = self.get(service_id)
            if record["state"] == "terminated":
                return
            await self._remove(record["a"]["node"], record["entry_process"])
            await self._remove(record["b"]["node"], record["exit_process"])
            with contextlib.suppress(UnknownResource):
                await self.apps.delete(UUID(record["app_id"]))
            self._set(record, "terminated", None)
        log.info("services: %s terminated", service_id)

    async def _undo(self, record: dict[str, Any]) -> None:
        for node, process in ((record["a"]["node"], "entry_process"), (record["b"]["node"], "exit_process")):
            with contextlib.suppress(AgentUnavailable):
                await self._remove(node, record[process])
        with contextlib.suppress(UnknownResource):
            await self.apps.delete(UUID(record["app_id"]))

    # The round --------------------------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Read every live service's processes and application; set its state and reason, and order
        again a process its manager lost or failed."""
        async with self._lock:
            for record in list(self.records.values()):
                if record["state"] != "terminated":
                    state, reason = await self._assess(record)
                    self._set(record, state, reason)

    async def _assess(self, record: dict[str, Any]) -> tuple[State, str | None]:
        ends = (
            ("entry", record["a"]["node"], record["entry_process"], "tunnel-entry", record["entry_args"]),
            ("exit", record["b"]["node"], record["exit_process"], "tunnel-exit", record["exit_args"]),
        )
        problems: list[str] = []
        healing: list[str] = []
        for name, node, process_id, kind, args in ends:
            try:
                process = await self._read(node, process_id)
            except AgentUnavailable as exc:
                problems.append(f"the service manager of {node} does not answer ({exc})")
                continue
            if process is None or process.get("state") == "failed":
                why = "lost" if process is None else f"failed ({process.get('reason')})"
                try:
                    await self._order(node, process_id, kind, args)
                except AgentUnavailable as exc:
                    problems.append(f"the {name} at {node} is {why} and could not be ordered again: {exc}")
                else:
                    healing.append(f"the {name} at {node} was {why}: ordered again")
                continue
            state = process.get("state")
            restarts = int(process.get("restarts") or 0)
            seen = record.setdefault("restarts", {}).get(name, 0)
            record["restarts"][name] = restarts
            if restarts > seen and state == "running":  # it died between two rounds: its manager healed it
                healing.append(
                    f"the {name} at {node} died ({process.get('last_exit')}) and was restarted by its manager"
                )
            elif state in ("restarting", "starting"):
                problems.append(
                    f"the {name} at {node} is {state} (restarts {process.get('restarts')}, "
                    f"last exit {process.get('last_exit')})"
                )
            elif state != "running":
                problems.append(f"the {name} at {node} is {state}")
        app = self.apps.apps.get(UUID(record["app_id"]))
        if app is None:
            problems.append(f"its application {record['app_id']} is gone")
        else:
            carrier = self.apps.carrier_problem(app)
            if carrier is not None:
                problems.append(carrier)
        if healing:
            return "healing", "; ".join(healing + problems)
        if problems:
            if record["state"] == "instantiating" and all("is starting" in p for p in problems):
                return "instantiating", "; ".join(problems)
            return "degraded", "; ".join(problems)
        return "active", None

    def _set(self, record: dict[str, Any], state: State, reason: str | None) -> None:
        """Record a state change (and keep the last :data:`HISTORY` changes in ``history``)."""
        if (record["state"], record["reason"]) == (state, reason):
            return
        if record["state"] != state:
            log.info("services: %s %s → %s: %s", record["id"], record["state"], state, reason or "")
        now = _now()
        history = [*record.get("history", []), {"state": state, "reason": reason, "at": now}][-HISTORY:]
        record.update(state=state, reason=reason, updated_at=now, history=history)
        self.store.put_service(record["id"], record)

    # The managers -----------------------------------------------------------------------------------------

    def _url(self, node: str, process_id: str) -> str:
        return f"{self.managers[node]}{_PROCESSES}/{process_id}"

    async def _order(self, node: str, process_id: str, kind: str, args: dict[str, Any]) -> dict[str, Any]:
        url = self._url(node, process_id)
        status, body = await self.calls.manager_request("PUT", url, {"kind": kind, "args": args})
        if status not in (200, 201) or not isinstance(body, dict):
            detail = body.get("detail") if isinstance(body, dict) else None
            raise AgentUnavailable(
                f"PUT {url}: the service manager of {node} refused: HTTP {status}: {detail}"
            )
        return body

    async def _read(self, node: str, process_id: str) -> dict[str, Any] | None:
        url = self._url(node, process_id)
        status, body = await self.calls.manager_request("GET", url)
        if status == 404:
            return None
        if status != 200 or not isinstance(body, dict):
            raise AgentUnavailable(f"GET {url}: HTTP {status}")
        return body

    async def _remove(self, node: str, process_id: str) -> None:
        url = self._url(node, process_id)
        status, _ = await self.calls.manager_request("DELETE", url)
        if status not in (204, 404):
            raise AgentUnavailable(f"DELETE {url}: HTTP {status}")

    async def _running(self, node: str, process_id: str) -> dict[str, Any]:
        """The process once it runs (its ``args`` with the port its manager chose).

        Raises:
            AgentUnavailable: it failed, or did not run within ``ready_timeout_s``.
        """
        deadline = time.monotonic() + self.ready_timeout_s
        while True:
            process = await self._read(node, process_id)
            if process is not None and process.get("state") == "running":
                return process
            if process is None or process.get("state") == "failed":
                why = "is gone" if process is None else f"failed: {process.get('reason')}"
                raise AgentUnavailable(f"process {process_id} at {node} {why}")
            if time.monotonic() > deadline:
                raise AgentUnavailable(
                    f"process {process_id} at {node} did not run within {self.ready_timeout_s:g} s "
                    f"(last exit {process.get('last_exit')})"
                )
            await asyncio.sleep(0.1)

    async def _endpoint(self, node: str, process_id: str) -> dict[str, Any]:
        """What a service shows of one of its processes, as its manager reports it now."""
        try:
            process = await self._read(node, process_id)
        except AgentUnavailable as exc:
            return {"node": node, "process": process_id, "error": str(exc)}
        if process is None:
            return {"node": node, "process": process_id, "state": None}
        return {"node": node, "process": process_id, **_process_view(process)}


def _process_view(process: dict[str, Any]) -> dict[str, Any]:
    """The parts of a manager's process a service shows."""
    stats = process.get("stats") or {}
    return {
        "state": process.get("state"),
        "pid": process.get("pid"),
        "restarts": process.get("restarts"),
        "last_exit": process.get("last_exit"),
        "args": process.get("args"),
        "stats": {
            key: stats[key]
            for key in (
                "epochs",
                "key_ids",
                "bytes_entry_to_exit",
                "bytes_exit_to_entry",
                "connections",
                "errors",
            )
            if key in stats
        },
    }
