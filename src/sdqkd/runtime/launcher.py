"""``sdqkd up`` / ``down`` / ``status``: a whole network on one host, in one command.

``up`` provisions the run's PKI and starts, each as its own process on loopback: the emulator, the
SDN controller, one node agent and one KME per node. The agents call home to the controller, which
provisions the topology's QKD links through them (ETSI GS QKD 015); ``up`` waits until every link
makes key, prints the network, and stays until Ctrl-C, SIGTERM or ``sdqkd down``; then it stops
its processes, leaving none behind. Without the ETSI 015 YANG modules there are no agents and no
controller: ``up`` then configures the emulator's module pairs itself.

While it serves, ``up`` supervises its children. A KME that dies (a crash, ``kill -9``, the OOM
killer) is started again on the same port and database: its key store is crash-safe, so keys it
handed out stay retrievable by their slaves. A KME that keeps dying (more than
``KME_RESTARTS`` times within ``KME_RESTART_WINDOW_S``) stops the network, as does the death of
the emulator (the state of the optical plant lives in it).
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import signal
import socket
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import networkx as nx

from sdqkd.controller.links import qkdl_id
from sdqkd.emulator.client import EmulatorClient
from sdqkd.errors import ConfigError, SdqkdError
from sdqkd.pki.identity import Role
from sdqkd.pki.tls import client_ssl_context
from sdqkd.runtime.processes import is_alive, spawn_sdqkd, terminate
from sdqkd.runtime.rundir import RunDir, provision_pki, sae_id
from sdqkd.topology.loader import load_topology
from sdqkd.topology.models import Topology

__all__ = [
    "KME_RESTARTS",
    "KME_RESTART_WINDOW_S",
    "LaunchError",
    "agent_config",
    "controller_config",
    "down",
    "network_status",
    "operator_client",
    "pair_configuration",
    "up",
]

_START_TIMEOUT_S = 30.0
KME_RESTARTS = 3
"""How many times ``up`` restarts one KME within :data:`KME_RESTART_WINDOW_S` before it gives up."""
KME_RESTART_WINDOW_S = 60.0


class LaunchError(SdqkdError):
    """The network could not be started."""


@dataclass(frozen=True)
class Progress:
    """What ``up`` reports while it works (the CLI renders it)."""

    say: Callable[[str], None]
    links: Callable[[list[dict[str, Any]]], None]


def pair_configuration(topology: Topology) -> dict[str, dict[str, Any]]:
    """Each module's configuration for the topology's QKD links: its peers and quantum channel."""
    config: dict[str, dict[str, Any]] = defaultdict(lambda: {"peers": [], "dwdm_channel": None})
    for link in topology.qkd_links:
        profile = topology.profile(topology.module(link.transmitter).profile)
        channel = link.quantum_dwdm_channel or profile.default_quantum_dwdm_channel
        for here, there in ((link.transmitter, link.receiver), (link.receiver, link.transmitter)):
            config[here]["peers"].append(there)
            config[here]["dwdm_channel"] = config[here]["dwdm_channel"] or channel
    return dict(config)


def operator_client(run: RunDir) -> EmulatorClient:
    """A client of the run's emulator with the operator's certificate."""
    endpoint = run.read_json(run.emulator_endpoint)
    cert, key = run.require_certificate(Role.OPERATOR, "operator")
    return EmulatorClient(str(endpoint["url"]), cert, key, run.ca_cert)


def _child_spec(spec: str) -> str:
    path = Path(spec)
    return str(path.resolve()) if path.is_file() else spec


@contextlib.contextmanager
def _owning(run: RunDir) -> Iterator[None]:
    """Hold the run directory's lock while ``up`` runs.

    ``network.json`` appears only once the emulator is up, so it cannot stop a second ``up`` that
    starts meanwhile (both would provision the PKI, overwriting each other's keys, and start an
    emulator on the same state file). The kernel releases the lock when the process ends, however
    it ends: a stale lock file never blocks a later ``up``.
    """
    run.root.mkdir(parents=True, exist_ok=True)
    with run.lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"a network already runs in {run.root}: `sdqkd down --run-dir {run.root}`"
            ) from None
        yield


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[list[bool]]:
    """A flag set by SIGTERM/SIGINT (instead of dying with children left behind)."""
    stop = [False]

    def handler(signum: int, frame: FrameType | None) -> None:
        stop[0] = True

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def up(
    topology_spec: str,
    run_dir: Path,
    time_scale: float,
    progress: Progress,
    ready: Callable[[dict[str, Any]], None],
    wait_key_s: float = 60.0,
    yang_dir: Path | None = None,
) -> None:
    """Start the network of ``topology_spec`` in ``run_dir`` and serve until told to stop.

    Raises:
        ConfigError: a network already runs there, or bad input.
        LaunchError: a process failed to start.
    """
    if not time_scale > 0:
        raise ConfigError("--time-scale must be > 0")
    topology = load_topology(topology_spec)
    run = RunDir(run_dir.resolve())
    with _owning(run):
        _up(topology_spec, topology, run, time_scale, progress, ready, wait_key_s, find_yang_dir(yang_dir))


def _free_port(host: str = "127.0.0.1") -> int:
    """A port free now (a KME's URL must be known to its peers before it starts)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def kme_configs(topology: Topology, run: RunDir, emulator_url: str, ports: dict[str, int]) -> dict[str, Any]:
    """The configuration of each node's KME: its QKD links (peer KME, module) and the SAE directory."""
    configs: dict[str, Any] = {}
    directory = {sae_id(node.id): node.id for node in topology.nodes}
    for node in topology.nodes:
        cert, key = run.certificate(Role.KME, node.id)
        links = []
        for link in topology.qkd_links:
            ends = {topology.module(link.transmitter).node: link.transmitter,
                    topology.module(link.receiver).node: link.receiver}  # fmt: skip
            if node.id not in ends:
                continue
            (peer,) = [n for n in ends if n != node.id]
            links.append(
                {
                    "id": link.id,
                    "peer_kme_id": peer,
                    "peer_url": f"https://localhost:{ports[peer]}",
                    "device": {"etsi014_url": f"{emulator_url}/devices/{ends[node.id]}", "peer_sae_id": peer},
                }
            )
        configs[node.id] = {
            "kme_id": node.id,
            "host": "127.0.0.1",
            "port": ports[node.id],
            "tls": {"cert": str(cert), "key": str(key), "ca": str(run.ca_cert)},
            "storage": {"backend": "sqlite", "path": str(run.kme_dir / f"{node.id}.db")},
            "saes": directory,
            "links": links,
            "endpoint_file": str(run.kme_endpoint(node.id)),
        }
    return configs


def agent_config(
    run: RunDir,
    node_id: str,
    location: str,
    yang_dir: Path,
    emulator_url: str,
    controller_url: str | None = None,
    kme_url: str | None = None,
) -> dict[str, Any]:
    """The configuration of a node's agent (its driver: the emulator; it calls home to the controller)."""
    cert, key = run.certificate(Role.AGENT, node_id)
    config: dict[str, Any] = {
        "node_id": node_id,
        "location": location,
        "host": "127.0.0.1",
        "port": 0,
        "tls": {"cert": str(cert), "key": str(key), "ca": str(run.ca_cert)},
        "yang_dir": str(yang_dir),
        "driver": {"kind": "emulator", "url": emulator_url},
        "endpoint_file": str(run.agent_endpoint(node_id)),
    }
    if controller_url is not None:
        config["controller_url"] = controller_url
    if kme_url is not None:
        config["kme_url"] = kme_url
    return config


def controller_config(run: RunDir, topology_spec: str) -> dict[str, Any]:
    """The configuration of the run's SDN controller."""
    cert, key = run.certificate(Role.CONTROLLER, "controller")
    return {
        "host": "127.0.0.1",
        "port": 0,
        "tls": {"cert": str(cert), "key": str(key), "ca": str(run.ca_cert)},
        "topology": topology_spec,
        "database": str(run.controller_database),
        "endpoint_file": str(run.controller_endpoint),
        "poll_interval_s": 1.0,
    }


def find_yang_dir(explicit: Path | None) -> Path | None:
    """The ETSI GS QKD 015 YANG directory: ``explicit``, else ``$SDQKD_YANG_DIR``, else the
    ``shared/specs/etsi-gs-qkd-015`` beside this checkout; None if none has ``yang-library.json``."""
    candidates = [explicit] if explicit is not None else []
    if os.environ.get("SDQKD_YANG_DIR"):
        candidates.append(Path(os.environ["SDQKD_YANG_DIR"]))
    candidates.append(Path(__file__).resolve().parents[3].parent / "shared" / "specs" / "etsi-gs-qkd-015")
    for candidate in candidates:
        if (candidate / "yang-library.json").is_file():
            return candidate.resolve()
    if explicit is not None:
        raise ConfigError(f"{explicit}: no yang-library.json there (the ETSI GS QKD 015 YANG modules)")
    return None


def _up(
    topology_spec: str,
    topology: Topology,
    run: RunDir,
    time_scale: float,
    progress: Progress,
    ready: Callable[[dict[str, Any]], None],
    wait_key_s: float,
    yang_dir: Path | None,
) -> None:
    progress.say(f"PKI in {run.pki}")
    provision_pki(run, topology)
    run.emulator_endpoint.unlink(missing_ok=True)
    children: dict[str, subprocess.Popen[bytes]] = {}

    with _stop_on_signals() as stop:
        try:
            progress.say("starting the emulator")
            children["emulator"] = spawn_sdqkd(
                [
                    "emulator", "--topology", _child_spec(topology_spec), "--run-dir", str(run.root),
                    "--time-scale", repr(time_scale),
                ],
                run.emulator_log,
            )  # fmt: skip
            endpoint = _wait_for_endpoint(
                run.emulator_endpoint, children["emulator"].pid, run.emulator_log, stop
            )
            if endpoint is None:  # Ctrl-C or SIGTERM while starting: stop quietly, as later
                return
            emulator_url = str(endpoint["url"])
            agent_urls: dict[str, str] = {}
            controller_url: str | None = None
            ports = {node.id: _free_port() for node in topology.nodes}  # the agents tell the controller
            if yang_dir is None:
                progress.say(
                    "no ETSI GS QKD 015 YANG modules (--yang-dir or SDQKD_YANG_DIR): no agents and no "
                    "controller; configuring the emulator's modules directly"
                )
                with operator_client(run) as client:
                    for module_id, config in pair_configuration(topology).items():
                        client.configure(module_id, config["peers"], config["dwdm_channel"], enabled=True)
            else:
                progress.say(f"emulator at {emulator_url}; starting the SDN controller")
                run.controller_endpoint.unlink(missing_ok=True)
                run.write_json(run.controller_config, controller_config(run, _child_spec(topology_spec)))
                children["controller"] = spawn_sdqkd(
                    ["controller", "--config", str(run.controller_config)], run.controller_log
                )
                found = _wait_for_endpoint(
                    run.controller_endpoint, children["controller"].pid, run.controller_log, stop
                )
                if found is None:
                    return
                controller_url = str(found["url"])
                progress.say(
                    f"controller at {controller_url}; starting {len(topology.nodes)} agents, which call "
                    "home; the controller provisions the QKD links through them (ETSI GS QKD 015)"
                )
                run.agent_dir.mkdir(parents=True, exist_ok=True)
                for node in topology.nodes:
                    run.agent_endpoint(node.id).unlink(missing_ok=True)
                    config = agent_config(
                        run,
                        node.id,
                        node.name,
                        yang_dir,
                        emulator_url,
                        controller_url=controller_url,
                        kme_url=f"https://localhost:{ports[node.id]}",
                    )
                    run.write_json(run.agent_config(node.id), config)
                    children[f"agent-{node.id}"] = spawn_sdqkd(
                        ["agent", "--config", str(run.agent_config(node.id))], run.agent_log(node.id)
                    )
                for node in topology.nodes:
                    found = _wait_for_endpoint(
                        run.agent_endpoint(node.id),
                        children[f"agent-{node.id}"].pid,
                        run.agent_log(node.id),
                        stop,
                    )
                    if found is None:
                        return
                    agent_urls[node.id] = str(found["url"])

            progress.say(f"starting {len(topology.nodes)} KMEs")
            run.kme_dir.mkdir(parents=True, exist_ok=True)
            for node_id, config in kme_configs(topology, run, emulator_url, ports).items():
                run.write_json(run.kme_config(node_id), config)
                children[f"kme-{node_id}"] = _spawn_kme(run, node_id)
            kme_urls = {}
            for node in topology.nodes:
                found = _wait_for_endpoint(
                    run.kme_endpoint(node.id), children[f"kme-{node.id}"].pid, run.kme_log(node.id), stop
                )
                if found is None:
                    return
                kme_urls[node.id] = str(found["url"])
            record: dict[str, Any] = {
                "pid": os.getpid(),
                "topology": topology_spec,
                "topology_name": topology.name,
                "time_scale": time_scale,
                "processes": {name: child.pid for name, child in children.items()},
                "emulator": {"url": emulator_url},
                "controller": {"url": controller_url},
                "kmes": kme_urls,
                "agents": agent_urls,
            }
            run.write_json(run.network, record)
            supervisor = _Supervisor(run, children, record, progress, stop)
            with operator_client(run) as client:
                _wait_for_key(run, topology, client, progress, stop, wait_key_s, supervisor.check)
            if not stop[0]:
                ready(network_status(run))
            supervisor.serve()
        finally:
            progress.say("stopping")
            # the controller first (it would report the agents' stops as failures), then KMEs and
            # agents, the emulator last
            order = sorted(reversed(list(children)), key=lambda name: name != "controller")
            for child in (children[name] for name in order):
                terminate(child.pid)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(timeout=5)
            run.network.unlink(missing_ok=True)
            run.emulator_endpoint.unlink(missing_ok=True)
            run.controller_endpoint.unlink(missing_ok=True)


def _spawn_kme(run: RunDir, node_id: str) -> subprocess.Popen[bytes]:
    """Start the KME of ``node_id`` from its configuration in the run directory."""
    run.kme_endpoint(node_id).unlink(missing_ok=True)  # a killed KME leaves its record behind
    return spawn_sdqkd(["kme", "--config", str(run.kme_config(node_id))], run.kme_log(node_id))


def _exit_reason(returncode: int) -> str:
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-returncode).name}"
        return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


