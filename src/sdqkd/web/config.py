"""The configuration of the dashboard (``sdqkd web --config FILE``).

```yaml
host: 127.0.0.1
port: 0                                         # 0: a free port
tls: {cert: pki/web-dashboard.crt, key: pki/web-dashboard.key, ca: pki/ca.crt}
client: {cert: pki/operator-operator.crt, key: pki/operator-operator.key}
controller_url: https://localhost:8443
emulator_url: https://localhost:8444            # optional: the plant, for fibre cuts at once
network: madrid                                 # optional: the name shown (default: the controller's)
token_file: web/token                           # the browsers' token (created owner-only if missing)
endpoint_file: web/endpoint.json                # {"url", "pid"} written once it serves
interval_s: 1.0                                 # how often a watching browser gets a snapshot
session_ttl_s: 43200                            # how long a browser's session lasts
```
Relative paths are relative to the configuration file. The dashboard serves with its own
certificate (``web:NAME``); it calls the controller and the emulator with the operator's (``client``),
and admits the operator's certificate or the token (:mod:`sdqkd.web.auth`).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from sdqkd.server.config import TLS_PATHS, TlsConfig, load_config_file

__all__ = ["ClientCertificate", "WebConfig", "load_web_config"]


class ClientCertificate(BaseModel):
    """The certificate and key the dashboard presents to the services it reads (the operator's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cert: Path
    key: Path


class WebConfig(BaseModel):
    """The dashboard's configuration (see the module's example)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    tls: TlsConfig
    client: ClientCertificate
    controller_url: str = Field(pattern=r"^https://")
    emulator_url: str | None = Field(default=None, pattern=r"^https://")
    network: str | None = None
    token_file: Path
    endpoint_file: Path | None = None
    interval_s: float = Field(default=1.0, gt=0, le=60)
    """Seconds between the snapshots a watching browser gets (and the most a snapshot may lag)."""
    session_ttl_s: float = Field(default=12 * 3600.0, gt=0)


def load_web_config(path: Path) -> WebConfig:
    """Read and validate the dashboard's configuration (YAML or JSON).

    Raises:
        ConfigError: unreadable or invalid (the message names the field).
    """
    relative = (*TLS_PATHS, "client.cert", "client.key", "token_file", "endpoint_file")
    return load_config_file(path, WebConfig, "a dashboard", relative)
