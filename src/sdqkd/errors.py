"""The sdqkd exception tree.

Every error sdqkd raises on purpose derives from :class:`SdqkdError`, so a caller (the CLI, a
service's error handler) can tell a domain error from a bug. Lower-layer errors (pydantic, YAML,
OS) are translated once, where they enter sdqkd, with ``raise ... from exc``::

    SdqkdError
    ├── ConfigError               bad user input: a parameter, a file, a name
    │   ├── TopologyError         a topology file or built-in name that cannot be used
    │   │   └── UnknownTopology   no built-in topology and no file of that name
    │   ├── VirtualLinkError      a VIRT qkd_link the node cannot take            (sdqkd.agent.virtual)
    │   └── ProcessRefused        → 400: a service process order the node's service manager refuses
    │                                    (unknown kind, bad arguments, another node)     (sdqkd.nfv.kinds)
    ├── PhysicsError              parameters outside the model's physical domain
    ├── PkiError                  a certificate or CA that cannot be used
    ├── LaunchError               the network could not be started                (sdqkd.runtime.launcher)
    ├── HybridKeyError            a hybrid key establishment that did not agree one key (sdqkd.apps.hybrid)
    ├── TunnelError               a tunnel record refused or a tunnel without a usable key (sdqkd.apps.tunnel)
    ├── QtlsError                 a QKD-TLS handshake refused or failed               (sdqkd.qtls)
    ├── OpotError                 an OPoT datagram that cannot be read, or a hop without a key (sdqkd.apps)
    ├── UnknownProcess            → 404: no such process at a service manager   (sdqkd.nfv.supervisor)
    │
    ├── Unauthenticated           → 401: no usable client certificate (no sdqkd identity)
    ├── Forbidden                 → 403: a known identity this operation is not for (ETSI 014: 401)
    │   └── Unauthorized          → 401: not these keys (ETSI 014; also a KeyDeliveryError)
    ├── TooManySubscriptions      → 429: this caller holds as many event streams as one caller may
    │
    ├── Unavailable               a remote service did not answer, or not as its protocol says
    │   ├── SubscriptionsFull     → 503: the service holds as many event streams as it serves
    │   ├── AgentUnavailable      → 502: a node agent or KME, for the controller (also ControlPlaneError)
    │   ├── KmeUnavailable        the node's KME, for its agent                   (sdqkd.agent.kme)
    │   ├── Etsi014ClientError    a KME or QKD module's ETSI 014 API              (sdqkd.etsi014.client)
    │   ├── EmulatorClientError   the emulator's management or plant API          (sdqkd.emulator.client)
    │   ├── ControllerClientError the SDN controller's northbound API          (sdqkd.controller.client)
    │   ├── PlantUnavailable      → 502: the optical plant API, for the controller (also ControlPlaneError)
    │   └── PeerKmeUnavailable    → 503: the peer KME's KME↔KME API               (sdqkd.kms.peer;
    │                                    also a KeyServiceUnavailable)
    │
    ├── KeyDeliveryError          ETSI GS QKD 014 key delivery refused (each maps to a status code)
    │   ├── KeyRequestInvalid     → 400: a malformed or unsatisfiable request
    │   │   └── HopRefused        → 400: a relay hop that does not open (MAC, sizes) (sdqkd.kms.relay)
    │   ├── Unauthorized          → 401: the caller may not have these keys (reveals nothing more)
    │   └── KeyServiceUnavailable → 503: the server cannot serve now
    │       ├── KeyExhausted      → 503: not enough key material for the request
    │       └── PeerKmeUnavailable → 503: the peer KME did not answer as it should (see above)
    ├── DeviceError               a (real or emulated) QKD device or optical element refused an operation
    │   ├── NotFound              no such fibre, channel, switch, port or module
    │   └── DeviceRefused         the emulator answered a driver with an error    (sdqkd.agent.drivers)
    ├── RestconfError             a RESTCONF (RFC 8040) operation refused, with the fields of its error body
    │   ├── ResourceNotFound      → 404: no such data resource
    │   └── MalformedErrorBody    an error answer without a RESTCONF error body   (sdqkd.restconf.codec)
    ├── ContentTooLarge       → 413: a request body over the cap (also Starlette's HTTPException)
    │                                    (sdqkd.server.body_limit)
    ├── StrictJsonError       → 400: a body with a repeated member, too deep or NaN (also a
    │                                    json.JSONDecodeError)             (sdqkd.server.strict_json)
    └── ControlPlaneError         the SDN controller cannot do what was asked
        ├── AdmissionRefused      → 409: an application the QKD links cannot carry now
        │   └── ChannelRefused    → 409: a classical channel the quantum channels cannot live with
        ├── PlantRefused          → 409: the optical plant refused a change (its status and detail)
        ├── UnknownResource       → 404: no such node, link, application, fibre or switch
        ├── AgentUnavailable      (see Unavailable)
        └── PlantUnavailable      (see Unavailable)

A class with two parents is drawn under both. Private classes that never leave their module (an app's
own RESTCONF refusals, a driver's retry signal) are not drawn; they derive from this tree too.

Who answers what: :class:`Unauthenticated` is 401 in every service; :class:`Forbidden` is 403, except in
ETSI GS QKD 014, which defines only 400, 401 and 503 and answers 401 (docs/architecture.md, security).
Each app maps these classes to its status codes and error format once, in the table it installs with
:func:`sdqkd.server.errors.install_error_handlers`.
"""

