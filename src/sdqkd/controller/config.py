"""The controller's configuration file (YAML or JSON).

```yaml
host: 127.0.0.1
port: 0                                   # 0: a free port
tls: {cert: pki/controller-controller.crt, key: pki/controller-controller.key, ca: pki/ca.crt}
topology: madrid                          # a built-in topology or a topology file
database: controller/state.db             # SQLite: registered nodes, applications, alarms
endpoint_file: controller/endpoint.json   # {"url", "pid"} once it serves
poll_interval_s: 1.0                      # how often each agent's tree and each KME's pools are read
```
Relative paths are relative to the configuration file.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sdqkd.errors import ConfigError

__all__ = ["ControllerConfig", "load_controller_config"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Tls(_Model):
    cert: Path
    key: Path
    ca: Path


class ControllerConfig(_Model):
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    tls: _Tls
    topology: str = "madrid"
    database: Path
    endpoint_file: Path | None = None
    poll_interval_s: float = Field(default=1.0, gt=0, le=60)


def load_controller_config(path: Path) -> ControllerConfig:
    """Read and validate a controller configuration.

    Raises:
        ConfigError: unreadable or invalid (the message names the field).
    """
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the controller configuration: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a controller configuration is a mapping")
    base = path.parent
    tls = data.get("tls")
    if isinstance(tls, dict):
        for key in ("cert", "key", "ca"):
            if isinstance(tls.get(key), str) and not Path(tls[key]).is_absolute():
                tls[key] = str(base / tls[key])
    for key in ("database", "endpoint_file"):
        if isinstance(data.get(key), str) and not Path(data[key]).is_absolute():
            data[key] = str(base / data[key])
    topology = data.get("topology")
    if isinstance(topology, str) and (base / topology).is_file() and not Path(topology).is_absolute():
        data["topology"] = str(base / topology)
    try:
        return ControllerConfig.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ConfigError(f"{path}: {'.'.join(str(p) for p in error['loc'])}: {error['msg']}") from exc
