"""The controller's client of the optical plant API (the emulator's ``/api/v1/plant``, the stand-in for
what ROADMs and transponders expose), and the plant as the controller last read it.

The plant's fibres come back as topology models (:class:`~sdqkd.topology.models.Fibre` with their
classical channels, :class:`~sdqkd.topology.models.OpticalSwitch` with its cross-connect), so the same
planning code that sizes a topology file predicts the live network. Transport failures and answers that
are not the plant API's become :class:`~sdqkd.errors.PlantUnavailable`; a change the plant refuses
becomes :class:`~sdqkd.errors.PlantRefused` with its problem detail.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from sdqkd.errors import PlantRefused, PlantUnavailable
from sdqkd.pki.identity import Role
from sdqkd.pki.tls import client_ssl_context
from sdqkd.restconf.sse import EventParser
from sdqkd.server.request_id import carry_request_id
from sdqkd.topology.models import ClassicalChannel, Fibre, OpticalSwitch, Topology

__all__ = ["PlantClient", "PlantState"]

log = logging.getLogger(__name__)

_CHANNEL_FIELDS = (
    "id",
    "dwdm_channel",
    "wavelength_nm",
    "launch_power_dbm",
    "direction",
    "label",
    "rate_class",
    "receiver_sensitivity_dbm",
    "required_margin_db",
    "tunable",
)


@dataclass(frozen=True)
class PlantState:
    """The plant at one read: the topology with the plant's classical channels and cross-connects, and
    the fibres that are cut."""

    topology: Topology
    cut_fibres: frozenset[str]


class PlantClient:
    """HTTPS (mutual TLS, the controller's certificate) to the optical plant at ``url``.

    Args:
        url: the plant API's base URL (the emulator's).
        cert, key, ca: the controller's certificate and key, and the CA.
        timeout_s: per request (the event stream has no read timeout).
    """

    def __init__(
        self, url: str, cert: Path, key: Path, ca: Path, timeout_s: float = 5.0, *, crl: Path | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self._http = carry_request_id(
            httpx.AsyncClient(
                base_url=self.url,
                verify=client_ssl_context(cert, key, ca, peer=Role.EMULATOR, crl=crl),
                timeout=httpx.Timeout(timeout_s),
            )
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            response = await self._http.request(method, path, json=body)
        except (httpx.HTTPError, RuntimeError) as exc:  # RuntimeError: the client closed meanwhile
            raise PlantUnavailable(f"{method} {self.url}{path}: {type(exc).__name__}: {exc}") from exc
        if response.status_code in (400, 404, 409):
            try:
                detail = str(response.json().get("detail") or response.json().get("title"))
            except (ValueError, AttributeError):
                detail = response.text[:300]
            raise PlantRefused(f"the plant refused {method} {path}: {detail}", response.status_code)
        if response.status_code >= 300:
            raise PlantUnavailable(f"{method} {self.url}{path}: HTTP {response.status_code}")
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise PlantUnavailable(f"{method} {self.url}{path}: not JSON") from exc

    # Reading ----------------------------------------------------------------------------------------------

    async def read(self, topology: Topology) -> PlantState:
        """The plant now, as ``topology`` with the plant's channels, cross-connects and cuts.

        Raises:
            PlantUnavailable: no answer, or not the plant API's.
        """
        fibres = await self._call("GET", "/api/v1/plant/fibres")
        switches = await self._call("GET", "/api/v1/plant/switches")
        try:
            by_id = {str(f["id"]): f for f in fibres["fibres"]}
            ports = {str(s["id"]): s.get("connected_port") for s in switches["switches"]}
            updated: list[Fibre] = []
            for fibre in topology.fibres:
                found = by_id.get(fibre.id)
                if found is None:
                    updated.append(fibre)
                    continue
                channels = [
                    ClassicalChannel.model_validate(
                        {k: c[k] for k in _CHANNEL_FIELDS if c.get(k) is not None}
                    )
                    for c in found["channels"]
                ]
                updated.append(fibre.model_copy(update={"classical_channels": channels}))
            switched: list[OpticalSwitch] = []
            for switch in topology.switches:
                port = ports.get(switch.id, switch.connected_port)
                known = port is None or port in {p.id for p in switch.ports}
                switched.append(switch.model_copy(update={"connected_port": port}) if known else switch)
            cut = frozenset(str(f["id"]) for f in fibres["fibres"] if f.get("cut"))
        except (KeyError, TypeError, ValidationError) as exc:
            raise PlantUnavailable(f"{self.url}: not the plant API's answer: {exc}") from exc
        return PlantState(topology.model_copy(update={"fibres": updated, "switches": switched}), cut)

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """The plant's events as they come (``{"type", ...data}``), until the stream ends.

        Raises:
            PlantUnavailable: the stream could not be opened or broke.
        """
        parser = EventParser()
        try:
            async with self._http.stream(
                "GET", "/api/v1/events", timeout=httpx.Timeout(5.0, read=None)
            ) as response:
                if response.status_code != 200:
                    raise PlantUnavailable(f"{self.url}/api/v1/events: HTTP {response.status_code}")
                async for chunk in response.aiter_text():
                    for event in parser.feed(chunk):
                        if not event.data:
                            continue
                        try:
                            data = json.loads(event.data)
                        except ValueError:
                            continue
                        if isinstance(data, dict):
                            yield {"type": event.event, **data}
        except (httpx.HTTPError, RuntimeError) as exc:
            raise PlantUnavailable(f"{self.url}/api/v1/events: {type(exc).__name__}: {exc}") from exc

    # Changing ---------------------------------------------------------------------------------------------

    async def set_channel(
        self,
        fibre: str,
        channel: str,
        *,
        launch_power_dbm: float | None = None,
        dwdm_channel: int | None = None,
    ) -> None:
        """Set a classical channel's launch power and/or move it to a grid channel."""
        body: dict[str, Any] = {}
        if launch_power_dbm is not None:
            body["launch_power_dbm"] = launch_power_dbm
        if dwdm_channel is not None:
            body["dwdm_channel"] = dwdm_channel
        await self._call("PUT", f"/api/v1/plant/fibres/{fibre}/channels/{channel}", body)

    async def add_channel(self, fibre: str, channel: dict[str, Any]) -> None:
        """Light a new classical channel (as in a topology file)."""
        await self._call("POST", f"/api/v1/plant/fibres/{fibre}/channels", channel)

    async def remove_channel(self, fibre: str, channel: str) -> None:
        await self._call("DELETE", f"/api/v1/plant/fibres/{fibre}/channels/{channel}")

    async def set_switch(self, switch: str, port: str | None) -> None:
        """Cross-connect a switch's common port to ``port``."""
        await self._call("PUT", f"/api/v1/plant/switches/{switch}", {"port": port})