from __future__ import annotations

from typing import Any, Literal

__all__ = [
    "AdmissionRefused",
    "AgentUnavailable",
    "ChannelRefused",
    "ConfigError",
    "ControlPlaneError",
    "DeviceError",
    "Forbidden",
    "HybridKeyError",
    "KeyDeliveryError",
    "KeyExhausted",
    "KeyRequestInvalid",
    "KeyServiceUnavailable",
    "NotFound",
    "OpotError",
    "PhysicsError",
    "PkiError",
    "PlantRefused",
    "PlantUnavailable",
    "QtlsError",
    "ResourceNotFound",
    "RestconfError",
    "SdqkdError",
    "SubscriptionsFull",
    "TooManySubscriptions",
    "TopologyError",
    "TunnelError",
    "Unauthenticated",
    "Unauthorized",
    "Unavailable",
    "UnknownResource",
    "UnknownTopology",
]


class SdqkdError(Exception):
    """Root of every error sdqkd raises on purpose."""


class ConfigError(SdqkdError):
    """User input that cannot be used: a parameter, a file or a name."""


class TopologyError(ConfigError):
    """A topology that cannot be loaded or is inconsistent.

    Attributes:
        location: where the problem is, e.g. ``"madrid.yaml: fibres[2].length_km"``.
    """

    def __init__(self, message: str, location: str | None = None) -> None:
        self.location = location
        super().__init__(f"{location}: {message}" if location else message)


class UnknownTopology(TopologyError):
    """Neither a built-in topology nor an existing file has that name."""


class PhysicsError(SdqkdError):
    """Parameters outside the physical domain of a model (e.g. T > 1, negative variance)."""


class PkiError(SdqkdError):
    """A certificate, key or CA that cannot be created, read or used."""


class Unauthenticated(SdqkdError):
    """The caller presented no usable client certificate: none, or one that carries no sdqkd identity.

    Every service answers 401 for it: who is calling is unknown.
    """


class Forbidden(SdqkdError):
    """The caller is known (its certificate names an sdqkd identity) but this operation is not for it.

    Services answer 403 for it, with one exception: ETSI GS QKD 014 defines only 400, 401 and 503, so
    the KME's SAE API answers 401 (:class:`Unauthorized`) for a key that is not the caller's.
    """


class TooManySubscriptions(SdqkdError):
    """The caller already holds as many event streams of this service as one identity may (429): one
    client must not take every subscription (DESIGN §7)."""


class Unavailable(SdqkdError):
    """A remote service (an agent, a KME, a peer KME, a QKD device, the emulator) did not answer, or did
    not answer as its protocol says. The caller may retry later."""


class SubscriptionsFull(Unavailable):
    """The service already serves as many event streams as it will (503): retry when one closes."""


class KeyDeliveryError(SdqkdError):
    """ETSI GS QKD 014 key delivery refused. ``details`` become the error body's ``details``."""

    def __init__(self, message: str, details: list[dict[str, object]] | None = None) -> None:
        self.message = message
        self.details = details
        super().__init__(message)


class KeyRequestInvalid(KeyDeliveryError):
    """A malformed or unsatisfiable key request (HTTP 400)."""


class Unauthorized(KeyDeliveryError, Forbidden):
    """The caller may not have these keys (HTTP 401: ETSI GS QKD 014 has no 403). The message never
    says whether a key or SAE exists.

    An authorisation refusal like any :class:`Forbidden`, in the ETSI 014 family of errors."""


class KeyServiceUnavailable(KeyDeliveryError):
    """The key server cannot serve now (HTTP 503)."""


class KeyExhausted(KeyServiceUnavailable):
    """Not enough key material for the request (HTTP 503)."""


class DeviceError(SdqkdError):
    """A QKD device or optical element (real or emulated) refused an operation."""


