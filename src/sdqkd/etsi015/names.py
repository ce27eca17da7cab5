"""Names of the ETSI GS QKD 015 V2.1.1 model (YANG ``etsi-qkd-sdn-node`` and ``etsi-qkd-node-types``,
revision 2022-01-30) as they appear on the wire, and the enums of its status and role types.

Encoding (RFC 7951): identityrefs carry their module (``"etsi-qkd-node-types:CV-QKD"``); decimal64
values are strings with the type's 3 fraction digits; ``uint32`` values are numbers; wavelengths are
100 GHz DWDM channel numbers (the ``wavelength`` type's pattern).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from enum import StrEnum

from sdqkd.errors import ConfigError

__all__ = [
    "DWDM_CHANNELS",
    "NODE_MODULE",
    "QKD_NODE",
    "TECHNOLOGIES",
    "TYPES_MODULE",
    "UINT32_MAX",
    "AppStatus",
    "AppType",
    "InterfaceStatus",
    "LinkStatus",
    "LinkType",
    "ModuleRole",
    "NodeStatus",
    "decimal3",
    "identity",
    "identity_name",
    "is_dwdm_channel",
    "uint32",
]

NODE_MODULE = "etsi-qkd-sdn-node"
TYPES_MODULE = "etsi-qkd-node-types"
QKD_NODE = f"{NODE_MODULE}:qkd_node"
"""The member name of a node's tree in RFC 7951 JSON."""

DWDM_CHANNELS = range(1, 100)
"""The 100 GHz grid channels a quantum channel may use (the emulator's configuration takes 1-99)."""

UINT32_MAX = 2**32 - 1
TECHNOLOGIES = frozenset({"CV-QKD", "DV-QKD", "DV-QKD-COW", "DV-QKD-2Ws"})
"""The identities derived from ``qkd-technology-types``."""

_CHANNEL = re.compile(r"[1-9][0-9]{0,3}")  # etsi-qkd-node-types:wavelength


class NodeStatus(StrEnum):
    """``qkdn-status-types``."""

    NEW = "NEW"
    OPERATING = "OPERATING"
    DOWN = "DOWN"
    FAILURE = "FAILURE"
    OUT = "OUT"


class InterfaceStatus(StrEnum):
    """``iface-status-types``: whether the module itself works (its link may still be down)."""

    ENABLED = "ENABLED"
    DISABLED = "DISABLED"
    FAILED = "FAILED"


class LinkStatus(StrEnum):
    """``link-status-types``."""

    ACTIVE = "ACTIVE"  # generating key
    PASSIVE = "PASSIVE"  # not generating, keys still buffered
    PENDING = "PENDING"  # waiting for activation (no pair yet, or a switch set elsewhere), no keys
    OFF = "OFF"  # not generating, no keys


class LinkType(StrEnum):
    """``qkd-link-types``: a physical link (a module pair) or a virtual one (key relay)."""

    PHYS = "PHYS"
    VIRT = "VIRT"


class AppType(StrEnum):
    """``qkd-app-types``: an application of the node's users, or one the network itself runs (the
    reservation of a relayed association's rate on one of its hops)."""

    CLIENT = "CLIENT"
    INTERNAL = "INTERNAL"


class AppStatus(StrEnum):
    """``app-status-types``."""

    ON = "ON"
    DISCONNECTED = "DISCONNECTED"
    OUT_OF_TIME = "OUT-OF-TIME"
    ZOMBIE = "ZOMBIE"


class ModuleRole(StrEnum):
    """What a QKD module does on a link (``qkd-role-types``; the wire identity is the upper case)."""

    TRANSMITTER = "transmitter"
    RECEIVER = "receiver"
    TRANSCEIVER = "transceiver"

    @property
    def identity(self) -> str:
        """The ``qkd-role-types`` identity name, e.g. ``TRANSMITTER``."""
        return self.value.upper()


def identity(name: str) -> str:
    """An ``etsi-qkd-node-types`` identity as an RFC 7951 identityref value."""
    return f"{TYPES_MODULE}:{name}"


def identity_name(value: object, allowed: Iterable[str], where: str) -> str:
    """The name of an ``etsi-qkd-node-types`` identityref value among ``allowed``.

    Raises:
        ConfigError: another module's identity or a name not in ``allowed`` (naming ``where``).
    """
    names = set(allowed)
    prefix, _, name = str(value).rpartition(":")
    if prefix != TYPES_MODULE or name not in names:
        expected = ", ".join(sorted(identity(n) for n in names))
        raise ConfigError(f"{where}: {value!r} is not one of {expected}")
    return name


def is_dwdm_channel(value: object) -> bool:
    """Whether ``value`` is a ``wavelength`` (a channel number as a string)."""
    return isinstance(value, str) and _CHANNEL.fullmatch(value) is not None


def decimal3(value: float) -> str | None:
    """A decimal64 with 3 fraction digits in RFC 7951 (a string); None for a non-finite value."""
    return f"{value:.3f}" if math.isfinite(value) else None


def uint32(value: float) -> int:
    """``value`` rounded into the uint32 range (0 for a non-finite value)."""
    return min(max(round(value), 0), UINT32_MAX) if math.isfinite(value) else 0
