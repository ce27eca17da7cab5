"""What a network is made of: nodes, fibres with their classical DWDM channels, optical switches,
QKD modules with device profiles, and the QKD links between module pairs.

These pydantic models are the schema of topology files (YAML); ``loader.py`` reads them and
``builtin.py`` makes the built-in ones. Every number that comes from somewhere can carry its
provenance: ``provenance: {length_km: {kind: published, source: "..."}}``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, Protocol, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sdqkd.topology.transceivers import RateClass, Transceiver, transceiver_class
from sdqkd.units import (
    dwdm_channel_to_frequency_thz,
    frequency_thz_to_wavelength_nm,
    wavelength_nm_to_frequency_thz,
)

__all__ = [
    "ClassicalChannel",
    "DeviceProfile",
    "Direction",
    "Fibre",
    "FibreAttachment",
    "Node",
    "OpticalSwitch",
    "Provenance",
    "QkdLink",
    "QkdModule",
    "Role",
    "SwitchAttachment",
    "SwitchPort",
    "Topology",
]

Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Provenance(_Model):
    """Where a number comes from.

    Attributes:
        kind: ``published`` (taken from a source), ``derived`` (computed from published numbers),
            ``measured`` (measured by sdqkd itself; the source gives the command), ``assumption`` (a
            modelling choice with a reason) or ``placeholder`` (a stand-in until a real figure is
            known).
        source: the paper, standard or reasoning behind it.
    """

    kind: Literal["published", "derived", "measured", "assumption", "placeholder"]
    source: str = Field(min_length=1)


class _WithProvenance(_Model):
    provenance: dict[str, Provenance] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _provenance_names_fields(self) -> Self:
        unknown = sorted(set(self.provenance) - set(type(self).model_fields))
        if unknown:
            raise ValueError(f"provenance names unknown field(s): {', '.join(unknown)}")
        return self


class Node(_Model):
    """A site of the network (one KME and one SD-QKD agent run there)."""

    id: Identifier
    name: str = Field(min_length=1)


class Direction(StrEnum):
    """Which way a classical channel travels along its fibre."""

    A_TO_B = "a_to_b"
    B_TO_A = "b_to_a"


class ClassicalChannel(_WithProvenance):
    """A classical DWDM channel on a fibre.

    Give either ``dwdm_channel`` (100 GHz grid number, f = 190.0 THz + n·0.1 THz) or
    ``wavelength_nm``. Its transceiver is of ``rate_class``; ``receiver_sensitivity_dbm``,
    ``required_margin_db`` and ``tunable`` default to the class's
    (:mod:`sdqkd.topology.transceivers`).
    """

    id: Identifier
    dwdm_channel: int | None = Field(default=None, ge=1, le=99)
    wavelength_nm: float | None = Field(default=None, gt=1200, lt=1700)
    launch_power_dbm: float = Field(ge=-60, le=30)
    direction: Direction
    label: str | None = None
    rate_class: RateClass = RateClass.G10
    receiver_sensitivity_dbm: float | None = Field(default=None, ge=-60, le=10)
    required_margin_db: float | None = Field(default=None, ge=0, le=30)
    tunable: bool | None = None

    @model_validator(mode="after")
    def _one_wavelength(self) -> Self:
        if (self.dwdm_channel is None) == (self.wavelength_nm is None):
            raise ValueError("give exactly one of dwdm_channel or wavelength_nm")
        return self

    @property
    def frequency_thz(self) -> float:
        """Centre frequency, THz."""
        if self.dwdm_channel is not None:
            return dwdm_channel_to_frequency_thz(self.dwdm_channel)
        assert self.wavelength_nm is not None
        return float(wavelength_nm_to_frequency_thz(self.wavelength_nm))

    @property
    def transceiver(self) -> Transceiver:
        """Its transceiver, each figure its own or its rate class's default."""
        defaults = transceiver_class(self.rate_class)
        return Transceiver(
            rate_class=self.rate_class,
            receiver_sensitivity_dbm=(
                defaults.receiver_sensitivity_dbm
                if self.receiver_sensitivity_dbm is None
                else self.receiver_sensitivity_dbm
            ),
            required_margin_db=(
                defaults.required_margin_db if self.required_margin_db is None else self.required_margin_db
            ),
            tunable=defaults.tunable if self.tunable is None else self.tunable,
            defaults=tuple(
                name
                for name in ("receiver_sensitivity_dbm", "required_margin_db", "tunable")
                if getattr(self, name) is None
            ),
        )


