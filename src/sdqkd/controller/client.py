"""A client of the SDN controller's northbound API (HTTPS, mutual TLS), for the command line, ``sdqkd
status`` and the scenarios: links, the optical layer (fibres, admission, actions, policy) and the
switched transmitters. The shapes are documented in docs/controller.md and docs/optical.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from sdqkd.errors import Unavailable
from sdqkd.pki.identity import Role
from sdqkd.pki.tls import client_ssl_context
from sdqkd.server.request_id import carry_request_id

__all__ = ["ControllerClient", "ControllerClientError"]


class ControllerClientError(Unavailable):
    """The controller could not be reached, refused a request, or answered something that is not its
    API's JSON; also a client certificate that cannot be used.

    Attributes:
        status_code: the HTTP status of the refusal (409: a classical channel refused); None when no
            answer came.
        message: the error body's ``message`` (or what went wrong).
        details: the error body's ``details`` (for a refused channel: each link's ``predicted_skr_bps``
            and ``target_bps``).
    """

    def __init__(
        self,
        text: str,
        status_code: int | None = None,
        details: list[dict[str, Any]] | None = None,
        message: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.message = text if message is None else message
        self.details = details or []
        super().__init__(text)


def _segment(value: str) -> str:
    return quote(value, safe="")


class ControllerClient:
    """Synchronous client of one controller's northbound API.

    Args:
        url: the controller's base URL (``https://localhost:PORT``).
        cert, key, ca: the caller's certificate and key (the operator's), and the CA to verify the
            controller with.
        timeout_s: connect/read/write/pool timeout, seconds.
        http_client: an ``httpx.Client`` already set up (a test's ``MockTransport``) instead of
            ``cert``/``key``/``ca``; it stays the caller's to close.

    Raises:
        ControllerClientError: the certificate, key or CA cannot be used.
    """

    def __init__(
        self,
        url: str,
        cert: Path | None = None,
        key: Path | None = None,
        ca: Path | None = None,
        timeout_s: float = 10.0,
        *,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._own = http_client is None
        if http_client is not None:
            self._http = http_client
            return
        if cert is None or key is None or ca is None:
            raise ControllerClientError("a controller client needs a certificate, its key and the CA")
        try:
            context = client_ssl_context(cert, key, ca, peer=Role.CONTROLLER)
        except OSError as exc:  # ssl.SSLError is one: a key that is not the certificate's, a bad PEM
            raise ControllerClientError(f"cannot use certificate {cert} (key {key}, CA {ca}): {exc}") from exc
        self._http = carry_request_id(httpx.Client(base_url=self.url, verify=context, timeout=timeout_s))

    def close(self) -> None:
        if self._own:
            self._http.close()

    def __enter__(self) -> ControllerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        try:
            response = self._http.request(method, self.url + path, json=json, params=params)
        except httpx.HTTPError as exc:
            raise ControllerClientError(f"cannot reach the controller at {self.url}: {exc}") from exc
        if response.status_code >= 400:
            message, details = response.text, []
            try:
                body = response.json()
            except ValueError:
                body = None
            if isinstance(body, dict):
                message = str(body.get("message") or body.get("detail") or message)
                details = [d for d in body.get("details") or [] if isinstance(d, dict)]
            raise ControllerClientError(
                f"controller refused {method} {path}: {message}", response.status_code, details, message
            )
        if response.status_code == 204:
            return None
        try:
            return response.json()
        except ValueError as exc:  # json's JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise ControllerClientError(
                f"controller answered {method} {path} with something that is not JSON", response.status_code
            ) from exc

    # Nodes, topology, applications, alarms -------------------------------------------------------------

    def nodes(self) -> list[dict[str, Any]]:
        """``GET /api/v1/nodes``: the nodes that called home, with their reachability."""
        return list(self._call("GET", "/api/v1/nodes"))

    def topology(self) -> dict[str, Any]:
        """``GET /api/v1/topology``: ``{"name", "nodes", "edges"}`` (fibres, QKD and relayed links)."""
        return dict(self._call("GET", "/api/v1/topology"))

    def apps(self) -> list[dict[str, Any]]:
        """``GET /api/v1/apps``: the admitted applications with their status."""
        return list(self._call("GET", "/api/v1/apps"))

    def alarms(self, active_only: bool = False) -> list[dict[str, Any]]:
        """``GET /api/v1/alarms``: newest first; ``active_only``: those not cleared."""
        return list(self._call("GET", "/api/v1/alarms", params={"active": "true"} if active_only else None))

    # Links -----------------------------------------------------------------------------------------------

    def links(self) -> list[dict[str, Any]]:
        """``GET /api/v1/links``: physical and relayed (virtual) links."""
        return list(self._call("GET", "/api/v1/links"))

    # The optical layer -------------------------------------------------------------------------------------

    def fibres(self) -> list[dict[str, Any]]:
        """``GET /api/v1/optical/fibres``: every fibre's classical and quantum channels."""
        return list(self._call("GET", "/api/v1/optical/fibres")["fibres"])

    def fibre(self, fibre: str) -> dict[str, Any]:
        """``GET /api/v1/optical/fibres/{fibre}``."""
        return dict(self._call("GET", f"/api/v1/optical/fibres/{_segment(fibre)}"))

    def admit_channel(self, fibre: str, spec: dict[str, Any]) -> dict[str, Any]:
        """``POST /api/v1/optical/fibres/{fibre}/channels``: the decision (``accepted`` or ``adjusted``).

        Raises:
            ControllerClientError: refused (``status_code`` 409, ``details`` the predictions), or any
                other failure.
        """
        return dict(self._call("POST", f"/api/v1/optical/fibres/{_segment(fibre)}/channels", spec))

    def remove_channel(self, fibre: str, channel: str) -> None:
        """``DELETE /api/v1/optical/fibres/{fibre}/channels/{channel}``."""
        self._call("DELETE", f"/api/v1/optical/fibres/{_segment(fibre)}/channels/{_segment(channel)}")

    def actions(self, limit: int | None = None) -> list[dict[str, Any]]:
        """``GET /api/v1/optical/actions``: what the controller did, oldest first."""
        params = {"limit": limit} if limit is not None else None
        return list(self._call("GET", "/api/v1/optical/actions", params=params)["actions"])

    def policy(self) -> dict[str, Any]:
        """``GET /api/v1/optical/policy``: ``{"mode", "target_margin"}``."""
        return dict(self._call("GET", "/api/v1/optical/policy"))

    def set_policy(self, mode: str, target_margin: float | None = None) -> dict[str, Any]:
        """``PUT /api/v1/optical/policy``; the target margin is kept unless given."""
        margin = self.policy()["target_margin"] if target_margin is None else target_margin
        return dict(self._call("PUT", "/api/v1/optical/policy", {"mode": mode, "target_margin": margin}))

    # Switched transmitters --------------------------------------------------------------------------------

    def switches(self) -> list[dict[str, Any]]:
        """``GET /api/v1/switches``: port, schedule and shares of each switched transmitter."""
        return list(self._call("GET", "/api/v1/switches")["switches"])

    # Services ---------------------------------------------------------------------------------------------

    def create_service(self, intent: dict[str, Any]) -> dict[str, Any]:
        """``POST /api/v1/services``: the service as recorded (``state`` ``instantiating``).

        Raises:
            ControllerClientError: refused (409 admission, 400 a bad intent, 502 a manager), or any
                other failure.
        """
        return dict(self._call("POST", "/api/v1/services", intent))

    def services(self) -> list[dict[str, Any]]:
        """``GET /api/v1/services``."""
        return list(self._call("GET", "/api/v1/services"))

    def service(self, service_id: str) -> dict[str, Any]:
        """``GET /api/v1/services/{id}``: with each endpoint's process as its manager reports it."""
        return dict(self._call("GET", f"/api/v1/services/{_segment(service_id)}"))

    def route_service(self, service_id: str, via: list[str]) -> dict[str, Any]:
        """``PUT /api/v1/services/{id}/route``: an OPoT service's datagrams sent through ``via`` (its
        path puts the route back)."""
        return dict(self._call("PUT", f"/api/v1/services/{_segment(service_id)}/route", {"via": via}))

    def delete_service(self, service_id: str) -> None:
        """``DELETE /api/v1/services/{id}``: every process and application of it removed."""
        self._call("DELETE", f"/api/v1/services/{_segment(service_id)}")
