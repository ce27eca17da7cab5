"""``sdqkd kme --config FILE``: one KME as a service process."""

from __future__ import annotations

import json
import os
from pathlib import Path

from sdqkd.kms.app import create_kme_app
from sdqkd.kms.config import load_kme_config
from sdqkd.kms.kme import Kme
from sdqkd.kms.store import SqliteKeyStore
from sdqkd.server.run import TlsFiles, serve

__all__ = ["run_kme"]


def run_kme(config_path: Path) -> None:
    """Serve the KME described by ``config_path`` until SIGINT/SIGTERM. Once it accepts connections
    it records ``{"url", "pid", "kme_id"}`` in its ``endpoint_file`` (if configured)."""
    config = load_kme_config(config_path)
    store = SqliteKeyStore(config.storage.path, synchronous=config.storage.synchronous)
    kme = Kme(config, store)
    app = create_kme_app(kme)

    def announce(url: str) -> None:
        if config.endpoint_file is not None:
            temporary = config.endpoint_file.with_suffix(".tmp")
            temporary.write_text(json.dumps({"url": url, "pid": os.getpid(), "kme_id": config.kme_id}))
            os.replace(temporary, config.endpoint_file)

    try:
        serve(
            app, TlsFiles(config.tls.cert, config.tls.key, config.tls.ca), config.host, config.port, announce
        )
    finally:
        store.close()
        if config.endpoint_file is not None:
            config.endpoint_file.unlink(missing_ok=True)
