"""ETSI GS QKD 015 V2.1.1 (YANG ``etsi-qkd-sdn-node``, 2022-01-30) for the node agent: the drivers'
view of the devices as RFC 7951 JSON, and the controller's link writes as driver calls. Pure
functions, no I/O.

Identifiers. Controller and agents compute the same ones from the topology's ids, with nothing to
exchange or configure::

    SDQKD_NAMESPACE   = uuid5(NAMESPACE_URL, "urn:sdqkd") = 3264441d-5aa5-5719-b761-bb3c8b2da382
    qkdn_id(node)     = uuid5(SDQKD_NAMESPACE, "node:" + node id)
    qkdi_id(module)   = the first 32 bits of uuid5(SDQKD_NAMESPACE, "module:" + module id)
    link_qkdl_id(X)   = uuid5(SDQKD_NAMESPACE, "link:" + X)          the PHYS qkd_link of topology link X
    virtual_qkdl_id   = uuid5(SDQKD_NAMESPACE, "virtual:A:B")        the VIRT qkd_link between nodes A < B

The KME names its links by the topology's link ids and its virtual links ``v-A-B``; these two give
the agent the ``qkd_link`` each of the KME's counters belongs to.

A module keeps its ``qkdi_id`` whatever else its node holds (numbering modules by position would
renumber interfaces when one is added, and break the links that name them). Two modules whose
numbers collide (odds 1 in 2³² a pair) are refused by :class:`InterfaceDirectory`.

Remote interfaces. A ``qkd_link`` names its remote end by ``(qkdn_id, qkdi_id)`` only, while a
device is configured with its peer *module*. The agent resolves one into the other with an
:class:`InterfaceDirectory` of every module its driver can see (``discover()`` and
``peer_modules()``): since both numbers are functions of the node and module ids, the directory is
computed, never configured, and the controller needs nothing beyond the ids it already has.

Encoding (RFC 7951): identityrefs carry their module (``"etsi-qkd-node-types:CV-QKD"``); decimal64
values are strings with the type's 3 fraction digits; ``uint32`` are numbers; ``wavelength_range``
and ``phys_wavelength`` are 100 GHz DWDM channel numbers (the types' patterns), channel n at
190.0 THz + n × 0.1 THz as the emulator numbers them (:mod:`sdqkd.units`).

A quirk of the official model: ``qkdl_performance/phys_perf`` is guarded by
``when "../qkdl_type = 'PHYS'"``, which compares the module-qualified identityref value
(``"etsi-qkd-node-types:PHYS"``) with an unqualified string and is never true, so a datastore link
that carries ``phys_perf`` fails validation. Link entries therefore carry ``skr`` and ``eskr``; the
SNR goes out in ``sdqkdn_link_perf_update``, whose ``phys_perf`` has no such condition.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple
from uuid import UUID

from sdqkd.agent.drivers import DeviceDescription, ModuleRole, ModuleState, ModuleStatus, Performance
from sdqkd.errors import ConfigError, DeviceError
from sdqkd.topology.models import quantum_wavelength_nm

__all__ = [
    "DWDM_CHANNELS",
    "NODE_MODULE",
    "QKD_NODE",
    "SDQKD_NAMESPACE",
    "TYPES_MODULE",
    "InterfaceAddress",
    "InterfaceDirectory",
    "InterfaceStatus",
    "LinkDeviceCall",
    "LinkStatus",
    "ModuleConfiguration",
    "NodeStatus",
    "PhysicalLink",
    "interface_address",
    "interface_down_notification",
    "interface_entry",
    "interface_new_notification",
    "interface_status",
    "link_device_call",
    "link_down_notification",
    "link_entry",
    "link_perf_update_notification",
    "link_qkdl_id",
    "link_status",
    "module_configurations",
    "node_tree",
    "parse_link",
    "qkdi_id",
    "qkdn_id",
    "virtual_qkdl_id",
    "wavelength_range",
]

NODE_MODULE = "etsi-qkd-sdn-node"
TYPES_MODULE = "etsi-qkd-node-types"
QKD_NODE = f"{NODE_MODULE}:qkd_node"
"""The member name of the node's tree in RFC 7951 JSON."""

SDQKD_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:sdqkd")
"""The namespace of sdqkd's name-based UUIDs (RFC 9562 §5.5)."""

