"""The node agent's view of its devices as ETSI GS QKD 015 V2.1.1 (YANG ``etsi-qkd-sdn-node``,
2022-01-30) RFC 7951 JSON, and the controller's link writes as driver calls. Pure functions, no I/O.
The names, identifiers and the ``qkd_link`` entry both control-plane sides share are in
:mod:`sdqkd.etsi015`; this module maps devices onto them.

The KME names its links by the topology's link ids and its virtual links ``v-A-B``; these give the
agent the ``qkd_link`` each of the KME's counters belongs to.

Remote interfaces. A ``qkd_link`` names its remote end by ``(qkdn_id, qkdi_id)`` only, while a
device is configured with its peer *module*. The agent resolves one into the other with an
:class:`InterfaceDirectory` of every module its driver can see (``discover()`` and
``peer_modules()``): since both numbers are functions of the node and module ids, the directory is
computed, never configured, and the controller needs nothing beyond the ids it already has.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sdqkd.agent.drivers import DeviceDescription, ModuleState, ModuleStatus, Performance
from sdqkd.errors import ConfigError, DeviceError
from sdqkd.etsi015.ids import InterfaceAddress, qkdi_id, qkdn_id
from sdqkd.etsi015.links import PhysicalLink, performance_values
from sdqkd.etsi015.names import (
    DWDM_CHANNELS,
    NODE_MODULE,
    QKD_NODE,
    TECHNOLOGIES,
    InterfaceStatus,
    LinkStatus,
    ModuleRole,
    NodeStatus,
    decimal3,
    identity,
)
from sdqkd.topology.models import quantum_wavelength_nm

__all__ = [
    "InterfaceDirectory",
    "LinkDeviceCall",
    "ModuleConfiguration",
    "interface_address",
    "interface_down_notification",
    "interface_entry",
    "interface_new_notification",
    "interface_status",
    "link_device_call",
    "link_down_notification",
    "link_perf_update_notification",
    "link_status",
    "module_configurations",
    "node_tree",
    "wavelength_range",
]


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
    if module.technology not in TECHNOLOGIES:
        raise DeviceError(f"module {module.id!r}: technology {module.technology!r} has no ETSI 015 identity")
    attachment: dict[str, Any] = {"device": module.attachment.device}
    if module.attachment.port is not None:
        attachment["port"] = module.attachment.port
    capabilities: dict[str, Any] = {"role_support": identity(module.role.identity)}
    channels = wavelength_range(module.wavelength_min_nm, module.wavelength_max_nm)
    if channels is not None:
        capabilities["wavelength_range"] = channels
    absorption = decimal3(module.max_absorption_db)
    if absorption is not None:
        capabilities["max_absorption"] = absorption
    return {
        "qkdi_id": number,
        "qkdi_model": module.model,
        "qkdi_type": identity(module.technology),
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
        entry["qkdi_status"] = identity(interface_status(state))
    return entry


# Links --------------------------------------------------------------------------------------------------


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


def _phys_perf(performance: Performance) -> list[dict[str, Any]]:
    snr = None if performance.snr is None else decimal3(performance.snr)
    return [] if snr is None else [{"perf_type": identity("SNR"), "value": snr}]


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
        node["qkdn_status"] = identity(status)
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
    values = performance_values(performance.skr_bps, eskr_bps)
    phys = _phys_perf(performance)
    if phys:
        values["phys_perf"] = phys
    return {
        f"{NODE_MODULE}:sdqkdn_link_perf_update": {
            "qkd_link": {"qkdl_id": str(qkdl_id), "performance": values}
        }
    }