class _Supervisor:
    """Watches the children of ``up``: restarts a KME that died, at most :data:`KME_RESTARTS` times
    within :data:`KME_RESTART_WINDOW_S` (its port and database stay the same, so its peers and SAEs
    find it again), and keeps ``network.json``'s process ids current."""

    def __init__(
        self,
        run: RunDir,
        children: dict[str, subprocess.Popen[bytes]],
        record: dict[str, Any],
        progress: Progress,
        stop: list[bool],
    ) -> None:
        self.run = run
        self.children = children
        self.record = record
        self.progress = progress
        self.stop = stop
        self._restarts: dict[str, list[float]] = defaultdict(list)

    def check(self) -> None:
        """Look at every child once; restart the KMEs that died (waiting until they serve).

        Raises:
            LaunchError: the emulator, the controller or an agent died, a KME kept dying, or a
                restarted KME did not start.
        """
        for name, child in list(self.children.items()):
            if self.stop[0] or child.poll() is None:
                continue
            reason = _exit_reason(child.returncode)
            if not name.startswith("kme-"):  # the emulator, the controller or an agent
                raise LaunchError(f"{name} {reason}; see the logs in {self.run.root}")
            node_id = name.removeprefix("kme-")
            now = time.monotonic()
            recent = [t for t in self._restarts[name] if now - t < KME_RESTART_WINDOW_S]
            if len(recent) >= KME_RESTARTS:
                raise LaunchError(
                    f"{name} {reason}, {len(recent) + 1} times within {KME_RESTART_WINDOW_S:.0f} s: "
                    f"not restarting it; see {self.run.kme_log(node_id)}"
                )
            self._restarts[name] = [*recent, now]
            self.progress.say(f"{name} {reason}; restarting it ({len(recent) + 1}/{KME_RESTARTS})")
            self.children[name] = _spawn_kme(self.run, node_id)
            self.record["processes"][name] = self.children[name].pid
            self.run.write_json(self.run.network, self.record)  # `down` must find it while it starts
            found = _wait_for_endpoint(
                self.run.kme_endpoint(node_id), self.children[name].pid, self.run.kme_log(node_id), self.stop
            )
            if found is not None:
                self.progress.say(f"{name} serves again at {found['url']}")

    def serve(self) -> None:
        """Check the children until told to stop."""
        while not self.stop[0]:
            self.check()
            time.sleep(0.2)


