"""``sdqkd up`` / ``down``: a whole network on one host, in one command.

``up`` provisions the run's PKI and starts, each as its own process on loopback: the emulator, the
SDN controller, one node agent, one service manager and one KME per node, and the operator's dashboard
(``sdqkd web``, its token new for each run). The agents call home to the controller, which
provisions the topology's QKD links through them (ETSI GS QKD 015, validated against the model
shipped with sdqkd unless ``--yang-dir`` or ``$SDQKD_YANG_DIR`` names another); ``up`` waits until
every link makes key, prints the network, and stays until Ctrl-C, SIGTERM or ``sdqkd down``; then it
stops its processes, leaving none behind.

The configurations come from :mod:`sdqkd.runtime.configs` (as ``sdqkd deploy``'s do), the processes
are watched by :class:`~sdqkd.runtime.supervisor.Supervisor` (a KME that dies is restarted), and
``sdqkd status`` reads the network through :mod:`sdqkd.runtime.status`.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import random
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx

from sdqkd import etsi015
from sdqkd.emulator.client import EmulatorClient
from sdqkd.errors import ConfigError
from sdqkd.kms.store import SqliteKeyStore
from sdqkd.pki.private import private_directory
from sdqkd.runtime.configs import (
    Placement,
    agent_config,
    controller_config,
    emulator_arguments,
    kme_config,
    service_manager_config,
    web_config,
)
from sdqkd.runtime.processes import is_alive, terminate
from sdqkd.runtime.rundir import RunDir, provision_pki
from sdqkd.runtime.status import network_status, operator_client
from sdqkd.runtime.supervisor import Supervisor, stop_on_signals
from sdqkd.server.logs import LogFormat
from sdqkd.topology.loader import load_topology
from sdqkd.topology.models import Topology
from sdqkd.web.auth import new_token

__all__ = ["Progress", "down", "free_port", "free_ports", "kme_configs", "up"]


@dataclass(frozen=True)
class Progress:
    """What ``up`` reports while it works (the CLI renders it)."""

    say: Callable[[str], None]
    links: Callable[[list[dict[str, Any]]], None]


def _child_spec(spec: str) -> str:
    path = Path(spec)
    return str(path.resolve()) if path.is_file() else spec


_PORT_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct ports free now (a KME's URL must be known to its peers before it starts).

    Chosen below the kernel's ephemeral range where there is one (Linux: ``ip_local_port_range``): the
    KMEs bind their ports only after the controller and the agents started, and a port from the
    ephemeral range may meanwhile become the local port of one of their outgoing connections (seen as
    ``Address already in use``); ports outside it are only ever taken by an explicit bind.
    """
    try:
        low = int(_PORT_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 0
    found: list[int] = []
    candidates = random.sample(range(low - 10000, low), 64 + count) if low > 11024 else []
    for port in candidates:
        if len(found) == count:
            break
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            found.append(port)
    while len(found) < count:  # no such range (or all tried were taken): the kernel's choice
        with socket.socket() as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in found:
            found.append(port)
    return found


def free_port(host: str = "127.0.0.1") -> int:
    """A port free now (see :func:`free_ports`)."""
    return free_ports(1, host)[0]


def _placement(
    run: RunDir,
    emulator_url: str,
    ports: dict[str, int],
    controller_url: str | None,
    controller_node: str | None = None,
    manager_ports: dict[str, int] | None = None,
) -> Placement:
    """Where the services of a one-host run are: loopback, the KMEs on ``ports``, the service
    managers on ``manager_ports``; with ``controller_node``, the controller reaches the agents over
    QKD-TLS with keys from that node's KME."""
    kme_urls = {node: f"https://localhost:{port}" for node, port in ports.items()}
    managers = {node: f"https://localhost:{port}" for node, port in (manager_ports or {}).items()}
    return Placement(run.pki, emulator_url, kme_urls, controller_url, controller_node, managers)


def kme_configs(
    topology: Topology,
    run: RunDir,
    emulator_url: str,
    ports: dict[str, int],
    controller_node: str | None = None,
    keep_keys: bool = False,
) -> dict[str, Any]:
    """The configuration of each node's KME on this host (loopback, on ``ports``), by node; each
    wipes its key store when it stops unless ``keep_keys``."""
    at = _placement(run, emulator_url, ports, None, controller_node)
    return {
        node.id: kme_config(
            topology,
            node.id,
            at,
            host="127.0.0.1",
            port=ports[node.id],
            database=run.kme_dir / f"{node.id}.db",
            endpoint_file=run.kme_endpoint(node.id),
            wipe_at_stop=not keep_keys,
        )
        for node in topology.nodes
    }


def wipe_key_stores(run: RunDir) -> None:
    """Wipe the key store of every KME of the run (``RUN/kme/*.db``): no block or key bytes left
    in the files (:meth:`~sdqkd.kms.store.SqliteKeyStore.wipe`). Each KME wipes its own when it
    stops; this is for one that could not (killed)."""
    for database in sorted(run.kme_dir.glob("*.db")):
        store = SqliteKeyStore(database)
        try:
            store.wipe()
        finally:
            store.close()


@contextlib.contextmanager
def _owning(run: RunDir) -> Iterator[None]:
    """Hold the run directory's lock while ``up`` runs.

    ``network.json`` appears only once the emulator is up, so it cannot stop a second ``up`` that
    starts meanwhile (both would provision the PKI, overwriting each other's keys, and start an
    emulator on the same state file). The kernel releases the lock when the process ends, however
    it ends: a stale lock file never blocks a later ``up``.
    """
    private_directory(run.root)  # the PKI's keys, the key stores: the run's owner's only
    with run.lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"a network already runs in {run.root}: `sdqkd down --run-dir {run.root}`"
            ) from None
        yield