DWDM_CHANNELS = range(1, 100)
"""The 100 GHz grid channels a quantum channel may use (the emulator's configuration takes 1-99)."""

_UINT32_MAX = 2**32 - 1
_CHANNEL = re.compile(r"[1-9][0-9]{0,3}")  # etsi-qkd-node-types:wavelength (used with fullmatch)


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


_ROLES = {
    ModuleRole.TRANSMITTER: "TRANSMITTER",
    ModuleRole.RECEIVER: "RECEIVER",
    ModuleRole.TRANSCEIVER: "TRANSCEIVER",
}
_TECHNOLOGIES = frozenset({"CV-QKD", "DV-QKD", "DV-QKD-COW", "DV-QKD-2Ws"})  # qkd-technology-types


def _identity(name: str) -> str:
    return f"{TYPES_MODULE}:{name}"


def _identity_name(value: object, allowed: Iterable[str], where: str) -> str:
    names = set(allowed)
    prefix, _, name = str(value).rpartition(":")
    if prefix != TYPES_MODULE or name not in names:
        expected = ", ".join(sorted(_identity(n) for n in names))
        raise ConfigError(f"{where}: {value!r} is not one of {expected}")
    return name


def _decimal3(value: float) -> str | None:
    """A decimal64 with 3 fraction digits in RFC 7951 (a string); None for a non-finite value."""
    return f"{value:.3f}" if math.isfinite(value) else None


def _uint32(value: float) -> int:
    return min(max(round(value), 0), _UINT32_MAX) if math.isfinite(value) else 0


# Identifiers --------------------------------------------------------------------------------------------


def qkdn_id(node_id: str) -> UUID:
    """The ``qkdn_id`` of the SD-QKD node ``node_id`` (same at the controller and every agent)."""
    return uuid.uuid5(SDQKD_NAMESPACE, f"node:{node_id}")


def qkdi_id(module_id: str) -> int:
    """The ``qkdi_id`` (uint32) of the interface that stands for QKD module ``module_id``."""
    return uuid.uuid5(SDQKD_NAMESPACE, f"module:{module_id}").int >> 96


def link_qkdl_id(link_id: str) -> UUID:
    """The ``qkdl_id`` of the PHYS ``qkd_link`` of topology link ``link_id`` (the KME's link id)."""
    return uuid.uuid5(SDQKD_NAMESPACE, f"link:{link_id}")


def virtual_qkdl_id(a: str, b: str) -> UUID:
    """The ``qkdl_id`` of the VIRT ``qkd_link`` between nodes ``a`` and ``b`` (either order)."""
    first, second = sorted((a, b))
    return uuid.uuid5(SDQKD_NAMESPACE, f"virtual:{first}:{second}")


class InterfaceAddress(NamedTuple):
    """An interface, network-wide: its node's ``qkdn_id`` and its ``qkdi_id`` there."""

    qkdn_id: UUID
    qkdi_id: int


def interface_address(module: DeviceDescription) -> InterfaceAddress:
    return InterfaceAddress(qkdn_id(module.node), qkdi_id(module.id))


class InterfaceDirectory:
    """Interfaces and the modules they stand for, for the modules a driver can see.

    Raises:
        ConfigError: two modules with one address (a ``qkdi_id`` collision at a node).
    """

    def __init__(self, modules: Iterable[DeviceDescription]) -> None:
        self._by_address: dict[InterfaceAddress, DeviceDescription] = {}
        self._by_id: dict[str, DeviceDescription] = {}
        for module in modules:
            address = interface_address(module)
            known = self._by_address.get(address)
            if known is not None and known.id != module.id:
                raise ConfigError(
                    f"modules {known.id!r} and {module.id!r} of node {module.node!r} share qkdi_id "
                    f"{address.qkdi_id}: rename one"
                )
            self._by_address[address] = module
            self._by_id[module.id] = module

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[DeviceDescription]:
        return iter(self._by_id.values())

    def __contains__(self, address: object) -> bool:
        return address in self._by_address

    def module(self, address: InterfaceAddress) -> DeviceDescription:
        """The module at ``address``.

        Raises:
            ConfigError: no module known there.
        """
        try:
            return self._by_address[address]
        except KeyError:
            raise ConfigError(
                f"no QKD interface {address.qkdi_id} at node {address.qkdn_id} is known"
            ) from None

    def address(self, module_id: str) -> InterfaceAddress:
        """The address of module ``module_id``.

        Raises:
            ConfigError: no such module known.
        """
        try:
            return interface_address(self._by_id[module_id])
        except KeyError:
            raise ConfigError(f"no QKD module {module_id!r} is known") from None


