"""``sdqkd service-manager --config FILE``: a node's service manager as a service process (HTTPS,
mutual TLS), until SIGINT/SIGTERM; then it stops every process it started.

Once it accepts connections it records ``{"url", "pid", "node_id"}`` in its ``endpoint_file`` (if
configured), as every role does (:func:`sdqkd.server.run.serve_role`).
"""

from __future__ import annotations

from pathlib import Path

from sdqkd.nfv.app import create_service_manager_app
from sdqkd.nfv.config import load_service_manager_config
from sdqkd.nfv.supervisor import Supervisor
from sdqkd.server.logs import LogFormat, configure_logging
from sdqkd.server.run import serve_role

__all__ = ["run_service_manager"]


def run_service_manager(config_path: Path, log_format: LogFormat = LogFormat.TEXT) -> None:
    """Serve the service manager of ``config_path`` until SIGINT/SIGTERM, logging ``log_format``
    lines on stderr (sdqkd's from INFO: orders, starts, deaths)."""
    config = load_service_manager_config(config_path)
    configure_logging(log_format, "service-manager", config.node_id)
    config.log_dir.mkdir(parents=True, exist_ok=True)
    app = create_service_manager_app(Supervisor(config.site()))
    serve_role(
        app, config.tls.files(), config.host, config.port, config.endpoint_file, {"node_id": config.node_id}
    )
