"""``sdqkd controller --config FILE``: the SDN controller as a service (HTTPS, mutual TLS)."""

from __future__ import annotations

from pathlib import Path

from sdqkd.controller.api import create_controller_app
from sdqkd.controller.config import ControllerConfig, load_controller_config
from sdqkd.controller.core import Controller
from sdqkd.controller.optical.plant import PlantClient
from sdqkd.controller.southbound import Southbound
from sdqkd.controller.store import ControllerStore
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
    southbound = Southbound(config.tls.cert, config.tls.key, config.tls.ca)
    plant = (
        PlantClient(config.plant_url, config.tls.cert, config.tls.key, config.tls.ca)
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
    )
    return controller, store


def run_controller(config_path: Path) -> None:
    """Serve the controller of ``config_path`` until SIGINT/SIGTERM; once it accepts connections it
    records ``{"url", "pid"}`` in its ``endpoint_file`` (if configured)."""
    config = load_controller_config(config_path)
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