# Interfaces ---------------------------------------------------------------------------------------------


def _channels(wavelength_min_nm: float, wavelength_max_nm: float) -> list[int]:
    # the emulator's own rule: a channel whose centre wavelength lies in the tuning range
    return [n for n in DWDM_CHANNELS if wavelength_min_nm <= quantum_wavelength_nm(n) <= wavelength_max_nm]


def wavelength_range(wavelength_min_nm: float, wavelength_max_nm: float) -> str | None:
    """A tuning range (nm) as a ``wavelength-range-type``: the grid channels in it, e.g. ``"12-61"``;
    None when it holds no channel of :data:`DWDM_CHANNELS`."""
    channels = _channels(wavelength_min_nm, wavelength_max_nm)
    if not channels:
        return None
    low, high = channels[0], channels[-1]
    return str(low) if low == high else f"{low}-{high}"


def _interface_item(number: int, module: DeviceDescription) -> dict[str, Any]:
    """The ``qkd_interface_item`` grouping (an interface without its status)."""
    if module.technology not in _TECHNOLOGIES:
        raise DeviceError(f"module {module.id!r}: technology {module.technology!r} has no ETSI 015 identity")
    attachment: dict[str, Any] = {"device": module.attachment.device}
    if module.attachment.port is not None:
        attachment["port"] = module.attachment.port
    capabilities: dict[str, Any] = {"role_support": _identity(_ROLES[module.role])}
    channels = wavelength_range(module.wavelength_min_nm, module.wavelength_max_nm)
    if channels is not None:
        capabilities["wavelength_range"] = channels
    absorption = _decimal3(module.max_absorption_db)
    if absorption is not None:
        capabilities["max_absorption"] = absorption
    return {
        "qkdi_id": number,
        "qkdi_model": module.model,
        "qkdi_type": _identity(module.technology),
        "qkdi_att_point": attachment,
        "qkdi_capabilities": capabilities,
    }


def interface_status(state: ModuleState) -> InterfaceStatus:
    """A module's state as an interface status: whether the module works, not whether its link
    does (a module whose fibre is cut is ENABLED; its link is down)."""
    if state is ModuleState.FAILED:
        return InterfaceStatus.FAILED
    if state is ModuleState.DISABLED:
        return InterfaceStatus.DISABLED
    return InterfaceStatus.ENABLED


def interface_entry(
    qkdi_id: int, description: DeviceDescription, state: ModuleState | None = None
) -> dict[str, Any]:
    """A ``qkd_interfaces/qkd_interface`` entry for a module (with ``qkdi_status`` if ``state``).

    Args:
        qkdi_id: the interface's number (:func:`qkdi_id` of the module's id).
        description: what the module says about itself.
        state: its state now.

    Raises:
        DeviceError: a technology the model has no identity for.
    """
    entry = _interface_item(qkdi_id, description)
    if state is not None:
        entry["qkdi_status"] = _identity(interface_status(state))
    return entry


# Links --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhysicalLink:
    """A physical ``qkd_link`` as the controller writes it (its configuration, not its state).

    Attributes:
        qkdl_id: the link's id (chosen by the controller).
        local, remote: the interfaces at its two ends.
        enabled: ``qkdl_enable``.
        dwdm_channel: ``phys_wavelength``, a 100 GHz grid channel number; None: not set.
        role: ``phys_qkd_role``, the local module's role; None: not set.
        channel_attenuation_db: ``phys_channel_att``, the expected loss of the quantum channel, dB.
    """

    qkdl_id: UUID
    local: InterfaceAddress
    remote: InterfaceAddress
    enabled: bool = True
    dwdm_channel: int | None = None
    role: ModuleRole | None = None
    channel_attenuation_db: float | None = None


