"""Call-home: a node agent registers with the SDN controller once it serves, so that a new node appears
without manual steps (DESIGN §4; the contract is docs/controller.md)::

    PUT {controller_url}/api/v1/nodes/{node_id}        HTTPS, mutual TLS with the agent's certificate
    {"qkdn_id": "<uuid>", "agent_url": "https://host:port", "kme_url": "https://..." | null,
     "location": "Norte"}
    → 201 registered, 200 updated; 403 another node's certificate; 400 a bad body

Until the controller accepts, the agent keeps calling: a controller that cannot be reached, does not
answer in time, or answers 5xx, 408 or 429 is tried again after an exponential backoff (0.2 s doubling
to at most 5 s, without end); any other answer is a refusal that no retry would change (the wrong
certificate, a ``qkdn_id`` the controller does not derive), logged with the controller's message, and
the agent stops calling. The agent serves all along: calling home never blocks it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote
from uuid import UUID

import httpx

from sdqkd.errors import ConfigError
from sdqkd.etsi015 import qkdn_id
from sdqkd.pki.identity import Role
from sdqkd.pki.tls import client_ssl_context
from sdqkd.server.request_id import carry_request_id
from sdqkd.server.run import TlsFiles

__all__ = ["Backoff", "CallHome", "CallHomeState", "Registration", "is_transient", "register"]

log = logging.getLogger(__name__)

CallHomeState = Literal["idle", "calling", "registered", "refused", "stopped", "failed"]
"""Where a :class:`CallHome` stands: not started, calling (retrying), accepted, refused for good,
stopped before either, or failed (a bug, logged with its traceback)."""

_MESSAGE_CHARS = 500  # of a controller's error answer, in a log line


@dataclass(frozen=True)
class Registration:
    """What an agent tells the controller about its node.

    Attributes:
        node_id: the node (the URL's last step; the controller checks it against the certificate).
        qkdn_id: the node's ``qkdn_id`` (:func:`sdqkd.etsi015.qkdn_id` of ``node_id``).
        agent_url: where the controller reaches the agent's RESTCONF server.
        location: the node's secure site (``qkdn_location_id``).
        kme_url: the node's KME, whose key pools the controller reads; None: none told.
    """

    node_id: str
    qkdn_id: UUID
    agent_url: str
    location: str
    kme_url: str | None = None

    def body(self) -> dict[str, str | None]:
        """The request body of the call-home."""
        return {
            "qkdn_id": str(self.qkdn_id),
            "agent_url": self.agent_url,
            "kme_url": self.kme_url,
            "location": self.location,
        }


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff between attempts: ``first_s``, then ``factor`` times more each time, at most
    ``max_s`` (seconds)."""

    first_s: float = 0.2
    max_s: float = 5.0
    factor: float = 2.0

    def delays(self) -> Iterator[float]:
        """The wait before each retry, without end."""
        delay = self.first_s
        while True:
            yield min(delay, self.max_s)
            delay = min(delay * self.factor, self.max_s)


def is_transient(status_code: int) -> bool:
    """Whether an answer with ``status_code`` is worth trying again: the controller is failing or
    overloaded (5xx, 429) or timed the request out (408); it may answer otherwise later."""
    return status_code >= 500 or status_code in (408, 429)


def _controller_message(response: httpx.Response) -> str:
    """The message of a controller's error answer (``{"message": ..., "details": ...}``), or its text."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])[:_MESSAGE_CHARS]
    return response.text[:_MESSAGE_CHARS] or response.reason_phrase


async def register(
    client: httpx.AsyncClient,
    controller_url: str,
    registration: Registration,
    *,
    backoff: Backoff | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    on_attempt: Callable[[], None] | None = None,
) -> int:
    """Register with the controller, trying again until it accepts (see the module's description).

    Args:
        client: an HTTPS client presenting the agent's certificate.
        controller_url: the controller's base URL, e.g. ``https://controller:8443``.
        registration: what to tell it.
        backoff: the waits between attempts (default: 0.2 s doubling to 5 s).
        sleep: how to wait (tests may speed it up).
        on_attempt: called before each attempt.

    Returns:
        The controller's status: 201 (a new node) or 200 (updated).

    Raises:
        ConfigError: the controller refused the registration (its status and message).
    """
    url = f"{controller_url.rstrip('/')}/api/v1/nodes/{quote(registration.node_id, safe='')}"
    delays = (backoff or Backoff()).delays()
    last_problem: str | None = None
    while True:
        if on_attempt is not None:
            on_attempt()
        try:
            response = await client.put(url, json=registration.body())
        except httpx.TransportError as exc:  # cannot connect, TLS, timeout, a broken answer
            problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        else:
            if response.is_success:
                return response.status_code
            message = _controller_message(response)
            if not is_transient(response.status_code):
                raise ConfigError(
                    f"the controller at {controller_url} refused to register node {registration.node_id!r}: "
                    f"{response.status_code} {message}"
                )
            problem = f"{response.status_code} {message}"
        delay = next(delays)
        # Said once per kind of problem: a controller down for minutes is one warning, not hundreds.
        level = logging.WARNING if problem != last_problem else logging.DEBUG
        log.log(
            level,
            "agent %s: cannot register with the controller at %s yet (%s); trying again in %.1f s",
            registration.node_id,
            controller_url,
            problem,
            delay,
        )
        last_problem = problem
        await sleep(delay)


class CallHome:
    """An agent's call-home, run in the background once the agent serves (:meth:`start`) and cancelled
    at shutdown (:meth:`stop`).

    Args:
        controller_url: the controller's base URL.
        node_id: the agent's node.
        location: the node's secure site.
        kme_url: the node's KME, told to the controller; None: none.
        advertise_url: the agent's URL to tell; None: the URL it serves at (given to :meth:`start`).
        tls: the agent's certificate and CA, for a client made (and closed) here; or
        client: an HTTPS client already set up, left open.
        backoff: the waits between attempts.
        timeout_s: each attempt's time limit, seconds.
        crl: the CA's CRL, checked against the controller's certificate (with ``tls``).
    """

    def __init__(
        self,
        controller_url: str,
        node_id: str,
        *,
        location: str,
        kme_url: str | None = None,
        advertise_url: str | None = None,
        tls: TlsFiles | None = None,
        client: httpx.AsyncClient | None = None,
        backoff: Backoff | None = None,
        timeout_s: float = 5.0,
        crl: Path | None = None,
    ) -> None:
        if (tls is None) == (client is None):
            raise ValueError("give the agent's TLS files or a client, not both")
        self.controller_url = controller_url
        self.node_id = node_id
        self.location = location
        self.kme_url = kme_url
        self.advertise_url = advertise_url
        self._crl = crl
        self.backoff = backoff or Backoff()
        self.attempts = 0
        self.state: CallHomeState = "idle"
        self.status_code: int | None = None
        self.refusal: str | None = None
        self._tls = tls
        self._client = client
        self._timeout_s = timeout_s
        self._task: asyncio.Task[None] | None = None

    def start(self, served_url: str) -> None:
        """Start calling home in the running event loop, telling the controller ``advertise_url`` or
        else ``served_url``.

        Raises:
            RuntimeError: started already.
        """
        if self._task is not None:
            raise RuntimeError("the call-home has started already")
        registration = Registration(
            node_id=self.node_id,
            qkdn_id=qkdn_id(self.node_id),
            agent_url=self.advertise_url or served_url,
            location=self.location,
            kme_url=self.kme_url,
        )
        self.state = "calling"
        self._task = asyncio.create_task(self._run(registration), name=f"agent-{self.node_id}-call-home")

    async def wait(self) -> None:
        """Return once the controller accepted or refused the registration (or :meth:`stop` ran)."""
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._task)

    async def stop(self) -> None:
        """Stop calling (if still calling) and release the client made here."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if self.state == "calling":
            self.state = "stopped"

    def _counted(self) -> None:
        self.attempts += 1

    async def _run(self, registration: Registration) -> None:
        try:
            if self._client is not None:
                await self._register(self._client, registration)
                return
            assert self._tls is not None
            context = client_ssl_context(  # verification on, and the server must be the controller
                self._tls.cert, self._tls.key, self._tls.ca, peer=Role.CONTROLLER, crl=self._crl
            )
            async with carry_request_id(httpx.AsyncClient(verify=context, timeout=self._timeout_s)) as client:
                await self._register(client, registration)
        except Exception:  # nobody awaits this task until shutdown: say it now
            self.state = "failed"
            log.exception("agent %s: calling home failed", self.node_id)

    async def _register(self, client: httpx.AsyncClient, registration: Registration) -> None:
        try:
            self.status_code = await register(
                client, self.controller_url, registration, backoff=self.backoff, on_attempt=self._counted
            )
        except ConfigError as exc:
            self.state, self.refusal = "refused", str(exc)
            log.error("agent %s: %s; not calling home again", self.node_id, exc)
            return
        self.state = "registered"
        log.info(
            "agent %s: registered with the controller at %s as %s (%s)",
            self.node_id,
            self.controller_url,
            registration.agent_url,
            "new node" if self.status_code == 201 else "updated",
        )
