"""Models of what the controller reads from an agent's ``qkd_node`` tree: the entries of
``qkd_interfaces/qkd_interface``, ``qkd_links/qkd_link`` and ``qkd_applications/qkd_app``
(ETSI GS QKD 015 V2.1.1, RFC 7951 JSON).

The models take the wire as it is: member names as RFC 7951 writes them (unqualified inside
``etsi-qkd-sdn-node:qkd_node``), identityref values module-qualified (``"etsi-qkd-node-types:ACTIVE"``,
RFC 7951 §6.8: the identities live in another module than the leaves), ``yang:uuid`` values as
strings, ``uint32`` values as numbers. Identityrefs become the enums of :mod:`sdqkd.etsi015.names`
, UUIDs become :class:`~uuid.UUID`.

They are tolerant of what they do not model (members an agent adds, other modules' augmentations,
state the controller does not use), and strict on what they do: a member of the wrong type, an
unknown identity or an unqualified one is an error that names the member, e.g.
``qkd_links/qkd_link[qkdl_id="…"]/qkdl_status: 'ACTIVE' is not module-qualified``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Self, TypeVar
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictStr, ValidationError
from pydantic_core import PydanticCustomError

from sdqkd.errors import ConfigError
from sdqkd.etsi015.names import (
    TECHNOLOGIES,
    TYPES_MODULE,
    UINT32_MAX,
    AppStatus,
    AppType,
    InterfaceStatus,
    LinkStatus,
    LinkType,
    ModuleRole,
    is_dwdm_channel,
)

__all__ = [
    "AppQos",
    "AttachmentPoint",
    "LinkEndpoint",
    "LinkPerformance",
    "NodeTree",
    "QkdApp",
    "QkdInterface",
    "QkdLink",
]

# yang:uuid
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_LIST_KEYS = {"qkd_interface": "qkdi_id", "qkd_link": "qkdl_id", "qkd_app": "app_id"}
_REPR_MAX = 80  # characters of a refused value quoted in an error message


# Wire types -------------------------------------------------------------------------------------------


def _uuid(value: object) -> UUID:
    if isinstance(value, str) and _UUID.fullmatch(value):
        return UUID(value)
    raise PydanticCustomError("yang_uuid", "{value} is not a yang:uuid", {"value": _short(value)})


_E = TypeVar("_E", bound=StrEnum)
_S = TypeVar("_S", bound=str)


def _identityref(enum: type[_E]) -> Callable[[object], _E]:
    """A validator of an ``etsi-qkd-node-types`` identityref whose identities are ``enum``'s members."""
    by_name = {member.identity if isinstance(member, ModuleRole) else member.value: member for member in enum}
    return _identity_parser(by_name)


def _identity_parser(by_name: Mapping[str, _S]) -> Callable[[object], _S]:
    expected = ", ".join(f"{TYPES_MODULE}:{name}" for name in by_name)

    def parse(value: object) -> _S:
        if not isinstance(value, str):
            raise PydanticCustomError(
                "identityref", "{value} is not an identityref", {"value": _short(value)}
            )
        prefix, _, name = value.rpartition(":")
        if not prefix:
            raise PydanticCustomError(
                "identityref", "{value} is not module-qualified (RFC 7951 §6.8)", {"value": _short(value)}
            )
        if prefix != TYPES_MODULE or name not in by_name:
            context = {"value": _short(value), "expected": expected}
            raise PydanticCustomError("identityref", "{value} is not one of {expected}", context)
        return by_name[name]

    return parse


def _technology(value: object) -> str:
    """A ``qkd-technology-types`` identityref: the identity's name (``CV-QKD``)."""
    return _identity_parser({name: name for name in sorted(TECHNOLOGIES)})(value)


def _wavelength(value: object) -> int:
    """A ``wavelength`` (a 100 GHz DWDM channel number, as a string) as its number."""
    if is_dwdm_channel(value):
        return int(str(value))
    raise PydanticCustomError("wavelength", "{value} is not a DWDM channel number", {"value": _short(value)})


Uuid = Annotated[UUID, BeforeValidator(_uuid)]
Uint32 = Annotated[int, Field(strict=True, ge=0, le=UINT32_MAX)]
Technology = Annotated[str, BeforeValidator(_technology)]
Wavelength = Annotated[int, BeforeValidator(_wavelength)]


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _REPR_MAX else f"{text[: _REPR_MAX - 1]}…"


