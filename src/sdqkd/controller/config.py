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
```
Relative paths are relative to the configuration file.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from sdqkd.controller.paths import PathPolicy
from sdqkd.server.config import TLS_PATHS, TlsConfig, load_config_file

__all__ = ["ControllerConfig", "load_controller_config"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


def load_controller_config(path: Path) -> ControllerConfig:
    """Read and validate a controller configuration.

    Raises:
        ConfigError: unreadable or invalid (the message names the field).
    """
    config = load_config_file(
        path, ControllerConfig, "a controller", (*TLS_PATHS, "database", "endpoint_file")
    )
    if (path.parent / config.topology).is_file() and not Path(config.topology).is_absolute():
        return config.model_copy(update={"topology": str(path.parent / config.topology)})
    return config
