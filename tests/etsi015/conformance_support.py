"""Test support for the conformance of sdqkd's own ETSI GS QKD 015 YANG modules (imported by the conftest
and the tests): where the packaged and the official modules are, how a document is validated, and a corpus
of instance documents (RFC 7951 JSON) with the verdict each must get.

A verdict is ``"valid"`` or ``"invalid: <yangson error>: <what and where>"``: two module sets agree on a
document when they accept it, or reject it for the same reason at the same place.

The model has no enumeration, ``must``, ``leafref`` or range-restricted type of its own: the corpus covers
what it has instead (identities and their bases, patterns, the built-in ranges of ``uint32`` and
``decimal64``, and ``when`` conditions on the link kinds).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from yangson import DataModel
from yangson.enumerations import ContentType
from yangson.exceptions import YangsonException
from yangson.schemanode import InternalNode, SchemaNode, TerminalNode

import sdqkd
from official_yang import OFFICIAL_DIR as OFFICIAL_DIR  # shared with the runtime tests; re-exported
from official_yang import YANG_LIBRARY as YANG_LIBRARY
from official_yang import load_model as load_model
from official_yang import require_official_modules as require_official_modules

PACKAGED_DIR = Path(sdqkd.__file__).resolve().parent / "etsi015" / "yang"
"""sdqkd's own modules, shipped as package data."""
MODULE_FILES = (
    "etsi-qkd-sdn-node.yang",
    "etsi-qkd-node-types.yang",
    "ietf-yang-types.yang",
    "ietf-inet-types.yang",
)

NODE = "etsi-qkd-sdn-node:qkd_node"
NOTIFICATION = "etsi-qkd-sdn-node:"  # + the notification's name
TYPES = "etsi-qkd-node-types:"

Kind = Literal["data", "config", "notification"]


@dataclass(frozen=True)
class Document:
    """An instance document and the verdict it must get.

    Attributes:
        id: a readable test id.
        body: RFC 7951 JSON: the datastore (``{"etsi-qkd-sdn-node:qkd_node": ...}``) or, for a
            notification, ``{"etsi-qkd-sdn-node:<name>": content}`` as the agent publishes it.
        valid: whether a conforming module set accepts it.
        kind: ``data`` (validated with its state, ``ContentType.all``), ``config`` (configuration only,
            ``ContentType.config``, as the datastore checks a client's write) or ``notification``.
        because: for an invalid document, what the verdict must say (the error the document is
            about, so that it is not rejected for another reason).
    """

    id: str
    body: dict[str, Any] = field(repr=False)
    valid: bool
    kind: Kind = "data"
    because: str = ""


def good(id: str, body: dict[str, Any], kind: Kind = "data") -> Document:
    return Document(id, body, True, kind)


def bad(id: str, body: dict[str, Any], because: str, kind: Kind = "data") -> Document:
    return Document(id, body, False, kind, because)


def verdict(model: DataModel, document: Document) -> str:
    """``"valid"``, or ``"invalid: ..."`` with yangson's error (its class, path and tag)."""
    try:
        if document.kind == "notification":
            ((name, content),) = document.body.items()  # as the agent's event stream validates
            model.from_raw(content, subschema=name).validate(ctype=ContentType.all)
        else:
            ctype = ContentType.config if document.kind == "config" else ContentType.all
            model.from_raw(document.body).validate(ctype=ctype)
    except YangsonException as exc:
        return f"invalid: {type(exc).__name__}: {exc}"
    return "valid"


# The schema as facts ------------------------------------------------------------------------------------

_NODE_FACTS = (
    "config",
    "mandatory",
    "presence",
    "keys",
    "unique",
    "min_elements",
    "max_elements",
    "user_ordered",
    "units",
)
_TYPE_FACTS = ("fraction_digits", "bases", "require_instance", "enum", "bit")


def _type_facts(datatype: Any) -> dict[str, Any]:
    """What a yangson type checks: its class (the built-in type), patterns, ranges, bases and so on."""
    facts: dict[str, Any] = {"class": type(datatype).__name__}
    facts |= {name: getattr(datatype, name) for name in _TYPE_FACTS if hasattr(datatype, name)}
    for name in ("range", "length"):
        if getattr(datatype, name, None) is not None:
            facts[name] = getattr(datatype, name).intervals
    if getattr(datatype, "patterns", None):
        facts["patterns"] = [(p.pattern, p.invert_match) for p in datatype.patterns]
    if hasattr(datatype, "types"):  # a union
        facts["types"] = [_type_facts(member) for member in datatype.types]
    return facts