def _wait_for_endpoint(path: Path, pid: int, log: Path, stop: list[bool]) -> dict[str, Any] | None:
    """A service's endpoint record once it serves; None if told to stop meanwhile."""
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline and not stop[0]:
        if path.exists():
            endpoint = RunDir(path.parent).read_json(path)
            if endpoint.get("pid") == pid:
                return endpoint
        if not is_alive(pid):
            text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
            tail = text.strip().splitlines()[-5:]
            raise LaunchError(f"{log.stem} failed to start: " + (" | ".join(tail) or "no output"))
        time.sleep(0.05)
    if stop[0]:
        return None
    raise LaunchError(f"{log.stem} did not start within {_START_TIMEOUT_S:.0f} s")


def _wait_for_key(
    run: RunDir,
    topology: Topology,
    client: EmulatorClient,
    progress: Progress,
    stop: list[bool],
    timeout_s: float,
    check: Callable[[], None],
) -> None:
    """Until both KMEs of every link that can make key (its switch connected) hold ready key, or
    ``timeout_s``; ``check`` looks after the processes meanwhile."""
    deadline = time.monotonic() + timeout_s
    while not stop[0]:
        check()
        links = network_status(run, client)["links"]
        progress.links(links)
        waiting = _not_ready(links, relayed=_has_controller(run))
        if not waiting:
            return
        if time.monotonic() > deadline:
            names = ", ".join(link["id"] for link in waiting)
            progress.say(f"still no key on {names} after {timeout_s:.0f} s: serving anyway")
            return
        time.sleep(0.25)


