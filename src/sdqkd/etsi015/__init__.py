"""The ETSI GS QKD 015 contract that both sides of the control plane share: the shipped YANG model,
the identifier scheme, the wire names, status and role enums, the ``qkd_link`` entry the controller
writes and each agent parses, and the models of the entries the controller reads back from an agent's
tree (:mod:`sdqkd.etsi015.schema`).

The agent (:mod:`sdqkd.agent`) serves this model; the controller (:mod:`sdqkd.controller`) reads and
writes it over RESTCONF. Neither imports the other: what both need lives here.
"""

from __future__ import annotations

from sdqkd.etsi015.ids import (
    SDQKD_NAMESPACE,
    InterfaceAddress,
    link_qkdl_id,
    qkdi_id,
    qkdn_id,
    virtual_qkdl_id,
)
from sdqkd.etsi015.links import PhysicalLink, link_entry, parse_link
from sdqkd.etsi015.model import load_data_model, packaged_yang_dir, yang_dir
from sdqkd.etsi015.names import (
    DWDM_CHANNELS,
    NODE_MODULE,
    QKD_NODE,
    TYPES_MODULE,
    AppStatus,
    AppType,
    InterfaceStatus,
    LinkStatus,
    LinkType,
    ModuleRole,
    NodeStatus,
    identity,
)
from sdqkd.etsi015.schema import (
    AppQos,
    AttachmentPoint,
    LinkEndpoint,
    LinkPerformance,
    NodeTree,
    QkdApp,
    QkdInterface,
    QkdLink,
)

__all__ = [
    "DWDM_CHANNELS",
    "NODE_MODULE",
    "QKD_NODE",
    "SDQKD_NAMESPACE",
    "TYPES_MODULE",
    "AppQos",
    "AppStatus",
    "AppType",
    "AttachmentPoint",
    "InterfaceAddress",
    "InterfaceStatus",
    "LinkEndpoint",
    "LinkPerformance",
    "LinkStatus",
    "LinkType",
    "ModuleRole",
    "NodeStatus",
    "NodeTree",
    "PhysicalLink",
    "QkdApp",
    "QkdInterface",
    "QkdLink",
    "identity",
    "link_entry",
    "link_qkdl_id",
    "load_data_model",
    "packaged_yang_dir",
    "parse_link",
    "qkdi_id",
    "qkdn_id",
    "virtual_qkdl_id",
    "yang_dir",
]
