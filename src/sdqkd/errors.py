"""The sdqkd exception tree.

Every error sdqkd raises on purpose derives from :class:`SdqkdError`, so a caller (the CLI, a
service's error handler) can tell a domain error from a bug. Lower-layer errors (pydantic, YAML,
OS) are translated once, where they enter sdqkd, with ``raise ... from exc``::

    SdqkdError
    ├── ConfigError              bad user input: a parameter, a file, a name
    │   └── TopologyError        a topology file or built-in name that cannot be used
    │       └── UnknownTopology  no built-in topology and no file of that name
    ├── PhysicsError             parameters outside the model's physical domain
    ├── PkiError                 a certificate or CA that cannot be used
    ├── KeyDeliveryError         ETSI GS QKD 014 key delivery refused (each maps to a status code)
    │   ├── KeyRequestInvalid    → 400: a malformed or unsatisfiable request
    │   ├── Unauthorized         → 401: the caller may not have these keys (reveals nothing more)
    │   └── KeyServiceUnavailable → 503: the server cannot serve now
    │       └── KeyExhausted     → 503: not enough key material for the request
    └── DeviceError              a (real or emulated) QKD device or optical element refused an operation
        └── NotFound             no such fibre, channel, switch, port or module
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DeviceError",
    "KeyDeliveryError",
    "KeyExhausted",
    "KeyRequestInvalid",
    "KeyServiceUnavailable",
    "NotFound",
    "PhysicsError",
    "PkiError",
    "SdqkdError",
    "TopologyError",
    "Unauthorized",
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


class KeyDeliveryError(SdqkdError):
    """ETSI GS QKD 014 key delivery refused. ``details`` become the error body's ``details``."""

    def __init__(self, message: str, details: list[dict[str, object]] | None = None) -> None:
        self.message = message
        self.details = details
        super().__init__(message)


class KeyRequestInvalid(KeyDeliveryError):
    """A malformed or unsatisfiable key request (HTTP 400)."""


class Unauthorized(KeyDeliveryError):
    """The caller may not have these keys (HTTP 401). The message never says whether a key or SAE
    exists."""


class KeyServiceUnavailable(KeyDeliveryError):
    """The key server cannot serve now (HTTP 503)."""


class KeyExhausted(KeyServiceUnavailable):
    """Not enough key material for the request (HTTP 503)."""


class DeviceError(SdqkdError):
    """A QKD device or optical element (real or emulated) refused an operation."""


class NotFound(DeviceError):
    """No fibre, channel, switch, port or module of that id."""
