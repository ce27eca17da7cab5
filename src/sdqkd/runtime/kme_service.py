"""``sdqkd kme --config FILE``: one KME as a service process."""

from __future__ import annotations

from pathlib import Path

from sdqkd.kms.app import create_kme_app
from sdqkd.kms.config import load_kme_config
from sdqkd.kms.kme import Kme
from sdqkd.kms.store import SqliteKeyStore
from sdqkd.server.logs import LogFormat, configure_logging
from sdqkd.server.run import serve_role

__all__ = ["run_kme"]


def run_kme(config_path: Path, log_format: LogFormat = LogFormat.TEXT) -> None:
    """Serve the KME described by ``config_path`` until SIGINT/SIGTERM, logging ``log_format`` lines
    on stderr. Once it accepts connections it records ``{"url", "pid", "kme_id"}`` in its
    ``endpoint_file`` (if configured)."""
    config = load_kme_config(config_path)
    configure_logging(log_format, "kme", config.kme_id)
    store = SqliteKeyStore(config.storage.path, synchronous=config.storage.synchronous)
    try:
        serve_role(
            create_kme_app(Kme(config, store)),
            config.tls.files(),
            config.host,
            config.port,
            config.endpoint_file,
            {"kme_id": config.kme_id},
        )
    finally:
        try:
            if config.storage.wipe_at_stop:  # not meant to outlive the network: no key bytes left
                store.wipe()
        finally:
            store.close()