def link_status(status: ModuleStatus, peer_module_id: str, keys_available: int) -> LinkStatus:
    """The status of the link from a module to ``peer_module_id``.

    Args:
        status: the local module's status.
        peer_module_id: the module at the link's other end.
        keys_available: keys of this link still buffered for this end.
    """
    if status.paired_with == peer_module_id and status.state is ModuleState.UP:
        return LinkStatus.ACTIVE
    if keys_available > 0:
        return LinkStatus.PASSIVE
    waiting = status.state is ModuleState.UNPAIRED or (
        status.state in (ModuleState.UP, ModuleState.DOWN) and status.paired_with != peer_module_id
    )
    return LinkStatus.PENDING if waiting and status.enabled else LinkStatus.OFF


def _common_performance(performance: Performance, eskr_bps: float | None) -> dict[str, Any]:
    skr = _uint32(performance.skr_bps)
    return {"skr": skr, "eskr": skr if eskr_bps is None else _uint32(eskr_bps)}


def _phys_perf(performance: Performance) -> list[dict[str, Any]]:
    snr = None if performance.snr is None else _decimal3(performance.snr)
    return [] if snr is None else [{"perf_type": _identity("SNR"), "value": snr}]


def link_entry(
    link: PhysicalLink,
    *,
    status: LinkStatus | None = None,
    performance: Performance | None = None,
    eskr_bps: float | None = None,
) -> dict[str, Any]:
    """A ``qkd_links/qkd_link`` entry: the link's configuration, and its state when given.

    Args:
        link: the link's configuration.
        status: ``qkdl_status``.
        performance: the local module's performance (``skr``; see the module docstring on
            ``phys_perf``).
        eskr_bps: the effective secret key rate, bit/s, after the node's own consumption
            (default: all of ``skr``).
    """
    entry: dict[str, Any] = {
        "qkdl_id": str(link.qkdl_id),
        "qkdl_enable": link.enabled,
        "qkdl_local": {"qkdn_id": str(link.local.qkdn_id), "qkdi_id": link.local.qkdi_id},
        "qkdl_remote": {"qkdn_id": str(link.remote.qkdn_id), "qkdi_id": link.remote.qkdi_id},
        "qkdl_type": _identity("PHYS"),
    }
    if link.dwdm_channel is not None:
        entry["phys_wavelength"] = str(link.dwdm_channel)
    if link.role is not None:
        entry["phys_qkd_role"] = _identity(_ROLES[link.role])
    if link.channel_attenuation_db is not None:
        attenuation = _decimal3(link.channel_attenuation_db)
        if attenuation is not None:
            entry["phys_channel_att"] = attenuation
    if status is not None:
        entry["qkdl_status"] = _identity(status)
    if performance is not None:
        entry["qkdl_performance"] = _common_performance(performance, eskr_bps)
    return entry


def _member(entry: Mapping[str, Any], name: str, where: str) -> Any:
    if name not in entry:
        raise ConfigError(f"{where}/{name}: missing")
    return entry[name]


def _address(entry: Mapping[str, Any], name: str, where: str, default_node: UUID | None) -> InterfaceAddress:
    end = entry.get(name)
    if not isinstance(end, Mapping):
        raise ConfigError(f"{where}/{name}: missing")
    number = _member(end, "qkdi_id", f"{where}/{name}")
    if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number <= _UINT32_MAX:
        raise ConfigError(f"{where}/{name}/qkdi_id: {number!r} is not a uint32")
    node = end.get("qkdn_id")
    if node is None:
        if default_node is None:
            raise ConfigError(f"{where}/{name}/qkdn_id: missing")
        return InterfaceAddress(default_node, number)
    try:
        return InterfaceAddress(UUID(str(node)), number)
    except ValueError:
        raise ConfigError(f"{where}/{name}/qkdn_id: {node!r} is not a UUID") from None


