"""Test support for the RESTCONF server (imported by the conftest and the tests): an ETSI GS QKD 015 node
tree built from the YANG types, a link and an application, checks of RESTCONF answers against the
official YANG modules, an ASGI wrapper that presents a client certificate, and server-sent events."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from yangson.enumerations import ContentType

from asgi_support import CallAs as CallAs  # shared with the other in-process tests; re-exported
from asgi_support import WithClientCertificate as WithClientCertificate
from sdqkd.etsi015 import packaged_yang_dir
from sdqkd.pki import CertificateAuthority, IssuedCertificate

# The official modules, beside the repository (never copied into it).
YANG_DIR = packaged_yang_dir()
BASE_URL = "https://agent.test"
MEDIA = "application/yang-data+json"
JSON_HEADERS = {"Content-Type": MEDIA}

NODE = "etsi-qkd-sdn-node:qkd_node"
TYPES = "etsi-qkd-node-types:"
NODE_ID = "5f0e3c1e-8d7a-4b5e-9c61-2a4d9e0b7c11"
PEER_NODE_ID = "0b7f6c2d-1e3a-4f5b-8c9d-7e6f5a4b3c2d"
LINK_ID = "c1a5e7d2-4b3f-4e6a-9d8c-1f2e3d4c5b6a"
OTHER_LINK_ID = "d2b6f8e3-5c4a-4f7b-8e9d-2a3b4c5d6e7f"
APP_ID = "e3c7a9f4-6d5b-4a8c-9fae-3b4c5d6e7f80"
LINKS = f"{NODE}/qkd_links"
APPS = f"{NODE}/qkd_applications"

INTERFACE_NEW = {
    "etsi-qkd-sdn-node:sdqkdn_interface_new": {
        "qkd_interface": {
            "qkdi_id": 3,
            "qkdi_model": "sdqkd emulated GG02 receiver",
            "qkdi_type": f"{TYPES}CV-QKD",
            "qkdi_att_point": {"device": "switch-norte", "port": 4},
            "qkdi_capabilities": {"role_support": f"{TYPES}RECEIVER", "wavelength_range": "20-60"},
        }
    }
}
"""A notification of the model, as the agent publishes it."""


def link_path(link_id: str = LINK_ID) -> str:
    return f"{LINKS}/qkd_link={link_id}"


def app_path(app_id: str = APP_ID) -> str:
    return f"{APPS}/qkd_app={app_id}"


def interface(qkdi_id: int, role: str, device: str, port: int, status: str) -> dict[str, Any]:
    """A CV-QKD module as a ``qkd_interface`` (etsi-qkd-sdn-node.yang, grouping qkd_interface_item)."""
    return {
        "qkdi_id": qkdi_id,  # uint32: a JSON number (RFC 7951 §6.1)
        "qkdi_model": f"sdqkd emulated GG02 {role.lower()}",
        "qkdi_type": f"{TYPES}CV-QKD",  # identityref: module-qualified (RFC 7951 §6.8)
        "qkdi_att_point": {"device": device, "port": port},
        "qkdi_capabilities": {
            "role_support": f"{TYPES}{role}",
            "wavelength_range": "20-60",  # wavelength-range-type: DWDM channel numbers
            "max_absorption": "18.000",  # decimal64, 3 fraction digits: a string (RFC 7951 §6.1)
        },
        "qkdi_status": f"{TYPES}{status}",  # config false
    }


def node_tree() -> dict[str, Any]:
    """A realistic SD-QKD node: two CV-QKD modules (one behind an optical switch), no links yet."""
    return {
        NODE: {
            "qkdn_id": NODE_ID,
            "qkdn_status": f"{TYPES}OPERATING",
            "qkdn_version": "sdqkd 0.1.0",
            "qkdn_location_id": "madrid-norte",
            "qkdn_capabilities": {
                "link_stats_support": True,
                "application_stats_support": True,
                "key_relay_mode_enable": True,
            },
            "qkd_interfaces": {
                "qkd_interface": [
                    interface(1, "TRANSMITTER", "switch-norte", 3, "ENABLED"),
                    interface(2, "RECEIVER", "fibre-norte-quintin", 0, "DISABLED"),
                ]
            },
        }
    }


def link(link_id: str = LINK_ID, **changes: Any) -> dict[str, Any]:
    """A physical ``qkd_link`` from interface 1 to interface 7 of the peer node, on DWDM channel 59."""
    entry = {
        "qkdl_id": link_id,
        "qkdl_type": f"{TYPES}PHYS",
        "qkdl_enable": True,
        "qkdl_local": {"qkdn_id": NODE_ID, "qkdi_id": 1},
        "qkdl_remote": {"qkdn_id": PEER_NODE_ID, "qkdi_id": 7},
        "phys_wavelength": "59",
        "phys_qkd_role": f"{TYPES}TRANSMITTER",
        "phys_channel_att": "9.500",
    }
    entry.update(changes)
    return entry


def qkd_app(app_id: str = APP_ID, **changes: Any) -> dict[str, Any]:
    """A client ``qkd_app`` between two SAEs over :data:`LINK_ID`, with its QoS."""
    entry = {
        "app_id": app_id,
        "app_type": f"{TYPES}CLIENT",
        "server_app_id": "urn:sdqkd:sae:alice",
        "client_app_id": ["urn:sdqkd:sae:bob"],
        "app_priority": 3,
        "app_qos": {"max_bandwidth": 256000, "min_bandwidth": 32000, "jitter": 10, "ttl": 3600},
        "backing_qkdl_id": [LINK_ID],
        "local_qkdn_id": NODE_ID,
        "remote_qkdn_id": PEER_NODE_ID,
    }
    entry.update(changes)
    return entry


def body_of(name: str, value: Any) -> dict[str, Any]:
    """A RESTCONF message body: ``{"etsi-qkd-sdn-node:NAME": value}``."""
    return {f"etsi-qkd-sdn-node:{name}": value}


def assert_valid_tree(model: Any, tree: dict[str, Any]) -> None:
    """``tree`` is a valid datastore for the official modules (yangson raises otherwise)."""
    model.from_raw(tree).validate(ctype=ContentType.all)


def assert_valid_answer(
    model: Any, whole: dict[str, Any], path: str, answer: dict[str, Any], *, config_only: bool = False
) -> None:
    """A GET answer for ``path`` is valid: the datastore's answer validates on its own (as configuration
    with ``config_only``); a node's answer, put in place of that node in the valid tree ``whole`` with
    yangson's own path and instance API, leaves a tree that still validates."""
    if not path:
        assert list(answer) == ["ietf-restconf:data"]
        ctype = ContentType.config if config_only else ContentType.all
        model.from_raw(answer["ietf-restconf:data"]).validate(ctype=ctype)
        return
    ((name, value),) = answer.items()
    assert name == "etsi-qkd-sdn-node:" + path.rsplit("/", 1)[-1].split("=")[0].split(":")[-1]
    node = model.from_raw(copy.deepcopy(whole)).goto(model.parse_resource_id("/" + path))
    if "=" in path.rsplit("/", 1)[-1]:  # a list entry: an array of that one entry
        assert isinstance(value, list)
        assert len(value) == 1
        value = value[0]
    node.update(value, raw=True).top().validate(ctype=ContentType.all)