def _step(node: SchemaNode) -> str:
    # a node without a name groups the nodes of a "uses" with a when-condition
    return f"(when {node.when})" if node.name is None else f"{node.ns}:{node.name}"


def schema_facts(model: DataModel) -> dict[str, dict[str, Any]]:
    """Every schema node (data, notifications, the groups of conditional ``uses``) by its path, with what
    validation depends on: kind, config, mandatory, keys, defaults, types, when and must, and the order of
    its children. Descriptions, references and grouping names are left out."""
    facts: dict[str, dict[str, Any]] = {}

    def walk(node: SchemaNode, path: str) -> None:
        found: dict[str, Any] = {
            "class": type(node).__name__,
            "when": None if node.when is None else str(node.when),
            "must": [(str(m.expression), m.error_tag, m.error_message) for m in node.must],
        }
        found |= {name: getattr(node, name) for name in _NODE_FACTS if hasattr(node, name)}
        if isinstance(node, TerminalNode):
            found["type"] = _type_facts(node.type)
            found["default"] = node.default
        if isinstance(node, InternalNode):
            found["children"] = [_step(child) for child in node.children]
        facts[path] = found
        for child in getattr(node, "children", []):
            walk(child, f"{path}/{_step(child)}")

    walk(model.schema, "")
    return facts


def identity_facts(model: DataModel) -> dict[str, list[str]]:
    """Each identity (``module:name``) and its bases."""
    return {
        f"{module}:{name}": sorted(f"{m}:{n}" for n, m in adjacency.bases)
        for (name, module), adjacency in model.schema_data.identity_adjs.items()
    }


# Building blocks ----------------------------------------------------------------------------------------

NODE_ID = "5f0e3c1e-8d7a-4b5e-9c61-2a4d9e0b7c11"
PEER_ID = "0b7f6c2d-1e3a-4f5b-8c9d-7e6f5a4b3c2d"
FAR_ID = "a3d4e5f6-0718-4293-a4b5-c6d7e8f90a1b"
PHYS_ID = "c1a5e7d2-4b3f-4e6a-9d8c-1f2e3d4c5b6a"
VIRT_ID = "d2b6f8e3-5c4a-4f7b-8e9d-2a3b4c5d6e7f"
APP_ID = "e3c7a9f4-6d5b-4a8c-9fae-3b4c5d6e7f80"
INTERNAL_APP_ID = "f4d8b0a5-7e6c-4b9d-8abf-4c5d6e7f8091"
T0 = "2024-06-11T09:30:00.000000Z"
T1 = "2024-06-11T09:30:01.000000Z"
UINT32_MAX = 2**32 - 1


def node(**members: Any) -> dict[str, Any]:
    """A datastore: the node ``NODE_ID`` with ``members``."""
    return {NODE: {"qkdn_id": NODE_ID, **members}}


def interface(**changes: Any) -> dict[str, Any]:
    """A CV-QKD transmitter behind an optical switch, as a ``qkd_interface`` entry (state included)."""
    entry: dict[str, Any] = {
        "qkdi_id": 1,
        "qkdi_model": "sdqkd emulated GG02 transmitter",
        "qkdi_type": f"{TYPES}CV-QKD",
        "qkdi_att_point": {"device": "switch-norte", "port": 3},
        "qkdi_capabilities": {
            "role_support": f"{TYPES}TRANSMITTER",
            "wavelength_range": "20-60",
            "max_absorption": "18.000",
        },
        "qkdi_status": f"{TYPES}ENABLED",
    }
    return {**entry, **changes}


def phys_link(**changes: Any) -> dict[str, Any]:
    """A PHYS ``qkd_link`` entry, making key (state included)."""
    entry: dict[str, Any] = {
        "qkdl_id": PHYS_ID,
        "qkdl_status": f"{TYPES}ACTIVE",
        "qkdl_enable": True,
        "qkdl_local": {"qkdn_id": NODE_ID, "qkdi_id": 1},
        "qkdl_remote": {"qkdn_id": PEER_ID, "qkdi_id": 2},
        "qkdl_type": f"{TYPES}PHYS",
        "qkdl_applications": [APP_ID],
        "phys_channel_att": "5.250",
        "phys_wavelength": "35",
        "phys_qkd_role": f"{TYPES}TRANSMITTER",
        "qkdl_performance": {"expected_consumption": 2048, "skr": 12000, "eskr": 10000},
    }
    return {**entry, **changes}


