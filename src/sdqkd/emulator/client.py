"""A client for the emulator's management and plant API (mutual TLS), for the CLI, the launcher
and, later, the agents' emulator driver."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from sdqkd.errors import Unavailable
from sdqkd.pki.identity import Role
from sdqkd.pki.tls import client_ssl_context
from sdqkd.server.request_id import carry_request_id

__all__ = ["EmulatorClient", "EmulatorClientError"]


class EmulatorClientError(Unavailable):
    """The emulator could not be reached, refused a request (``status_code``), or answered something
    that is not its API's JSON; also a client certificate that cannot be used."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        self.status_code = status_code
        super().__init__(message)


class EmulatorClient:
    """Synchronous client of one emulator.

    Args:
        url: the emulator's base URL (``https://localhost:PORT``).
        cert, key, ca: the caller's certificate and key, and the CA to verify the emulator with.

    Raises:
        EmulatorClientError: the certificate, key or CA cannot be used (missing, unreadable, or a
            key that is not the certificate's).
    """

    def __init__(self, url: str, cert: Path, key: Path, ca: Path, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        try:
            context = client_ssl_context(cert, key, ca, peer=Role.EMULATOR)
        except OSError as exc:  # ssl.SSLError is one: a key that is not the certificate's, a bad PEM
            raise EmulatorClientError(f"cannot use certificate {cert} (key {key}, CA {ca}): {exc}") from exc
        self._http = carry_request_id(httpx.Client(base_url=self.url, verify=context, timeout=timeout_s))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EmulatorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, json: Any = None) -> Any:
        try:
            response = self._http.request(method, path, json=json)
        except httpx.HTTPError as exc:
            raise EmulatorClientError(f"cannot reach the emulator at {self.url}: {exc}") from exc
        if response.status_code >= 400:
            try:
                body = response.json()
                detail = body.get("detail") or body.get("message") or response.text
            except ValueError:
                detail = response.text
            raise EmulatorClientError(f"emulator refused {method} {path}: {detail}", response.status_code)
        try:
            return response.json()
        except ValueError as exc:  # json's JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise EmulatorClientError(
                f"emulator answered {method} {path} with something that is not JSON", response.status_code
            ) from exc

    # Management ----------------------------------------------------------------------------------

    def modules(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/api/v1/modules")["modules"])

    def module_status(self, module_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/api/v1/modules/{module_id}/status"))

    def configure(
        self, module_id: str, peers: list[str], dwdm_channel: int | None, enabled: bool
    ) -> dict[str, Any]:
        body = {"peers": peers, "dwdm_channel": dwdm_channel, "enabled": enabled}
        return dict(self._call("PUT", f"/api/v1/modules/{module_id}/config", body))

    def performance(self, module_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/api/v1/modules/{module_id}/performance"))

    def module_action(self, module_id: str, action: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/api/v1/modules/{module_id}/{action}"))

    def links(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/api/v1/links")["links"])

    # Plant ---------------------------------------------------------------------------------------

    def fibres(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/api/v1/plant/fibres")["fibres"])

    def set_power(self, fibre: str, channel: str, dbm: float) -> dict[str, Any]:
        return self.set_channel(fibre, channel, launch_power_dbm=dbm)

    def set_channel(
        self,
        fibre: str,
        channel: str,
        *,
        launch_power_dbm: float | None = None,
        dwdm_channel: int | None = None,
    ) -> dict[str, Any]:
        """Set a classical channel's launch power (dBm) and/or move it to a grid channel; the fibre
        as it is then."""
        body: dict[str, Any] = {}
        if launch_power_dbm is not None:
            body["launch_power_dbm"] = launch_power_dbm
        if dwdm_channel is not None:
            body["dwdm_channel"] = dwdm_channel
        return dict(self._call("PUT", f"/api/v1/plant/fibres/{fibre}/channels/{channel}", body))

    def add_channel(self, fibre: str, spec: dict[str, Any]) -> dict[str, Any]:
        return dict(self._call("POST", f"/api/v1/plant/fibres/{fibre}/channels", spec))

    def remove_channel(self, fibre: str, channel: str) -> dict[str, Any]:
        return dict(self._call("DELETE", f"/api/v1/plant/fibres/{fibre}/channels/{channel}"))

    def fibre_action(self, fibre: str, action: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/api/v1/plant/fibres/{fibre}/{action}"))

    def switches(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/api/v1/plant/switches")["switches"])

    def set_switch(self, switch: str, port: str | None) -> dict[str, Any]:
        return dict(self._call("PUT", f"/api/v1/plant/switches/{switch}", {"port": port}))