class Fibre(_WithProvenance):
    """A fibre span between two nodes, with the classical channels it carries."""

    id: Identifier
    a: Identifier
    b: Identifier
    length_km: float = Field(gt=0, le=500)
    attenuation_db_per_km: float = Field(default=0.2, ge=0, le=2)
    extra_loss_db: float = Field(default=0.0, ge=0, le=60)
    classical_channels: list[ClassicalChannel] = Field(default_factory=list)

    @model_validator(mode="after")
    def _two_ends_unique_channels(self) -> Self:
        if self.a == self.b:
            raise ValueError("a fibre must join two different nodes")
        _require_unique([c.id for c in self.classical_channels], "classical channel id")
        return self

    @property
    def loss_db(self) -> float:
        """Total loss of the span, dB."""
        return self.length_km * self.attenuation_db_per_km + self.extra_loss_db

    def other_end(self, node: str) -> str:
        """The node at the other end from ``node``."""
        return self.b if node == self.a else self.a


class SwitchPort(_Model):
    """An output port of an optical switch, patched to a fibre."""

    id: Identifier
    fibre: Identifier


class OpticalSwitch(_WithProvenance):
    """A 1×N optical switch at a node: its common port connects to one output port at a time.

    Attributes:
        connected_port: the output port the common port is cross-connected to now (None: open).
    """

    id: Identifier
    node: Identifier
    ports: list[SwitchPort] = Field(min_length=1)
    insertion_loss_db: float = Field(default=1.0, ge=0, le=20)
    connected_port: Identifier | None = None

    @model_validator(mode="after")
    def _ports(self) -> Self:
        _require_unique([p.id for p in self.ports], "port id")
        if self.connected_port is not None and self.connected_port not in {p.id for p in self.ports}:
            raise ValueError(f"connected_port {self.connected_port!r} is not one of the switch's ports")
        return self

    def port(self, port_id: str) -> SwitchPort:
        """The port of that id (KeyError if none)."""
        for port in self.ports:
            if port.id == port_id:
                return port
        raise KeyError(port_id)


class Role(StrEnum):
    """Role of a QKD module in a link."""

    TRANSMITTER = "transmitter"
    RECEIVER = "receiver"


class FibreAttachment(_Model):
    """The module is patched straight onto a fibre."""

    fibre: Identifier


class SwitchAttachment(_Model):
    """The module sits on the common port of an optical switch."""

    switch: Identifier


class DeviceProfile(_WithProvenance):
    """The parameters of a GG02 CV-QKD device pair (transmitter and receiver).

    Units: variances and noises in shot-noise units (SNU); ``excess_noise_snu`` is the device's
    own excess noise referred to the channel input, before any Raman noise. ``relock_time_s``: how
    long the pair makes no key after its quantum channel is retuned (lasers settle, the local
    oscillator and pilot lock again); ``resync_time_s``: after an optical switch on its way moves
    to it (clock and phase references recovered, a first block estimated).
    """

    id: Identifier
    description: str = ""
    model: str = "sdqkd emulated GG02"
    technology: Literal["CV-QKD"] = "CV-QKD"
    protocol: Literal["GG02"] = "GG02"
    modulation_variance_snu: float = Field(gt=0, le=1000)
    excess_noise_snu: float = Field(ge=0, le=10)
    efficiency: float = Field(gt=0, le=1)
    electronic_noise_snu: float = Field(ge=0, le=10)
    reconciliation_efficiency: float = Field(gt=0, le=1)
    frame_error_rate: float = Field(default=0.0, ge=0, lt=1)
    symbol_rate_bd: float = Field(gt=0, le=1e11)
    detection: Literal["homodyne", "heterodyne"] = "homodyne"
    detector: Literal["trusted", "untrusted"] = "trusted"
    block_size: float | None = Field(default=None, ge=1e3, le=1e15)
    pe_fraction: float = Field(default=0.5, gt=0, lt=1)
    epsilon_pe: float = Field(default=1e-10, gt=0, lt=1)
    epsilon_smooth: float = Field(default=1e-10, gt=0, lt=1)
    epsilon_pa: float = Field(default=1e-10, gt=0, lt=1)
    receiver_bandwidth_nm: float = Field(default=0.8, gt=0, le=100)
    quantum_wavelength_min_nm: float = Field(default=1528.0, gt=1200, lt=1700)
    quantum_wavelength_max_nm: float = Field(default=1568.0, gt=1200, lt=1700)
    default_quantum_dwdm_channel: int = Field(default=59, ge=1, le=99)
    max_absorption_db: float = Field(default=15.0, gt=0, le=60)
    raman_cross_section_per_km_nm: float = Field(default=3e-9, ge=0, le=1e-6)
    raman_reference_detuning_thz: float = Field(default=2.0)
    fibre_temperature_k: float = Field(default=300.0, gt=0, le=400)
    relock_time_s: float = Field(default=2.0, ge=0, le=600)
    resync_time_s: float = Field(default=3.0, ge=0, le=600)

    @model_validator(mode="after")
    def _wavelength_range(self) -> Self:
        if self.quantum_wavelength_min_nm >= self.quantum_wavelength_max_nm:
            raise ValueError("quantum_wavelength_min_nm must be below quantum_wavelength_max_nm")
        if self.raman_reference_detuning_thz == 0:
            raise ValueError("raman_reference_detuning_thz must be non-zero")
        return self


