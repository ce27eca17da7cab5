"""A run directory: where a running network keeps its PKI, state, logs and the record of its
processes and endpoints (``network.json``), so that other commands (``status``, ``plant``,
``down``) and other hosts can find it.

    RUN/pki/            the CA and every certificate (ca.crt, ROLE-NAME.crt/.key)
    RUN/emulator/       the emulator's state file, endpoint record and log
    RUN/controller/     the SDN controller's configuration, database, endpoint record and log
    RUN/agent/, RUN/kme/  per node: configuration, endpoint record and log (KMEs: their key store)
    RUN/web/            the dashboard's configuration, endpoint record, log and token (owner-only)
    RUN/network.json    what ``sdqkd up`` started: topology, processes, URLs, certificates
    RUN/up.lock         locked by the ``sdqkd up`` that owns the run, for as long as it runs
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdqkd.errors import ConfigError
from sdqkd.pki.ca import CertificateAuthority, IssuedCertificate
from sdqkd.pki.identity import Identity, Role
from sdqkd.topology.models import Topology

__all__ = [
    "AGENT_SAE_TEMPLATE",
    "APP_SAE_TEMPLATE",
    "CONTROLLER_SAE_ID",
    "WEB_NAME",
    "RunDir",
    "agent_sae_id",
    "provision_pki",
    "sae_id",
]


APP_SAE_TEMPLATE = "{node}-app"
"""The SAE of a node's default application (``sdqkd tunnel``, the service processes)."""


def sae_id(node_id: str) -> str:
    """The SAE ID ``sdqkd up`` gives the default application at a node."""
    return APP_SAE_TEMPLATE.format(node=node_id)


WEB_NAME = "dashboard"
"""The dashboard's certificate name (``web:dashboard``)."""

CONTROLLER_SAE_ID = "controller"
"""The controller's SAE (at its site's KME) when its channel to the agents is QKD-TLS."""

AGENT_SAE_TEMPLATE = "{node}-agent"
"""Each agent's SAE (at its node's KME) when the control channel is QKD-TLS."""


def agent_sae_id(node_id: str) -> str:
    """The SAE of ``node_id``'s agent for the QKD-TLS control channel."""
    return AGENT_SAE_TEMPLATE.format(node=node_id)


@dataclass(frozen=True)
class RunDir:
    """The files of one run."""

    root: Path

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def ca_cert(self) -> Path:
        return self.pki / "ca.crt"

    @property
    def emulator_dir(self) -> Path:
        return self.root / "emulator"

    @property
    def emulator_state(self) -> Path:
        return self.emulator_dir / "state.json"

    @property
    def emulator_endpoint(self) -> Path:
        return self.emulator_dir / "endpoint.json"

    @property
    def emulator_log(self) -> Path:
        return self.emulator_dir / "emulator.log"

    @property
    def kme_dir(self) -> Path:
        return self.root / "kme"

    def kme_config(self, node: str) -> Path:
        return self.kme_dir / f"{node}.json"

    def kme_endpoint(self, node: str) -> Path:
        return self.kme_dir / f"{node}.endpoint.json"

    def kme_log(self, node: str) -> Path:
        return self.kme_dir / f"{node}.log"

    @property
    def agent_dir(self) -> Path:
        return self.root / "agent"

    def agent_config(self, node: str) -> Path:
        return self.agent_dir / f"{node}.json"

    def agent_endpoint(self, node: str) -> Path:
        return self.agent_dir / f"{node}.endpoint.json"

    def agent_log(self, node: str) -> Path:
        return self.agent_dir / f"{node}.log"

    @property
    def nfv_dir(self) -> Path:
        """The service managers' files: each one's configuration, endpoint and log, and a folder per
        node for the logs and stats of the processes it runs."""
        return self.root / "nfv"

    def nfv_config(self, node: str) -> Path:
        return self.nfv_dir / f"{node}.json"

    def nfv_endpoint(self, node: str) -> Path:
        return self.nfv_dir / f"{node}.endpoint.json"

    def nfv_log(self, node: str) -> Path:
        return self.nfv_dir / f"{node}.log"

    def nfv_processes(self, node: str) -> Path:
        return self.nfv_dir / node

    @property
    def controller_dir(self) -> Path:
        return self.root / "controller"

    @property
    def controller_config(self) -> Path:
        return self.controller_dir / "controller.json"

    @property
    def controller_endpoint(self) -> Path:
        return self.controller_dir / "endpoint.json"

    @property
    def controller_log(self) -> Path:
        return self.controller_dir / "controller.log"

    @property
    def controller_database(self) -> Path:
        return self.controller_dir / "state.db"

    @property
    def web_dir(self) -> Path:
        return self.root / "web"

    @property
    def web_config(self) -> Path:
        return self.web_dir / "web.json"

    @property
    def web_endpoint(self) -> Path:
        return self.web_dir / "endpoint.json"

    @property
    def web_log(self) -> Path:
        return self.web_dir / "web.log"

    @property
    def web_token(self) -> Path:
        """The token that lets a browser into the dashboard (readable by the run's owner only)."""
        return self.web_dir / "token"

    @property
    def network(self) -> Path:
        return self.root / "network.json"

    @property
    def lock(self) -> Path:
        return self.root / "up.lock"

    def certificate(self, role: Role, name: str) -> tuple[Path, Path]:
        """(cert, key) paths of ``ROLE:NAME``."""
        return self.pki / f"{role}-{name}.crt", self.pki / f"{role}-{name}.key"

    def require_certificate(self, role: Role, name: str) -> tuple[Path, Path]:
        cert, key = self.certificate(role, name)
        if not (cert.exists() and key.exists()):
            raise ConfigError(f"no {role} certificate {name!r} in {self.pki} (run `sdqkd up` first)")
        return cert, key

    def write_json(self, path: Path, data: dict[str, Any]) -> None:
        """Write JSON atomically (readers never see half a file)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(path.suffix + ".tmp")
        temporary.write_text(json.dumps(data, indent=2), encoding="utf-8")
        os.replace(temporary, path)

    def read_json(self, path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"{path} does not exist: is a network running in {self.root}?") from exc
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{path} is not a JSON object")
        return data


def provision_pki(run: RunDir, topology: Topology, qkd_tls: bool = False) -> dict[str, IssuedCertificate]:
    """Create the run's CA (if missing) and the certificates a network of ``topology`` needs: the
    emulator, the operator, the controller, the dashboard (``web:dashboard``), and per node its KME,
    agent and one SAE; with ``qkd_tls`` (the control channel) also the SAEs of the controller and of
    each agent. Existing certificates are kept. Returns them by ``ROLE:NAME``."""
    ca = CertificateAuthority.load(run.pki) if run.ca_cert.exists() else CertificateAuthority.create(run.pki)
    wanted: list[tuple[Role, str]] = [(Role.EMULATOR, "emulator"), (Role.OPERATOR, "operator")]
    wanted += [(Role.CONTROLLER, "controller"), (Role.WEB, WEB_NAME)]
    for node in topology.nodes:
        wanted += [(Role.KME, node.id), (Role.AGENT, node.id), (Role.SAE, sae_id(node.id))]
        if qkd_tls:
            wanted += [(Role.SAE, agent_sae_id(node.id))]
    if qkd_tls:
        wanted += [(Role.SAE, CONTROLLER_SAE_ID)]
    issued = {}
    for role, name in wanted:
        cert, key = run.certificate(role, name)
        if cert.exists() and key.exists():
            issued[f"{role}:{name}"] = IssuedCertificate(Identity(role, name), cert, key)
        else:
            issued[f"{role}:{name}"] = ca.issue(role, name)
    return issued
