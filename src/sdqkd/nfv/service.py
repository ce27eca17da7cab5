"""``sdqkd service-manager --config FILE``: a node's service manager as a service process (HTTPS,
mutual TLS), until SIGINT/SIGTERM; then it stops every process it started.

Once it accepts connections it records ``{"url", "pid", "node_id"}`` in its ``endpoint_file`` (if
configured), as every role does (:func:`sdqkd.server.run.serve_role`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from sdqkd.nfv.app import create_service_manager_app
from sdqkd.nfv.config import load_service_manager_config
from sdqkd.nfv.supervisor import Supervisor
from sdqkd.server.run import serve_role

__all__ = ["run_service_manager"]


def _log_to_stderr() -> None:
    """sdqkd's messages from INFO (orders, starts, deaths), other libraries' from WARNING, on stderr."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("sdqkd").setLevel(logging.INFO)


def run_service_manager(config_path: Path) -> None:
    """Serve the service manager of ``config_path`` until SIGINT/SIGTERM."""
    config = load_service_manager_config(config_path)
    _log_to_stderr()
    config.log_dir.mkdir(parents=True, exist_ok=True)
    app = create_service_manager_app(Supervisor(config.site()))
    serve_role(
        app, config.tls.files(), config.host, config.port, config.endpoint_file, {"node_id": config.node_id}
    )
