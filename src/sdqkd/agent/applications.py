"""ETSI GS QKD 015 V2.1.1 applications (``qkd_applications/qkd_app``) for the node agent: the
controller's app entries read, checked against the node's links, given a status, and announced.
Pure functions, no I/O.

The controller writes an app into the agents of both its nodes (``app_id``, ``app_type``,
``server_app_id``/``client_app_id``, ``app_priority``, ``app_qos``, ``backing_qkdl_id``,
``local_qkdn_id``/``remote_qkdn_id``, optionally ``expiration_time``); the agent owns its state:

    creation_time = when the agent first accepted it (yang:date-and-time, UTC)
    app_status    = ON             when it has a backing link and every one of them is ACTIVE
                    DISCONNECTED   otherwise (a link down, not yet making key, or none named)

A quirk of the official model: ``sdqkdn_application_new`` carries the app's details
(``app_details``, ``local_qkdn_id``, ``app_qos``) but not its ``app_id``, so a subscriber tells
apps apart by their server and client ids; ``sdqkdn_application_disconnected`` carries only the
``app_id``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sdqkd.errors import ConfigError
from sdqkd.etsi015 import NODE_MODULE, TYPES_MODULE, AppStatus, LinkStatus

__all__ = [
    "APP_STATE_MEMBERS",
    "Application",
    "app_configuration",
    "app_disconnected_notification",
    "app_new_notification",
    "app_status",
    "date_and_time",
    "link_statuses",
    "parse_app",
]

APP_STATE_MEMBERS = frozenset({"app_status", "creation_time", "app_statistics"})
"""The ``config false`` members of a ``qkd_app`` entry: the agent's to set, never the controller's."""

# what sdqkdn_application_new carries (etsi-qkd-sdn-node.yang): app_details, local_qkdn_id, augmented_app_qos
_NEW_APP_MEMBERS = ("app_type", "server_app_id", "client_app_id", "app_priority", "local_qkdn_id", "app_qos")


@dataclass(frozen=True)
class Application:
    """What the agent needs of a ``qkd_app`` entry.

    Attributes:
        app_id: the application's id (chosen by the controller).
        backing_links: ``backing_qkdl_id``, the links that give it keys, in the order written.
        local_qkdn_id: the node whose KME serves its local end; None: not given.
        remote_qkdn_id: the node at its other end; None: not given.
    """

    app_id: UUID
    backing_links: tuple[UUID, ...] = ()
    local_qkdn_id: UUID | None = None
    remote_qkdn_id: UUID | None = None


def _uuid(value: object, where: str) -> UUID:
    try:
        return UUID(str(value))
    except ValueError:
        raise ConfigError(f"{where}: {value!r} is not a UUID") from None


def parse_app(entry: Mapping[str, Any]) -> Application:
    """The application of a ``qkd_app`` entry (RFC 7951 JSON).

    Raises:
        ConfigError: ``app_id`` missing, or an id that is not a UUID (the message names the member).
    """
    if "app_id" not in entry:
        raise ConfigError("qkd_app/app_id: missing")
    app_id = _uuid(entry["app_id"], "qkd_app/app_id")
    where = f"qkd_app[{app_id}]"
    links = entry.get("backing_qkdl_id", [])
    if not isinstance(links, list):
        raise ConfigError(f"{where}/backing_qkdl_id: {links!r} is not a list of UUIDs")
    local, remote = entry.get("local_qkdn_id"), entry.get("remote_qkdn_id")
    return Application(
        app_id=app_id,
        backing_links=tuple(_uuid(link, f"{where}/backing_qkdl_id") for link in links),
        local_qkdn_id=None if local is None else _uuid(local, f"{where}/local_qkdn_id"),
        remote_qkdn_id=None if remote is None else _uuid(remote, f"{where}/remote_qkdn_id"),
    )


def app_configuration(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a ``qkd_app`` entry the controller writes (its state members left out)."""
    return {name: value for name, value in entry.items() if name not in APP_STATE_MEMBERS}


def app_status(app: Application, link_statuses: Mapping[UUID, LinkStatus | None]) -> AppStatus:
    """The status of ``app`` given the status of the node's links.

    Args:
        app: the application.
        link_statuses: ``qkdl_status`` of each link of the node (None: not known yet).
    """
    if app.backing_links and all(link_statuses.get(link) is LinkStatus.ACTIVE for link in app.backing_links):
        return AppStatus.ON
    return AppStatus.DISCONNECTED


def date_and_time(moment: dt.datetime) -> str:
    """A ``yang:date-and-time`` (RFC 6991 §3) in UTC, to the microsecond: ``2024-06-11T09:30:00.000000Z``.

    Raises:
        ValueError: a naive datetime (its zone unknown).
    """
    if moment.tzinfo is None:
        raise ValueError("a date-and-time needs a time zone")
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def app_new_notification(entry: Mapping[str, Any], local_qkdn_id: UUID) -> dict[str, Any]:
    """``sdqkdn_application_new``: an app was registered at the node.

    Args:
        entry: the ``qkd_app`` entry (RFC 7951 JSON).
        local_qkdn_id: this node's id, sent when the entry does not name its local node.
    """
    content = {name: entry[name] for name in _NEW_APP_MEMBERS if name in entry}
    content.setdefault("local_qkdn_id", str(local_qkdn_id))
    return {f"{NODE_MODULE}:sdqkdn_application_new": {"qkd_application": content}}


def app_disconnected_notification(app_id: UUID) -> dict[str, Any]:
    """``sdqkdn_application_disconnected``: an app no longer gets keys at the node (its links are
    down, or it was removed)."""
    return {f"{NODE_MODULE}:sdqkdn_application_disconnected": {"qkd_application": {"app_id": str(app_id)}}}


def link_statuses(links: Iterable[Mapping[str, Any]]) -> dict[UUID, LinkStatus | None]:
    """``qkdl_status`` of each ``qkd_link`` entry (RFC 7951 JSON), by ``qkdl_id``; None where the
    entry has none yet or one this module does not know."""
    statuses: dict[UUID, LinkStatus | None] = {}
    for entry in links:
        prefix, _, name = str(entry.get("qkdl_status", "")).rpartition(":")
        try:
            status = LinkStatus(name) if prefix == TYPES_MODULE else None
        except ValueError:
            status = None
        statuses[_uuid(entry.get("qkdl_id"), "qkd_link/qkdl_id")] = status
    return statuses