# Models ---------------------------------------------------------------------------------------------


class _Entry(BaseModel):
    # tolerant of members it does not model; frozen: what an agent said is not edited afterwards
    model_config = ConfigDict(extra="ignore", frozen=True)
    wire_name: ClassVar[str] = ""  # the YANG node it models, for error messages

    @classmethod
    def parse(cls, data: object, where: str = "") -> Self:
        """``data`` (RFC 7951 JSON, already decoded) as this model.

        Args:
            data: the JSON value.
            where: the path of ``data`` in its tree, for the error message (e.g. ``qkd_links``).

        Raises:
            ConfigError: a member the model needs is missing or malformed (the message names it).
        """
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(_describe(exc, data, where or cls.wire_name)) from None


class AttachmentPoint(_Entry):
    """``qkdi_att_point``: where the module is attached (an optical switch and its port, or a fibre)."""

    wire_name = "qkdi_att_point"

    device: StrictStr | None = None
    port: Uint32 | None = None


class QkdInterface(_Entry):
    """A ``qkd_interfaces/qkd_interface`` entry: one QKD module of the node."""

    wire_name = "qkd_interface"

    qkdi_id: Uint32
    qkdi_model: StrictStr | None = None
    qkdi_type: Technology | None = None
    qkdi_att_point: AttachmentPoint | None = None
    qkdi_status: Annotated[InterfaceStatus, BeforeValidator(_identityref(InterfaceStatus))] | None = None


class LinkEndpoint(_Entry):
    """``qkdl_local`` or ``qkdl_remote``: a node and (for a physical link) its interface."""

    wire_name = "qkdl_local"

    qkdn_id: Uuid | None = None
    qkdi_id: Uint32 | None = None


class LinkPerformance(_Entry):
    """``qkdl_performance``: the key rates, bit/s."""

    wire_name = "qkdl_performance"

    skr: Uint32 = 0
    eskr: Uint32 = 0


class QkdLink(_Entry):
    """A ``qkd_links/qkd_link`` entry, physical (``PHYS``) or virtual (``VIRT``, a key relay)."""

    wire_name = "qkd_link"

    qkdl_id: Uuid
    qkdl_status: Annotated[LinkStatus, BeforeValidator(_identityref(LinkStatus))] | None = None
    qkdl_enable: StrictBool = True  # the YANG default
    qkdl_local: LinkEndpoint = Field(default_factory=LinkEndpoint)
    qkdl_remote: LinkEndpoint = Field(default_factory=LinkEndpoint)
    qkdl_type: Annotated[LinkType, BeforeValidator(_identityref(LinkType))] | None = None
    qkdl_applications: list[Uuid] = Field(default_factory=list)
    virt_prev_hop: Uuid | None = None
    virt_next_hop: list[Uuid] = Field(default_factory=list)
    virt_bandwidth: Uint32 | None = None
    phys_wavelength: Wavelength | None = None
    phys_qkd_role: Annotated[ModuleRole, BeforeValidator(_identityref(ModuleRole))] | None = None
    qkdl_performance: LinkPerformance = Field(default_factory=LinkPerformance)

    @property
    def virtual(self) -> bool:
        return self.qkdl_type is LinkType.VIRT

    def configuration(self) -> tuple[object, ...]:
        """What the controller configures (not the state the agent reports): two entries with the same
        configuration need no write."""
        return (
            self.qkdl_enable,
            self.qkdl_type,
            self.qkdl_local,
            self.qkdl_remote,
            self.phys_wavelength,
            self.phys_qkd_role,
            self.virt_prev_hop,
            tuple(self.virt_next_hop),
            self.virt_bandwidth,
        )


class AppQos(_Entry):
    """``app_qos`` (bit/s, ms, s) with the ``augmented_app_qos`` flags."""

    wire_name = "app_qos"

    max_bandwidth: Uint32 | None = None
    min_bandwidth: Uint32 | None = None
    jitter: Uint32 | None = None
    ttl: Uint32 | None = None
    clients_shared_path_enable: StrictBool | None = None
    clients_shared_keys_required: StrictBool | None = None


