"""Device drivers of the SD-QKD node agent: how the agent sees and drives its node's QKD modules.

The agent knows devices only through :class:`QkdDeviceDriver` (discovery, status, configuration,
performance, events); what the devices speak underneath is the driver's business. One driver
ships: :class:`EmulatorDriver`, over the emulator's vendor-neutral management API
(docs/emulator.md) with mutual TLS. A real device would get a driver of its own.

Errors: every failure of a driver call is a :class:`~sdqkd.errors.DeviceError`, translated once
here from the transport's errors (``raise ... from exc``)::

    DeviceError        the device could not be reached, or answered something unusable
    ├── NotFound       no such module, or a module of another node (the driver never touches those)
    └── DeviceRefused  the device answered with an error; keeps its status, title and detail
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import aclosing
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from sdqkd.errors import DeviceError, NotFound
from sdqkd.etsi015.names import ModuleRole
from sdqkd.pki.tls import async_https_client

__all__ = [
    "Attachment",
    "DeviceDescription",
    "DeviceEvent",
    "DeviceEventKind",
    "DeviceRefused",
    "EmulatorDriver",
    "ModuleState",
    "ModuleStatus",
    "Performance",
    "QkdDeviceDriver",
]

log = logging.getLogger(__name__)

_Wire = TypeVar("_Wire", bound=BaseModel)


class DeviceRefused(DeviceError):
    """The device answered a request with an error (RFC 9457 problem details for the emulator).

    Attributes:
        status_code: the HTTP status of the answer (403: not this caller's module, 409: refused by
            the device, e.g. a channel outside the laser's tuning range).
        title, detail: the problem's ``title`` and ``detail``.
    """

    def __init__(self, message: str, *, status_code: int, title: str = "", detail: str = "") -> None:
        self.status_code = status_code
        self.title = title
        self.detail = detail
        super().__init__(message)


# What a driver reports -------------------------------------------------------------------------------


class ModuleState(StrEnum):
    """Where a module stands now.

    ``up``: making key with its peer; ``down``: paired but not making key (``reason`` says why:
    a cut fibre, a switch set elsewhere, channels that differ); ``unpaired``: enabled, but no peer
    names it back; ``disabled``: switched off by configuration; ``failed``: broken.
    """

    UP = "up"
    DOWN = "down"
    UNPAIRED = "unpaired"
    DISABLED = "disabled"
    FAILED = "failed"


@dataclass(frozen=True)
class Attachment:
    """Where a module's optical port is plugged.

    Attributes:
        kind: a bare fibre, or a port of an optical switch.
        device: the fibre's or the switch's id.
        port: the switch port number (0 is a switch's common port, where the emulator attaches its
            switched modules); None on a bare fibre.
    """

    kind: Literal["fibre", "switch"]
    device: str
    port: int | None = None


@dataclass(frozen=True)
class DeviceDescription:
    """What a QKD module says about itself (what discovery advertises).

    Attributes:
        id: the module's id, unique in the network.
        node: the node whose secure site hosts it.
        model: vendor and device model.
        technology: the QKD technology, e.g. ``"CV-QKD"``.
        role: transmitter, receiver or both.
        wavelength_min_nm, wavelength_max_nm: the tuning range of its quantum channel, nm.
        max_absorption_db: the largest channel loss it supports, dB.
        attachment: where its optical port is plugged.
    """

    id: str
    node: str
    model: str
    technology: str
    role: ModuleRole
    wavelength_min_nm: float
    wavelength_max_nm: float
    max_absorption_db: float
    attachment: Attachment


@dataclass(frozen=True)
class ModuleStatus:
    """A module's configuration and state now.

    Attributes:
        peers: the modules it is configured to make key with.
        dwdm_channel: its quantum channel (100 GHz grid number), None when not set.
        wavelength_nm: that channel's wavelength, nm.
        paired_with: the peer it is paired with now (None: none).
    """

    id: str
    state: ModuleState
    reason: str
    peers: tuple[str, ...]
    dwdm_channel: int | None
    wavelength_nm: float | None
    enabled: bool
    paired_with: str | None


@dataclass(frozen=True)
class Performance:
    """How well a module's current pair performs.

    Attributes:
        skr_bps: secret key rate now, bit/s (0 when no pair is active).
        snr: the receiver's signal-to-noise ratio (linear), None when no pair is active.
        excess_noise_snu: total excess noise at the channel input, shot-noise units.
        raman_excess_noise_snu: the part of it due to Raman scattering of classical channels, SNU.
        loss_db: the quantum channel's loss, dB.
        keys_available: keys (of ``key_size_bits``) buffered for this end.
        keys_waiting: keys the peer took that this end has not claimed yet.
        keys_delivered: keys handed out by the pair so far.
    """

    id: str
    skr_bps: float
    snr: float | None
    excess_noise_snu: float | None
    raman_excess_noise_snu: float | None
    loss_db: float | None
    keys_available: int
    key_size_bits: int
    keys_waiting: int
    keys_delivered: int


class DeviceEventKind(StrEnum):
    """What happened to a module or its link."""

    SYNC = "sync"
    """The event stream (re)started: events may have been missed before it; re-read status now."""
    MODULE_UP = "module_up"
    """A failed module works again."""
    MODULE_DOWN = "module_down"
    """A module failed."""
    MODULE_CONFIGURED = "module_configured"
    """A module's configuration changed (by this agent or an operator)."""
    LINK_UP = "link_up"
    """A pair started making key."""
    LINK_DOWN = "link_down"
    """A pair stopped making key (or was configured and cannot make key); ``reason`` says why."""
    LINK_STATUS = "link_status"
    """A pair that makes no key is down for another ``reason``."""
    LINK_REMOVED = "link_removed"
    """A pair no longer exists (a configuration stopped naming the other end)."""
    RATE = "rate"
    """An active pair's secret key rate changed (``skr_bps``)."""


@dataclass(frozen=True)
class DeviceEvent:
    """Something that happened to this node's modules.

    Attributes:
        kind: what happened.
        modules: this node's modules it concerns (for ``SYNC``: every module of the node).
        time_s: when, seconds since the epoch.
        transmitter, receiver: the pair's modules (link events).
        reason: why a link makes no key (``LINK_DOWN``, ``LINK_STATUS``).
        skr_bps: the pair's secret key rate, bit/s (``LINK_UP``, ``LINK_DOWN``, ``RATE``).
    """

    kind: DeviceEventKind
    modules: tuple[str, ...]
    time_s: float
    transmitter: str | None = None
    receiver: str | None = None
    reason: str = ""
    skr_bps: float | None = None


@runtime_checkable
class QkdDeviceDriver(Protocol):
    """The agent's view of its node's QKD modules.

    Every method raises :class:`~sdqkd.errors.DeviceError` when the devices cannot be reached or
    refuse, and :class:`~sdqkd.errors.NotFound` for a module that is not this node's.
    """

    async def discover(self) -> list[DeviceDescription]:
        """The modules of this node."""
        ...

    async def peer_modules(self) -> list[DeviceDescription]:
        """The modules at other nodes that this node's modules can be configured to pair with
        (needed to turn a remote ETSI 015 interface into a peer module id)."""
        ...

    async def status(self, module_id: str) -> ModuleStatus:
        """A module's configuration and state now."""
        ...

    async def configure(
        self, module_id: str, peers: list[str], dwdm_channel: int | None, enabled: bool
    ) -> ModuleStatus:
        """Configure a module: the peer modules it makes key with, its quantum channel (100 GHz grid
        number) and whether it runs. Replaces the module's previous configuration."""
        ...

    async def performance(self, module_id: str) -> Performance:
        """How well the module's current pair performs."""
        ...

    def events(self) -> AsyncGenerator[DeviceEvent, None]:
        """Events of this node's modules, until closed; starts with a ``SYNC`` once subscribed and
        repeats it after every reconnection. Close it (``contextlib.aclosing``) when done."""
        ...

    async def aclose(self) -> None:
        """Release connections; the driver is unusable afterwards."""
        ...


# The emulator's wire format (docs/emulator.md) ----------------------------------------------------------


class _Answer(BaseModel):
    # Extra members are ignored: a newer emulator may say more than this driver reads.
    model_config = ConfigDict(extra="ignore", frozen=True)


class _WireAttachment(_Answer):
    device: Literal["fibre", "switch"]
    id: str
    port: str | None = None


class _WireModule(_Answer):
    id: str
    node: str
    model: str
    technology: str
    role: ModuleRole
    wavelength_range_nm: tuple[float, float]
    max_absorption_db: float
    attachment: _WireAttachment

    def description(self) -> DeviceDescription:
        wire = self.attachment
        if wire.device == "switch":
            # The emulator attaches a switched module to the switch's common port: port 0.
            port = wire.port or "common"
            attachment = Attachment("switch", wire.id, 0 if port == "common" else _port_number(port))
        else:
            attachment = Attachment("fibre", wire.id)
        low, high = self.wavelength_range_nm
        return DeviceDescription(
            id=self.id,
            node=self.node,
            model=self.model,
            technology=self.technology,
            role=self.role,
            wavelength_min_nm=low,
            wavelength_max_nm=high,
            max_absorption_db=self.max_absorption_db,
            attachment=attachment,
        )


def _port_number(port: str) -> int | None:
    return int(port) if port.isdigit() else None


class _WireModules(_Answer):
    modules: list[_WireModule]


class _WireStatus(_Answer):
    id: str
    state: ModuleState
    reason: str
    peers: list[str]
    dwdm_channel: int | None
    wavelength_nm: float | None
    enabled: bool
    paired_with: str | None

    def status(self) -> ModuleStatus:
        return ModuleStatus(
            id=self.id,
            state=self.state,
            reason=self.reason,
            peers=tuple(self.peers),
            dwdm_channel=self.dwdm_channel,
            wavelength_nm=self.wavelength_nm,
            enabled=self.enabled,
            paired_with=self.paired_with,
        )


class _WirePerformance(_Answer):
    id: str
    skr_bps: float
    snr: float | None
    excess_noise_snu: float | None
    raman_excess_noise_snu: float | None
    loss_db: float | None
    keys_available: int
    key_size_bits: int
    keys_waiting: int
    keys_delivered: int

    def performance(self) -> Performance:
        return Performance(**self.model_dump())


class _WireEvent(_Answer):
    time: float
    modules: list[str]
    transmitter: str | None = None
    receiver: str | None = None
    reason: str = ""
    skr_bps: float | None = None


_EVENT_KINDS = {
    "module_failed": DeviceEventKind.MODULE_DOWN,
    "module_repaired": DeviceEventKind.MODULE_UP,
    "module_configured": DeviceEventKind.MODULE_CONFIGURED,
    "link_up": DeviceEventKind.LINK_UP,
    "link_down": DeviceEventKind.LINK_DOWN,
    "link_status": DeviceEventKind.LINK_STATUS,
    "link_removed": DeviceEventKind.LINK_REMOVED,
    "rate": DeviceEventKind.RATE,
}  # the plant's events (fibre_cut, channel_power, ...) concern no module: a pair's link_down follows


@dataclass(frozen=True)
class _SseBlock:
    """One block of a server-sent event stream (WHATWG HTML §9.2.6): its fields up to a blank line."""

    event: str | None
    data: str | None
    retry: int | None


async def _sse_blocks(lines: AsyncIterator[str]) -> AsyncGenerator[_SseBlock, None]:
    """The blocks of an SSE stream; comment lines (``:``, the keep-alives) are skipped."""
    fields: dict[str, list[str]] = {}
    async for line in lines:
        if line == "":
            if fields:
                retry = fields.get("retry", [""])[-1]
                yield _SseBlock(
                    event=fields["event"][-1] if "event" in fields else None,
                    data="\n".join(fields["data"]) if "data" in fields else None,
                    retry=int(retry) if retry.isdigit() else None,
                )
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields.setdefault(name, []).append(value.removeprefix(" "))


def _backoff(initial_s: float, max_s: float) -> Iterator[float]:
    delay = initial_s
    while True:
        yield delay
        delay = min(delay * 2, max_s)


# The emulator driver ------------------------------------------------------------------------------------


class EmulatorDriver:
    """The modules of one node of an emulated network, over the emulator's management API.

    Only the modules whose ``node`` is ``node_id`` are this driver's: the others are never
    configured, reported or followed (the emulator enforces the same for an ``agent:NODE``
    certificate). Use as ``async with`` or call :meth:`aclose`.

    Args:
        url: the emulator's base URL (``https://localhost:PORT``).
        cert, key: the agent's certificate (``agent:NODE``) and private key.
        ca: the CA the emulator's certificate must chain to.
        node_id: the node whose modules this driver drives.
        timeout_s: connect, read and write timeout of a request, seconds.
        heartbeat_timeout_s: how long the event stream may stay silent before it counts as lost
            and is reopened, seconds (the emulator sends a keep-alive every 15 s).
        backoff_initial_s, backoff_max_s: the wait before reopening a lost event stream, doubling
            from the first to the second, seconds; back to the first once a stream is open.
        http_client: an ``httpx.AsyncClient`` already set up (tests), instead of
            ``cert``/``key``/``ca``; it stays the caller's to close.

    Raises:
        PkiError: the certificate, key or CA cannot be used.
    """

    def __init__(
        self,
        url: str,
        cert: Path | None,
        key: Path | None,
        ca: Path | None,
        node_id: str,
        *,
        timeout_s: float = 10.0,
        heartbeat_timeout_s: float = 45.0,
        backoff_initial_s: float = 0.1,
        backoff_max_s: float = 5.0,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.node_id = node_id
        self._stream_timeout = httpx.Timeout(timeout_s, read=heartbeat_timeout_s)
        self._backoff = (backoff_initial_s, backoff_max_s)
        self._http, self._owns_http = async_https_client(
            "EmulatorDriver", cert, key, ca, timeout_s, http_client
        )
        self._modules: dict[str, DeviceDescription] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"EmulatorDriver({self.url!r}, node_id={self.node_id!r})"

    async def __aenter__(self) -> EmulatorDriver:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections (of a client this driver made, ending its open event streams at
        once; over a caller's client, a stream ends at its next event)."""
        self._closed = True
        if self._owns_http:
            await self._http.aclose()

    # Requests ----------------------------------------------------------------------------------------

    async def _call(self, answer: type[_Wire], method: str, path: str, body: Any = None) -> _Wire:
        if self._closed:
            raise DeviceError(f"{self!r} is closed")
        try:
            response = await self._http.request(method, self.url + path, json=body)
        except httpx.HTTPError as exc:
            raise DeviceError(f"cannot reach the emulator at {self.url}: {exc!r}") from exc
        if response.status_code >= 400:
            raise _refusal(method, path, response)
        try:
            return answer.model_validate_json(response.content)
        except ValidationError as exc:
            raise DeviceError(f"the emulator's answer to {method} {path} is unreadable: {exc}") from exc

    async def _all_modules(self) -> list[DeviceDescription]:
        wire = await self._call(_WireModules, "GET", "/api/v1/modules")
        descriptions = [module.description() for module in wire.modules]
        self._modules = {d.id: d for d in descriptions if d.node == self.node_id}
        return descriptions

    async def _own(self, module_id: str) -> str:
        """``module_id``, URL-quoted, once it is known to be this node's (refreshing what is known)."""
        if module_id not in self._modules:
            await self._all_modules()
            if module_id not in self._modules:
                raise NotFound(f"no module {module_id!r} at node {self.node_id!r}")
        return quote(module_id, safe="")

    # QkdDeviceDriver -----------------------------------------------------------------------------------

    async def discover(self) -> list[DeviceDescription]:
        return [d for d in await self._all_modules() if d.node == self.node_id]

    async def peer_modules(self) -> list[DeviceDescription]:
        return [d for d in await self._all_modules() if d.node != self.node_id]

    async def status(self, module_id: str) -> ModuleStatus:
        path = f"/api/v1/modules/{await self._own(module_id)}/status"
        return (await self._call(_WireStatus, "GET", path)).status()

    async def configure(
        self, module_id: str, peers: list[str], dwdm_channel: int | None, enabled: bool
    ) -> ModuleStatus:
        path = f"/api/v1/modules/{await self._own(module_id)}/config"
        body = {"peers": list(peers), "dwdm_channel": dwdm_channel, "enabled": enabled}
        return (await self._call(_WireStatus, "PUT", path, body)).status()

    async def performance(self, module_id: str) -> Performance:
        path = f"/api/v1/modules/{await self._own(module_id)}/performance"
        return (await self._call(_WirePerformance, "GET", path)).performance()

    async def events(self) -> AsyncGenerator[DeviceEvent, None]:
        """Events of this node's modules from ``GET /api/v1/events``, reopened with backoff when
        the stream is lost (transport error, silence past the heartbeat timeout, end of stream, an
        emulator error 5xx). A ``SYNC`` follows every (re)subscription.

        Raises:
            DeviceRefused: the emulator refuses the stream (4xx: this certificate may not read it).
        """
        delays = _backoff(*self._backoff)
        while not self._closed:
            try:
                async with aclosing(self._stream()) as stream:
                    async for event in stream:
                        if event.kind is DeviceEventKind.SYNC:
                            delays = _backoff(*self._backoff)
                        yield event
                lost = "it ended"
            except (httpx.HTTPError, _Transient) as exc:
                lost = repr(exc)
            if self._closed:
                return
            delay = next(delays)
            log.warning("event stream of %s lost (%s); reopening in %.3g s", self.url, lost, delay)
            await asyncio.sleep(delay)

    async def _stream(self) -> AsyncGenerator[DeviceEvent, None]:
        """One subscription to the emulator's event stream, until it ends."""
        url = self.url + "/api/v1/events"
        async with self._http.stream("GET", url, timeout=self._stream_timeout) as response:
            if response.status_code >= 400:
                await response.aread()
                refusal = _refusal("GET", "/api/v1/events", response)
                if response.status_code >= 500:
                    raise _Transient(str(refusal)) from refusal
                raise refusal
            async with aclosing(_sse_blocks(response.aiter_lines())) as blocks:
                async for block in blocks:
                    if block.event is None:
                        if block.retry is not None:
                            # The emulator sends "retry:" once it has subscribed the stream: nothing
                            # published from here on is missed. Refresh the node's modules first.
                            await self._refresh_for_stream()
                            yield DeviceEvent(DeviceEventKind.SYNC, tuple(self._modules), time.time())
                        continue
                    event = self._translate(block)
                    if event is not None:
                        yield event

    async def _refresh_for_stream(self) -> None:
        try:
            await self._all_modules()
        except DeviceRefused:
            raise
        except DeviceError as exc:  # unreachable or garbled: the stream is retried
            raise _Transient(str(exc)) from exc

    def _translate(self, block: _SseBlock) -> DeviceEvent | None:
        kind = _EVENT_KINDS.get(block.event or "")
        if kind is None or block.data is None:
            return None
        try:
            wire = _WireEvent.model_validate(json.loads(block.data))
        except (ValueError, ValidationError) as exc:  # json's errors are ValueErrors
            log.warning("unreadable %s event from %s: %s", block.event, self.url, exc)
            return None
        ours = tuple(m for m in wire.modules if m in self._modules)
        if not ours:
            return None
        return DeviceEvent(
            kind=kind,
            modules=ours,
            time_s=wire.time,
            transmitter=wire.transmitter,
            receiver=wire.receiver,
            reason=wire.reason,
            skr_bps=wire.skr_bps,
        )


class _Transient(Exception):
    """A lost event stream that is worth reopening (never leaves the driver)."""


def _refusal(method: str, path: str, response: httpx.Response) -> DeviceError:
    """The error of an emulator answer with status ≥ 400 (RFC 9457 problem details)."""
    title, detail = response.reason_phrase, response.text
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        title = str(body.get("title") or title)
        detail = str(body.get("detail") or detail)
    message = f"the emulator refused {method} {path} ({response.status_code} {title}): {detail}"
    if response.status_code == 404:
        return NotFound(message)
    return DeviceRefused(message, status_code=response.status_code, title=title, detail=detail)