def up(
    topology_spec: str,
    run_dir: Path,
    time_scale: float,
    progress: Progress,
    ready: Callable[[dict[str, Any]], None],
    wait_key_s: float = 60.0,
    yang_dir: Path | None = None,
    control_channel: str = "mtls",
    controller_node: str | None = None,
    log_format: LogFormat = LogFormat.TEXT,
    engine: str = "rate",
    protocol_block_symbols: int | None = None,
    keep_keys: bool = False,
) -> None:
    """Start the network of ``topology_spec`` in ``run_dir`` and serve until told to stop.

    Args:
        topology_spec: a built-in topology or a topology file.
        run_dir: the run directory (PKI, state, logs).
        time_scale: the emulator's world runs that many times faster.
        progress: what to report while starting.
        ready: called with the network's status once every link makes key.
        wait_key_s: how long to wait for key before serving anyway, seconds.
        yang_dir: the ETSI GS QKD 015 YANG modules the agents validate against (None:
            ``$SDQKD_YANG_DIR``, else the packaged model).
        control_channel: how the controller reaches the agents: ``mtls`` (mutual TLS) or
            ``qkd-tls`` (QKD-TLS only: keys between the controller's SAE at ``controller_node``'s KME
            and each agent's SAE; the QKD modules then start as commissioned, paired as the
            topology says, since the first keys cannot wait for a controller that needs keys).
        controller_node: the controller's site for ``qkd-tls`` (None: the topology's first node).
        log_format: how every service writes its log (``RUN/<role>/….log``): text or JSON lines.
        engine: how the emulator's modules make key, ``rate`` or ``protocol`` (its ``--engine``).
        protocol_block_symbols: symbols per block of the ``protocol`` engine (None: its default).
        keep_keys: keep the KMEs' key stores (``RUN/kme/*.db``) when the network stops; otherwise
            every block and key is wiped from them (at ``sdqkd down`` or Ctrl-C).

    Raises:
        ConfigError: a network already runs there, or bad input.
        LaunchError: a process failed to start, or died.
    """
    if not time_scale > 0:
        raise ConfigError("--time-scale must be > 0")
    topology = load_topology(topology_spec)
    model = etsi015.yang_dir(yang_dir)  # checked before anything starts
    site = _controller_site(topology, control_channel, controller_node)
    run = RunDir(run_dir.resolve())
    with _owning(run):
        _up(
            topology_spec,
            topology,
            run,
            time_scale,
            progress,
            ready,
            wait_key_s,
            model,
            site,
            log_format,
            engine=engine,
            protocol_block_symbols=protocol_block_symbols,
            keep_keys=keep_keys,
        )