def is_part_of(part: Any, whole: Any) -> bool:
    """Every member of ``part`` is in ``whole`` with the same value (list entries anywhere in it)."""
    if isinstance(part, dict):
        return isinstance(whole, dict) and all(
            k in whole and is_part_of(v, whole[k]) for k, v in part.items()
        )
    if isinstance(part, list):
        return isinstance(whole, list) and all(any(is_part_of(p, w) for w in whole) for p in part)
    return bool(part == whole)


def assert_restconf_error(response: httpx.Response, status_code: int, tag: str) -> dict[str, Any]:
    """``response`` is an RFC 8040 §7.1 error with ``status_code`` and error-tag ``tag``; returns the
    error entry."""
    assert response.status_code == status_code, response.text
    assert response.headers["content-type"] == MEDIA
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert list(body) == ["ietf-restconf:errors"]
    (error,) = body["ietf-restconf:errors"]["error"]
    assert set(error) <= {
        "error-type",
        "error-tag",
        "error-app-tag",
        "error-path",
        "error-message",
        "error-info",
    }
    assert error["error-type"] in {"transport", "rpc", "protocol", "application"}
    assert error["error-tag"] == tag
    assert error["error-message"]
    return dict(error)


@dataclass(frozen=True)
class Pki:
    """A CA, the agent's server certificate and one certificate for each kind of caller."""

    ca: CertificateAuthority
    server: IssuedCertificate
    controller: IssuedCertificate
    operator: IssuedCertificate
    reader: IssuedCertificate  # another node's agent: may read, not write
    sae: IssuedCertificate  # neither


def notifications(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """The ``data:`` of each server-sent event (WHATWG HTML §9.2.6), parsed as JSON; comments skipped."""
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                yield json.loads("\n".join(data))
            data = []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
