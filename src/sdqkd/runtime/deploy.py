"""``sdqkd deploy``: a network on several hosts, prepared from a topology and an addresses file.

Every role runs on its own (``sdqkd emulator|controller|kme|agent``) and finds the others by the
addresses written into its configuration, so everything a host needs can be prepared in one place
and copied out::

    OUT/ca/                     the CA (ca.crt, ca.key): its key never leaves this folder
    OUT/operator/               the operator's certificate and the CA certificate (curl, tools)
    OUT/hosts/ADDRESS/          one folder per host: copy it there and run its commands inside it
        pki/                    the CA certificate and the certificates of this host's roles only
        commands.txt            what to run on this host, in the order to start it
        controller.yaml         the controller's configuration (its host)
        emulator/               the emulator's state and endpoint record (its host; the folder is
                                the emulator's run directory)
        kme-NODE.yaml           a node's KME configuration (its peers' and the emulator's addresses)
        agent-NODE.yaml         a node's agent configuration (emulator, controller and KME addresses)
        yang/                   only with ``--yang-dir``: the ETSI GS QKD 015 YANG modules the agents
                                validate against (without it, the model shipped with sdqkd)
        kme/, agent/, controller/   databases and endpoint records, once the services run
    OUT/deployment.json         the whole plan: hosts, roles, URLs and commands

The configurations are built by :mod:`sdqkd.runtime.configs`, as ``sdqkd up``'s are. Each service
certificate carries its host's address as a subject alternative name, so the peers that reach it by
that address verify it (nothing ever runs with verification off). Services listen on fixed ports:
the others must know them before it starts.

The addresses file (YAML)::

    controller: {host: 10.77.0.1, port: 7443}
    emulator: {host: 10.77.0.1, port: 9443}
    nodes:
      concepcion: {host: 10.77.0.2}      # kme_port 8443, agent_port 8830 unless given
      norte: {host: 10.77.0.3}
      quintin: {host: 10.77.0.4, kme_port: 9000}
"""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sdqkd.errors import ConfigError
from sdqkd.pki.ca import CertificateAuthority
from sdqkd.pki.identity import Role
from sdqkd.runtime.configs import Placement, agent_config, controller_config, emulator_arguments, kme_config
from sdqkd.runtime.rundir import sae_id
from sdqkd.topology.loader import load_topology
from sdqkd.topology.models import Topology

__all__ = [
    "DEFAULT_AGENT_PORT",
    "DEFAULT_CONTROLLER_PORT",
    "DEFAULT_EMULATOR_PORT",
    "DEFAULT_KME_PORT",
    "Addresses",
    "ControllerAddress",
    "Deployment",
    "EmulatorAddress",
    "HostCommand",
    "HostPlan",
    "NodeAddress",
    "deploy",
    "load_addresses",
    "parse_addresses",
]

DEFAULT_CONTROLLER_PORT = 7443
DEFAULT_EMULATOR_PORT = 9443
DEFAULT_KME_PORT = 8443
DEFAULT_AGENT_PORT = 8830

_MAX_FILE_BYTES = 1024 * 1024
# RFC 1123 §2.1 host names: dot-separated labels of letters, digits and inner hyphens, 253 at most.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(?:\.{_LABEL})*\.?\Z")
_YANG_FILES = ("yang-library.json", "*.yang")


def _check_host(value: str) -> str:
    """An address the other hosts can reach: an IP address (not ``0.0.0.0``/``::``, not multicast)
    or a DNS name."""
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        # a last label of digits only is a malformed IPv4 address (10.77.0.300), not a name
        if _HOSTNAME.match(value) and not value.rstrip(".").rsplit(".", 1)[-1].isdigit():
            return value.rstrip(".").lower()
        raise ValueError(f"bad address {value!r}: neither an IP address nor a host name") from None
    if ip.is_unspecified or ip.is_multicast:
        raise ValueError(f"bad address {value!r}: the other hosts cannot reach a service there")
    return str(ip)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Service(_Model):
    host: str

    @field_validator("host")
    @classmethod
    def _reachable(cls, value: str) -> str:
        return _check_host(value)


class ControllerAddress(_Service):
    port: int = Field(default=DEFAULT_CONTROLLER_PORT, ge=1, le=65535)


class EmulatorAddress(_Service):
    port: int = Field(default=DEFAULT_EMULATOR_PORT, ge=1, le=65535)


