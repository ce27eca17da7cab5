"""A KME's configuration file (YAML or JSON), as ``sdqkd kme --config FILE`` reads it.

```yaml
kme_id: norte                          # this KME (its certificate is kme:norte)
host: 127.0.0.1
port: 8443                             # 0: a free port
tls: {cert: pki/kme-norte.crt, key: pki/kme-norte.key, ca: pki/ca.crt}
storage: {backend: sqlite, path: kme/norte.db, synchronous: NORMAL}
saes: {norte-app: norte, concepcion-app: concepcion}   # SAE ID -> the KME it is attached to
links:
  - id: concepcion-norte               # the QKD link (same id at both KMEs)
    peer_kme_id: concepcion
    peer_url: https://concepcion.example:8443
    device: {etsi014_url: https://emulator:9000/devices/norte-rx, peer_sae_id: concepcion}
key_ttl_s: 3600
pool_target_blocks: 4096
```
Relative paths are relative to the configuration file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sdqkd.errors import ConfigError

__all__ = ["DeviceConfig", "KmeConfig", "KmeLinkConfig", "StorageConfig", "TlsConfig", "load_kme_config"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsConfig(_Model):
    cert: Path
    key: Path
    ca: Path


class StorageConfig(_Model):
    backend: Literal["sqlite"] = "sqlite"
    path: Path
    synchronous: Literal["NORMAL", "FULL"] = "NORMAL"


class DeviceConfig(_Model):
    """A QKD module reached over ETSI GS QKD 014 (the emulator's, or a real device's).

    Attributes:
        etsi014_url: the device's ETSI 014 base URL (``…/api/v1/keys`` is appended).
        peer_sae_id: the SAE ID the device knows the peer KME by.
    """

    etsi014_url: str
    peer_sae_id: str


class KmeLinkConfig(_Model):
    id: str = Field(min_length=1)
    peer_kme_id: str = Field(min_length=1)
    peer_url: str
    device: DeviceConfig


class KmeConfig(_Model):
    kme_id: str = Field(min_length=1)
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    tls: TlsConfig
    storage: StorageConfig
    saes: dict[str, str] = Field(default_factory=dict, description="SAE ID -> KME ID it is attached to")
    links: list[KmeLinkConfig] = Field(default_factory=list)
    key_ttl_s: float = Field(default=3600.0, gt=0)
    pool_target_blocks: int = Field(default=4096, ge=1)
    endpoint_file: Path | None = None

    def local_saes(self) -> set[str]:
        return {sae for sae, kme in self.saes.items() if kme == self.kme_id}


def _absolute(data: Any, base: Path) -> Any:
    for section, keys in (("tls", ("cert", "key", "ca")), ("storage", ("path",))):
        for key in keys:
            value = data.get(section, {}).get(key) if isinstance(data.get(section), dict) else None
            if isinstance(value, str) and not Path(value).is_absolute():
                data[section][key] = str(base / value)
    endpoint = data.get("endpoint_file")
    if isinstance(endpoint, str) and not Path(endpoint).is_absolute():
        data["endpoint_file"] = str(base / endpoint)
    return data


def load_kme_config(path: Path) -> KmeConfig:
    """Read and validate a KME configuration file.

    Raises:
        ConfigError: unreadable or invalid (the message names the field).
    """
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read KME configuration: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a KME configuration is a mapping")
    try:
        return KmeConfig.model_validate(_absolute(data, path.parent))
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise ConfigError(f"{path}: {where}: {error['msg']}") from exc