class QkdModule(_Model):
    """A QKD transmitter or receiver at a node.

    Attributes:
        technology: what the module does; it must match its device profile's.
        attachment: a fibre, or the common port of an optical switch whose ports lead to fibres.
    """

    id: Identifier
    node: Identifier
    role: Role
    technology: Literal["CV-QKD"] = "CV-QKD"
    profile: Identifier
    attachment: FibreAttachment | SwitchAttachment


class QkdLink(_Model):
    """A QKD link: a transmitter and a receiver module, and the quantum channel they use.

    Attributes:
        quantum_dwdm_channel: the DWDM channel of the quantum signal; None → the profile's default.
        target_rate_bps: the secret key rate the link should keep (used for margins and alarms).
    """

    id: Identifier
    transmitter: Identifier
    receiver: Identifier
    quantum_dwdm_channel: int | None = Field(default=None, ge=1, le=99)
    target_rate_bps: float | None = Field(default=None, ge=0)


class Topology(_Model):
    """A whole network. Cross-references are checked: every id a field names exists, and every
    QKD link runs over one fibre between its modules' nodes."""

    name: str = Field(min_length=1)
    description: str = ""
    nodes: list[Node] = Field(min_length=1)
    fibres: list[Fibre] = Field(default_factory=list)
    switches: list[OpticalSwitch] = Field(default_factory=list)
    device_profiles: list[DeviceProfile] = Field(default_factory=list)
    qkd_modules: list[QkdModule] = Field(default_factory=list)
    qkd_links: list[QkdLink] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> Self:
        node_ids = _require_unique([n.id for n in self.nodes], "node id")
        fibre_ids = _require_unique([f.id for f in self.fibres], "fibre id")
        switch_ids = _require_unique([s.id for s in self.switches], "switch id")
        profile_ids = _require_unique([p.id for p in self.device_profiles], "device profile id")
        module_ids = _require_unique([m.id for m in self.qkd_modules], "QKD module id")
        _require_unique([q.id for q in self.qkd_links], "QKD link id")
        for fibre in self.fibres:
            for end in (fibre.a, fibre.b):
                _require_known(end, node_ids, f"fibre {fibre.id!r} names node")
        for switch in self.switches:
            _require_known(switch.node, node_ids, f"switch {switch.id!r} names node")
            for port in switch.ports:
                _require_known(port.fibre, fibre_ids, f"switch {switch.id!r} port {port.id!r} names fibre")
                if switch.node not in (self.fibre(port.fibre).a, self.fibre(port.fibre).b):
                    raise ValueError(
                        f"switch {switch.id!r} port {port.id!r}: fibre {port.fibre!r} does not reach "
                        f"node {switch.node!r}"
                    )
        for module in self.qkd_modules:
            _require_known(module.node, node_ids, f"QKD module {module.id!r} names node")
            _require_known(module.profile, profile_ids, f"QKD module {module.id!r} names device profile")
            if module.technology != self.profile(module.profile).technology:
                raise ValueError(f"QKD module {module.id!r}: technology differs from its device profile's")
            attachment = module.attachment
            if isinstance(attachment, FibreAttachment):
                _require_known(attachment.fibre, fibre_ids, f"QKD module {module.id!r} names fibre")
                fibre = self.fibre(attachment.fibre)
                if module.node not in (fibre.a, fibre.b):
                    raise ValueError(
                        f"QKD module {module.id!r}: fibre {fibre.id!r} does not reach node {module.node!r}"
                    )
            else:
                _require_known(attachment.switch, switch_ids, f"QKD module {module.id!r} names switch")
                if self.switch(attachment.switch).node != module.node:
                    raise ValueError(
                        f"QKD module {module.id!r}: switch {attachment.switch!r} is at another node"
                    )
        for link in self.qkd_links:
            _require_known(link.transmitter, module_ids, f"QKD link {link.id!r} names transmitter")
            _require_known(link.receiver, module_ids, f"QKD link {link.id!r} names receiver")
            tx, rx = self.module(link.transmitter), self.module(link.receiver)
            if tx.role is not Role.TRANSMITTER or rx.role is not Role.RECEIVER:
                raise ValueError(f"QKD link {link.id!r} must join a transmitter to a receiver")
            if tx.profile != rx.profile:
                raise ValueError(f"QKD link {link.id!r}: its modules use different device profiles")
            self.link_path(link)  # raises if no single fibre joins the two modules
        return self

    # Look-ups -------------------------------------------------------------------------------------

    def node(self, node_id: str) -> Node:
        return _find(self.nodes, node_id, "node")

    def fibre(self, fibre_id: str) -> Fibre:
        return _find(self.fibres, fibre_id, "fibre")

    def switch(self, switch_id: str) -> OpticalSwitch:
        return _find(self.switches, switch_id, "switch")

    def profile(self, profile_id: str) -> DeviceProfile:
        return _find(self.device_profiles, profile_id, "device profile")

    def module(self, module_id: str) -> QkdModule:
        return _find(self.qkd_modules, module_id, "QKD module")

    def link(self, link_id: str) -> QkdLink:
        return _find(self.qkd_links, link_id, "QKD link")

    def _reachable(self, module: QkdModule) -> dict[str, tuple[OpticalSwitch, SwitchPort] | None]:
        """Fibres a module can reach: fibre id → the switch and port it goes through (or None)."""
        if isinstance(module.attachment, FibreAttachment):
            return {module.attachment.fibre: None}
        switch = self.switch(module.attachment.switch)
        return {port.fibre: (switch, port) for port in switch.ports}

    def link_path(self, link: QkdLink) -> tuple[Fibre, list[tuple[OpticalSwitch, SwitchPort]]]:
        """The fibre a QKD link runs over and the switch ports on the way.

        Raises:
            ValueError: no single fibre joins the two modules' nodes.
        """
        tx, rx = self.module(link.transmitter), self.module(link.receiver)
        from_tx, from_rx = self._reachable(tx), self._reachable(rx)
        for fibre_id, tx_hop in from_tx.items():
            fibre = self.fibre(fibre_id)
            if fibre_id in from_rx and {fibre.a, fibre.b} == {tx.node, rx.node}:
                hops = [hop for hop in (tx_hop, from_rx[fibre_id]) if hop is not None]
                return fibre, hops
        raise ValueError(
            f"QKD link {link.id!r}: no fibre joins module {tx.id!r} at {tx.node!r} to module "
            f"{rx.id!r} at {rx.node!r}"
        )


def _require_unique(ids: list[str], what: str) -> set[str]:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ValueError(f"duplicate {what} {item!r}")
        seen.add(item)
    return seen


def _require_known(item: str, known: set[str], what: str) -> None:
    if item not in known:
        raise ValueError(f"{what} {item!r}, which is not defined")


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


_T = TypeVar("_T", bound=_HasId)


def _find(items: list[_T], item_id: str, what: str) -> _T:
    for item in items:
        if item.id == item_id:
            return item
    raise KeyError(f"no {what} {item_id!r}")


def quantum_wavelength_nm(channel: int) -> float:
    """Wavelength in nm of a DWDM channel number."""
    return float(frequency_thz_to_wavelength_nm(dwdm_channel_to_frequency_thz(channel)))
