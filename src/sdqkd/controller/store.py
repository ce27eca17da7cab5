"""The controller's durable state (SQLite): the nodes that called home, the admitted applications,
the alarms, the service intents, the optical layer's settings (policy, requested classical channels,
retuned quantum channels) and the optical actions. Everything else (interfaces, link status, key rates, pool
levels, the plant) is read live from the agents, KMEs and plant, so a restarted controller resumes
from this file and one round of reads.

Writes commit at once (WAL journal, ``synchronous=FULL``): an application the API admitted, or an
alarm it reported, survives a crash of the controller.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from uuid import UUID

from sdqkd.pki.private import private_database

__all__ = ["Alarm", "AlarmKind", "AppRecord", "ControllerStore", "NodeRecord", "Severity"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (
    node_id TEXT PRIMARY KEY,
    qkdn_id TEXT NOT NULL,
    agent_url TEXT NOT NULL,
    kme_url TEXT,
    location TEXT NOT NULL,
    registered_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS apps (
    app_id TEXT PRIMARY KEY,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS alarms (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    severity TEXT NOT NULL,
    message TEXT NOT NULL,
    raised_at TEXT NOT NULL,
    cleared_at TEXT
);
CREATE INDEX IF NOT EXISTS alarms_active ON alarms (kind, source) WHERE cleared_at IS NULL;
CREATE TABLE IF NOT EXISTS settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS services (
    id TEXT PRIMARY KEY,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS optical_actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    record TEXT NOT NULL
);
"""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class AlarmKind(StrEnum):
    NODE_UNREACHABLE = "node_unreachable"
    INTERFACE_DOWN = "interface_down"
    LINK_DOWN = "link_down"
    LINK_OVERLOADED = "link_overloaded"
    OPTICAL_TARGET_MISSED = "optical_target_missed"


class Severity(StrEnum):
    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    WARNING = "warning"


@dataclass(frozen=True)
class NodeRecord:
    """A node as it called home."""

    node_id: str
    qkdn_id: UUID
    agent_url: str
    kme_url: str | None
    location: str
    registered_at: dt.datetime