def _has_controller(run: RunDir) -> bool:
    return bool(run.read_json(run.network).get("controller", {}).get("url"))


def _not_ready(links: list[dict[str, Any]], relayed: bool) -> list[dict[str, Any]]:
    """The links ``up`` still waits for: a physical link not provisioned yet, or up but without key at
    both KMEs; with a controller (``relayed``), a pair of nodes that up links connect but do not join
    directly whose association is not yet configured at every KME of its path."""
    physical = [link for link in links if link["type"] == "PHYS"]
    waiting = [
        link
        for link in physical
        if link["status"] == "unconfigured"
        or (
            link["status"] == "up"
            and (len(link["pools"]) < 2 or any(p["ready_blocks"] == 0 for p in link["pools"].values()))
        )
    ]
    if not relayed:
        return waiting
    graph: nx.Graph[str] = nx.Graph()
    graph.add_edges_from(tuple(link["nodes"]) for link in physical if link["status"] == "up")
    joined = {frozenset(link["nodes"]) for link in physical if link["status"] == "up"}
    virtual = {frozenset(link["nodes"]): link for link in links if link["type"] == "VIRT"}
    for component in nx.connected_components(graph):
        for a, b in itertools.combinations(sorted(component), 2):
            pair = frozenset({a, b})
            if pair in joined:
                continue
            found = virtual.get(pair)
            if found is None:
                waiting.append({"id": f"a relay path for {a}-{b}"})
            elif set(found["configured_kmes"]) != set(found["path"]):
                waiting.append(found)
    return waiting


