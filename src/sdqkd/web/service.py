"""``sdqkd web --config FILE``: the operator's dashboard as a service process (HTTPS with the run's
CA), until SIGINT/SIGTERM.

It serves with its own certificate and asks for a client certificate without requiring one: the
operator's certificate lets a caller in, as does the token of ``token_file`` (created, owner-only,
when missing). Once it accepts connections it records ``{"url", "pid"}`` in its ``endpoint_file``
(if configured), as every role does (:func:`sdqkd.server.run.serve_role`); the record never holds
the token.
"""

from __future__ import annotations

from pathlib import Path

from sdqkd.controller.client import ControllerClient
from sdqkd.emulator.client import EmulatorClient
from sdqkd.server.logs import LogFormat, configure_logging
from sdqkd.server.run import serve_role
from sdqkd.web.app import create_web_app
from sdqkd.web.auth import Sessions, read_token
from sdqkd.web.config import WebConfig, load_web_config
from sdqkd.web.feed import SnapshotFeed, UpstreamReader

__all__ = ["run_web", "upstream_reader"]

_UPSTREAM_TIMEOUT_S = 5.0


def upstream_reader(config: WebConfig) -> UpstreamReader:
    """The clients of the controller and the emulator, with the configured (operator's) certificate.

    Raises:
        ControllerClientError, EmulatorClientError: the certificate cannot be used.
    """
    cert, key, ca = config.client.cert, config.client.key, config.tls.ca
    controller = ControllerClient(config.controller_url, cert, key, ca, timeout_s=_UPSTREAM_TIMEOUT_S)
    emulator = (
        EmulatorClient(config.emulator_url, cert, key, ca, timeout_s=_UPSTREAM_TIMEOUT_S)
        if config.emulator_url
        else None
    )
    return UpstreamReader(controller, emulator)


def run_web(config_path: Path, log_format: LogFormat = LogFormat.TEXT) -> None:
    """Serve the dashboard of ``config_path`` until SIGINT/SIGTERM, logging ``log_format`` lines on
    stderr."""
    config = load_web_config(config_path)
    configure_logging(log_format, "web")
    token = read_token(config.token_file)
    reader = upstream_reader(config)
    try:
        feed = SnapshotFeed(reader.read, config.interval_s, config.network)
        app = create_web_app(feed, token, Sessions(config.session_ttl_s))
        serve_role(
            app,
            config.tls.files(),
            config.host,
            config.port,
            config.endpoint_file,
            client_cert_required=False,
        )
    finally:
        reader.close()