def _controller_site(topology: Topology, control_channel: str, controller_node: str | None) -> str | None:
    """The node whose KME serves the controller's SAE (None: the control channel is mutual TLS)."""
    if control_channel not in ("mtls", "qkd-tls"):
        raise ConfigError(f"--control-channel {control_channel!r}: mtls or qkd-tls")
    nodes = [node.id for node in topology.nodes]
    if controller_node is not None and controller_node not in nodes:
        raise ConfigError(
            f"--controller-node {controller_node!r} is no node of the topology ({', '.join(nodes)})"
        )
    if control_channel == "mtls":
        if controller_node is not None:
            raise ConfigError("--controller-node is for --control-channel qkd-tls")
        return None
    return controller_node or nodes[0]


def _up(
    topology_spec: str,
    topology: Topology,
    run: RunDir,
    time_scale: float,
    progress: Progress,
    ready: Callable[[dict[str, Any]], None],
    wait_key_s: float,
    yang_dir: Path,
    controller_node: str | None,
    log_format: LogFormat,
    *,
    engine: str,
    protocol_block_symbols: int | None,
    keep_keys: bool,
) -> None:
    progress.say(f"PKI in {run.pki}")
    provision_pki(run, topology, qkd_tls=controller_node is not None)
    spec = _child_spec(topology_spec)
    with stop_on_signals() as stop:
        processes = Supervisor(run, progress.say, stop, log_format)
        try:
            progress.say("starting the emulator")
            arguments = emulator_arguments(
                spec,
                run.root,
                time_scale,
                commissioned=controller_node is not None,
                engine=engine,
                protocol_block_symbols=protocol_block_symbols,
            )
            processes.spawn("emulator", arguments, run.emulator_log, run.emulator_endpoint)
            found = processes.wait_ready("emulator", run.emulator_endpoint, run.emulator_log)
            if found is None:  # Ctrl-C or SIGTERM while starting: stop quietly, as later
                return
            emulator_url = str(found["url"])

            progress.say(f"emulator at {emulator_url}; starting the SDN controller")
            # the agents tell the controller
            # the KMEs' and the service managers' ports are chosen now: the controller must know the
            # managers (it orders service processes there), the KMEs their peers
            nodes = [n.id for n in topology.nodes]
            chosen = free_ports(2 * len(nodes))
            ports = dict(zip(nodes, chosen[: len(nodes)], strict=True))
            manager_ports = dict(zip(nodes, chosen[len(nodes) :], strict=True))
            at = _placement(run, emulator_url, ports, None, controller_node, manager_ports)
            config = controller_config(
                spec,
                at,
                host="127.0.0.1",
                port=0,
                database=run.controller_database,
                endpoint_file=run.controller_endpoint,
                time_scale=time_scale,
            )
            run.write_json(run.controller_config, config)
            arguments = ["controller", "--config", str(run.controller_config)]
            processes.spawn("controller", arguments, run.controller_log, run.controller_endpoint)
            found = processes.wait_ready("controller", run.controller_endpoint, run.controller_log)
            if found is None:
                return
            controller_url = str(found["url"])

            progress.say(
                f"controller at {controller_url}; starting {len(topology.nodes)} agents, which call "
                "home; the controller provisions the QKD links through them (ETSI GS QKD 015)"
            )
            at = _placement(run, emulator_url, ports, controller_url, controller_node, manager_ports)
            run.agent_dir.mkdir(parents=True, exist_ok=True)
            run.nfv_dir.mkdir(parents=True, exist_ok=True)
            for node in topology.nodes:
                endpoint = run.agent_endpoint(node.id)
                config = agent_config(
                    node.id,
                    node.name,
                    at,
                    host="127.0.0.1",
                    port=0,
                    endpoint_file=endpoint,
                    yang_dir=yang_dir,
                )
                run.write_json(run.agent_config(node.id), config)
                arguments = ["agent", "--config", str(run.agent_config(node.id))]
                processes.spawn(f"agent-{node.id}", arguments, run.agent_log(node.id), endpoint)
            for node in topology.nodes:  # the service managers start meanwhile (docs/nfv.md)
                config = service_manager_config(
                    node.id,
                    at,
                    host="127.0.0.1",
                    port=manager_ports[node.id],
                    run_dir=run.root,
                    log_dir=run.nfv_processes(node.id),
                    endpoint_file=run.nfv_endpoint(node.id),
                )
                run.write_json(run.nfv_config(node.id), config)
                arguments = ["service-manager", "--config", str(run.nfv_config(node.id))]
                processes.spawn(f"nfv-{node.id}", arguments, run.nfv_log(node.id), run.nfv_endpoint(node.id))
            _spawn_dashboard(processes, run, at, topology.name)
            agent_urls = _urls_when_ready(processes, topology, "agent", run.agent_endpoint, run.agent_log)
            if agent_urls is None:
                return
            service_managers = _urls_when_ready(processes, topology, "nfv", run.nfv_endpoint, run.nfv_log)
            if service_managers is None:
                return

            progress.say(f"starting {len(topology.nodes)} KMEs")
            private_directory(run.kme_dir)
            configs = kme_configs(topology, run, emulator_url, ports, controller_node, keep_keys)
            for node_id, config in configs.items():
                run.write_json(run.kme_config(node_id), config)
                arguments = ["kme", "--config", str(run.kme_config(node_id))]
                processes.spawn(f"kme-{node_id}", arguments, run.kme_log(node_id), run.kme_endpoint(node_id))
            kme_urls = _urls_when_ready(processes, topology, "kme", run.kme_endpoint, run.kme_log)
            if kme_urls is None:
                return
            dashboard = processes.wait_ready("web", run.web_endpoint, run.web_log)
            if dashboard is None:
                return

            processes.publish(
                {
                    "pid": os.getpid(),
                    "topology": topology_spec,
                    "topology_name": topology.name,
                    "time_scale": time_scale,
                    "engine": engine,
                    "emulator": {"url": emulator_url},
                    "controller": {"url": controller_url},
                    "kmes": kme_urls,
                    "agents": agent_urls,
                    "service_managers": service_managers,
                    "keep_keys": keep_keys,
                    "dashboard": {"url": f"{dashboard['url']}/"},
                    "control_channel": {
                        "kind": "mtls" if controller_node is None else "qkd-tls",
                        "controller_node": controller_node,
                    },
                }
            )
            with operator_client(run) as client:
                _wait_for_key(run, client, progress, stop, wait_key_s, processes.check)
            if not stop[0]:
                ready(network_status(run))
            processes.serve()
        finally:
            progress.say("stopping")
            processes.stop_all()
            if not keep_keys:
                wipe_key_stores(run)
            run.network.unlink(missing_ok=True)
            run.emulator_endpoint.unlink(missing_ok=True)
            run.controller_endpoint.unlink(missing_ok=True)
            run.web_token.unlink(missing_ok=True)  # it let browsers into this run's dashboard only


