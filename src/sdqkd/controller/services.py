"""Service intents (issue 13), set up and kept by the controller: encrypted tunnels between two nodes and
Ordered Proof of Transit over a path (:mod:`sdqkd.controller.service_intents` says what each becomes).

``POST /api/v1/services`` becomes, in this order:

1. the intent's applications admitted (a refusal is the admission's own: nothing else happens);
2. its processes ordered at the nodes' service managers, one after the other (each with the ports the
   managers chose for those before it, ``HOST:0``), then waited for until they serve;
3. the service recorded in the store (a restarted controller knows it and keeps it).

A step that fails undoes the ones before it. A background round (every poll interval) reads every
process from its manager and sets the service's state and reason:

==================  ===========================================================================
``instantiating``   ordered, not every process running yet
``active``          every process running, the applications' key sources as asked
``degraded``        a process restarting, failed or unreadable, or a key source down, a relay
                    path in place of a direct link, or below the reserved rate (``reason`` says)
``healing``         a process died and its manager restarted it since the last round, or the
                    controller ordered a process again (its manager lost or failed it)
``terminated``      deleted: every process and application is gone
==================  ===========================================================================

An OPoT service's route can be changed for test traffic (``PUT …/route``: a misrouting forwarder, what
``sdqkd opot send --skip/--swap`` plays) and put back. The managers are reached over HTTPS with the
controller's certificate (:class:`Southbound`); they run only what the controller orders (docs/nfv.md).
The arguments of a process that are secret (an OPoT node's share) are kept in the store, to order it
again, and never shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import itertools
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit
from uuid import UUID, uuid4

from sdqkd.controller.admission import AppRequest
from sdqkd.controller.service_intents import (
    SECRET_ARGS,
    EncryptedTunnel,
    OpotChain,
    ServiceIntent,
    plan,
)
from sdqkd.controller.store import AppRecord, ControllerStore
from sdqkd.errors import AdmissionRefused, AgentUnavailable, ConfigError, UnknownResource
from sdqkd.etsi015 import AppStatus
from sdqkd.server.loops import Loops

__all__ = ["EncryptedTunnel", "ManagerCalls", "OpotChain", "ServiceApps", "ServiceIntent", "Services"]

log = logging.getLogger(__name__)

State = Literal["instantiating", "active", "degraded", "healing", "terminated"]
_PROCESSES = "/api/v1/nfv/processes"
HISTORY = 20
"""How many of its last state changes a service keeps (``history``: state, reason, when)."""


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


def public(record: Mapping[str, Any]) -> dict[str, Any]:
    """A service as it may be shown: its processes' secret arguments left out."""
    shown = copy.deepcopy(dict(record))
    for process in shown.get("processes", {}).values():
        for secret in SECRET_ARGS & process.get("args", {}).keys():
            process["args"][secret] = "**********"
    return shown