class NotFound(DeviceError):
    """No fibre, channel, switch, port or module of that id."""


RestconfErrorType = Literal["transport", "rpc", "protocol", "application"]


class RestconfError(SdqkdError):
    """A RESTCONF operation refused: one ``error`` entry of an ``ietf-restconf:errors`` body
    (RFC 8040 §7.1), its fields kept apart as NETCONF's ``rpc-error`` has them (RFC 6241 §4.3).

    Attributes:
        error_type: the layer that failed: ``transport``, ``rpc``, ``protocol`` or ``application``.
        error_tag: what failed (RFC 8040 §7), e.g. ``invalid-value``, ``malformed-message``,
            ``data-exists``, ``data-missing``, ``access-denied``, ``operation-not-supported``,
            ``unknown-element``; it determines the HTTP status.
        error_message: for a human.
        error_path: the node concerned, as an instance-identifier (RFC 7951 §6.11), e.g.
            ``/etsi-qkd-sdn-node:qkd_node/qkd_links/qkd_link[qkdl_id="..."]``.
        error_app_tag: a model- or implementation-specific condition (e.g. ``must-violation``).
        error_info: further content of ``error-info``, member names module-qualified.
        others: the body's further ``error`` entries, in order (§7.1 allows several; this one is
            the first). See :attr:`errors`.
    """

    def __init__(
        self,
        error_type: RestconfErrorType,
        error_tag: str,
        error_message: str,
        *,
        error_path: str | None = None,
        error_app_tag: str | None = None,
        error_info: dict[str, Any] | None = None,
        others: tuple[RestconfError, ...] = (),
    ) -> None:
        self.error_type: RestconfErrorType = error_type
        self.error_tag = error_tag
        self.error_message = error_message
        self.error_path = error_path
        self.error_app_tag = error_app_tag
        self.error_info = error_info
        self.others = others
        super().__init__(f"{error_tag}: {error_message}" + (f" ({error_path})" if error_path else ""))

    @property
    def errors(self) -> tuple[RestconfError, ...]:
        """Every ``error`` entry of the body: this one, then :attr:`others`."""
        return (self, *self.others)


class ResourceNotFound(RestconfError):
    """The target data resource (or an ancestor it needs) does not exist: RFC 8040 §7, 404 with
    error-tag ``invalid-value``."""

    def __init__(self, error_message: str, *, error_path: str | None = None) -> None:
        super().__init__("protocol", "invalid-value", error_message, error_path=error_path)


class ControlPlaneError(SdqkdError):
    """The SDN controller cannot do what was asked."""


class AgentUnavailable(Unavailable, ControlPlaneError):
    """A node agent (or KME) did not answer, or answered outside its protocol."""


class AdmissionRefused(ControlPlaneError):
    """An application the QKD links cannot carry now (no link, link down, not enough key rate).

    Attributes:
        no_path_now: the refusal is that no link or relay path joins the two nodes at this moment (a
            link down, a switch re-synchronising), not a lack of key rate: it may pass a moment later.
    """

    def __init__(self, message: str, *, no_path_now: bool = False) -> None:
        super().__init__(message)
        self.no_path_now = no_path_now


class ChannelRefused(AdmissionRefused):
    """A classical channel that would take a QKD link below its target wherever it is placed.

    Attributes:
        details: per link of the fibre, ``{"link", "predicted_skr_bps", "target_bps"}``.
    """

    def __init__(self, message: str, details: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.details = details


class PlantRefused(ControlPlaneError):
    """The optical plant refused a change (``status_code``: the plant's HTTP status)."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class PlantUnavailable(Unavailable, ControlPlaneError):
    """The optical plant API did not answer, or answered outside its API."""


class UnknownResource(ControlPlaneError):
    """No such node, link, application, fibre or switch."""


class HybridKeyError(SdqkdError):
    """A hybrid key establishment that did not give both sides the same key: the peer refused, a
    message was malformed or changed in transit, or its QKD key was not delivered (used already)."""


class TunnelError(SdqkdError):
    """A tunnel connection that must close: a record that does not authenticate, one out of order or
    replayed, a broken re-key, or no new QKD key within the key lifetime."""


class OpotError(SdqkdError):
    """An Ordered Proof of Transit data path that cannot go on with a datagram or a hop: a datagram that
    is not an OPoT packet of a known version, or a hop whose QKD key cannot be had."""


class QtlsError(SdqkdError):
    """A QKD-TLS connection that did not open: no QKD key offered or none to be had for the offered
    key ID (unknown, used already), no ephemeral key exchange, or a handshake that failed."""