def virt_link(**changes: Any) -> dict[str, Any]:
    """A VIRT ``qkd_link`` entry at an intermediate node of a key-relay path (state included)."""
    entry: dict[str, Any] = {
        "qkdl_id": VIRT_ID,
        "qkdl_status": f"{TYPES}PENDING",
        "qkdl_enable": True,
        "qkdl_local": {"qkdn_id": PEER_ID},
        "qkdl_remote": {"qkdn_id": FAR_ID},
        "qkdl_type": f"{TYPES}VIRT",
        "virt_prev_hop": PEER_ID,
        "virt_next_hop": [FAR_ID],
        "virt_bandwidth": 1000,
        "qkdl_performance": {"skr": 0, "eskr": 0},
    }
    return {**entry, **changes}


def app(**changes: Any) -> dict[str, Any]:
    """A CLIENT ``qkd_app`` entry with QoS and statistics (state included)."""
    entry: dict[str, Any] = {
        "app_id": APP_ID,
        "app_status": f"{TYPES}ON",
        "app_type": f"{TYPES}CLIENT",
        "server_app_id": "urn:sdqkd:sae:alice",
        "client_app_id": ["urn:sdqkd:sae:bob", "urn:sdqkd:sae:carol"],
        "app_priority": 3,
        "creation_time": T0,
        "expiration_time": "2025-06-11T09:30:00+02:00",
        "app_statistics": {
            "statistics": [
                {"end_time": T1, "start_time": T0, "consumed_bits": 2048},
                {"end_time": "2024-06-11T09:30:02.000000Z", "start_time": T1, "consumed_bits": 0},
            ]
        },
        "app_qos": {
            "max_bandwidth": 4096,
            "min_bandwidth": 1024,
            "jitter": 10,
            "ttl": 3600,
            "clients_shared_path_enable": False,
            "clients_shared_keys_required": True,
        },
        "backing_qkdl_id": [PHYS_ID],
        "local_qkdn_id": NODE_ID,
        "remote_qkdn_id": PEER_ID,
    }
    return {**entry, **changes}


def without(entry: dict[str, Any], *members: str) -> dict[str, Any]:
    return {name: value for name, value in entry.items() if name not in members}


def with_interfaces(*entries: dict[str, Any]) -> dict[str, Any]:
    return node(qkd_interfaces={"qkd_interface": list(entries)})


def with_links(*entries: dict[str, Any]) -> dict[str, Any]:
    return node(qkd_links={"qkd_link": list(entries)})


def with_apps(*entries: dict[str, Any]) -> dict[str, Any]:
    return node(qkd_applications={"qkd_app": list(entries)})


def capabilities(**changes: Any) -> dict[str, Any]:
    """An interface whose ``qkdi_capabilities`` are ``changes`` over the usual ones."""
    return interface(qkdi_capabilities={**interface()["qkdi_capabilities"], **changes})


def full_node() -> dict[str, Any]:
    """A node with everything: status, capabilities, a CLIENT and an INTERNAL app, two interfaces, a
    PHYS link with SNR-free performance and a VIRT link."""
    internal = app(
        app_id=INTERNAL_APP_ID,
        app_status=f"{TYPES}DISCONNECTED",
        app_type=f"{TYPES}INTERNAL",
        server_app_id=f"urn:sdqkd:virtual-link:{VIRT_ID}",
        client_app_id=[f"urn:sdqkd:virtual-link:{VIRT_ID}"],
        app_qos={"min_bandwidth": 1000},
        app_statistics={},
    )
    receiver = interface(
        qkdi_id=2,
        qkdi_model="sdqkd emulated BB84 receiver",
        qkdi_type=f"{TYPES}DV-QKD",
        qkdi_att_point={"device": "fibre-norte-quintin"},
        qkdi_capabilities={"role_support": f"{TYPES}RECEIVER", "wavelength_range": "1,12-20,40,50-80"},
        qkdi_status=f"{TYPES}DISABLED",
    )
    return node(
        qkdn_status=f"{TYPES}OPERATING",
        qkdn_version="sdqkd 0.1.0",
        qkdn_location_id="madrid-norte",
        qkdn_capabilities={
            "link_stats_support": True,
            "application_stats_support": False,
            "key_relay_mode_enable": True,
        },
        qkd_applications={"qkd_app": [app(), internal]},
        qkd_interfaces={"qkd_interface": [interface(), receiver]},
        qkd_links={"qkd_link": [phys_link(), virt_link()]},
    )


