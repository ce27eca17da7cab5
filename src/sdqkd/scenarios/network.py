"""The network a scenario runs against: the one running in the run directory, or — when none runs there —
one the scenario starts with ``sdqkd up`` (as a user would) and stops when it is done.

The scenario reaches it as the operator does: the emulator's plant API (behind the controller's back,
as an operator at the equipment would) and the controller's northbound API, with the operator's
certificate; its applications' keys through the KMEs' ETSI GS QKD 014 API with the SAE certificates
``sdqkd up`` issued.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdqkd.controller.client import ControllerClient, ControllerClientError
from sdqkd.emulator.client import EmulatorClient
from sdqkd.errors import ConfigError, SdqkdError
from sdqkd.pki.identity import Role
from sdqkd.runtime.launcher import down
from sdqkd.runtime.processes import is_alive, spawn_sdqkd
from sdqkd.runtime.rundir import RunDir, sae_id
from sdqkd.runtime.status import controller_client, network_status, operator_client
from sdqkd.runtime.supervisor import LaunchError
from sdqkd.topology.loader import load_topology
from sdqkd.topology.models import Topology

__all__ = ["ScenarioNetwork", "attach", "is_running"]

START_TIMEOUT_S = 180.0
"""How long a network the scenario starts may take until every link makes key, seconds."""


def is_running(run: RunDir) -> bool:
    """Whether an ``sdqkd up`` serves a network in ``run`` (its record exists and its process lives)."""
    try:
        record = run.read_json(run.network)
    except ConfigError:
        return False
    pid = int(record.get("pid", 0))
    return pid > 0 and is_alive(pid)


@dataclass(frozen=True)
class Sae:
    """An application's identity at a node: its SAE ID, certificate and key, and its KME's URL."""

    id: str
    kme_url: str
    cert: Path
    key: Path


@dataclass
class ScenarioNetwork:
    """A running network, as a scenario reaches it.

    Attributes:
        run: its run directory.
        record: what ``sdqkd up`` recorded (``network.json``).
        topology: its topology.
        started: whether the scenario started it (and stops it).
    """

    run: RunDir
    record: dict[str, Any]
    topology: Topology
    started: bool

    @property
    def time_scale(self) -> float:
        """How much faster than wall-clock time the emulated world runs."""
        return float(self.record.get("time_scale", 1.0))

    def emulator(self) -> EmulatorClient:
        """The operator's client of the emulator (the plant, the pairs' key rates)."""
        return operator_client(self.run)

    def controller(self) -> ControllerClient:
        """The operator's client of the SDN controller."""
        return controller_client(self.run)

    def sae(self, node: str) -> Sae:
        """The default application ``sdqkd up`` set up at ``node``."""
        url = self.record.get("kmes", {}).get(node)
        if not url:
            raise ConfigError(f"no KME runs for node {node!r} in {self.run.root}")
        cert, key = self.run.require_certificate(Role.SAE, sae_id(node))
        return Sae(sae_id(node), str(url), cert, key)

    def kme_urls(self) -> dict[str, str]:
        """Each node's KME URL."""
        return {node: str(url) for node, url in self.record.get("kmes", {}).items()}


def _ready(run: RunDir) -> bool:
    """Every physical link provisioned, those up holding key, and the controller's optical view read."""
    try:
        links = [link for link in network_status(run)["links"] if link["type"] == "PHYS"]
        with controller_client(run) as controller:
            fibres = controller.fibres()
    except (SdqkdError, KeyError):
        return False
    if not links or not fibres:
        return False
    return all(
        link["status"] != "unconfigured" and (link["status"] != "up" or link["keys_available"] > 0)
        for link in links
    )


def _start(
    run: RunDir, topology: str, time_scale: float, say: Callable[[str], None]
) -> subprocess.Popen[bytes]:
    log = run.root / "scenario-up.log"
    say(
        f"no network runs in {run.root}: starting "
        f"`sdqkd up --topology {topology} --time-scale {time_scale:g}`"
    )
    process = spawn_sdqkd(
        ["up", "--topology", topology, "--run-dir", str(run.root), "--time-scale", f"{time_scale:g}"], log
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while not (is_running(run) and _ready(run)):
        if process.poll() is not None:
            tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise LaunchError(f"sdqkd up exited with {process.returncode}; its output ends:\n{tail}")
        if time.monotonic() > deadline:
            _stop(run, process)
            raise LaunchError(f"the network in {run.root} did not make key within {START_TIMEOUT_S:g} s")
        time.sleep(0.25)
    say(f"network up in {run.root} (log {log})")
    return process


def _stop(run: RunDir, process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ConfigError):  # its record gone: it stopped already
        down(run.root)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def attach(
    run_dir: Path,
    time_scale: float,
    say: Callable[[str], None],
    topology: str = "madrid",
) -> Iterator[ScenarioNetwork]:
    """The network running in ``run_dir``; when none runs there, one started for the scenario (``sdqkd up
    --topology TOPOLOGY --time-scale TIME_SCALE``) and stopped when the block ends.

    Raises:
        ConfigError: ``time_scale`` not > 0.
        LaunchError: the network could not be started.
        ControllerClientError: it runs without an SDN controller that manages its optical plant.
    """
    if not time_scale > 0:
        raise ConfigError("--time-scale must be > 0")
    run = RunDir(run_dir.resolve())
    process = None
    if not is_running(run):
        run.root.mkdir(parents=True, exist_ok=True)
        process = _start(run, topology, time_scale, say)
    try:
        record = run.read_json(run.network)
        network = ScenarioNetwork(run, record, load_topology(record["topology"]), process is not None)
        if process is None:
            say(f"using the network running in {run.root} (time scale {network.time_scale:g})")
        with network.controller() as controller:
            if not controller.fibres():
                raise ControllerClientError("the controller manages no optical plant in this network")
        yield network
    finally:
        if process is not None:
            say(f"stopping the network the scenario started in {run.root}")
            _stop(run, process)