@dataclass(frozen=True)
class AppRecord:
    """An admitted application: keys between ``server_sae_id`` at ``server_node`` and
    ``client_sae_id`` at ``client_node``, over the QKD link ``link_id``.

    Attributes:
        qos: the ETSI GS QKD 015 ``app_qos`` leaves given (``min_bandwidth`` in bit/s is what
            admission reserves on the link).
    """

    app_id: UUID
    server_sae_id: str
    server_node: str
    client_sae_id: str
    client_node: str
    link_id: str
    qkdl_id: UUID
    qos: dict[str, Any]
    priority: int
    created_at: dt.datetime

    @property
    def reserved_bps(self) -> int:
        return int(self.qos.get("min_bandwidth") or 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "app_id": str(self.app_id),
            "server_sae_id": self.server_sae_id,
            "server_node": self.server_node,
            "client_sae_id": self.client_sae_id,
            "client_node": self.client_node,
            "link_id": self.link_id,
            "qkdl_id": str(self.qkdl_id),
            "qos": self.qos,
            "priority": self.priority,
            "created_at": self.created_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AppRecord:
        return cls(
            app_id=UUID(data["app_id"]),
            server_sae_id=data["server_sae_id"],
            server_node=data["server_node"],
            client_sae_id=data["client_sae_id"],
            client_node=data["client_node"],
            link_id=data["link_id"],
            qkdl_id=UUID(data["qkdl_id"]),
            qos=dict(data["qos"]),
            priority=int(data["priority"]),
            created_at=dt.datetime.fromisoformat(data["created_at"]),
        )


@dataclass(frozen=True)
class Alarm:
    """Something wrong at ``source`` (``node:ID``, ``interface:NODE/QKDI_ID``, ``link:ID``); active
    until ``cleared_at``."""

    id: int
    kind: AlarmKind
    source: str
    severity: Severity
    message: str
    raised_at: dt.datetime
    cleared_at: dt.datetime | None

    @property
    def active(self) -> bool:
        return self.cleared_at is None


class ControllerStore:
    """The SQLite file at ``path`` (created if missing). Thread-safe; every call commits."""

    def __init__(self, path: Path) -> None:
        private_database(path)  # owner-only: service records keep their secret arguments
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # Nodes --------------------------------------------------------------------------------------------

    def upsert_node(self, node: NodeRecord) -> bool:
        """Record a node's registration; True if the node is new."""
        with self._lock:
            new = (
                self._db.execute("SELECT 1 FROM nodes WHERE node_id = ?", (node.node_id,)).fetchone() is None
            )
            self._db.execute(
                "INSERT INTO nodes VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (node_id) DO UPDATE SET "
                "qkdn_id = excluded.qkdn_id, agent_url = excluded.agent_url, kme_url = excluded.kme_url, "
                "location = excluded.location",
                (
                    node.node_id,
                    str(node.qkdn_id),
                    node.agent_url,
                    node.kme_url,
                    node.location,
                    node.registered_at.isoformat(),
                ),
            )
            return new

    def nodes(self) -> list[NodeRecord]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM nodes ORDER BY node_id").fetchall()
        return [
            NodeRecord(row[0], UUID(row[1]), row[2], row[3], row[4], dt.datetime.fromisoformat(row[5]))
            for row in rows
        ]

    # Applications -------------------------------------------------------------------------------------

    def add_app(self, app: AppRecord) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO apps VALUES (?, ?)", (str(app.app_id), json.dumps(app.to_json(), sort_keys=True))
            )

    def remove_app(self, app_id: UUID) -> bool:
        with self._lock:
            return self._db.execute("DELETE FROM apps WHERE app_id = ?", (str(app_id),)).rowcount > 0

    def apps(self) -> list[AppRecord]:
        with self._lock:
            rows = self._db.execute("SELECT record FROM apps").fetchall()
        found = [AppRecord.from_json(json.loads(row[0])) for row in rows]
        return sorted(found, key=lambda app: (app.created_at, str(app.app_id)))

    # Services (JSON records by id) ------------------------------------------------------------------

    def put_service(self, service_id: str, record: dict[str, Any]) -> None:
        """Record a service intent (added or updated)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO services VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET record = excluded.record",
                (service_id, json.dumps(record, sort_keys=True)),
            )

    def services(self) -> list[dict[str, Any]]:
        """Every service recorded, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT record FROM services").fetchall()
        found = [json.loads(row[0]) for row in rows]
        return sorted(found, key=lambda record: (record.get("created_at", ""), record.get("id", "")))

    # Alarms -------------------------------------------------------------------------------------------

    def raise_alarm(self, kind: AlarmKind, source: str, severity: Severity, message: str) -> Alarm | None:
        """Raise an alarm unless one of ``kind`` is already active at ``source``; the new alarm, or None."""
        with self._lock:
            active = self._db.execute(
                "SELECT 1 FROM alarms WHERE kind = ? AND source = ? AND cleared_at IS NULL", (kind, source)
            ).fetchone()
            if active is not None:
                return None
            now = _now()
            cursor = self._db.execute(
                "INSERT INTO alarms (kind, source, severity, message, raised_at) VALUES (?, ?, ?, ?, ?)",
                (str(kind), source, str(severity), message, now.isoformat()),
            )
            assert cursor.lastrowid is not None
            return Alarm(cursor.lastrowid, kind, source, severity, message, now, None)

    def describe_alarm(self, kind: AlarmKind, source: str, message: str) -> bool:
        """Give the active alarm of ``kind`` at ``source`` a better ``message`` (the cause, learnt after
        it was raised); False if none is active."""
        with self._lock:
            return (
                self._db.execute(
                    "UPDATE alarms SET message = ? WHERE kind = ? AND source = ? AND cleared_at IS NULL",
                    (message, str(kind), source),
                ).rowcount
                > 0
            )

    def clear_alarms(self, kind: AlarmKind, source: str) -> int:
        """Clear the active alarms of ``kind`` at ``source``; how many there were."""
        with self._lock:
            return self._db.execute(
                "UPDATE alarms SET cleared_at = ? WHERE kind = ? AND source = ? AND cleared_at IS NULL",
                (_now().isoformat(), str(kind), source),
            ).rowcount

    def alarms(self, *, active_only: bool = False, limit: int = 1000) -> list[Alarm]:
        """The newest ``limit`` alarms, newest first."""
        query = "SELECT * FROM alarms" + (" WHERE cleared_at IS NULL" if active_only else "")
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [
            Alarm(
                row[0],
                AlarmKind(row[1]),
                row[2],
                Severity(row[3]),
                row[4],
                dt.datetime.fromisoformat(row[5]),
                dt.datetime.fromisoformat(row[6]) if row[6] else None,
            )
            for row in rows
        ]

    # Settings (JSON values by name) -------------------------------------------------------------------

    def setting(self, name: str) -> Any:
        """The JSON value stored under ``name`` (None if none)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put_setting(self, name: str, value: Any) -> None:
        """Store a JSON value under ``name`` (None removes it)."""
        with self._lock:
            if value is None:
                self._db.execute("DELETE FROM settings WHERE name = ?", (name,))
            else:
                self._db.execute(
                    "INSERT INTO settings VALUES (?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    (name, json.dumps(value, sort_keys=True)),
                )

    # Optical actions ----------------------------------------------------------------------------------

    def add_action(self, record: dict[str, Any]) -> int:
        """Record an optical action (a JSON object); its id."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO optical_actions (record) VALUES (?)", (json.dumps(record),)
            )
            assert cursor.lastrowid is not None
            return cursor.lastrowid

    def update_action(self, action_id: int, record: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE optical_actions SET record = ? WHERE id = ?", (json.dumps(record), action_id)
            )

    def actions(self, limit: int = 1000) -> list[dict[str, Any]]:
        """The newest ``limit`` optical actions, oldest first, each with its ``id``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, record FROM optical_actions ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [{"id": row[0], **json.loads(row[1])} for row in reversed(rows)]
