"""A physical ``qkd_link`` entry: what the controller writes into both agents and each agent parses
back (ETSI GS QKD 015 V2.1.1 ``qkd_links/qkd_link``, RFC 7951 JSON).

A quirk of the model: ``qkdl_performance/phys_perf`` is guarded by ``when "../qkdl_type = 'PHYS'"``,
which compares the module-qualified identityref value (``"etsi-qkd-node-types:PHYS"``) with an
unqualified string and is never true, so a datastore link that carries ``phys_perf`` fails
validation. Link entries therefore carry ``skr`` and ``eskr`` only; the agent sends the SNR in
``sdqkdn_link_perf_update``, whose ``phys_perf`` has no such condition.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sdqkd.errors import ConfigError
from sdqkd.etsi015.ids import InterfaceAddress
from sdqkd.etsi015.names import (
    UINT32_MAX,
    LinkStatus,
    LinkType,
    ModuleRole,
    decimal3,
    identity,
    identity_name,
    is_dwdm_channel,
    uint32,
)

__all__ = ["PhysicalLink", "link_entry", "parse_link", "performance_values"]


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


def link_entry(
    link: PhysicalLink,
    *,
    status: LinkStatus | None = None,
    skr_bps: float | None = None,
    eskr_bps: float | None = None,
) -> dict[str, Any]:
    """A ``qkd_links/qkd_link`` entry: the link's configuration, and its state when given.

    Args:
        link: the link's configuration.
        status: ``qkdl_status``.
        skr_bps: ``qkdl_performance/skr``, the secret key rate, bit/s; None leaves the performance out.
        eskr_bps: the effective secret key rate, bit/s, after the node's own consumption
            (default: all of ``skr``).
    """
    entry: dict[str, Any] = {
        "qkdl_id": str(link.qkdl_id),
        "qkdl_enable": link.enabled,
        "qkdl_local": {"qkdn_id": str(link.local.qkdn_id), "qkdi_id": link.local.qkdi_id},
        "qkdl_remote": {"qkdn_id": str(link.remote.qkdn_id), "qkdi_id": link.remote.qkdi_id},
        "qkdl_type": identity(LinkType.PHYS),
    }
    if link.dwdm_channel is not None:
        entry["phys_wavelength"] = str(link.dwdm_channel)
    if link.role is not None:
        entry["phys_qkd_role"] = identity(link.role.identity)
    if link.channel_attenuation_db is not None:
        attenuation = decimal3(link.channel_attenuation_db)
        if attenuation is not None:
            entry["phys_channel_att"] = attenuation
    if status is not None:
        entry["qkdl_status"] = identity(status)
    if skr_bps is not None:
        entry["qkdl_performance"] = performance_values(skr_bps, eskr_bps)
    return entry


def performance_values(skr_bps: float, eskr_bps: float | None) -> dict[str, Any]:
    """The ``skr`` and ``eskr`` members of a link's performance (uint32, bit/s)."""
    skr = uint32(skr_bps)
    return {"skr": skr, "eskr": skr if eskr_bps is None else uint32(eskr_bps)}


def _member(entry: Mapping[str, Any], name: str, where: str) -> Any:
    if name not in entry:
        raise ConfigError(f"{where}/{name}: missing")
    return entry[name]


def _address(entry: Mapping[str, Any], name: str, where: str, default_node: UUID | None) -> InterfaceAddress:
    end = entry.get(name)
    if not isinstance(end, Mapping):
        raise ConfigError(f"{where}/{name}: missing")
    number = _member(end, "qkdi_id", f"{where}/{name}")
    if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number <= UINT32_MAX:
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
        ConfigError: a virtual link (the agent reads those apart), a link whose local end is another
            node, or a member missing or malformed.
    """
    try:
        link_id = UUID(str(_member(entry, "qkdl_id", "qkd_link")))
    except ValueError:
        raise ConfigError(f"qkd_link/qkdl_id: {entry.get('qkdl_id')!r} is not a UUID") from None
    where = f"qkd_link[{link_id}]"
    if "qkdl_type" in entry and identity_name(entry["qkdl_type"], LinkType, where) == LinkType.VIRT:
        raise ConfigError(f"{where}: a virtual link has no device to configure")
    local = _address(entry, "qkdl_local", where, default_node=local_qkdn_id)
    if local.qkdn_id != local_qkdn_id:
        raise ConfigError(f"{where}/qkdl_local/qkdn_id: {local.qkdn_id} is not this node ({local_qkdn_id})")
    remote = _address(entry, "qkdl_remote", where, default_node=None)
    enabled = entry.get("qkdl_enable", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{where}/qkdl_enable: {enabled!r} is not a boolean")
    channel = entry.get("phys_wavelength")
    if channel is not None and not is_dwdm_channel(channel):
        raise ConfigError(f"{where}/phys_wavelength: {channel!r} is not a WDM channel number")
    role = entry.get("phys_qkd_role")
    by_name = {module_role.identity: module_role for module_role in ModuleRole}
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
        role=None if role is None else by_name[identity_name(role, by_name, f"{where}/phys_qkd_role")],
        channel_attenuation_db=attenuation_db,
    )