class NodeAddress(_Service):
    kme_port: int = Field(default=DEFAULT_KME_PORT, ge=1, le=65535)
    agent_port: int = Field(default=DEFAULT_AGENT_PORT, ge=1, le=65535)


class Addresses(_Model):
    """Where each role of a network runs: the controller, the emulator, and each node's KME and
    agent (ports fixed: the others must know them)."""

    controller: ControllerAddress
    emulator: EmulatorAddress
    nodes: dict[str, NodeAddress]

    def check_against(self, topology: Topology) -> None:
        """Every node of ``topology`` has an address, and only those; no two services of a host
        share a port.

        Raises:
            ConfigError: the first problem, naming the field.
        """
        known = [node.id for node in topology.nodes]
        for node_id in self.nodes:
            if node_id not in known:
                raise ConfigError(
                    f"nodes.{node_id}: unknown node (topology {topology.name} has {', '.join(known)})"
                )
        for node_id in known:
            if node_id not in self.nodes:
                raise ConfigError(
                    f"nodes: missing node {node_id!r} (every node of {topology.name} needs one)"
                )
        taken: dict[tuple[str, int], str] = {}
        services = [("controller.port", self.controller.host, self.controller.port)]
        services.append(("emulator.port", self.emulator.host, self.emulator.port))
        for node_id, node in self.nodes.items():
            services.append((f"nodes.{node_id}.kme_port", node.host, node.kme_port))
            services.append((f"nodes.{node_id}.agent_port", node.host, node.agent_port))
        for where, host, port in services:
            if (host, port) in taken:
                raise ConfigError(f"{where}: {_netloc(host, port)} is already {taken[host, port]}")
            taken[host, port] = where


def parse_addresses(data: Any, origin: str = "<addresses>") -> Addresses:
    """Validate an addresses document (already parsed).

    Raises:
        ConfigError: invalid (``ORIGIN: FIELD: problem``).
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: an addresses file is a mapping with controller, emulator and nodes")
    try:
        return Addresses.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{origin}: {where}: {message}") from exc


def load_addresses(path: Path) -> Addresses:
    """Read and validate an addresses file (YAML).

    Raises:
        ConfigError: unreadable or invalid (the message names the field).
    """
    try:
        if path.stat().st_size > _MAX_FILE_BYTES:
            raise ConfigError(f"{path}: larger than {_MAX_FILE_BYTES // 1024} KiB: not an addresses file")
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the addresses: {exc}") from exc
    return parse_addresses(data, origin=str(path))


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _url(host: str, port: int) -> str:
    return f"https://{_netloc(host, port)}"


@dataclass(frozen=True)
class HostCommand:
    """One service a host runs: its role (``emulator``, ``controller``, ``kme:NODE``,
    ``agent:NODE``) and its command line, run inside the host's folder."""

    role: str
    argv: tuple[str, ...]

    @property
    def shell(self) -> str:
        return shlex.join(self.argv)


@dataclass
class HostPlan:
    """What one host runs, and the folder prepared for it."""

    address: str
    folder: Path
    roles: list[str] = field(default_factory=list)
    commands: list[HostCommand] = field(default_factory=list)


@dataclass(frozen=True)
class Deployment:
    """A prepared multi-host deployment (what ``OUT/deployment.json`` records)."""

    out: Path
    topology: str
    ca_cert: Path
    operator_cert: Path
    operator_key: Path
    controller_url: str
    emulator_url: str
    kme_urls: dict[str, str]
    agent_urls: dict[str, str]
    hosts: list[HostPlan]
    yang_dir: Path | None
    """Where the YANG modules copied into the node hosts' ``yang/`` came from; None: none copied (the
    agents use the model shipped with sdqkd)."""

    def host_of(self, role: str) -> HostPlan:
        """The host that runs ``role`` (``emulator``, ``controller``, ``kme:NODE``, ``agent:NODE``).

        Raises:
            KeyError: no host runs it.
        """
        for host in self.hosts:
            if role in host.roles:
                return host
        raise KeyError(f"no host runs {role!r}")

    def to_json(self) -> dict[str, Any]:
        return {
            "topology": self.topology,
            "ca": str(self.ca_cert),
            "operator": {"cert": str(self.operator_cert), "key": str(self.operator_key)},
            "controller": {"url": self.controller_url},
            "emulator": {"url": self.emulator_url},
            "nodes": {
                node: {"kme_url": self.kme_urls[node], "agent_url": self.agent_urls[node]}
                for node in self.kme_urls
            },
            "hosts": [
                {
                    "address": host.address,
                    "folder": str(host.folder),
                    "roles": host.roles,
                    "commands": [
                        {"role": c.role, "argv": list(c.argv), "shell": c.shell} for c in host.commands
                    ],
                }
                for host in self.hosts
            ],
            "yang_dir": str(self.yang_dir) if self.yang_dir else None,
        }