def parse_link(entry: Mapping[str, Any], local_qkdn_id: UUID) -> PhysicalLink:
    """The physical link a controller wrote as a ``qkd_link`` entry (RFC 7951 JSON) at the node
    ``local_qkdn_id``.

    Raises:
        ConfigError: a virtual link (:mod:`sdqkd.agent.virtual` reads those), a link whose local
            end is another node, or a member missing or malformed.
    """
    try:
        link_id = UUID(str(_member(entry, "qkdl_id", "qkd_link")))
    except ValueError:
        raise ConfigError(f"qkd_link/qkdl_id: {entry.get('qkdl_id')!r} is not a UUID") from None
    where = f"qkd_link[{link_id}]"
    if "qkdl_type" in entry and _identity_name(entry["qkdl_type"], ("PHYS", "VIRT"), where) == "VIRT":
        raise ConfigError(f"{where}: a virtual link has no device to configure")
    local = _address(entry, "qkdl_local", where, default_node=local_qkdn_id)
    if local.qkdn_id != local_qkdn_id:
        raise ConfigError(f"{where}/qkdl_local/qkdn_id: {local.qkdn_id} is not this node ({local_qkdn_id})")
    remote = _address(entry, "qkdl_remote", where, default_node=None)
    enabled = entry.get("qkdl_enable", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{where}/qkdl_enable: {enabled!r} is not a boolean")
    channel = entry.get("phys_wavelength")
    if channel is not None and not (isinstance(channel, str) and _CHANNEL.fullmatch(channel)):
        raise ConfigError(f"{where}/phys_wavelength: {channel!r} is not a WDM channel number")
    role = entry.get("phys_qkd_role")
    by_name = {name: module_role for module_role, name in _ROLES.items()}
    attenuation = entry.get("phys_channel_att")
    try:
        attenuation_db = None if attenuation is None else float(attenuation)
    except (TypeError, ValueError):
        attenuation_db = math.nan
    if attenuation_db is not None and not math.isfinite(attenuation_db):
        raise ConfigError(f"{where}/phys_channel_att: {attenuation!r} is not a decimal")
    return PhysicalLink(
        qkdl_id=link_id,
        local=local,
        remote=remote,
        enabled=enabled,
        dwdm_channel=None if channel is None else int(channel),
        role=None if role is None else by_name[_identity_name(role, by_name, f"{where}/phys_qkd_role")],
        channel_attenuation_db=attenuation_db,
    )


@dataclass(frozen=True)
class LinkDeviceCall:
    """What one link asks of the local module: pair with ``peer_module_id`` on ``dwdm_channel``."""

    module_id: str
    peer_module_id: str
    dwdm_channel: int | None
    enabled: bool


def link_device_call(link: PhysicalLink, directory: InterfaceDirectory) -> LinkDeviceCall:
    """The device call a physical link asks for, its ends resolved to modules.

    Raises:
        ConfigError: an end no module stands for, two ends at one node, roles that cannot pair
            (two transmitters, say, or a ``phys_qkd_role`` the local module cannot take), or a
            channel outside the local module's tuning range.
    """
    local, remote = directory.module(link.local), directory.module(link.remote)
    where = f"qkd_link[{link.qkdl_id}]"
    if local.node == remote.node:
        raise ConfigError(f"{where}: both ends are at node {local.node!r}")
    if ModuleRole.TRANSCEIVER not in (local.role, remote.role) and local.role is remote.role:
        raise ConfigError(f"{where}: {local.id!r} and {remote.id!r} are both {local.role}s")
    if link.role is not None and local.role not in (link.role, ModuleRole.TRANSCEIVER):
        raise ConfigError(f"{where}/phys_qkd_role: {local.id!r} is a {local.role}, not a {link.role}")
    if link.dwdm_channel is not None and link.dwdm_channel not in _channels(
        local.wavelength_min_nm, local.wavelength_max_nm
    ):
        raise ConfigError(
            f"{where}/phys_wavelength: channel {link.dwdm_channel} is outside the tuning range of "
            f"{local.id!r} ({local.wavelength_min_nm}-{local.wavelength_max_nm} nm)"
        )
    return LinkDeviceCall(local.id, remote.id, link.dwdm_channel, link.enabled)


@dataclass(frozen=True)
class ModuleConfiguration:
    """The arguments of :meth:`~sdqkd.agent.drivers.QkdDeviceDriver.configure` for one module."""

    module_id: str
    peers: tuple[str, ...]
    dwdm_channel: int | None
    enabled: bool


def module_configurations(
    calls: Iterable[LinkDeviceCall], module_ids: Sequence[str]
) -> list[ModuleConfiguration]:
    """The configuration of each of a node's modules for all the links that use them.

    A module is enabled when one of its links is, and pairs with the peers of its enabled links
    (several only behind an optical switch); a module no enabled link uses is disabled with no
    peers.

    Args:
        calls: the device calls of every physical link at the node.
        module_ids: the node's modules, in the order of the result.

    Raises:
        ConfigError: enabled links of one module on different channels, or a call for a module
            not in ``module_ids``.
    """
    enabled: dict[str, list[LinkDeviceCall]] = {module_id: [] for module_id in module_ids}
    for call in calls:
        if call.module_id not in enabled:
            raise ConfigError(f"module {call.module_id!r} is not one of this node's")
        if call.enabled:
            enabled[call.module_id].append(call)
    result = []
    for module_id, active in enabled.items():
        channels = {call.dwdm_channel for call in active}
        if len(channels) > 1:
            listed = ", ".join(str(c) for c in sorted(channels, key=lambda c: c or 0))
            raise ConfigError(f"module {module_id!r}: its enabled links use different channels ({listed})")
        peers = tuple(dict.fromkeys(call.peer_module_id for call in active))
        channel = next(iter(channels)) if channels else None
        result.append(ModuleConfiguration(module_id, peers, channel, bool(active)))
    return result


# The node -----------------------------------------------------------------------------------------------


def node_tree(
    qkdn_id: UUID,
    location: str,
    interfaces: Sequence[Mapping[str, Any]],
    links: Sequence[Mapping[str, Any]],
    apps: Sequence[Mapping[str, Any]],
    *,
    status: NodeStatus | None = NodeStatus.OPERATING,
    version: str | None = None,
) -> dict[str, Any]:
    """The node's whole tree, ``{"etsi-qkd-sdn-node:qkd_node": {...}}``.

    Args:
        qkdn_id: the node's id (:func:`qkdn_id` of its node id).
        location: ``qkdn_location_id``, the secure site.
        interfaces: :func:`interface_entry` results.
        links: :func:`link_entry` results (or the controller's entries as stored).
        apps: ``qkd_app`` entries.
        status: ``qkdn_status``; None leaves it out.
        version: ``qkdn_version``.
    """
    node: dict[str, Any] = {"qkdn_id": str(qkdn_id)}
    if status is not None:
        node["qkdn_status"] = _identity(status)
    if version is not None:
        node["qkdn_version"] = version
    node["qkdn_location_id"] = location
    node["qkdn_capabilities"] = {
        "link_stats_support": True,
        "application_stats_support": True,
        "key_relay_mode_enable": True,
    }
    # A list with no entries is left out: none of these lists has min-elements, and [] says nothing more.
    node["qkd_applications"] = {"qkd_app": [dict(a) for a in apps]} if apps else {}
    node["qkd_interfaces"] = {"qkd_interface": [dict(i) for i in interfaces]} if interfaces else {}
    node["qkd_links"] = {"qkd_link": [dict(k) for k in links]} if links else {}
    return {QKD_NODE: node}


# Notifications (the payload inside a RESTCONF notification, RFC 8040 §6.4) -------------------------------


def interface_new_notification(qkdi_id: int, description: DeviceDescription) -> dict[str, Any]:
    """``sdqkdn_interface_new``: a module appeared at the node."""
    return {f"{NODE_MODULE}:sdqkdn_interface_new": {"qkd_interface": _interface_item(qkdi_id, description)}}


def interface_down_notification(qkdi_id: int, reason: str) -> dict[str, Any]:
    """``sdqkdn_interface_down``: a module stopped working."""
    return {f"{NODE_MODULE}:sdqkdn_interface_down": {"qkd_interface": {"qkdi_id": qkdi_id, "reason": reason}}}


def link_down_notification(qkdl_id: UUID, reason: str) -> dict[str, Any]:
    """``sdqkdn_link_down``: a link stopped generating key."""
    return {f"{NODE_MODULE}:sdqkdn_link_down": {"qkd_link": {"qkdl_id": str(qkdl_id), "reason": reason}}}


def link_perf_update_notification(
    qkdl_id: UUID, performance: Performance, *, eskr_bps: float | None = None
) -> dict[str, Any]:
    """``sdqkdn_link_perf_update``: a link's key rate (and SNR) changed.

    Args:
        qkdl_id: the link.
        performance: the local module's performance.
        eskr_bps: the effective secret key rate, bit/s (default: all of ``skr``).
    """
    values = _common_performance(performance, eskr_bps)
    phys = _phys_perf(performance)
    if phys:
        values["phys_perf"] = phys
    return {
        f"{NODE_MODULE}:sdqkdn_link_perf_update": {
            "qkd_link": {"qkdl_id": str(qkdl_id), "performance": values}
        }
    }
