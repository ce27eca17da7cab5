"""The configuration of each role of a network, built from where its services are: one place for
``sdqkd up`` (one host, loopback, absolute paths in the run directory) and ``sdqkd deploy`` (one
folder per host, fixed addresses, paths relative to the configuration files).

A :class:`Placement` says where the services are reached and where a host keeps its certificates;
:func:`kme_config`, :func:`agent_config`, :func:`controller_config`, :func:`service_manager_config`
and :func:`web_config` give the documents ``sdqkd kme|agent|controller|service-manager|web --config
FILE`` read, and :func:`emulator_arguments` the command line of
``sdqkd emulator`` (it has no configuration file).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sdqkd.errors import ConfigError
from sdqkd.pki.identity import Role
from sdqkd.runtime.rundir import (
    AGENT_SAE_TEMPLATE,
    APP_SAE_TEMPLATE,
    CONTROLLER_SAE_ID,
    WEB_NAME,
    agent_sae_id,
    sae_id,
)
from sdqkd.server.config import TlsConfig
from sdqkd.topology.models import Topology

__all__ = [
    "Placement",
    "agent_config",
    "controller_config",
    "emulator_arguments",
    "kme_config",
    "pair_configuration",
    "service_manager_config",
    "web_config",
]


@dataclass(frozen=True)
class Placement:
    """Where a network's services are reached, and where a host keeps its certificates.

    Attributes:
        pki: the folder of the CA certificate (``ca.crt``) and the role certificates
            (``ROLE-NAME.crt``, ``ROLE-NAME.key``): ``RUN/pki`` on one host; ``pki``, relative to
            the configuration files, in a deployed host's folder.
        emulator_url: the emulator's base URL.
        kme_urls: each node's KME URL, by node ID (its peers and its agent reach it there).
        controller_url: the SDN controller's URL, where the agents call home (None: not known yet;
            the agents then do not call home).
        controller_node: with a QKD-TLS control channel, the node whose KME serves the
            controller's SAE (None: the controller reaches the agents with mutual TLS).
        service_manager_urls: each node's service manager URL, by node ID (the controller orders
            service processes there); empty: the controller manages no services.
    """

    pki: Path
    emulator_url: str
    kme_urls: Mapping[str, str] = field(default_factory=dict)
    controller_url: str | None = None
    controller_node: str | None = None
    service_manager_urls: Mapping[str, str] = field(default_factory=dict)

    def tls(self, role: Role, name: str) -> TlsConfig:
        """The ``tls`` section of the service ``ROLE:NAME``: its certificate, the CA's and the CA's
        CRL (``crl.pem``, there once a certificate is revoked: ``sdqkd pki revoke``)."""
        return TlsConfig.of(
            self.pki / f"{role}-{name}.crt",
            self.pki / f"{role}-{name}.key",
            self.pki / "ca.crt",
            self.pki / "crl.pem",
        )

    def sae(self, sae_id: str) -> dict[str, str]:
        """The certificate and key of the SAE ``sae_id``, as a configuration's ``sae`` section."""
        tls = self.tls(Role.SAE, sae_id)
        return {"cert": str(tls.cert), "key": str(tls.key)}


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


def emulator_arguments(
    topology_spec: str,
    run_dir: Path,
    time_scale: float,
    host: str | None = None,
    port: int | None = None,
    *,
    commissioned: bool = False,
    engine: str = "rate",
    protocol_block_symbols: int | None = None,
) -> list[str]:
    """The arguments of ``sdqkd emulator`` (after ``sdqkd``) serving ``topology_spec`` from ``run_dir``
    (its state, certificate and endpoint record); without ``host``/``port`` its defaults (loopback, a
    free port); ``commissioned``: its modules start paired for the topology's links (``--commissioned``);
    ``engine``/``protocol_block_symbols``: ``--engine`` and ``--protocol-block-symbols`` (only for
    the ``protocol`` engine)."""
    arguments = ["emulator", "--topology", topology_spec, "--run-dir", str(run_dir)]
    if host is not None:
        arguments += ["--host", host]
    if port is not None:
        arguments += ["--port", str(port)]
    # a whole number without its ".0" (what a user types); any other exactly, as repr() writes it
    scale = str(int(time_scale)) if float(time_scale).is_integer() else repr(float(time_scale))
    arguments += ["--time-scale", scale]
    if engine != "rate":
        arguments += ["--engine", engine]
        if protocol_block_symbols is not None:
            arguments += ["--protocol-block-symbols", str(protocol_block_symbols)]
    return [*arguments, "--commissioned"] if commissioned else arguments