class QkdApp(_Entry):
    """A ``qkd_applications/qkd_app`` entry."""

    wire_name = "qkd_app"

    app_id: Uuid
    app_type: Annotated[AppType, BeforeValidator(_identityref(AppType))] | None = None
    app_status: Annotated[AppStatus, BeforeValidator(_identityref(AppStatus))] | None = None
    server_app_id: StrictStr | None = None
    client_app_id: list[StrictStr] = Field(default_factory=list)
    app_priority: Uint32 | None = None
    app_qos: AppQos = Field(default_factory=AppQos)
    backing_qkdl_id: list[Uuid] = Field(default_factory=list)
    local_qkdn_id: Uuid | None = None
    remote_qkdn_id: Uuid | None = None


class _Interfaces(_Entry):
    qkd_interface: list[QkdInterface] = Field(default_factory=list)


class _Links(_Entry):
    qkd_link: list[QkdLink] = Field(default_factory=list)


class _Applications(_Entry):
    qkd_app: list[QkdApp] = Field(default_factory=list)


class NodeTree(_Entry):
    """The parts of an agent's ``etsi-qkd-sdn-node:qkd_node`` (the member's value) that the controller
    reads: its interfaces, links and applications (an absent container holds none)."""

    wire_name = "qkd_node"

    qkdn_id: Uuid | None = None
    qkd_interfaces: _Interfaces = Field(default_factory=_Interfaces)
    qkd_links: _Links = Field(default_factory=_Links)
    qkd_applications: _Applications = Field(default_factory=_Applications)

    @property
    def interfaces(self) -> list[QkdInterface]:
        return self.qkd_interfaces.qkd_interface

    @property
    def links(self) -> list[QkdLink]:
        return self.qkd_links.qkd_link

    @property
    def apps(self) -> list[QkdApp]:
        return self.qkd_applications.qkd_app

    def interface(self, qkdi_id: int) -> QkdInterface | None:
        """The interface numbered ``qkdi_id``, if the node has it."""
        return next((entry for entry in self.interfaces if entry.qkdi_id == qkdi_id), None)

    def link(self, qkdl_id: UUID) -> QkdLink | None:
        """The link ``qkdl_id``, if the node holds it."""
        return next((entry for entry in self.links if entry.qkdl_id == qkdl_id), None)

    def app(self, app_id: UUID) -> QkdApp | None:
        """The application ``app_id``, if the node holds it."""
        return next((entry for entry in self.apps if entry.app_id == app_id), None)


# Errors -----------------------------------------------------------------------------------------------


def _describe(exc: ValidationError, data: object, where: str) -> str:
    """The first of pydantic's complaints as one line naming the member: ``path: problem``."""
    error = exc.errors(include_url=False)[0]
    path = _path(error["loc"], data, where)
    if error["type"] == "missing":
        return f"{path}: missing"
    message = "should be an object" if error["type"] == "model_type" else error["msg"]
    if error["type"] in {"yang_uuid", "identityref", "wavelength"}:
        return f"{path}: {message}"
    return f"{path}: {message} (got {_short(error.get('input'))})"


def _path(loc: tuple[int | str, ...], data: object, where: str) -> str:
    """A pydantic error location as a path in the tree; a list entry named by its key where it has one
    (``qkd_link[qkdl_id="…"]``), else by its position."""
    parts = [where] if where else []
    key = _LIST_KEYS.get(where)
    if key is not None and isinstance(data, Mapping) and key in data:
        parts[-1] += f"[{key}={_quoted(data[key])}]"
    current: Any = data
    for step in loc:
        if isinstance(step, int):
            item = current[step] if isinstance(current, list) and step < len(current) else None
            key = _LIST_KEYS.get(parts[-1] if parts else "")
            if key is not None and isinstance(item, Mapping) and key in item:
                parts[-1] += f"[{key}={_quoted(item[key])}]"
            elif parts:
                parts[-1] += f"[{step}]"
            else:
                parts.append(f"[{step}]")
            current = item
        else:
            parts.append(step)
            current = current.get(step) if isinstance(current, Mapping) else None
    return "/".join(parts)


def _quoted(value: object) -> str:
    return f'"{value}"' if isinstance(value, str) else _short(value)
