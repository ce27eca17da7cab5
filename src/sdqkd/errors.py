"""The sdqkd exception tree.

Every error sdqkd raises on purpose derives from :class:`SdqkdError`, so a caller (the CLI, a
service's error handler) can tell a domain error from a bug. Lower-layer errors (pydantic, YAML,
OS) are translated once, where they enter sdqkd, with ``raise ... from exc``::

    SdqkdError
    ├── ConfigError              bad user input: a parameter, a file, a name
    │   └── TopologyError        a topology file or built-in name that cannot be used
    │       └── UnknownTopology  no built-in topology and no file of that name
    ├── PhysicsError             parameters outside the model's physical domain
    └── PkiError                 a certificate or CA that cannot be used
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "PhysicsError",
    "PkiError",
    "SdqkdError",
    "TopologyError",
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