def _folder_name(address: str) -> str:
    return address.replace(":", "_")  # an IPv6 address: ':' is awkward in paths (scp, PATH-like lists)


def _write_yaml(path: Path, data: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


class _Builder:
    """Writes the folders of one deployment."""

    def __init__(self, topology: Topology, spec: str, addresses: Addresses, out: Path) -> None:
        self.topology = topology
        self.spec = spec
        self.addresses = addresses
        self.out = out
        self.ca = CertificateAuthority.create(out / "ca")
        self.hosts: dict[str, HostPlan] = {}
        self.controller_url = _url(addresses.controller.host, addresses.controller.port)
        self.emulator_url = _url(addresses.emulator.host, addresses.emulator.port)
        self.kme_urls = {n: _url(a.host, a.kme_port) for n, a in addresses.nodes.items()}
        self.agent_urls = {n: _url(a.host, a.agent_port) for n, a in addresses.nodes.items()}
        # every host's configurations name the files in its own folder: pki/ beside them
        self.at = Placement(Path("pki"), self.emulator_url, self.kme_urls, self.controller_url)

    def host(self, address: str) -> HostPlan:
        if address not in self.hosts:
            folder = self.out / "hosts" / _folder_name(address)
            (folder / "pki").mkdir(parents=True)
            shutil.copyfile(self.ca.cert_path, folder / "pki" / "ca.crt")
            self.hosts[address] = HostPlan(address, folder)
        return self.hosts[address]

    def issue(self, host: HostPlan, role: Role, name: str) -> None:
        """A certificate for ``ROLE:NAME`` in the host's ``pki/``, valid for the host's address."""
        self.ca.issue(role, name, hosts=[host.address], directory=host.folder / "pki")

    def topology_argument(self, host: HostPlan) -> str:
        """The topology as a role on ``host`` names it: a built-in by name, a file copied beside."""
        if Path(self.spec).is_file():
            target = host.folder / "topology.yaml"
            if not target.exists():
                shutil.copyfile(self.spec, target)
            return "topology.yaml"
        return self.spec

    def emulator(self, time_scale: float) -> None:
        address = self.addresses.emulator
        host = self.host(address.host)
        self.issue(host, Role.EMULATOR, "emulator")
        (host.folder / "emulator").mkdir()
        host.roles.append("emulator")
        arguments = emulator_arguments(
            self.topology_argument(host), Path("."), time_scale, address.host, address.port
        )
        argv = ["sdqkd", *arguments]
        host.commands.append(HostCommand("emulator", tuple(argv)))

    def controller(self, poll_interval_s: float, time_scale: float) -> None:
        address = self.addresses.controller
        host = self.host(address.host)
        self.issue(host, Role.CONTROLLER, "controller")
        (host.folder / "controller").mkdir()
        host.roles.append("controller")
        config = controller_config(
            self.topology_argument(host),
            self.at,
            host=address.host,
            port=address.port,
            database=Path("controller/state.db"),
            endpoint_file=Path("controller/endpoint.json"),
            poll_interval_s=poll_interval_s,
            time_scale=time_scale,
        )
        _write_yaml(host.folder / "controller.yaml", config)
        host.commands.append(
            HostCommand("controller", ("sdqkd", "controller", "--config", "controller.yaml"))
        )

    def node(self, node_id: str, location: str, yang_dir: Path | None) -> None:
        address = self.addresses.nodes[node_id]
        host = self.host(address.host)
        for role, name in ((Role.KME, node_id), (Role.AGENT, node_id), (Role.SAE, sae_id(node_id))):
            self.issue(host, role, name)
        for sub in ("kme", "agent"):
            (host.folder / sub).mkdir(exist_ok=True)
        if yang_dir is not None and not (host.folder / "yang").exists():
            (host.folder / "yang").mkdir()
            for pattern in _YANG_FILES:
                for source in sorted(yang_dir.glob(pattern)):
                    shutil.copyfile(source, host.folder / "yang" / source.name)
        host.roles += [f"kme:{node_id}", f"agent:{node_id}"]
        kme = kme_config(
            self.topology,
            node_id,
            self.at,
            host=address.host,
            port=address.kme_port,
            database=Path(f"kme/{node_id}.db"),
            endpoint_file=Path(f"kme/{node_id}.endpoint.json"),
        )
        agent = agent_config(
            node_id,
            location,
            self.at,
            host=address.host,
            port=address.agent_port,
            endpoint_file=Path(f"agent/{node_id}.endpoint.json"),
            advertise_url=self.agent_urls[node_id],
            yang_dir=None if yang_dir is None else Path("yang"),
        )
        _write_yaml(host.folder / f"kme-{node_id}.yaml", kme)
        _write_yaml(host.folder / f"agent-{node_id}.yaml", agent)
        host.commands.append(
            HostCommand(f"kme:{node_id}", ("sdqkd", "kme", "--config", f"kme-{node_id}.yaml"))
        )
        host.commands.append(
            HostCommand(f"agent:{node_id}", ("sdqkd", "agent", "--config", f"agent-{node_id}.yaml"))
        )


def deploy(
    topology_spec: str,
    addresses: Addresses,
    out: Path,
    time_scale: float = 1.0,
    yang_dir: Path | None = None,
    poll_interval_s: float = 1.0,
) -> Deployment:
    """Prepare a multi-host deployment of ``topology_spec`` in ``out``: a new CA, and one folder per
    host with the certificates and configuration of the roles it runs (see the module docstring).

    Args:
        topology_spec: a built-in topology (``madrid``, ``chain:N``, ``grid:RxC``) or a file (copied
            into the folders of the emulator's and the controller's hosts).
        addresses: where each role runs.
        out: a new or empty folder.
        time_scale: the emulator's ``--time-scale`` (the world runs that many times faster).
        yang_dir: other ETSI GS QKD 015 YANG modules for the agents, copied into each node host's
            ``yang/`` and named in its agents' configuration; None: the agents validate against the
            model shipped with sdqkd.
        poll_interval_s: how often the controller reads the agents and KMEs, seconds.

    Raises:
        ConfigError: an unknown topology, addresses that do not fit it, a non-empty ``out``, or a
            ``yang_dir`` without the modules.
    """
    if not time_scale > 0:
        raise ConfigError("--time-scale must be > 0")
    if not poll_interval_s > 0:
        raise ConfigError("poll_interval_s must be > 0")
    topology = load_topology(topology_spec)
    addresses.check_against(topology)
    if yang_dir is not None and not (yang_dir / "yang-library.json").is_file():
        raise ConfigError(f"{yang_dir}: no yang-library.json there (the ETSI GS QKD 015 YANG modules)")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out} is not an empty folder: deploy writes a new CA, so it needs a new folder")
    spec = str(Path(topology_spec).resolve()) if Path(topology_spec).is_file() else topology_spec
    out.mkdir(parents=True, exist_ok=True)
    builder = _Builder(topology, spec, addresses, out)
    builder.emulator(time_scale)
    builder.controller(poll_interval_s, time_scale)
    for node in topology.nodes:
        builder.node(node.id, node.name, yang_dir)
    operator = builder.ca.issue(Role.OPERATOR, "operator", hosts=(), directory=out / "operator")
    shutil.copyfile(builder.ca.cert_path, out / "operator" / "ca.crt")
    deployment = Deployment(
        out=out,
        topology=topology_spec,
        ca_cert=out / "operator" / "ca.crt",
        operator_cert=operator.cert,
        operator_key=operator.key,
        controller_url=builder.controller_url,
        emulator_url=builder.emulator_url,
        kme_urls=builder.kme_urls,
        agent_urls=builder.agent_urls,
        hosts=list(builder.hosts.values()),
        yang_dir=yang_dir.resolve() if yang_dir else None,
    )
    for host in deployment.hosts:
        (host.folder / "commands.txt").write_text(_commands_text(host), encoding="utf-8")
    (out / "deployment.json").write_text(json.dumps(deployment.to_json(), indent=2), encoding="utf-8")
    return deployment


def _commands_text(host: HostPlan) -> str:
    """``commands.txt`` of a host: its services, in the order to start them."""
    lines = [
        f"# sdqkd on {host.address}: {', '.join(host.roles)}",
        "# Run each command from this folder, as its own long-running service (a terminal or a",
        "# service unit each). Start the emulator's host first: agents discover their modules there.",
    ]
    lines += [command.shell for command in host.commands]
    return "\n".join(lines) + "\n"
