"""The emulated physical world: a topology whose optical plant and devices change at run time.

The fibres' classical channels, the switches' cross-connects, cut fibres, failed modules and each
module's configuration (peers, quantum channel, enabled) are state; everything else is the
topology. Every change goes through a method here, is validated with the topology's own models,
and bumps :attr:`World.version` so the engine knows to recompute key rates.

Pairs: a transmitter and a receiver make key together when each names the other as a peer, both
use the same quantum channel, both are enabled and working, a fibre joins them and every switch on
the way is cross-connected towards it. A switched transmitter names several receivers as peers; it
makes key with the one its switch connects.

Modules start unconfigured (the SDN controller configures them through the node agents), or
*commissioned* (:meth:`World.commission`): paired point to point for the topology's QKD links, as
their installers leave real devices, so they make key from power-on, before any controller has
written a configuration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from sdqkd.errors import DeviceError, NotFound
from sdqkd.planning.budget import LinkBudget, link_budget
from sdqkd.topology.models import (
    ClassicalChannel,
    Fibre,
    OpticalSwitch,
    QkdLink,
    QkdModule,
    Role,
    SwitchAttachment,
    Topology,
    quantum_wavelength_nm,
)
from sdqkd.topology.transceivers import C_BAND_NM
from sdqkd.units import dwdm_channel_to_frequency_thz, frequency_thz_to_wavelength_nm

__all__ = ["ModuleConfig", "PairState", "World"]

#: Two carriers closer than this (THz) sit in the same slot of the 100 GHz grid.
_SAME_SLOT_THZ = 0.025


@dataclass
class ModuleConfig:
    """How a module is configured (by its agent, or at commissioning)."""

    peers: list[str] = field(default_factory=list)
    dwdm_channel: int | None = None
    enabled: bool = False


@dataclass(frozen=True)
class PairState:
    """A transmitter–receiver pair whose configurations name each other, and its channel now."""

    transmitter: str
    receiver: str
    fibre: str
    active: bool
    reason: str  # why not active ("" when active)
    budget: LinkBudget | None  # None when the pair cannot be evaluated (e.g. no channel set)

    @property
    def key(self) -> tuple[str, str]:
        return (self.transmitter, self.receiver)

    @property
    def rate_bps(self) -> float:
        return self.budget.secret_key_rate_bps if (self.active and self.budget) else 0.0


def _invalid(exc: ValidationError) -> DeviceError:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return DeviceError(f"{where}: {error['msg']}" if where else error["msg"])


class World:
    """The live state of an emulated network.

    Args:
        topology: the network as built.
    """

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.cut_fibres: set[str] = set()
        self.failed_modules: set[str] = set()
        self.configs: dict[str, ModuleConfig] = {m.id: ModuleConfig() for m in topology.qkd_modules}
        self.version = 0

    # Look-ups ---------------------------------------------------------------------------------------

    def module(self, module_id: str) -> QkdModule:
        try:
            return self.topology.module(module_id)
        except KeyError as exc:
            raise NotFound(f"no QKD module {module_id!r}") from exc

    def fibre(self, fibre_id: str) -> Fibre:
        try:
            return self.topology.fibre(fibre_id)
        except KeyError as exc:
            raise NotFound(f"no fibre {fibre_id!r}") from exc

    def switch(self, switch_id: str) -> OpticalSwitch:
        try:
            return self.topology.switch(switch_id)
        except KeyError as exc:
            raise NotFound(f"no switch {switch_id!r}") from exc

    def channel(self, fibre_id: str, channel_id: str) -> ClassicalChannel:
        for channel in self.fibre(fibre_id).classical_channels:
            if channel.id == channel_id:
                return channel
        raise NotFound(f"no classical channel {channel_id!r} on fibre {fibre_id!r}")

    # Changes to the plant ---------------------------------------------------------------------------

    def _replace_fibre(self, fibre: Fibre) -> None:
        fibres = [fibre if f.id == fibre.id else f for f in self.topology.fibres]
        self.topology = self.topology.model_copy(update={"fibres": fibres})
        self.version += 1

    def set_channel(
        self,
        fibre_id: str,
        channel_id: str,
        *,
        launch_power_dbm: float | None = None,
        dwdm_channel: int | None = None,
    ) -> ClassicalChannel:
        """Set a classical channel's launch power (dBm), move it to another grid channel, or both.

        A move leaves the channel named by ``dwdm_channel`` alone (its ``wavelength_nm``, if it had
        one, is dropped). Asking for the grid channel it is already on is no move.

        Raises:
            NotFound: no such fibre or channel.
            DeviceError: a power out of range, or a move the plant cannot make (see
                :meth:`check_move`); nothing changes then.
            ValueError: neither a power nor a grid channel given.
        """
        if launch_power_dbm is None and dwdm_channel is None:
            raise ValueError("give launch_power_dbm, dwdm_channel or both")
        channel = self.channel(fibre_id, channel_id)
        update: dict[str, Any] = {}
        if launch_power_dbm is not None:
            if not math.isfinite(launch_power_dbm):
                raise DeviceError("launch_power_dbm must be a finite number")
            update["launch_power_dbm"] = launch_power_dbm
        if dwdm_channel is not None and self.moves(fibre_id, channel_id, dwdm_channel):
            self.check_move(fibre_id, channel_id, dwdm_channel)
            update.update(dwdm_channel=dwdm_channel, wavelength_nm=None)
        try:
            updated = ClassicalChannel.model_validate({**channel.model_dump(), **update})
        except ValidationError as exc:
            raise _invalid(exc) from exc
        fibre = self.fibre(fibre_id)
        channels = [updated if c.id == channel_id else c for c in fibre.classical_channels]
        self._replace_fibre(fibre.model_copy(update={"classical_channels": channels}))
        return updated

    def set_channel_power(self, fibre_id: str, channel_id: str, launch_power_dbm: float) -> ClassicalChannel:
        """Set a classical channel's launch power (dBm)."""
        return self.set_channel(fibre_id, channel_id, launch_power_dbm=launch_power_dbm)

    def moves(self, fibre_id: str, channel_id: str, dwdm_channel: int) -> bool:
        """Whether putting a classical channel on grid channel ``dwdm_channel`` moves it (it is
        elsewhere now)."""
        channel = self.channel(fibre_id, channel_id)
        return abs(channel.frequency_thz - dwdm_channel_to_frequency_thz(dwdm_channel)) >= _SAME_SLOT_THZ

    def check_move(self, fibre_id: str, channel_id: str, dwdm_channel: int) -> None:
        """Refuse a move of a classical channel to grid channel ``dwdm_channel`` that the plant
        cannot make.

        Raises:
            DeviceError: its transceiver has a fixed wavelength, the grid channel lies outside the
                C band its lasers tune across (:data:`~sdqkd.topology.transceivers.C_BAND_NM`), or
                another classical channel of the fibre is on it already.
        """
        channel = self.channel(fibre_id, channel_id)
        if not channel.transceiver.tunable:
            raise DeviceError(
                f"channel {channel_id!r} on fibre {fibre_id!r} has a fixed-wavelength "
                f"{channel.rate_class} transceiver: it cannot move"
            )
        frequency_thz = dwdm_channel_to_frequency_thz(dwdm_channel)
        wavelength_nm = float(frequency_thz_to_wavelength_nm(frequency_thz))
        low_nm, high_nm = C_BAND_NM
        if not low_nm <= wavelength_nm <= high_nm:
            raise DeviceError(
                f"grid channel {dwdm_channel} ({wavelength_nm:.2f} nm) is outside the C band "
                f"({low_nm:g}-{high_nm:g} nm) that {channel_id!r} tunes across"
            )
        for other in self.fibre(fibre_id).classical_channels:
            if other.id != channel_id and abs(other.frequency_thz - frequency_thz) < _SAME_SLOT_THZ:
                raise DeviceError(
                    f"grid channel {dwdm_channel} on fibre {fibre_id!r} already carries channel {other.id!r}"
                )

    def add_channel(self, fibre_id: str, spec: dict[str, Any]) -> ClassicalChannel:
        """Add a classical channel to a fibre (``spec`` as in a topology file)."""
        fibre = self.fibre(fibre_id)
        try:
            channel = ClassicalChannel.model_validate(spec)
        except ValidationError as exc:
            raise _invalid(exc) from exc
        if any(c.id == channel.id for c in fibre.classical_channels):
            raise DeviceError(f"fibre {fibre_id!r} already carries a channel {channel.id!r}")
        self._replace_fibre(
            fibre.model_copy(update={"classical_channels": [*fibre.classical_channels, channel]})
        )
        return channel

    def remove_channel(self, fibre_id: str, channel_id: str) -> None:
        """Remove a classical channel from a fibre."""
        self.channel(fibre_id, channel_id)
        fibre = self.fibre(fibre_id)
        channels = [c for c in fibre.classical_channels if c.id != channel_id]
        self._replace_fibre(fibre.model_copy(update={"classical_channels": channels}))

    def cut_fibre(self, fibre_id: str) -> None:
        self.fibre(fibre_id)
        self.cut_fibres.add(fibre_id)
        self.version += 1

    def restore_fibre(self, fibre_id: str) -> None:
        self.fibre(fibre_id)
        self.cut_fibres.discard(fibre_id)
        self.version += 1

    def set_switch(self, switch_id: str, port_id: str | None) -> OpticalSwitch:
        """Cross-connect a switch's common port to ``port_id`` (None: open)."""
        switch = self.switch(switch_id)
        if port_id is not None and port_id not in {p.id for p in switch.ports}:
            raise NotFound(f"switch {switch_id!r} has no port {port_id!r}")
        updated = switch.model_copy(update={"connected_port": port_id})
        switches = [updated if s.id == switch_id else s for s in self.topology.switches]
        self.topology = self.topology.model_copy(update={"switches": switches})
        self.version += 1
        return updated

    # Changes to the devices -------------------------------------------------------------------------

    def fail_module(self, module_id: str) -> None:
        self.module(module_id)
        self.failed_modules.add(module_id)
        self.version += 1

    def repair_module(self, module_id: str) -> None:
        self.module(module_id)
        self.failed_modules.discard(module_id)
        self.version += 1

    def configure(
        self, module_id: str, peers: list[str], dwdm_channel: int | None, enabled: bool
    ) -> ModuleConfig:
        """Configure a module: its peer modules, quantum channel and whether it runs.

        Raises:
            NotFound: the module or a peer does not exist.
            DeviceError: a peer of the same role, a channel outside the device's tuning range,
                or several peers on a module not behind a switch.
        """
        module = self.module(module_id)
        profile = self.topology.profile(module.profile)
        for peer_id in peers:
            peer = self.module(peer_id)
            if peer.role is module.role:
                raise DeviceError(
                    f"module {module_id!r} cannot pair with {peer_id!r}: both are {module.role}s"
                )
            if peer.node == module.node:
                raise DeviceError(f"module {module_id!r} cannot pair with {peer_id!r} at the same node")
        if len(set(peers)) > 1 and module.role is Role.RECEIVER:
            raise DeviceError(f"receiver {module_id!r} takes one peer")
        if len(set(peers)) > 1 and not isinstance(module.attachment, SwitchAttachment):
            raise DeviceError(f"module {module_id!r} is not behind a switch: it takes one peer")
        if dwdm_channel is not None:
            wavelength = quantum_wavelength_nm(dwdm_channel)
            if not profile.quantum_wavelength_min_nm <= wavelength <= profile.quantum_wavelength_max_nm:
                low, high = profile.quantum_wavelength_min_nm, profile.quantum_wavelength_max_nm
                raise DeviceError(
                    f"channel {dwdm_channel} ({wavelength:.2f} nm) is outside the tuning range of "
                    f"{module_id!r} ({low}-{high} nm)"
                )
        config = ModuleConfig(peers=list(dict.fromkeys(peers)), dwdm_channel=dwdm_channel, enabled=enabled)
        self.configs[module_id] = config
        self.version += 1
        return config

    def commission(self) -> None:
        """Configure every module of a QKD link of the topology as its installers leave it.

        Real QKD devices are installed and paired point to point at commissioning and make key from
        power-on; the SDN controller takes them over later, and whatever it configures replaces
        this. Each module gets the peers the controller would give it (ETSI GS QKD 015 links through
        its agent, :func:`sdqkd.agent.mapping.module_configurations`): a receiver its transmitter,
        a transmitter its receiver, or all of them behind an optical switch; the link's quantum
        channel (or the profile's default), enabled. A switched transmitter whose links use
        different channels tunes to the channel of the link its switch connects now (else of its
        first link). Modules no link names stay unconfigured.

        Raises:
            DeviceError: the topology's links ask for a configuration a device refuses (see
                :meth:`configure`); the modules configured before it keep their configuration.
        """
        peers: dict[str, list[str]] = {}
        channels: dict[str, int] = {}
        for link in self.topology.qkd_links:
            profile = self.topology.profile(self.module(link.transmitter).profile)
            channel = link.quantum_dwdm_channel or profile.default_quantum_dwdm_channel
            peers.setdefault(link.transmitter, []).append(link.receiver)
            peers.setdefault(link.receiver, []).append(link.transmitter)
            channels.setdefault(link.receiver, channel)
            if link.transmitter not in channels or self._connected_now(link):
                channels[link.transmitter] = channel
        for module_id, module_peers in peers.items():
            self.configure(module_id, module_peers, channels[module_id], enabled=True)

    def _connected_now(self, link: QkdLink) -> bool:
        """Whether every switch on a link's way is cross-connected towards it now."""
        _, hops = self.topology.link_path(link)
        return all(switch.connected_port == port.id for switch, port in hops)

    # Pairs and their channels -----------------------------------------------------------------------

    def pairs(self) -> list[PairState]:
        """Every transmitter–receiver pair whose configurations name each other."""
        result = []
        for tx in self.topology.qkd_modules:
            if tx.role is not Role.TRANSMITTER:
                continue
            for rx_id in self.configs[tx.id].peers:
                if tx.id in self.configs[rx_id].peers:
                    result.append(self._pair(tx.id, rx_id))
        return result

    def pair_of(self, module_id: str) -> PairState | None:
        """The active pair a module is in now, else its first configured pair, else None."""
        pairs = [p for p in self.pairs() if module_id in p.key]
        active = [p for p in pairs if p.active]
        candidates = active or pairs
        return candidates[0] if candidates else None

    def _pair(self, tx_id: str, rx_id: str) -> PairState:
        tx_config, rx_config = self.configs[tx_id], self.configs[rx_id]
        channel = tx_config.dwdm_channel
        link = QkdLink(id=f"{tx_id}.{rx_id}", transmitter=tx_id, receiver=rx_id, quantum_dwdm_channel=channel)
        try:
            fibre, _ = self.topology.link_path(link)
        except ValueError:
            return PairState(tx_id, rx_id, "", False, "no fibre joins the two modules", None)
        budget = link_budget(self.topology, link) if channel is not None else None
        # A classical carrier on the quantum channel itself drowns the quantum signal (in-band
        # crosstalk, far beyond what the Raman model covers): no key.
        quantum_thz = dwdm_channel_to_frequency_thz(channel) if channel is not None else None
        occupied = next(
            (
                c.id
                for c in fibre.classical_channels
                if quantum_thz and abs(c.frequency_thz - quantum_thz) < _SAME_SLOT_THZ
            ),
            "",
        )
        reasons = [
            (not tx_config.enabled or not rx_config.enabled, "a module is disabled"),
            (
                channel is None or channel != rx_config.dwdm_channel,
                "the modules use different quantum channels",
            ),
            (bool({tx_id, rx_id} & self.failed_modules), "a module has failed"),
            (fibre.id in self.cut_fibres, f"fibre {fibre.id} is cut"),
            (budget is not None and not budget.connected, "a switch on the way is connected elsewhere"),
            (
                channel is not None and bool(occupied),
                f"classical channel {occupied} occupies the quantum channel",
            ),
        ]
        reason = next((text for failed, text in reasons if failed), "")
        return PairState(tx_id, rx_id, fibre.id, not reason, reason, budget)

    # Persistence ------------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The mutable state, JSON-ready (for the emulator's state file)."""
        return {
            "fibres": {
                f.id: [c.model_dump(mode="json", exclude_none=True) for c in f.classical_channels]
                for f in self.topology.fibres
            },
            "switches": {s.id: s.connected_port for s in self.topology.switches},
            "cut_fibres": sorted(self.cut_fibres),
            "failed_modules": sorted(self.failed_modules),
            "configs": {
                module_id: {"peers": c.peers, "dwdm_channel": c.dwdm_channel, "enabled": c.enabled}
                for module_id, c in self.configs.items()
            },
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Resume from :meth:`snapshot` (entries naming things the topology lacks are ignored)."""
        fibre_ids = {f.id for f in self.topology.fibres}
        fibres = []
        for fibre in self.topology.fibres:
            channels = snapshot.get("fibres", {}).get(fibre.id)
            if channels is not None:
                fibre = fibre.model_copy(
                    update={"classical_channels": [ClassicalChannel.model_validate(c) for c in channels]}
                )
            fibres.append(fibre)
        switches = []
        for switch in self.topology.switches:
            port = snapshot.get("switches", {}).get(switch.id, switch.connected_port)
            # model_copy does not validate: a port the switch lacks would leave it invalid
            if port is None or port in {p.id for p in switch.ports}:
                switch = switch.model_copy(update={"connected_port": port})
            switches.append(switch)
        self.topology = self.topology.model_copy(update={"fibres": fibres, "switches": switches})
        self.cut_fibres = set(snapshot.get("cut_fibres", [])) & fibre_ids
        self.failed_modules = set(snapshot.get("failed_modules", [])) & set(self.configs)
        for module_id, config in snapshot.get("configs", {}).items():
            if module_id in self.configs:
                self.configs[module_id] = ModuleConfig(
                    peers=[p for p in config.get("peers", []) if p in self.configs],
                    dwdm_channel=config.get("dwdm_channel"),
                    enabled=bool(config.get("enabled", False)),
                )
        self.version += 1
