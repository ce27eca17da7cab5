"""The device driver of an emulated network: :class:`EmulatorDriver` drives one node's QKD modules over
the emulator's vendor-neutral management API (docs/emulator.md) with mutual TLS, and follows the
emulator's event stream (server-sent events, parsed by :mod:`sdqkd.restconf.sse`).

Errors are translated once here from the transport's (``raise ... from exc``): unreachable or
unreadable is a :class:`~sdqkd.errors.DeviceError`, a 404 a :class:`~sdqkd.errors.NotFound`, any other
refusal a :class:`~sdqkd.agent.drivers.DeviceRefused` with the emulator's problem details.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncGenerator, Iterator
from contextlib import aclosing
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from sdqkd.agent.drivers import (
    Attachment,
    DeviceDescription,
    DeviceEvent,
    DeviceEventKind,
    DeviceRefused,
    ModuleState,
    ModuleStatus,
    Performance,
)
from sdqkd.errors import DeviceError, NotFound, Unavailable
from sdqkd.etsi015.names import ModuleRole
from sdqkd.pki.identity import Role
from sdqkd.pki.tls import async_https_client
from sdqkd.restconf.sse import ServerSentEvent, parse_events
from sdqkd.server.request_id import carry_request_id

__all__ = ["EmulatorDriver"]

log = logging.getLogger(__name__)

_Wire = TypeVar("_Wire", bound=BaseModel)


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
        crl: Path | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.node_id = node_id
        self._stream_timeout = httpx.Timeout(timeout_s, read=heartbeat_timeout_s)
        self._backoff = (backoff_initial_s, backoff_max_s)
        self._http, self._owns_http = async_https_client(
            "EmulatorDriver", cert, key, ca, timeout_s, http_client, peer=Role.EMULATOR, crl=crl
        )
        if self._owns_http:  # a client of the caller's stays as it was made
            carry_request_id(self._http)
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
            async with aclosing(parse_events(response.aiter_text())) as blocks:
                async for block in blocks:
                    if block.event is None:
                        if block.retry_ms is not None:
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

    def _translate(self, block: ServerSentEvent) -> DeviceEvent | None:
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


class _Transient(Unavailable):
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