def network_status(run: RunDir, client: EmulatorClient | None = None) -> dict[str, Any]:
    """The running network as ``sdqkd status --format json`` shows it."""
    record = run.read_json(run.network)
    topology = load_topology(record["topology"])
    own_client = client is None
    client = client or operator_client(run)
    try:
        pairs = {(p["transmitter"], p["receiver"]): p for p in client.links()}
    finally:
        if own_client:
            client.close()
    operator_cert, operator_key = run.certificate(Role.OPERATOR, "operator")
    kme_urls: dict[str, str] = record.get("kmes", {})
    pools = _kme_pools(run, kme_urls)
    links = []
    for link in topology.qkd_links:
        pair = pairs.get((link.transmitter, link.receiver))
        fibre, _ = topology.link_path(link)
        if pair is None:
            state = "unconfigured"
        elif pair["active"]:
            state = "up"
        elif "switch" in pair["reason"]:
            state = "standby"
        else:
            state = "down"
        links.append(
            {
                "id": link.id,
                "qkdl_id": str(qkdl_id(link.id)),
                "type": "PHYS",
                "nodes": [topology.module(link.transmitter).node, topology.module(link.receiver).node],
                "fibre": fibre.id,
                "status": state,
                "reason": pair["reason"] if pair else "modules not configured",
                "skr_bps": pair["skr_bps"] if pair else 0.0,
                "keys_available": pair["keys_available"] if pair else 0,
                "transmitter": link.transmitter,
                "receiver": link.receiver,
                "pools": {
                    node: levels for node, by_link in pools.items() if (levels := by_link.get(link.id))
                },
            }
        )
    nodes = []
    for node in topology.nodes:
        cert, key = run.certificate(Role.SAE, sae_id(node.id))
        kme_cert, kme_key = run.certificate(Role.KME, node.id)
        nodes.append(
            {
                "id": node.id,
                "name": node.name,
                "kme_url": kme_urls.get(node.id),
                "agent_url": record.get("agents", {}).get(node.id),
                "kme": {"cert": str(kme_cert), "key": str(kme_key)},
                "saes": [{"id": sae_id(node.id), "cert": str(cert), "key": str(key)}],
                "modules": [
                    {
                        "id": m.id,
                        "role": str(m.role),
                        "etsi014_url": f"{record['emulator']['url']}/devices/{m.id}",
                    }
                    for m in topology.qkd_modules
                    if m.node == node.id
                ],
            }
        )
    links += _virtual_links(run, record.get("controller", {}).get("url"))
    return {
        "run_dir": str(run.root),
        "topology": topology.name,
        "ca": str(run.ca_cert),
        "operator": {"cert": str(operator_cert), "key": str(operator_key)},
        "emulator": {"url": record["emulator"]["url"]},
        "controller": {"url": record.get("controller", {}).get("url")},
        "nodes": nodes,
        "links": links,
    }