_STATE = frozenset(
    {
        "qkdn_status",
        "app_status",
        "creation_time",
        "app_statistics",
        "qkdi_status",
        "qkdl_status",  # config true in the model, but the node's to set: left out of the config view too
        "qkdl_performance",
    }
)


def config_view(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` without its operational state (what a controller writes)."""
    if isinstance(document, dict):
        return {k: config_view(v) for k, v in document.items() if k not in _STATE}
    if isinstance(document, list):
        return [config_view(v) for v in document]
    return copy.deepcopy(document)


def notification(name: str, content: dict[str, Any]) -> dict[str, Any]:
    return {f"{NOTIFICATION}{name}": content}


def interface_new(**changes: Any) -> dict[str, Any]:
    return notification(
        "sdqkdn_interface_new", {"qkd_interface": without(interface(**changes), "qkdi_status")}
    )


def perf_update(**performance: Any) -> dict[str, Any]:
    values = {"expected_consumption": 0, "skr": 12000, "eskr": 10000, **performance}
    return notification("sdqkdn_link_perf_update", {"qkd_link": {"qkdl_id": PHYS_ID, "performance": values}})


def application_new(**changes: Any) -> dict[str, Any]:
    content = {
        "app_type": f"{TYPES}CLIENT",
        "server_app_id": "urn:sdqkd:sae:alice",
        "client_app_id": ["urn:sdqkd:sae:bob"],
        "app_priority": 3,
        "local_qkdn_id": NODE_ID,
        "app_qos": {"max_bandwidth": 4096, "min_bandwidth": 1024, "clients_shared_path_enable": True},
        **changes,
    }
    return notification("sdqkdn_application_new", {"qkd_application": content})


def report(name: str, **subjects: dict[str, Any]) -> dict[str, Any]:
    """An ``alarm`` or ``event`` about ``subjects`` (``link``, ``interface``, ``application``)."""
    return notification(name, subjects)


SNR = {"perf_type": f"{TYPES}SNR", "value": "0.412"}
QBER = {"perf_type": f"{TYPES}QBER", "value": "0.031"}


# The corpus ---------------------------------------------------------------------------------------------

RAW_TYPE = "RawTypeError"  # a JSON value of the wrong kind for its YANG type (RFC 7951 §6)
UNKNOWN_MEMBER = "RawMemberError"  # a member the schema does not have there
NOT_DERIVED = "not derived from"  # an identityref value outside its base
PATTERN = "invalid-type: pattern"
WHEN = "member-not-allowed"  # a node whose when-condition is false
STATE_IN_CONFIG = "config member-not-allowed"


def _good_data() -> list[Document]:
    technologies = [
        ("CV-QKD", "TRANSMITTER"),
        ("DV-QKD", "RECEIVER"),
        ("DV-QKD-COW", "TRANSCEIVER"),
        ("DV-QKD-2Ws", "TRANSMITTER"),
    ]
    return [
        good("minimal-node", node()),
        good(
            "node-with-status-version-location-and-capabilities",
            node(
                qkdn_status=f"{TYPES}NEW",
                qkdn_version="1",
                qkdn_location_id="",
                qkdn_capabilities={"link_stats_support": False},
            ),
        ),
        good("full-node-with-apps-interfaces-and-phys-and-virt-links", full_node()),
        good(
            "empty-containers",
            node(qkd_applications={}, qkd_interfaces={}, qkd_links={}, qkdn_capabilities={}),
        ),
        good(
            "every-technology-and-role",
            with_interfaces(
                *(
                    capabilities(role_support=f"{TYPES}{role}")
                    | {"qkdi_id": n, "qkdi_type": f"{TYPES}{tech}"}
                    for n, (tech, role) in enumerate(technologies, start=1)
                )
            ),
        ),
        good(
            "every-link-status",
            with_links(
                *(
                    phys_link(qkdl_id=f"{n:08x}-0000-4000-8000-000000000000", qkdl_status=f"{TYPES}{status}")
                    for n, status in enumerate(["ACTIVE", "PASSIVE", "PENDING", "OFF"], start=1)
                )
            ),
        ),
        good(
            "every-app-status",
            with_apps(
                *(
                    app(app_id=f"{n:08x}-0000-4000-8000-000000000000", app_status=f"{TYPES}{status}")
                    for n, status in enumerate(["ON", "DISCONNECTED", "OUT-OF-TIME", "ZOMBIE"], start=1)
                )
            ),
        ),
        good(
            "link-without-a-type-or-type-specific-members",
            with_links(
                without(phys_link(), "qkdl_type", "phys_channel_att", "phys_wavelength", "phys_qkd_role")
            ),
        ),
        good("virt-link-with-multicast-next-hops", with_links(virt_link(virt_next_hop=[FAR_ID, NODE_ID]))),
        good("uppercase-uuid", node(qkdn_id=NODE_ID.upper())),
        good(
            "uint32-and-decimal64-at-their-limits",
            with_interfaces(
                capabilities(max_absorption="9223372036854775.807") | {"qkdi_id": UINT32_MAX},
                capabilities(max_absorption="-9223372036854775.808") | {"qkdi_id": 0},
            ),
        ),
        good("decimal64-with-fewer-fraction-digits", with_links(phys_link(phys_channel_att="5.2"))),
        good(
            "single-channel-range-and-4-digit-channel",
            node(
                qkd_interfaces={"qkd_interface": [capabilities(wavelength_range="9999")]},
                qkd_links={"qkd_link": [phys_link(phys_wavelength="9999")]},
            ),
        ),
        good(
            "date-and-time-with-offsets-and-without-fraction",
            with_apps(
                app(creation_time="2024-06-11T11:30:00+02:00", expiration_time="2024-06-12T00:00:00-05:00")
            ),
        ),
        good("member-qualified-with-its-own-module", node(**{"etsi-qkd-sdn-node:qkdn_version": "2"})),
    ]


def _good_config() -> list[Document]:
    return [
        good("config-view-of-the-full-node", config_view(full_node()), "config"),
        good(
            "config-links-and-app-as-a-controller-writes-them",
            node(
                qkd_links={"qkd_link": [config_view(phys_link()), config_view(virt_link())]},
                qkd_applications={"qkd_app": [config_view(app())]},
            ),
            "config",
        ),
    ]


def _good_notifications() -> list[Document]:
    link_down = {"qkd_link": {"qkdl_id": PHYS_ID, "reason": "fibre cut"}}
    overloaded = {
        "qkd_link": {"qkdl_id": PHYS_ID, "performance": {"expected_consumption": 20000, "skr": 12000}}
    }
    qos_update = {"qkd_application": {"app_id": APP_ID, "app_qos": {"ttl": 60}, "app_priority": 1}}
    alarm = report(
        "alarm",
        link={
            "qkdl_id": PHYS_ID,
            "qkdl_status": f"{TYPES}OFF",
            "message": "no key",
            "severity": f"{TYPES}MAJOR",
        },
        interface={"qkdi_id": 1, "qkdi_status": f"{TYPES}FAILED", "severity": f"{TYPES}MAJOR"},
        application={"app_id": APP_ID, "app_status": f"{TYPES}ZOMBIE", "message": "silent"},
    )
    documents = [
        ("interface_new", interface_new()),
        ("interface_new-with-no-details", notification("sdqkdn_interface_new", {"qkd_interface": {}})),
        (
            "interface_down",
            notification("sdqkdn_interface_down", {"qkd_interface": {"qkdi_id": 1, "reason": "x"}}),
        ),
        ("interface_out", notification("sdqkdn_interface_out", {"qkd_interface": {"qkdi_id": 1}})),
        ("link_down", notification("sdqkdn_link_down", link_down)),
        ("link_perf_update-with-snr-and-qber", perf_update(phys_perf=[SNR, QBER])),
        ("link_perf_update-with-rates-only", perf_update()),
        ("link_overloaded", notification("sdqkdn_link_overloaded", overloaded)),
        ("application_new", application_new()),
        ("application_new-internal", application_new(app_type=f"{TYPES}INTERNAL", app_qos={})),
        ("application_qos_update", notification("sdqkdn_application_qos_update", qos_update)),
        (
            "application_disconnected",
            notification("sdqkdn_application_disconnected", {"qkd_application": {"app_id": APP_ID}}),
        ),
        ("alarm-about-a-link-an-interface-and-an-app", alarm),
        ("event-about-a-link", report("event", link={"qkdl_id": PHYS_ID, "severity": f"{TYPES}MINOR"})),
    ]
    return [good(f"notification-{name}", body, "notification") for name, body in documents]


def _bad_data() -> list[Document]:
    statistics = {"statistics": [{"end_time": T1}, {"end_time": T1, "consumed_bits": 1}]}
    return [
        # missing mandatory leaf
        bad(
            "empty-datastore-lacks-the-mandatory-node-id",
            {},
            "missing-data: expected 'etsi-qkd-sdn-node:qkd_node'",
        ),
        bad("node-without-qkdn_id", {NODE: {"qkdn_location_id": "x"}}, "missing-data: expected 'qkdn_id'"),
        # JSON value of the wrong kind (RFC 7951 §6)
        bad("uint32-as-string", with_interfaces(interface(qkdi_id="1")), "expected uint32 value"),
        bad("uint32-as-fraction", with_interfaces(interface(qkdi_id=1.5)), "expected uint32 value"),
        bad(
            "uint32-as-boolean", with_links(phys_link(qkdl_local={"qkdi_id": True})), "expected uint32 value"
        ),
        bad("uint32-in-app-qos-as-string", with_apps(app(app_qos={"ttl": "3600"})), "expected uint32 value"),
        bad(
            "decimal64-as-json-number",
            with_interfaces(capabilities(max_absorption=18.5)),
            "expected decimal64",
        ),
        bad(
            "decimal64-not-a-number",
            with_interfaces(capabilities(max_absorption="high")),
            "expected decimal64",
        ),
        bad(
            "decimal64-with-a-unit", with_links(phys_link(phys_channel_att="5.250 dB")), "expected decimal64"
        ),
        bad("boolean-as-string", node(qkdn_capabilities={"link_stats_support": "true"}), "expected boolean"),
        bad("boolean-as-number", with_links(phys_link(qkdl_enable=1)), "expected boolean value"),
        bad("string-as-number", node(qkdn_version=7), "expected string value"),
        bad("string-as-null", node(qkdn_location_id=None), "expected string value"),
        bad("list-as-object", node(qkd_interfaces={"qkd_interface": interface()}), "expected array"),
        bad("leaf-list-as-scalar", with_links(virt_link(virt_next_hop=FAR_ID)), "expected array"),
        bad("container-as-string", node(qkdn_capabilities="all"), "expected object"),
        # ranges of the built-in types
        bad("uint32-negative", with_interfaces(interface(qkdi_id=-1)), "invalid-type: expected uint32"),
        bad(
            "uint32-above-its-range",
            with_links(virt_link(virt_bandwidth=UINT32_MAX + 1)),
            "invalid-type: expected uint32",
        ),
        bad(
            "statistics-consumed-bits-negative",
            with_apps(app(app_statistics={"statistics": [{"end_time": T1, "consumed_bits": -8}]})),
            "invalid-type: expected uint32",
        ),
        bad(
            "decimal64-above-its-range",
            with_links(phys_link(phys_channel_att="9223372036854775.808")),
            "invalid-type: expected decimal64",
        ),
        # patterns
        bad("phys_wavelength-zero", with_links(phys_link(phys_wavelength="0")), PATTERN),
        bad("phys_wavelength-five-digits", with_links(phys_link(phys_wavelength="12345")), PATTERN),
        bad("phys_wavelength-in-nanometres", with_links(phys_link(phys_wavelength="1550.12")), PATTERN),
        bad("phys_wavelength-as-number", with_links(phys_link(phys_wavelength=35)), "expected string value"),
        bad("wavelength_range-open-ended", with_interfaces(capabilities(wavelength_range="20-")), PATTERN),
        bad(
            "wavelength_range-with-spaces",
            with_interfaces(capabilities(wavelength_range="1, 12-20")),
            PATTERN,
        ),
        bad(
            "wavelength_range-leading-zero", with_interfaces(capabilities(wavelength_range="01-20")), PATTERN
        ),
        bad("uuid-not-a-uuid", node(qkdn_id="not-a-uuid"), PATTERN),
        bad("uuid-in-braces", node(qkdn_id="{" + NODE_ID + "}"), PATTERN),
        bad("uuid-one-digit-short", with_links(phys_link(qkdl_id=PHYS_ID[:-1])), PATTERN),
        bad("uuid-without-hyphens", with_apps(app(local_qkdn_id=NODE_ID.replace("-", ""))), PATTERN),
        bad("uuid-in-a-leaf-list", with_apps(app(backing_qkdl_id=[PHYS_ID, "link-1"])), PATTERN),
        bad("date-and-time-with-a-space", with_apps(app(expiration_time="2024-06-11 09:30:00Z")), PATTERN),
        bad("date-and-time-without-a-zone", with_apps(app(expiration_time="2024-06-11T09:30:00")), PATTERN),
        # keys
        bad(
            "duplicate-interface-key",
            with_interfaces(interface(), interface(qkdi_model="other")),
            "non-unique-key",
        ),
        bad("duplicate-app-key", with_apps(app(), app(app_priority=9)), "non-unique-key"),
        bad("duplicate-link-key", with_links(phys_link(), phys_link(qkdl_enable=False)), "non-unique-key"),
        bad("duplicate-statistics-key", with_apps(app(app_statistics=statistics)), "non-unique-key"),
        bad(
            "duplicate-leaf-list-value",
            with_links(phys_link(qkdl_applications=[APP_ID, APP_ID])),
            "repeated-leaf-list-value",
        ),
        bad(
            "interface-without-its-key", with_interfaces(without(interface(), "qkdi_id")), "list-key-missing"
        ),
        bad("link-without-its-key", with_links(without(phys_link(), "qkdl_id")), "list-key-missing"),
        bad("app-without-its-key", with_apps(without(app(), "app_id")), "list-key-missing"),
        bad(
            "statistics-without-their-key",
            with_apps(app(app_statistics={"statistics": [{"start_time": T0, "consumed_bits": 8}]})),
            "list-key-missing",
        ),
        # identities
        bad("unknown-identity", with_interfaces(interface(qkdi_type=f"{TYPES}QUANTUM")), NOT_DERIVED),
        bad("identity-of-another-base", with_interfaces(interface(qkdi_type=f"{TYPES}PHYS")), NOT_DERIVED),
        bad(
            "link-status-from-the-interface-statuses",
            with_links(phys_link(qkdl_status=f"{TYPES}ENABLED")),
            NOT_DERIVED,
        ),
        bad("the-base-identity-itself", node(qkdn_status=f"{TYPES}QKDN-STATUS-TYPES"), NOT_DERIVED),
        bad("identity-without-its-module", with_interfaces(interface(qkdi_status="ENABLED")), NOT_DERIVED),
        bad("identity-with-the-wrong-module", node(qkdn_status="etsi-qkd-sdn-node:OPERATING"), NOT_DERIVED),
        # members the model does not have there
        bad("unknown-member-of-the-node", node(qkdn_colour="blue"), UNKNOWN_MEMBER),
        bad("unknown-member-of-an-interface", with_interfaces(interface(qkdi_vendor="acme")), UNKNOWN_MEMBER),
        bad("unknown-top-level-member", node() | {"etsi-qkd-sdn-node:qkd_nodes": {}}, UNKNOWN_MEMBER),
        bad("unknown-module", {"acme-qkd:qkd_node": {"qkdn_id": NODE_ID}}, UNKNOWN_MEMBER),
        bad(
            "member-qualified-with-another-module",
            node(**{"etsi-qkd-node-types:qkdn_version": "2"}),
            UNKNOWN_MEMBER,
        ),
        bad(
            "notification-as-data",
            notification("sdqkdn_link_down", {"qkd_link": {"qkdl_id": PHYS_ID}}),
            "member-not-allowed: etsi-qkd-sdn-node:sdqkdn_link_down",
        ),
        # when-conditions (the link kinds)
        bad(
            "virt-member-on-a-phys-link",
            with_links(phys_link(virt_prev_hop=PEER_ID)),
            f"{WHEN}: virt_prev_hop",
        ),
        bad(
            "phys-member-on-a-virt-link",
            with_links(virt_link(phys_wavelength="35")),
            f"{WHEN}: phys_wavelength",
        ),
        bad(
            "phys-member-on-a-link-without-a-type",
            with_links(without(phys_link(), "qkdl_type", "phys_channel_att", "phys_qkd_role")),
            f"{WHEN}: phys_wavelength",
        ),
        bad(
            "phys_perf-in-the-datastore-never-passes-its-condition",
            with_links(phys_link(qkdl_performance={"skr": 12000, "phys_perf": [SNR]})),
            f"{WHEN}: phys_perf",
        ),
    ]


def _bad_config() -> list[Document]:
    return [
        bad("config-with-node-status", node(qkdn_status=f"{TYPES}OPERATING"), STATE_IN_CONFIG, "config"),
        bad(
            "config-with-app-creation-time",
            with_apps(config_view(app()) | {"creation_time": T0}),
            STATE_IN_CONFIG,
            "config",
        ),
        bad(
            "config-with-link-rates",
            with_links(config_view(phys_link()) | {"qkdl_performance": {"skr": 1}}),
            STATE_IN_CONFIG,
            "config",
        ),
        bad("config-with-interface-status", with_interfaces(interface()), STATE_IN_CONFIG, "config"),
    ]


def _bad_notifications() -> list[Document]:
    def content(name: str, container: str, **members: Any) -> dict[str, Any]:
        return notification(name, {container: members})

    documents = [
        ("interface_new-unknown-technology", interface_new(qkdi_type=f"{TYPES}QQKD"), NOT_DERIVED),
        (
            "interface_new-with-the-interface-status",
            notification("sdqkdn_interface_new", {"qkd_interface": interface()}),
            UNKNOWN_MEMBER,
        ),
        (
            "interface_down-id-as-string",
            content("sdqkdn_interface_down", "qkd_interface", qkdi_id="1", reason="failed"),
            "expected uint32 value",
        ),
        (
            "interface_out-with-a-reason",
            content("sdqkdn_interface_out", "qkd_interface", qkdi_id=1, reason="removed"),
            UNKNOWN_MEMBER,
        ),
        ("link_down-bad-uuid", content("sdqkdn_link_down", "qkd_link", qkdl_id="link-1"), PATTERN),
        (
            "link_down-without-its-container",
            notification("sdqkdn_link_down", {"qkdl_id": PHYS_ID}),
            UNKNOWN_MEMBER,
        ),
        (
            "link_perf_update-duplicate-perf-type",
            perf_update(phys_perf=[SNR, SNR | {"value": "0.5"}]),
            "non-unique-key",
        ),
        (
            "link_perf_update-perf-type-of-another-base",
            perf_update(phys_perf=[{"perf_type": f"{TYPES}ACTIVE"}]),
            NOT_DERIVED,
        ),
        (
            "link_perf_update-perf-without-its-key",
            perf_update(phys_perf=[{"value": "0.412"}]),
            "list-key-missing",
        ),
        (
            "link_perf_update-value-as-number",
            perf_update(phys_perf=[SNR | {"value": 0.412}]),
            "expected decimal64",
        ),
        ("link_perf_update-skr-negative", perf_update(skr=-1), "invalid-type: expected uint32"),
        (
            "link_overloaded-with-phys-perf",
            content("sdqkdn_link_overloaded", "qkd_link", qkdl_id=PHYS_ID, performance={"phys_perf": [SNR]}),
            UNKNOWN_MEMBER,
        ),
        ("application_new-with-an-app-id", application_new(app_id=APP_ID), UNKNOWN_MEMBER),
        (
            "application_new-client-ids-as-scalar",
            application_new(client_app_id="urn:sdqkd:sae:b"),
            "expected array",
        ),
        (
            "application_new-priority-above-uint32",
            application_new(app_priority=UINT32_MAX + 1),
            "invalid-type: expected uint32",
        ),
        (
            "application_qos_update-bandwidth-negative",
            content(
                "sdqkdn_application_qos_update",
                "qkd_application",
                app_id=APP_ID,
                app_qos={"min_bandwidth": -1},
            ),
            "invalid-type: expected uint32",
        ),
        (
            "application_disconnected-bad-uuid",
            content("sdqkdn_application_disconnected", "qkd_application", app_id="app-1"),
            PATTERN,
        ),
        (
            "alarm-severity-of-another-base",
            report("alarm", link={"qkdl_id": PHYS_ID, "severity": f"{TYPES}OFF"}),
            NOT_DERIVED,
        ),
        (
            "event-app-status-unknown",
            report("event", application={"app_id": APP_ID, "app_status": f"{TYPES}AWAKE"}),
            NOT_DERIVED,
        ),
        ("unknown-notification", notification("sdqkdn_node_down", {}), "NonexistentSchemaNode"),
        (
            "notification-of-the-types-module",
            {f"{TYPES}sdqkdn_link_down": {"qkd_link": {"qkdl_id": PHYS_ID}}},
            "NonexistentSchemaNode",
        ),
        ("data-node-as-notification", node(), "BadSchemaNodeType"),
    ]
    return [bad(f"notification-{name}", body, because, "notification") for name, body, because in documents]


def corpus() -> list[Document]:
    """Every document, the valid ones first."""
    documents = [
        *_good_data(),
        *_good_config(),
        *_good_notifications(),
        *_bad_data(),
        *_bad_config(),
        *_bad_notifications(),
    ]
    ids = [document.id for document in documents]
    assert len(ids) == len(set(ids)), "the corpus ids must be unique"
    return documents