def _spawn_dashboard(processes: Supervisor, run: RunDir, at: Placement, network: str) -> None:
    """Start the dashboard (``sdqkd web``) with a new token, owner-only in ``RUN/web/token``."""
    new_token(run.web_token)
    config = web_config(
        at,
        host="127.0.0.1",
        port=0,
        token_file=run.web_token,
        endpoint_file=run.web_endpoint,
        network=network,
    )
    run.write_json(run.web_config, config)
    processes.spawn("web", ["web", "--config", str(run.web_config)], run.web_log, run.web_endpoint)


def _urls_when_ready(
    processes: Supervisor,
    topology: Topology,
    role: str,
    endpoint: Callable[[str], Path],
    log: Callable[[str], Path],
) -> dict[str, str] | None:
    """Each node's ``role`` process's URL once it serves, by node (None: stopped meanwhile)."""
    urls = {}
    for node in topology.nodes:
        found = processes.wait_ready(f"{role}-{node.id}", endpoint(node.id), log(node.id))
        if found is None:
            return None
        urls[node.id] = str(found["url"])
    return urls


def _wait_for_key(
    run: RunDir,
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
        waiting = _not_ready(links)
        if not waiting:
            return
        if time.monotonic() > deadline:
            names = ", ".join(link["id"] for link in waiting)
            progress.say(f"still no key on {names} after {timeout_s:.0f} s: serving anyway")
            return
        time.sleep(0.25)


def _not_ready(links: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The links ``up`` still waits for: a physical link not provisioned yet, or up but without key at
    both KMEs; a pair of nodes that up links connect but do not join directly whose relayed association
    the controller has not yet configured at every KME of its path."""
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
    if not record.get("keep_keys", False):  # the launcher wiped them, unless it was killed
        wipe_key_stores(run)
    return stopped
