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
virtual_links:                         # keys relayed over trusted nodes (DESIGN §3, docs/kme.md)
  - id: norte-sur
    path: [norte, concepcion, sur]     # the KMEs from one end to the other
    # prev_hop / next_hop: this KME's physical link towards path[0] / path[-1]; derived from
    # `links` (the link to that neighbour) when omitted
key_ttl_s: 3600
pool_target_blocks: 4096
```
Relative paths are relative to the configuration file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sdqkd.errors import ConfigError
from sdqkd.kms.store import LOCAL_SCOPE
from sdqkd.server.config import TLS_PATHS, TlsConfig, load_config_file

__all__ = [
    "DeviceConfig",
    "KmeConfig",
    "KmeLinkConfig",
    "StorageConfig",
    "VirtualLinkConfig",
    "VirtualLinkHops",
    "load_kme_config",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StorageConfig(_Model):
    backend: Literal["sqlite"] = "sqlite"
    path: Path
    synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    wipe_at_stop: bool = False
    """Wipe every block and key from the store when the KME stops normally (``sdqkd up`` sets it
    unless ``--keep-keys``); a store configured without it persists across restarts."""


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


class VirtualLinkConfig(_Model):
    """A virtual link: keys relayed hop by hop over trusted nodes (ETSI GS QKD 015 ``qkdl_type``
    VIRT, ``virt_prev_hop`` / ``virt_next_hop``). Every KME on ``path`` holds the same entry.

    Attributes:
        id: the virtual link's ID (the same at every KME of the path).
        path: the KME IDs from one end to the other (at least two, none twice).
        prev_hop: this KME's physical link towards ``path[0]`` (None at ``path[0]``); derived
            from ``links`` (the link to the neighbour) when omitted.
        next_hop: this KME's physical link towards ``path[-1]`` (None at ``path[-1]``); likewise.
    """

    id: str = Field(min_length=1, max_length=128)
    path: list[str] = Field(min_length=2, max_length=32)
    prev_hop: str | None = None
    next_hop: str | None = None

    @model_validator(mode="after")
    def _simple_path(self) -> VirtualLinkConfig:
        if len(set(self.path)) != len(self.path):
            raise ValueError("a virtual link's path names a KME twice")
        return self

    def far_end(self, kme_id: str) -> str | None:
        """The KME at the other end, for an end KME; None for an intermediate one."""
        if kme_id == self.path[0]:
            return self.path[-1]
        if kme_id == self.path[-1]:
            return self.path[0]
        return None

    def hops_at(self, kme_id: str, links: list[KmeLinkConfig]) -> VirtualLinkHops:
        """This KME's physical links towards both ends, checked against its ``links``.

        Raises:
            ConfigError: ``kme_id`` is not on the path, or a hop is not a link of its to the
                neighbour on the path.
        """
        if kme_id not in self.path:
            raise ConfigError(f"virtual link {self.id!r}: KME {kme_id!r} is not on its path")
        index = self.path.index(kme_id)
        by_id = {link.id: link for link in links}
        hops: list[str | None] = []
        for given, neighbour_index in ((self.prev_hop, index - 1), (self.next_hop, index + 1)):
            if not 0 <= neighbour_index < len(self.path):
                if given is not None:
                    raise ConfigError(f"virtual link {self.id!r}: no hop beyond the end of the path")
                hops.append(None)
                continue
            neighbour = self.path[neighbour_index]
            if given is None:
                found = [link.id for link in links if link.peer_kme_id == neighbour]
                if not found:
                    raise ConfigError(f"virtual link {self.id!r}: no link from {kme_id!r} to {neighbour!r}")
                given = found[0]
            link = by_id.get(given)
            if link is None or link.peer_kme_id != neighbour:
                raise ConfigError(f"virtual link {self.id!r}: {given!r} is not a link to {neighbour!r}")
            hops.append(given)
        return VirtualLinkHops(self, index, hops[0], hops[1])


class VirtualLinkHops:
    """A virtual link as one KME of its path sees it: its position and its links to both sides."""

    def __init__(self, config: VirtualLinkConfig, index: int, prev_hop: str | None, next_hop: str | None):
        self.config = config
        self.id = config.id
        self.index = index
        self.prev_hop = prev_hop
        self.next_hop = next_hop

    def hop_towards(self, kme_id: str) -> str | None:
        """The physical link to take towards ``kme_id`` (an end of the path)."""
        if kme_id == self.config.path[-1]:
            return self.next_hop
        if kme_id == self.config.path[0]:
            return self.prev_hop
        return None

    def __repr__(self) -> str:
        return f"VirtualLinkHops({self.id!r}, prev={self.prev_hop!r}, next={self.next_hop!r})"


class KmeConfig(_Model):
    kme_id: str = Field(min_length=1)
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    tls: TlsConfig
    storage: StorageConfig
    saes: dict[str, str] = Field(default_factory=dict, description="SAE ID -> KME ID it is attached to")
    links: list[KmeLinkConfig] = Field(default_factory=list)
    virtual_links: list[VirtualLinkConfig] = Field(default_factory=list)
    key_ttl_s: float = Field(default=3600.0, gt=0)
    pool_target_blocks: int = Field(default=4096, ge=1)
    endpoint_file: Path | None = None

    def local_saes(self) -> set[str]:
        return {sae for sae, kme in self.saes.items() if kme == self.kme_id}

    @model_validator(mode="after")
    def _virtual_links_fit(self) -> KmeConfig:
        ids = [virtual.id for virtual in self.virtual_links]
        if len(set(ids)) != len(ids) or set(ids) & {link.id for link in self.links}:
            raise ValueError("virtual link IDs must be unique and differ from the physical links' IDs")
        if LOCAL_SCOPE in {*ids, *(link.id for link in self.links)}:
            raise ValueError(f"{LOCAL_SCOPE!r} is reserved for keys between SAEs of this KME, not a link ID")
        for virtual in self.virtual_links:
            try:
                virtual.hops_at(self.kme_id, self.links)
            except ConfigError as exc:
                raise ValueError(str(exc)) from exc
        return self


def load_kme_config(path: Path) -> KmeConfig:
    """Read and validate a KME configuration file.

    Raises:
        ConfigError: unreadable or invalid (the message names the field).
    """
    relative = (*TLS_PATHS, "storage.path", "endpoint_file")
    return load_config_file(path, KmeConfig, "a KME", relative)