def _kme_links(topology: Topology, node_id: str, at: Placement) -> list[dict[str, Any]]:
    """The node's QKD links as its KME configuration lists them: the peer KME and the module."""
    links = []
    for link in topology.qkd_links:
        ends = {
            topology.module(link.transmitter).node: link.transmitter,
            topology.module(link.receiver).node: link.receiver,
        }
        if node_id not in ends:
            continue
        (peer,) = [n for n in ends if n != node_id]
        links.append(
            {
                "id": link.id,
                "peer_kme_id": peer,
                "peer_url": at.kme_urls[peer],
                "device": {"etsi014_url": f"{at.emulator_url}/devices/{ends[node_id]}", "peer_sae_id": peer},
            }
        )
    return links


def _saes(topology: Topology, at: Placement) -> dict[str, str]:
    """Every SAE's KME: each node's application, and with a QKD-TLS control channel the controller's
    and the agents' SAEs."""
    saes = {sae_id(node.id): node.id for node in topology.nodes}
    if at.controller_node is not None:
        saes[CONTROLLER_SAE_ID] = at.controller_node
        saes.update({agent_sae_id(node.id): node.id for node in topology.nodes})
    return saes


def kme_config(
    topology: Topology,
    node_id: str,
    at: Placement,
    *,
    host: str,
    port: int,
    database: Path,
    endpoint_file: Path,
    wipe_at_stop: bool = False,
) -> dict[str, Any]:
    """The configuration of ``node_id``'s KME (``sdqkd kme``): its QKD links (peer KME, module) and the
    directory of every SAE's KME.

    Args:
        topology: the network.
        node_id: the KME's node.
        at: where the services are.
        host: the address it listens on.
        port: its port (its peers must know it before it starts: never 0 in a network).
        database: its SQLite key store.
        endpoint_file: where it records its URL and pid once it serves.
        wipe_at_stop: whether the KME wipes its key store when it stops (not meant to persist).
    """
    return {
        "kme_id": node_id,
        "host": host,
        "port": port,
        "tls": at.tls(Role.KME, node_id).to_json(),
        "storage": {"backend": "sqlite", "path": str(database), "wipe_at_stop": wipe_at_stop},
        "saes": _saes(topology, at),
        "links": _kme_links(topology, node_id, at),
        "endpoint_file": str(endpoint_file),
    }


def agent_config(
    node_id: str,
    location: str,
    at: Placement,
    *,
    host: str,
    port: int,
    endpoint_file: Path,
    advertise_url: str | None = None,
    yang_dir: Path | None = None,
) -> dict[str, Any]:
    """The configuration of ``node_id``'s agent (the ``agent`` role): its driver is the emulator; it
    calls home to the controller (if ``at`` knows it) and tells it the node's KME.

    Args:
        node_id: the agent's node.
        location: the node's location (its ``qkdn_location_id``).
        at: where the services are.
        host: the address it listens on.
        port: its port (0: a free one).
        endpoint_file: where it records its URL and pid once it serves.
        advertise_url: the URL the controller reaches it at (None: the one it serves at).
        yang_dir: the ETSI GS QKD 015 YANG modules (None: the agent's default, the packaged model).
    """
    config: dict[str, Any] = {
        "node_id": node_id,
        "location": location,
        "host": host,
        "port": port,
        "tls": at.tls(Role.AGENT, node_id).to_json(),
        "driver": {"kind": "emulator", "url": at.emulator_url},
        "endpoint_file": str(endpoint_file),
    }
    if yang_dir is not None:
        config["yang_dir"] = str(yang_dir)
    if at.controller_url is not None:
        config["controller_url"] = at.controller_url
    if node_id in at.kme_urls:
        config["kme_url"] = at.kme_urls[node_id]
    if advertise_url is not None:
        config["advertise_url"] = advertise_url
    if at.controller_node is not None:
        config["control_channel"] = {
            "kind": "qkd-tls",
            "sae": at.sae(agent_sae_id(node_id)),
            "controller_sae_id": CONTROLLER_SAE_ID,
        }
    return config


