"""``sdqkd controller --config FILE``: the SDN controller as a service (HTTPS, mutual TLS); it reaches
the agents with mutual TLS or, with ``control_channel: {kind: qkd-tls}``, over QKD-TLS."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from sdqkd.controller.api import create_controller_app
from sdqkd.controller.config import ControllerConfig, load_controller_config
from sdqkd.controller.core import Controller
from sdqkd.controller.optical.plant import PlantClient
from sdqkd.controller.registry import NodeView
from sdqkd.controller.southbound import Southbound
from sdqkd.controller.store import ControllerStore
from sdqkd.errors import QtlsError
from sdqkd.etsi014.client import Etsi014Client
from sdqkd.pki.identity import Role
from sdqkd.qtls import QtlsConnection, open_connection
from sdqkd.qtls.http import QtlsTransport
from sdqkd.server.logs import LogFormat, configure_logging
from sdqkd.server.run import serve_role
from sdqkd.topology.loader import load_topology

__all__ = ["build_controller", "run_controller"]


def build_controller(config: ControllerConfig) -> tuple[Controller, ControllerStore]:
    """The controller of ``config`` (not started) and its store (the caller closes it).

    Raises:
        ConfigError: the topology cannot be loaded.
    """
    topology = load_topology(config.topology)
    store = ControllerStore(config.database)
    registered: list[Mapping[str, NodeView]] = [{}]  # the registry's nodes, once the controller exists
    southbound = Southbound(
        config.tls.cert,
        config.tls.key,
        config.tls.ca,
        agent_transport=_qkd_tls(config, registered),
        crl=config.tls.crl,
    )
    plant = (
        PlantClient(config.plant_url, config.tls.cert, config.tls.key, config.tls.ca, crl=config.tls.crl)
        if config.plant_url
        else None
    )
    controller = Controller(
        topology,
        store,
        southbound,
        config.poll_interval_s,
        config.relay_policy,
        plant=plant,
        world_time_scale=config.world_time_scale,
        links_before_read=config.control_channel.kind == "qkd-tls",
        service_managers=config.service_managers,
        service_sae_id=config.service_sae_id,
    )
    registered[0] = controller.registry.nodes
    return controller, store


def _qkd_tls(config: ControllerConfig, registered: list[Mapping[str, NodeView]]) -> QtlsTransport | None:
    """RESTCONF to the agents over QKD-TLS (None: mutual TLS): each connection to an agent's address
    takes a new key from the controller's KME for the SAE of the node registered there."""
    channel = config.control_channel
    if channel.kind != "qkd-tls" or channel.kme_url is None or channel.sae is None:
        return None
    kme = Etsi014Client(
        channel.kme_url, cert=channel.sae.cert, key=channel.sae.key, ca=config.tls.ca, peer=Role.KME
    )

    async def dial(host: str, port: int) -> QtlsConnection:
        node = next(
            (
                node_id
                for node_id, view in registered[0].items()
                if _address(view.record.agent_url) == (host, port)
            ),
            None,
        )
        if node is None:
            raise QtlsError(f"no registered agent at {host}:{port}")
        return await open_connection(kme, channel.agent_sae_id.format(node=node), host, port)

    return QtlsTransport(dial, on_close=kme.aclose)


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or 443


def run_controller(config_path: Path, log_format: LogFormat = LogFormat.TEXT) -> None:
    """Serve the controller of ``config_path`` until SIGINT/SIGTERM, logging ``log_format`` lines on
    stderr; once it accepts connections it records ``{"url", "pid"}`` in its ``endpoint_file`` (if
    configured)."""
    config = load_controller_config(config_path)
    configure_logging(log_format, "controller")
    controller, store = build_controller(config)
    try:
        serve_role(
            create_controller_app(controller),
            config.tls.files(),
            config.host,
            config.port,
            config.endpoint_file,
        )
    finally:
        store.close()
