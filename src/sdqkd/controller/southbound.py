"""The controller's side of its southbound interfaces: RESTCONF (RFC 8040) to the node agents,
their notification streams (server-sent events, RFC 8040 §6), and the KMEs' pool levels. One
HTTPS client with the controller's certificate (mutual TLS) serves them all.

Transport failures and answers outside the protocol become :class:`AgentUnavailable`; a RESTCONF
error body becomes a :class:`RestconfError` with the agent's fields, so the caller sees what the
agent said (error-tag, path, message) and not an HTTP status.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from sdqkd.errors import AgentUnavailable, ResourceNotFound, RestconfError, RestconfErrorType
from sdqkd.etsi015 import QKD_NODE
from sdqkd.pki.tls import client_ssl_context

__all__ = ["MEDIA_TYPE", "Southbound", "restconf_error"]

MEDIA_TYPE = "application/yang-data+json"
_HEADERS = {"accept": MEDIA_TYPE}
_STREAM = "/restconf/streams/etsi-qkd-sdn-node/json"
_ERROR_TYPES: tuple[RestconfErrorType, ...] = ("transport", "rpc", "protocol", "application")


def restconf_error(response: httpx.Response) -> RestconfError:
    """The first ``error`` of an ``ietf-restconf:errors`` body (RFC 8040 §7.1) as a RestconfError;
    a body that is not one becomes an ``operation-failed`` naming the HTTP status."""
    try:
        first = response.json()["ietf-restconf:errors"]["error"][0]
        message = str(first.get("error-message", ""))
        path = first.get("error-path")
        if response.status_code == 404:
            return ResourceNotFound(message, error_path=path)
        error_type: RestconfErrorType = "application"
        for known in _ERROR_TYPES:
            if first["error-type"] == known:
                error_type = known
        return RestconfError(
            error_type,
            str(first["error-tag"]),
            message,
            error_path=path,
            error_app_tag=first.get("error-app-tag"),
            error_info=first.get("error-info"),
        )
    except (ValueError, KeyError, IndexError, TypeError):
        return RestconfError(
            "transport", "operation-failed", f"HTTP {response.status_code} without a RESTCONF error body"
        )


class Southbound:
    """HTTPS (mutual TLS) to agents and KMEs with the controller's certificate.

    Args:
        cert, key, ca: the controller's certificate, its key, and the CA that signs the agents'.
        timeout_s: per request (the event stream has no read timeout).
    """

    def __init__(self, cert: Path, key: Path, ca: Path, timeout_s: float = 5.0) -> None:
        self._http = httpx.AsyncClient(
            verify=client_ssl_context(cert, key, ca),
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_keepalive_connections=64, max_connections=256),
        )
        self._closed = False

    async def aclose(self) -> None:
        self._closed = True
        await self._http.aclose()

    def _check_open(self, url: str) -> None:
        if self._closed:
            raise AgentUnavailable(f"{url}: the controller is stopping")

    async def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        self._check_open(url)
        try:
            return await self._http.request(method, url, **kwargs)
        except (httpx.HTTPError, RuntimeError) as exc:  # RuntimeError: the client closed meanwhile
            raise AgentUnavailable(f"{method} {url}: {type(exc).__name__}: {exc}") from exc

    # RESTCONF ---------------------------------------------------------------------------------------------

    async def node_tree(self, agent_url: str) -> dict[str, Any]:
        """The agent's whole ``qkd_node`` (configuration and state), RFC 7951 JSON inside the member.

        Raises:
            AgentUnavailable: no answer, or not a qkd_node.
            RestconfError: the agent refused.
        """
        url = f"{agent_url}/restconf/data/{QKD_NODE}"
        response = await self._request("GET", url, headers=_HEADERS)
        if response.status_code != 200:
            raise restconf_error(response)
        try:
            tree = response.json()[QKD_NODE]
        except (ValueError, KeyError, TypeError) as exc:
            raise AgentUnavailable(f"GET {url}: not an {QKD_NODE} body") from exc
        if not isinstance(tree, dict):
            raise AgentUnavailable(f"GET {url}: not an {QKD_NODE} body")
        return tree

    async def put(self, agent_url: str, path: str, body: dict[str, Any]) -> bool:
        """RESTCONF PUT of ``body`` at ``/restconf/data/PATH``; True if it created the resource.

        Raises:
            AgentUnavailable: no answer.
            RestconfError: the agent refused (its error, e.g. a device that vetoed the change).
        """
        response = await self._request(
            "PUT",
            f"{agent_url}/restconf/data/{path}",
            content=json.dumps(body),
            headers={**_HEADERS, "content-type": MEDIA_TYPE},
        )
        if response.status_code not in (201, 204):
            raise restconf_error(response)
        return response.status_code == 201

    async def delete(self, agent_url: str, path: str) -> bool:
        """RESTCONF DELETE of ``/restconf/data/PATH``; False if there was nothing to delete.

        Raises:
            AgentUnavailable: no answer.
            RestconfError: the agent refused.
        """
        response = await self._request("DELETE", f"{agent_url}/restconf/data/{path}", headers=_HEADERS)
        if response.status_code == 404:
            return False
        if response.status_code != 204:
            raise restconf_error(response)
        return True

    async def notifications(self, agent_url: str) -> AsyncIterator[dict[str, Any]]:
        """The agent's notifications as they come (RFC 8040 §6.4: each event's ``data`` is an
        ``ietf-restconf:notification``), until the stream ends.

        Raises:
            AgentUnavailable: the stream could not be opened or broke.
        """
        url = f"{agent_url}{_STREAM}"
        self._check_open(url)
        timeout = httpx.Timeout(5.0, read=None)
        try:
            async with self._http.stream(
                "GET", url, headers={"accept": "text/event-stream"}, timeout=timeout
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise restconf_error(response)
                data: list[str] = []
                async for line in response.aiter_lines():
                    if line.startswith("data:"):
                        data.append(line[5:].removeprefix(" "))
                    elif line == "" and data:  # an event ends at a blank line (HTML SSE §9.2.6)
                        text, data = "\n".join(data), []
                        try:
                            notification = json.loads(text)["ietf-restconf:notification"]
                        except (ValueError, KeyError, TypeError):
                            logging.getLogger(__name__).warning("%s: not a notification event", url)
                            continue
                        if isinstance(notification, dict):
                            yield notification
        except (httpx.HTTPError, RuntimeError) as exc:  # RuntimeError: the client closed meanwhile
            raise AgentUnavailable(f"GET {url}: {type(exc).__name__}: {exc}") from exc

    # KMEs -------------------------------------------------------------------------------------------------

    async def kme_state(self, kme_url: str) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        """A KME's pool levels per link id and its virtual links per id (``GET /api/v1/kme``).

        Raises:
            AgentUnavailable: no answer, or not the KME's status body.
        """
        url = f"{kme_url}/api/v1/kme"
        response = await self._request("GET", url)
        try:
            response.raise_for_status()
            body = response.json()
            pools = {
                str(entry["id"]): {k: v for k, v in entry.items() if k not in ("id", "peer_kme_id")}
                for entry in body["links"]
            }
            virtual = {str(entry["id"]): dict(entry) for entry in body.get("virtual_links", [])}
            return pools, virtual
        except (httpx.HTTPStatusError, ValueError, KeyError, TypeError) as exc:
            raise AgentUnavailable(f"GET {url}: HTTP {response.status_code}, not a KME status") from exc

    async def put_kme_virtual_link(self, kme_url: str, body: dict[str, Any]) -> None:
        """Add or replace a virtual link at a KME.

        Raises:
            AgentUnavailable: no answer, or refused (the KME's problem detail in the message).
        """
        url = f"{kme_url}/api/v1/kme/virtual_links/{body['id']}"
        response = await self._request("PUT", url, json=body)
        if response.status_code not in (200, 201):
            raise AgentUnavailable(f"PUT {url}: HTTP {response.status_code}: {response.text[:300]}")

    async def delete_kme_virtual_link(self, kme_url: str, virtual_id: str) -> None:
        """Remove a virtual link from a KME (nothing to do if it has none of that id).

        Raises:
            AgentUnavailable: no answer, or refused.
        """
        url = f"{kme_url}/api/v1/kme/virtual_links/{virtual_id}"
        response = await self._request("DELETE", url)
        if response.status_code not in (204, 404):
            raise AgentUnavailable(f"DELETE {url}: HTTP {response.status_code}: {response.text[:300]}")