def _virtual_links(run: RunDir, controller_url: str | None) -> list[dict[str, Any]]:
    """The key associations the controller relays over trusted nodes (type VIRT); none without a
    controller or when it does not answer."""
    if not controller_url:
        return []
    cert, key = run.require_certificate(Role.OPERATOR, "operator")
    try:
        with httpx.Client(verify=client_ssl_context(cert, key, run.ca_cert), timeout=5.0) as http:
            response = http.get(f"{controller_url}/api/v1/links")
            response.raise_for_status()
            found = response.json()
    except (httpx.HTTPError, ValueError):
        return []
    return [
        {
            "id": link["id"],
            "type": "VIRT",
            "qkdl_id": link["qkdl_id"],
            "nodes": link["nodes"],
            "path": link["path"],
            "hops": link["hops"],
            "status": link["status"],
            "reason": "a hop is down" if link["status"] != "up" else "",
            "skr_bps": float(link["skr_bps"]),
            "configured_kmes": sorted(node for node, entry in link["kmes"].items() if entry),
        }
        for link in found
        if link.get("type") == "VIRT"
    ]


def _kme_pools(run: RunDir, kme_urls: dict[str, str]) -> dict[str, dict[str, dict[str, Any]]]:
    """Pool levels per KME and link (``{node: {link: levels}}``); a KME that does not answer is
    left out."""
    if not kme_urls:
        return {}
    cert, key = run.require_certificate(Role.OPERATOR, "operator")
    pools: dict[str, dict[str, dict[str, Any]]] = {}
    with httpx.Client(verify=client_ssl_context(cert, key, run.ca_cert), timeout=5.0) as http:
        for node, url in kme_urls.items():
            try:
                response = http.get(f"{url}/api/v1/kme")
                response.raise_for_status()
            except httpx.HTTPError:
                continue
            pools[node] = {
                entry["id"]: {k: v for k, v in entry.items() if k not in ("id", "peer_kme_id")}
                for entry in response.json()["links"]
            }
    return pools


def down(run_dir: Path, timeout_s: float = 20.0) -> bool:
    """Stop the network running in ``run_dir``; True if one was running.

    Raises:
        ConfigError: nothing runs there.
    """
    run = RunDir(run_dir.resolve())
    record = run.read_json(run.network)
    launcher = int(record.get("pid", 0))
    stopped = terminate(launcher, timeout_s) if launcher and is_alive(launcher) else True
    for pid in record.get("processes", {}).values():  # the launcher stops them; make sure
        if is_alive(int(pid)):
            terminate(int(pid))
    deadline = time.monotonic() + 5
    while run.network.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    run.network.unlink(missing_ok=True)
    return stopped