def service_manager_config(
    node_id: str,
    at: Placement,
    *,
    host: str,
    port: int,
    run_dir: Path,
    log_dir: Path,
    endpoint_file: Path,
) -> dict[str, Any]:
    """The configuration of ``node_id``'s service manager (``sdqkd service-manager``): it serves with
    the node's certificate (``agent:NODE``) and starts its processes as ``sdqkd`` commands of
    ``run_dir``.

    Args:
        node_id: the manager's node.
        at: where the services are (the node's certificate).
        host: the address it listens on.
        port: its port (0: a free one).
        run_dir: the run directory its processes get as ``--run-dir`` (PKI, the network's KMEs).
        log_dir: where each process's log and stats file go.
        endpoint_file: where it records its URL and pid once it serves.
    """
    return {
        "node_id": node_id,
        "host": host,
        "port": port,
        "tls": at.tls(Role.AGENT, node_id).to_json(),
        "run_dir": str(run_dir),
        "log_dir": str(log_dir),
        "endpoint_file": str(endpoint_file),
    }


def controller_config(
    topology_spec: str,
    at: Placement,
    *,
    host: str,
    port: int,
    database: Path,
    endpoint_file: Path,
    poll_interval_s: float = 1.0,
    time_scale: float = 1.0,
) -> dict[str, Any]:
    """The configuration of the SDN controller (``sdqkd controller``): it manages the optical plant at
    the emulator.

    Args:
        topology_spec: the topology as the controller's host names it (a built-in, or a file).
        at: where the services are (its certificate).
        host: the address it listens on.
        port: its port (0: a free one).
        database: its SQLite state.
        endpoint_file: where it records its URL and pid once it serves.
        poll_interval_s: how often it reads the agents and KMEs, seconds.
        time_scale: the emulator's ``--time-scale`` (the world's key rates and dead times follow it).
    """
    config: dict[str, Any] = {
        "host": host,
        "port": port,
        "tls": at.tls(Role.CONTROLLER, "controller").to_json(),
        "topology": topology_spec,
        "database": str(database),
        "endpoint_file": str(endpoint_file),
        "poll_interval_s": poll_interval_s,
        "plant_url": at.emulator_url,
        "world_time_scale": time_scale,
    }
    if at.service_manager_urls:  # a placement without managers (sdqkd deploy, for now) names none
        config["service_managers"] = dict(at.service_manager_urls)
        config["service_sae_id"] = APP_SAE_TEMPLATE
    if at.controller_node is not None:
        config["control_channel"] = {
            "kind": "qkd-tls",
            "kme_url": at.kme_urls[at.controller_node],
            "sae": at.sae(CONTROLLER_SAE_ID),
            "agent_sae_id": AGENT_SAE_TEMPLATE,
        }
    return config


def web_config(
    at: Placement,
    *,
    host: str,
    port: int,
    token_file: Path,
    endpoint_file: Path,
    network: str | None = None,
) -> dict[str, Any]:
    """The configuration of the dashboard (``sdqkd web``): it serves with its own certificate
    (``web:dashboard``) and reads the controller and the emulator with the operator's.

    Args:
        at: where the services are (the controller's URL must be known).
        host: the address it listens on.
        port: its port (0: a free one).
        token_file: the browsers' token (the dashboard creates it, owner-only, when missing).
        endpoint_file: where it records its URL and pid once it serves.
        network: the network's name shown (None: the controller's).

    Raises:
        ConfigError: ``at`` does not know the controller's URL.
    """
    if at.controller_url is None:
        raise ConfigError("the dashboard needs the controller's URL")
    operator = at.tls(Role.OPERATOR, "operator")
    config: dict[str, Any] = {
        "host": host,
        "port": port,
        "tls": at.tls(Role.WEB, WEB_NAME).to_json(),
        "client": {"cert": str(operator.cert), "key": str(operator.key)},
        "controller_url": at.controller_url,
        "emulator_url": at.emulator_url,
        "token_file": str(token_file),
        "endpoint_file": str(endpoint_file),
    }
    if network is not None:
        config["network"] = network
    return config
