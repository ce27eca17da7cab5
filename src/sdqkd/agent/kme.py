"""The node's KME as the agent reads it: ``GET {kme_url}/api/v1/kme`` (mutual TLS, the agent's
certificate), its key-consumption counters keyed by the ``qkd_link`` they belong to.

The KME reports, per physical link (named by the topology's link id ``X``), the blocks the key relay
spent there (``blocks_used_for_relay``: its own blocks, to send a hop; ``peer_blocks_used_for_relay``:
its copies of the peer's, to open one; ``block_bits`` each), and per virtual link (named ``v-A-B``,
with its ``path`` of node ids) the blocks used for it at this KME (``blocks_used``, both sides). The
agent keys them by the ``qkd_link`` of its datastore::

    PHYS  link_qkdl_id(X)                      relay bits = (blocks_used_for_relay
                                                             + peer_blocks_used_for_relay) × block_bits
    VIRT  virtual_qkdl_id(path[0], path[-1])   bits       = blocks_used × 256

(:mod:`sdqkd.etsi015` documents the ids). The counters only grow (the KME keeps them in its
database); :mod:`sdqkd.agent.consumption` turns two readings into rates and statistics.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from uuid import UUID

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sdqkd.errors import Unavailable
from sdqkd.etsi015 import link_qkdl_id, virtual_qkdl_id
from sdqkd.pki.identity import Identity, Role
from sdqkd.pki.tls import async_https_client
from sdqkd.server.request_id import carry_request_id

__all__ = ["BLOCK_BITS", "KmeCounters", "KmeReader", "KmeUnavailable", "parse_kme_status"]

BLOCK_BITS = 256
"""The bits of a KME key block (the size of a virtual link's ``blocks_used``)."""


class KmeUnavailable(Unavailable):
    """The node's KME did not answer, or not with its status body."""


@dataclass(frozen=True)
class KmeCounters:
    """One reading of the KME's consumption counters.

    Attributes:
        read_at: when it was read (UTC).
        monotonic_s: the same moment on the monotonic clock, seconds (for rates).
        relay_bits: per PHYS ``qkdl_id``, link key the relay consumed there so far, bits.
        virtual_bits: per VIRT ``qkdl_id``, link key used for that virtual link here so far, bits.
    """

    read_at: dt.datetime
    monotonic_s: float
    relay_bits: Mapping[UUID, int] = field(default_factory=dict)
    virtual_bits: Mapping[UUID, int] = field(default_factory=dict)


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _WireLink(_Wire):
    id: str
    blocks_used_for_relay: int = Field(default=0, ge=0)
    peer_blocks_used_for_relay: int = Field(default=0, ge=0)
    block_bits: int = Field(default=BLOCK_BITS, gt=0)


class _WireVirtualLink(_Wire):
    id: str
    path: list[str] = Field(min_length=2)
    blocks_used: int = Field(default=0, ge=0)


class _WireStatus(_Wire):
    links: list[_WireLink] = []
    virtual_links: list[_WireVirtualLink] = []


def parse_kme_status(body: bytes | str, read_at: dt.datetime, monotonic_s: float) -> KmeCounters:
    """The counters of a ``GET /api/v1/kme`` body.

    Raises:
        KmeUnavailable: not the KME's status body.
    """
    try:
        wire = _WireStatus.model_validate_json(body)
    except ValidationError as exc:
        raise KmeUnavailable(f"not a KME status body: {exc}") from exc
    relay = {
        link_qkdl_id(link.id): (link.blocks_used_for_relay + link.peer_blocks_used_for_relay)
        * link.block_bits
        for link in wire.links
    }
    virtual = {
        virtual_qkdl_id(link.path[0], link.path[-1]): link.blocks_used * BLOCK_BITS
        for link in wire.virtual_links
    }
    return KmeCounters(read_at, monotonic_s, relay, virtual)


class KmeReader:
    """Reads the node's KME's counters. Use as ``async with`` or call :meth:`aclose`.

    Args:
        url: the KME's base URL (``https://kme-norte:8470``).
        cert, key: the agent's certificate (``agent:NODE``) and private key.
        ca: the CA the KME's certificate must chain to.
        timeout_s: the whole request's limit, seconds: short, since the refresh loop waits for it.
        http_client: an ``httpx.AsyncClient`` already set up (tests), instead of ``cert``/``key``/``ca``;
            it stays the caller's to close.

    Raises:
        PkiError: the certificate, key or CA cannot be used.
    """

    def __init__(
        self,
        url: str,
        cert: Path | None = None,
        key: Path | None = None,
        ca: Path | None = None,
        *,
        timeout_s: float = 0.8,
        http_client: httpx.AsyncClient | None = None,
        kme_id: str | None = None,
        crl: Path | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        # the node's own KME: a server presenting another certificate is refused at the handshake
        peer = Role.KME if kme_id is None else Identity(Role.KME, kme_id)
        self._http, self._owns_http = async_https_client(
            "KmeReader", cert, key, ca, timeout_s, http_client, peer=peer, crl=crl
        )
        if self._owns_http:  # a client of the caller's stays as it was made
            carry_request_id(self._http)
        self._timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"KmeReader({self.url!r})"

    async def __aenter__(self) -> KmeReader:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def read(self) -> KmeCounters:
        """The KME's counters now.

        Raises:
            KmeUnavailable: no answer within the timeout, an error status, or not a status body.
        """
        url = f"{self.url}/api/v1/kme"
        try:
            async with asyncio.timeout(self._timeout_s):  # the whole exchange, not each read
                response = await self._http.get(url)
        except TimeoutError as exc:
            raise KmeUnavailable(f"GET {url}: no answer within {self._timeout_s} s") from exc
        except httpx.HTTPError as exc:
            raise KmeUnavailable(f"GET {url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise KmeUnavailable(f"GET {url}: HTTP {response.status_code}")
        return parse_kme_status(response.content, dt.datetime.now(dt.UTC), time.monotonic())