class Services:
    """The service intents of the controller, kept in ``store`` and watched every ``poll_interval_s``.

    Args:
        store: where the services are recorded.
        apps: admission (the application of each service).
        calls: HTTPS to the managers with the controller's certificate.
        managers: each node's service manager URL.
        sae_template: the SAE of a node's service processes (``{node}-app``).
        poll_interval_s: how often the processes are read.
        ready_timeout_s: how long a process may take to serve before the creation is given up.
        admit_wait_s: how long an application refused for want of any path now is tried again.
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
        admit_wait_s: float = 10.0,
    ) -> None:
        self.store, self.apps, self.calls = store, apps, calls
        self.managers = {node: url.rstrip("/") for node, url in managers.items()}
        self.sae_template = sae_template
        self.poll_interval_s, self.ready_timeout_s = poll_interval_s, ready_timeout_s
        self.admit_wait_s = admit_wait_s
        self.records: dict[str, dict[str, Any]] = {}
        self.loops = Loops(logger=log, backoff_s=poll_interval_s, max_backoff_s=60.0)
        """The watching round (``GET /health``): never ended by an error."""
        self._lock = asyncio.Lock()  # creation, deletion and the round do not interleave

    # Life cycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Take back the services recorded before a restart and start watching them."""
        self.records = {}
        for record in self.store.services():
            if "processes" in record:
                self.records[record["id"]] = record
            else:  # written before services had a list of processes (a development version)
                log.warning("services: %s is of an older format: left out", record.get("id"))
        if not self.loops.states():
            interval_s = self.poll_interval_s
            self.loops.start("controller-services", self.refresh, interval_s=interval_s, delay_s=interval_s)

    async def stop(self) -> None:
        await self.loops.stop()

    # Reading ----------------------------------------------------------------------------------------------

    def get(self, service_id: str) -> dict[str, Any]:
        """The record of a service (secret arguments included: for the controller's own use).

        Raises:
            UnknownResource: no such service.
        """
        record = self.records.get(service_id)
        if record is None:
            raise UnknownResource(f"no service {service_id}")
        return record

    def list(self) -> list[dict[str, Any]]:
        return [public(record) for record in self.records.values()]

    async def show(self, service_id: str) -> dict[str, Any]:
        """A service with each of its processes as its manager reports it now (``endpoints``: state,
        restarts, pid, its stats — a tunnel's epochs, key IDs and bytes; an OPoT node's packets, drops
        and hop key IDs), and for OPoT the verifier's counts and each hop's key IDs (``opot``)."""
        record = public(self.get(service_id))
        if record["state"] != "terminated":
            names = list(record["processes"])
            views = await asyncio.gather(
                *(self._endpoint(p["node"], p["process"]) for p in record["processes"].values())
            )
            record["endpoints"] = dict(zip(names, views, strict=True))
            if record["type"] == "opot":
                record["opot"] = _opot_summary(record["path"], record["endpoints"])
        return record

    # Creating and deleting --------------------------------------------------------------------------------

    async def create(self, intent: EncryptedTunnel | OpotChain) -> dict[str, Any]:
        """Admit the service's applications, order its processes, record it.

        Raises:
            ConfigError: a node without a service manager, or the same node twice.
            UnknownResource, AdmissionRefused: an application is not admitted (its own error).
            AgentUnavailable: a manager did not answer, refused an order, or a process did not run
                (everything done before is undone).
        """
        nodes = [intent.a.node, intent.b.node] if isinstance(intent, EncryptedTunnel) else list(intent.path)
        for node in nodes:
            if node not in self.managers:
                raise ConfigError(f"node {node!r} has no service manager")
        if len(set(nodes)) != len(nodes):
            raise ConfigError(f"a node appears twice: {nodes}")
        service_id = str(uuid4())
        service = plan(
            intent,
            lambda node: self.sae_template.format(node=node),
            lambda node: _listen_host(self.managers[node]),
        )
        record: dict[str, Any] = {
            "id": service_id,
            "type": intent.type,
            **service.fields,
            "apps": [],
            "processes": {},
            "state": "instantiating",
            "reason": "ordering its processes",
            "created_at": _now(),
            "updated_at": _now(),
            "restarts": {},
            "history": [],
        }
        try:
            for request in service.apps:
                record["apps"].append(str((await self._admit(request)).app_id))
            ordered: dict[str, dict[str, Any]] = {}
            for step in service.steps:
                process_id = f"svc-{service_id}-{step.name}"
                args = step.args(ordered)
                record["processes"][step.name] = {
                    "node": step.node, "process": process_id, "kind": step.kind, "args": args,
                }  # fmt: skip
                answer = await self._order(step.node, process_id, step.kind, args)
                if "listen" in args:  # the port its manager chose: every later order keeps it
                    args["listen"] = answer.get("args", {}).get("listen", args["listen"])
                ordered[step.name] = args
            # every process is ordered, each with the ports of those before it: now they start together
            await asyncio.gather(
                *(
                    self._running(step.node, record["processes"][step.name]["process"], serving=True)
                    for step in service.steps
                    if step.wait
                )
            )
        except BaseException:
            await self._undo(record)
            raise
        record["reason"] = "its processes are starting"
        async with self._lock:
            self.records[service_id] = record
            self.store.put_service(service_id, record)
        log.info("services: %s %s over %s ordered", service_id, intent.type, " → ".join(nodes))
        return public(record)

    async def _admit(self, request: AppRequest) -> AppRecord:
        """Admit one application; a refusal for want of any path *now* (a switched link re-synchronising
        after a move, when its relay path is not up yet either) is tried again for ``admit_wait_s``.

        Raises:
            AdmissionRefused: refused (at once for want of key rate), or no path within the wait.
        """
        deadline = time.monotonic() + self.admit_wait_s
        while True:
            try:
                return await self.apps.create(request)
            except AdmissionRefused as exc:
                if not exc.no_path_now or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.5)

    async def delete(self, service_id: str) -> None:
        """Stop every process of the service, remove its applications: it is ``terminated``.

        Raises:
            UnknownResource: no such service.
            AgentUnavailable: a manager did not answer (the service stays as it is; delete again).
        """
        async with self._lock:
            record = self.get(service_id)
            if record["state"] == "terminated":
                return
            for process in reversed(record["processes"].values()):
                await self._remove(process["node"], process["process"])
            for app_id in record["apps"]:
                with contextlib.suppress(UnknownResource):
                    await self.apps.delete(UUID(app_id))
            self._set(record, "terminated", None)
        log.info("services: %s terminated", service_id)

    async def _undo(self, record: dict[str, Any]) -> None:
        for process in reversed(record["processes"].values()):
            with contextlib.suppress(AgentUnavailable):
                await self._remove(process["node"], process["process"])
        for app_id in record["apps"]:
            with contextlib.suppress(UnknownResource):
                await self.apps.delete(UUID(app_id))

    # Routing test traffic ---------------------------------------------------------------------------------

    async def route(self, service_id: str, via: Sequence[str]) -> dict[str, Any]:
        """Send an OPoT service's datagrams through ``via`` (its ingress first) instead of its path: each
        node of ``via`` before the verifier is ordered again with the next one of ``via`` as its next hop.
        ``via`` equal to the path puts the path back. This is what a misrouting forwarder does — a node
        skipped, two nodes crossed in the wrong order — for test traffic to show that the verifier
        rejects it.

        Raises:
            UnknownResource: no such service.
            ConfigError: not an OPoT service, or ``via`` not the ingress followed by other nodes of the
                path, each once, the verifier among them.
            AgentUnavailable: a manager refused or did not answer (the route may be half changed: put
                it back with the path).
        """
        async with self._lock:
            record = self.get(service_id)
            if record["type"] != "opot" or record["state"] == "terminated":
                raise ConfigError(f"service {service_id} is not a live OPoT service")
            path = record["path"]
            if (
                not via
                or via[0] != path[0]
                or len(set(via)) != len(via)
                or not set(via) <= set(path)
                or path[-1] not in via
            ):
                raise ConfigError(
                    f"via must start at the ingress {path[0]!r} and take nodes of the path {path} once "
                    "each, its verifier among them"
                )
            onward = dict(itertools.pairwise(path)) | dict(itertools.pairwise(via))
            processes = record["processes"]
            for node in path[:-1]:
                args = processes[node]["args"]
                wanted = processes[onward[node]]["args"]["listen"]
                if args.get("next") != wanted:
                    args["next"] = wanted
                    await self._order(node, processes[node]["process"], "opot-node", args)
                    await self._running(node, processes[node]["process"], serving=True)
                    record["restarts"][node] = 0
            record["route"] = list(via)
            self.store.put_service(service_id, record)
        log.info("services: %s routed through %s", service_id, " → ".join(via))
        return public(record)

    # The round --------------------------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Read every live service's processes and applications; set its state and reason, and order
        again a process its manager lost or failed."""
        async with self._lock:
            for record in list(self.records.values()):
                if record["state"] != "terminated":
                    state, reason = await self._assess(record)
                    self._set(record, state, reason)

    async def _assess(self, record: dict[str, Any]) -> tuple[State, str | None]:
        problems: list[str] = []
        healing: list[str] = []
        for name, ordered in record["processes"].items():
            node, process_id = ordered["node"], ordered["process"]
            try:
                process = await self._read(node, process_id)
            except AgentUnavailable as exc:
                problems.append(f"the service manager of {node} does not answer ({exc})")
                continue
            if process is None or process.get("state") == "failed":
                why = "lost" if process is None else f"failed ({process.get('reason')})"
                try:
                    await self._order(node, process_id, ordered["kind"], ordered["args"])
                except AgentUnavailable as exc:
                    problems.append(f"the {name} at {node} is {why} and could not be ordered again: {exc}")
                else:
                    record["restarts"][name] = 0
                    healing.append(f"the {name} at {node} was {why}: ordered again")
                continue
            state = process.get("state")
            restarts = int(process.get("restarts") or 0)
            seen = record["restarts"].get(name, 0)
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
            elif not _serving(ordered["kind"], process):
                problems.append(f"the {name} at {node} is starting (its first key, then its socket)")
        for app_id in record["apps"]:
            app = self.apps.apps.get(UUID(app_id))
            if app is None:
                problems.append(f"its application {app_id} is gone")
                continue
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

    async def _running(self, node: str, process_id: str, serving: bool = False) -> dict[str, Any]:
        """The process once it runs — and with ``serving``, once it serves, where its kind tells — (its
        ``args`` with the port its manager chose).

        Raises:
            AgentUnavailable: it failed, or did not run within ``ready_timeout_s``.
        """
        deadline = time.monotonic() + self.ready_timeout_s
        while True:
            process = await self._read(node, process_id)
            if (
                process is not None
                and process.get("state") == "running"
                and (not serving or _serving(str(process.get("kind")), process))
            ):
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


def _serving(kind: str, process: Mapping[str, Any]) -> bool:
    """Whether a running process serves: once its stats file names its pid (a tunnel gateway writes it
    once it listens, an OPoT node once it holds its first key and its socket); ``kind`` is for kinds
    that keep no stats (none yet)."""
    stats = process.get("stats") or {}
    return stats.get("pid") is not None and stats.get("pid") == process.get("pid")


def _process_view(process: dict[str, Any]) -> dict[str, Any]:
    """The parts of a manager's process a service shows (its secret arguments are shown masked by the
    manager already)."""
    return {
        "state": process.get("state"),
        "pid": process.get("pid"),
        "restarts": process.get("restarts"),
        "last_exit": process.get("last_exit"),
        "args": process.get("args"),
        "stats": process.get("stats") or {},
    }


def _opot_summary(path: list[str], endpoints: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """An OPoT service at a glance: what its verifier counted, and the key IDs of each hop's masks as the
    hop's downstream node fetched them (the upstream one took the same, by ID, from its KME)."""
    verifier = endpoints[path[-1]].get("stats") or {}
    hops: dict[str, list[str]] = {}
    for node in path[1:]:
        for hop, key_ids in ((endpoints[node].get("stats") or {}).get("hops") or {}).items():
            if hop.endswith(f"->{node}"):
                hops[hop] = list(key_ids)
    return {
        "valid": verifier.get("valid", 0),
        "invalid": verifier.get("invalid", 0),
        "dropped": verifier.get("dropped", {}),
        "hops": hops,
    }
