"""The identifier scheme the controller and every agent share.

Both compute the same identifiers from the topology's ids, with nothing to exchange or configure::

    SDQKD_NAMESPACE   = uuid5(NAMESPACE_URL, "urn:sdqkd") = 3264441d-5aa5-5719-b761-bb3c8b2da382
    qkdn_id(node)     = uuid5(SDQKD_NAMESPACE, "node:" + node id)
    qkdi_id(module)   = the first 32 bits of uuid5(SDQKD_NAMESPACE, "module:" + module id)
    link_qkdl_id(X)   = uuid5(SDQKD_NAMESPACE, "link:" + X)          the PHYS qkd_link of topology link X
    virtual_qkdl_id   = uuid5(SDQKD_NAMESPACE, "virtual:A:B")        the VIRT qkd_link between nodes A < B

A module keeps its ``qkdi_id`` whatever else its node holds: numbering modules by position would
renumber interfaces when one is added, and break the links that name them.
"""

from __future__ import annotations

import uuid
from typing import NamedTuple
from uuid import UUID

__all__ = ["SDQKD_NAMESPACE", "InterfaceAddress", "link_qkdl_id", "qkdi_id", "qkdn_id", "virtual_qkdl_id"]

SDQKD_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:sdqkd")
"""The namespace of sdqkd's name-based UUIDs (RFC 9562 §5.5)."""


def qkdn_id(node_id: str) -> UUID:
    """The ``qkdn_id`` of the SD-QKD node ``node_id``."""
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
