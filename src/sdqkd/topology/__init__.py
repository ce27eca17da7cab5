"""Topologies: the models of a network's nodes, fibres, classical channels, switches, QKD modules,
device profiles and QKD links; a YAML loader; the built-in ``madrid``, ``chain:N`` and
``grid:RxC``."""

from __future__ import annotations

from sdqkd.topology.builtin import BUILTIN_NAMES
from sdqkd.topology.loader import load_topology, parse_topology
from sdqkd.topology.models import (
    ClassicalChannel,
    DeviceProfile,
    Direction,
    Fibre,
    FibreAttachment,
    Node,
    OpticalSwitch,
    Provenance,
    QkdLink,
    QkdModule,
    Role,
    SwitchAttachment,
    SwitchPort,
    Topology,
)

__all__ = [
    "BUILTIN_NAMES",
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
    "load_topology",
    "parse_topology",
]
