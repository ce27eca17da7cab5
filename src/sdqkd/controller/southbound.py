"""The controller's side of its southbound interfaces: RESTCONF (RFC 8040) to the node agents and
their notification streams (through :class:`~sdqkd.restconf.client.RestconfClient`), and the KMEs'
pool levels. One HTTPS client with the controller's certificate (mutual TLS) serves them all, and checks
whom each connection reached: at an address :meth:`Southbound.expect` names (a registered node's agent
and KME), that node's certificate only; elsewhere any agent's or KME's. An SAE's or operator's
certificate, or another node's, is refused at the TLS handshake, before a request is sent.

Transport failures and answers outside the protocol become :class:`AgentUnavailable`; a RESTCONF
error body becomes a :class:`RestconfError` with the agent's fields, so the caller sees what the
agent said (error-tag, path, message) and not an HTTP status.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from pathlib import Path
from typing import Any

import httpx

from sdqkd.errors import AgentUnavailable
from sdqkd.etsi015 import QKD_NODE
from sdqkd.pki.identity import Identity, Role
from sdqkd.pki.tls import ExpectedPeer, client_ssl_context
from sdqkd.restconf.client import RestconfClient
from sdqkd.server.request_id import carry_request_id

__all__ = ["Southbound"]

_STREAM = "etsi-qkd-sdn-node"  # the agents' notification stream (RFC 8040 §6)
# agents (and the service managers, which serve with their node's agent certificate) and KMEs
_SOUTHBOUND_PEERS: ExpectedPeer = (Role.AGENT, Role.KME)


class _PeerCheckingTransport(httpx.AsyncBaseTransport):
    """HTTPS whose TLS handshakes check the server's identity by the request's origin: one connection
    pool per expected identity (:func:`~sdqkd.pki.tls.client_ssl_context` with ``peer``), and one
    for origins not named (any agent or KME)."""

    def __init__(self, cert: Path, key: Path, ca: Path, crl: Path | None, limits: httpx.Limits) -> None:
        self._files, self._crl, self._limits = (cert, key, ca), crl, limits
        self._expected: dict[tuple[str, str, int | None], Identity] = {}
        self._pools: dict[ExpectedPeer, httpx.AsyncHTTPTransport] = {}
        self._pool(_SOUTHBOUND_PEERS)  # fails now, not at the first request, on unusable files

    def expect(self, url: str, identity: Identity) -> None:
        parsed = httpx.URL(url)
        self._expected[(parsed.scheme, parsed.host, parsed.port)] = identity

    def _pool(self, peer: ExpectedPeer) -> httpx.AsyncHTTPTransport:
        if (pool := self._pools.get(peer)) is None:
            context = client_ssl_context(*self._files, peer=peer, crl=self._crl)
            pool = self._pools[peer] = httpx.AsyncHTTPTransport(verify=context, limits=self._limits)
        return pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        origin = (request.url.scheme, request.url.host, request.url.port)
        return await self._pool(self._expected.get(origin, _SOUTHBOUND_PEERS)).handle_async_request(request)

    async def aclose(self) -> None:
        for pool in self._pools.values():
            await pool.aclose()


class Southbound:
    """HTTPS (mutual TLS) to agents and KMEs with the controller's certificate.

    Args:
        cert, key, ca: the controller's certificate, its key, and the CA that signs the agents'.
        timeout_s: per request (the event stream has no read timeout).
        agent_transport: how RESTCONF reaches the agents when not with mutual TLS (QKD-TLS:
            :class:`sdqkd.qtls.http.QtlsTransport`); the KMEs are always reached with mutual TLS.
        crl: the CA's CRL, read when each peer's connection pool is made (None: not checked).
    """

    def __init__(
        self,
        cert: Path,
        key: Path,
        ca: Path,
        timeout_s: float = 5.0,
        agent_transport: httpx.AsyncBaseTransport | None = None,
        crl: Path | None = None,
    ) -> None:
        self._transport = _PeerCheckingTransport(
            cert, key, ca, crl, httpx.Limits(max_keepalive_connections=64, max_connections=256)
        )
        self._http = carry_request_id(
            httpx.AsyncClient(transport=self._transport, timeout=httpx.Timeout(timeout_s))
        )
        self._agents = (
            self._http
            if agent_transport is None
            else carry_request_id(
                httpx.AsyncClient(transport=agent_transport, timeout=httpx.Timeout(timeout_s))
            )
        )
        self.restconf = RestconfClient(self._agents, unavailable=AgentUnavailable)
        self._closed = False

    def expect(self, url: str, identity: Identity) -> None:
        """Connections to ``url``'s origin (scheme, host, port) must reach ``identity`` (a node's
        agent or service manager: ``agent:NODE``; its KME: ``kme:NODE``); the last call for an origin
        wins. Not for the agents reached over QKD-TLS, which authenticates them its own way."""
        self._transport.expect(url, identity)

    async def aclose(self) -> None:
        self._closed = True
        await self._http.aclose()
        if self._agents is not self._http:
            await self._agents.aclose()

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
        self._check_open(agent_url)
        tree = (await self.restconf.get(agent_url, QKD_NODE)).get(QKD_NODE)
        if not isinstance(tree, dict):
            raise AgentUnavailable(
                f"GET {self.restconf.data_url(agent_url, QKD_NODE)}: not an {QKD_NODE} body"
            )
        return tree

    async def put(self, agent_url: str, path: str, body: dict[str, Any]) -> bool:
        """RESTCONF PUT of ``body`` at ``/restconf/data/PATH``; True if it created the resource.

        Raises:
            AgentUnavailable: no answer.
            RestconfError: the agent refused (its error, e.g. a device that vetoed the change).
        """
        self._check_open(agent_url)
        return await self.restconf.put(agent_url, path, body)

    async def patch(self, agent_url: str, path: str, body: dict[str, Any]) -> None:
        """RESTCONF plain PATCH (RFC 8040 §4.6.1) of ``body`` into ``/restconf/data/PATH``.

        Raises:
            AgentUnavailable: no answer.
            RestconfError: the agent refused (nothing changed).
        """
        self._check_open(agent_url)
        await self.restconf.patch(agent_url, path, body)

    async def delete(self, agent_url: str, path: str) -> bool:
        """RESTCONF DELETE of ``/restconf/data/PATH``; False if there was nothing to delete.

        Raises:
            AgentUnavailable: no answer.
            RestconfError: the agent refused.
        """
        self._check_open(agent_url)
        return await self.restconf.delete(agent_url, path)

    async def notifications(self, agent_url: str) -> AsyncIterator[dict[str, Any]]:
        """The agent's notifications as they come (RFC 8040 §6.4: each event's ``data`` is an
        ``ietf-restconf:notification``), until the stream ends.

        Raises:
            AgentUnavailable: the stream could not be opened or broke.
            RestconfError: the agent refused the stream.
        """
        self._check_open(agent_url)
        async with aclosing(self.restconf.notifications(agent_url, _STREAM)) as stream:
            async for notification in stream:
                yield notification

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

    # Service managers -------------------------------------------------------------------------------------

    async def manager_request(
        self, method: str, url: str, body: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        """A call to a node's service manager (docs/nfv.md): its HTTP status and JSON body (None if
        it has none).

        Raises:
            AgentUnavailable: no answer.
        """
        if body is None:
            response = await self._request(method, url)
        else:
            response = await self._request(method, url, json=body)
        try:
            data = response.json() if response.content else None
        except ValueError:
            data = None
        return response.status_code, data
