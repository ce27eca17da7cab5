"""Device drivers of the SD-QKD node agent: how the agent sees and drives its node's QKD modules.

The agent knows devices only through :class:`QkdDeviceDriver` (discovery, status, configuration,
performance, events) and the data types here; what the devices speak underneath is the driver's
business. One driver ships: :class:`~sdqkd.agent.emulator_driver.EmulatorDriver`, over the emulator's
vendor-neutral management API (docs/emulator.md) with mutual TLS. A real device would get a driver of
its own.

Errors: every failure of a driver call is a :class:`~sdqkd.errors.DeviceError`, translated once
in the driver from the transport's errors (``raise ... from exc``)::

    DeviceError        the device could not be reached, or answered something unusable
    ├── NotFound       no such module, or a module of another node (the driver never touches those)
    └── DeviceRefused  the device answered with an error; keeps its status, title and detail
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, Protocol, runtime_checkable

from sdqkd.errors import DeviceError
from sdqkd.etsi015.names import ModuleRole

__all__ = [
    "Attachment",
    "DeviceDescription",
    "DeviceEvent",
    "DeviceEventKind",
    "DeviceRefused",
    "ModuleState",
    "ModuleStatus",
    "Performance",
    "QkdDeviceDriver",
]


class DeviceRefused(DeviceError):
    """The device answered a request with an error (RFC 9457 problem details for the emulator).

    Attributes:
        status_code: the HTTP status of the answer (403: not this caller's module, 409: refused by
            the device, e.g. a channel outside the laser's tuning range).
        title, detail: the problem's ``title`` and ``detail``.
    """

    def __init__(self, message: str, *, status_code: int, title: str = "", detail: str = "") -> None:
        self.status_code = status_code
        self.title = title
        self.detail = detail
        super().__init__(message)


# What a driver reports -------------------------------------------------------------------------------


class ModuleState(StrEnum):
    """Where a module stands now.

    ``up``: making key with its peer; ``down``: paired but not making key (``reason`` says why:
    a cut fibre, a switch set elsewhere, channels that differ); ``unpaired``: enabled, but no peer
    names it back; ``disabled``: switched off by configuration; ``failed``: broken.
    """

    UP = "up"
    DOWN = "down"
    UNPAIRED = "unpaired"
    DISABLED = "disabled"
    FAILED = "failed"


@dataclass(frozen=True)
class Attachment:
    """Where a module's optical port is plugged.

    Attributes:
        kind: a bare fibre, or a port of an optical switch.
        device: the fibre's or the switch's id.
        port: the switch port number (0 is a switch's common port, where the emulator attaches its
            switched modules); None on a bare fibre.
    """

    kind: Literal["fibre", "switch"]
    device: str
    port: int | None = None


@dataclass(frozen=True)
class DeviceDescription:
    """What a QKD module says about itself (what discovery advertises).

    Attributes:
        id: the module's id, unique in the network.
        node: the node whose secure site hosts it.
        model: vendor and device model.
        technology: the QKD technology, e.g. ``"CV-QKD"``.
        role: transmitter, receiver or both.
        wavelength_min_nm, wavelength_max_nm: the tuning range of its quantum channel, nm.
        max_absorption_db: the largest channel loss it supports, dB.
        attachment: where its optical port is plugged.
    """

    id: str
    node: str
    model: str
    technology: str
    role: ModuleRole
    wavelength_min_nm: float
    wavelength_max_nm: float
    max_absorption_db: float
    attachment: Attachment


@dataclass(frozen=True)
class ModuleStatus:
    """A module's configuration and state now.

    Attributes:
        peers: the modules it is configured to make key with.
        dwdm_channel: its quantum channel (100 GHz grid number), None when not set.
        wavelength_nm: that channel's wavelength, nm.
        paired_with: the peer it is paired with now (None: none).
    """

    id: str
    state: ModuleState
    reason: str
    peers: tuple[str, ...]
    dwdm_channel: int | None
    wavelength_nm: float | None
    enabled: bool
    paired_with: str | None


@dataclass(frozen=True)
class Performance:
    """How well a module's current pair performs.

    Attributes:
        skr_bps: secret key rate now, bit/s (0 when no pair is active).
        snr: the receiver's signal-to-noise ratio (linear), None when no pair is active.
        excess_noise_snu: total excess noise at the channel input, shot-noise units.
        raman_excess_noise_snu: the part of it due to Raman scattering of classical channels, SNU.
        loss_db: the quantum channel's loss, dB.
        keys_available: keys (of ``key_size_bits``) buffered for this end.
        keys_waiting: keys the peer took that this end has not claimed yet.
        keys_delivered: keys handed out by the pair so far.
    """

    id: str
    skr_bps: float
    snr: float | None
    excess_noise_snu: float | None
    raman_excess_noise_snu: float | None
    loss_db: float | None
    keys_available: int
    key_size_bits: int
    keys_waiting: int
    keys_delivered: int


class DeviceEventKind(StrEnum):
    """What happened to a module or its link."""

    SYNC = "sync"
    """The event stream (re)started: events may have been missed before it; re-read status now."""
    MODULE_UP = "module_up"
    """A failed module works again."""
    MODULE_DOWN = "module_down"
    """A module failed."""
    MODULE_CONFIGURED = "module_configured"
    """A module's configuration changed (by this agent or an operator)."""
    LINK_UP = "link_up"
    """A pair started making key."""
    LINK_DOWN = "link_down"
    """A pair stopped making key (or was configured and cannot make key); ``reason`` says why."""
    LINK_STATUS = "link_status"
    """A pair that makes no key is down for another ``reason``."""
    LINK_REMOVED = "link_removed"
    """A pair no longer exists (a configuration stopped naming the other end)."""
    RATE = "rate"
    """An active pair's secret key rate changed (``skr_bps``)."""


@dataclass(frozen=True)
class DeviceEvent:
    """Something that happened to this node's modules.

    Attributes:
        kind: what happened.
        modules: this node's modules it concerns (for ``SYNC``: every module of the node).
        time_s: when, seconds since the epoch.
        transmitter, receiver: the pair's modules (link events).
        reason: why a link makes no key (``LINK_DOWN``, ``LINK_STATUS``).
        skr_bps: the pair's secret key rate, bit/s (``LINK_UP``, ``LINK_DOWN``, ``RATE``).
    """

    kind: DeviceEventKind
    modules: tuple[str, ...]
    time_s: float
    transmitter: str | None = None
    receiver: str | None = None
    reason: str = ""
    skr_bps: float | None = None


@runtime_checkable
class QkdDeviceDriver(Protocol):
    """The agent's view of its node's QKD modules.

    Every method raises :class:`~sdqkd.errors.DeviceError` when the devices cannot be reached or
    refuse, and :class:`~sdqkd.errors.NotFound` for a module that is not this node's.
    """

    async def discover(self) -> list[DeviceDescription]:
        """The modules of this node."""
        ...

    async def peer_modules(self) -> list[DeviceDescription]:
        """The modules at other nodes that this node's modules can be configured to pair with
        (needed to turn a remote ETSI 015 interface into a peer module id)."""
        ...

    async def status(self, module_id: str) -> ModuleStatus:
        """A module's configuration and state now."""
        ...

    async def configure(
        self, module_id: str, peers: list[str], dwdm_channel: int | None, enabled: bool
    ) -> ModuleStatus:
        """Configure a module: the peer modules it makes key with, its quantum channel (100 GHz grid
        number) and whether it runs. Replaces the module's previous configuration."""
        ...

    async def performance(self, module_id: str) -> Performance:
        """How well the module's current pair performs."""
        ...

    def events(self) -> AsyncGenerator[DeviceEvent, None]:
        """Events of this node's modules, until closed; starts with a ``SYNC`` once subscribed and
        repeats it after every reconnection. Close it (``contextlib.aclosing``) when done."""
        ...

    async def aclose(self) -> None:
        """Release connections; the driver is unusable afterwards."""
        ...
