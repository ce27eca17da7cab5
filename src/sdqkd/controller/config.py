"""The controller's configuration file (YAML or JSON).

```yaml
host: 127.0.0.1
port: 0                                   # 0: a free port
tls: {cert: pki/controller-controller.crt, key: pki/controller-controller.key, ca: pki/ca.crt}
topology: madrid                          # a built-in topology or a topology file
database: controller/state.db             # SQLite: registered nodes, applications, alarms
endpoint_file: controller/endpoint.json   # {"url", "pid"} once it serves
poll_interval_s: 1.0                      # how often each agent's tree and each KME's pools are read
relay_policy: balanced                    # key-relay paths: balanced (hops, rate, pools), rate or hops
plant_url: https://127.0.0.1:8443         # the optical plant API (the emulator's); none: not managed
world_time_scale: 1.0                     # an emulated world running X times faster (sdqkd up --time-scale)
service_managers:                         # each node's service manager (docs/nfv.md), for /api/v1/services
  norte: https://127.0.0.1:8480
service_sae_id: "{node}-app"              # the SAE a node's service processes take keys as
control_channel:                          # optional; default {kind: mtls}
  kind: qkd-tls                           # RESTCONF to the agents over QKD-TLS, a new key per connection
  kme_url: https://kme-concepcion:8470    # the KME of the controller's site
  sae: {cert: pki/sae-controller.crt, key: pki/sae-controller.key}  # the controller's SAE there
  agent_sae_id: "{node}-agent"            # each agent's SAE (enc_keys for it)
```
Relative paths are relative to the configuration file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sdqkd.controller.paths import PathPolicy
from sdqkd.server.config import TLS_PATHS, TlsConfig, load_config_file

__all__ = ["ControlChannel", "ControllerConfig", "load_controller_config"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _CertKey(_Model):
    cert: Path
    key: Path


class ControlChannel(_Model):
    """How the controller reaches the agents: ``mtls`` (the default) or ``qkd-tls`` (keys from its
    site's KME ``kme_url``, taken as the SAE ``sae`` for each agent's SAE ``agent_sae_id``)."""

    kind: Literal["mtls", "qkd-tls"] = "mtls"
    kme_url: str | None = Field(default=None, pattern=r"^https://\S+$", max_length=2048)
    sae: _CertKey | None = None
    agent_sae_id: str = Field(default="{node}-agent", pattern=r"\{node\}")

    @model_validator(mode="after")
    def _qkd_tls_needs_keys(self) -> ControlChannel:
        if self.kind == "qkd-tls" and (self.kme_url is None or self.sae is None):
            raise ValueError("control_channel qkd-tls needs kme_url and sae (the controller's SAE)")
        return self


class ControllerConfig(_Model):
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    tls: TlsConfig
    topology: str = "madrid"
    database: Path
    endpoint_file: Path | None = None
    poll_interval_s: float = Field(default=1.0, gt=0, le=60)
    relay_policy: PathPolicy = PathPolicy.BALANCED
    plant_url: str | None = Field(default=None, pattern=r"^https://\S+$", max_length=2048)
    world_time_scale: float = Field(default=1.0, gt=0, le=1e6)
    control_channel: ControlChannel = ControlChannel()
    service_managers: dict[str, Annotated[str, Field(pattern=r"^https://\S+$", max_length=2048)]] = {}
    """Each node's service manager URL, by node ID: where the controller orders service processes."""
    service_sae_id: str = Field(default="{node}-app", pattern=r"\{node\}")
    """The SAE a node's service processes (``sdqkd tunnel``) take keys as: the applications the
    controller admits for a service are between these SAEs (``sdqkd.runtime.rundir.sae_id``)."""


def load_controller_config(path: Path) -> ControllerConfig:
    """Read and validate a controller configuration.

    Raises:
        ConfigError: unreadable or invalid (the message names the field).
    """
    config = load_config_file(
        path,
        ControllerConfig,
        "a controller",
        (*TLS_PATHS, "database", "endpoint_file", "control_channel.sae.cert", "control_channel.sae.key"),
    )
    if (path.parent / config.topology).is_file() and not Path(config.topology).is_absolute():
        return config.model_copy(update={"topology": str(path.parent / config.topology)})
    return config
