"""The key plane: a key management entity (KME) per node — key pools per QKD link filled from the
link's QKD module, ETSI GS QKD 014 for SAEs, KME↔KME synchronisation, and durable storage."""

from __future__ import annotations

from sdqkd.kms.app import create_kme_app
from sdqkd.kms.config import KmeConfig, KmeLinkConfig, VirtualLinkConfig, load_kme_config
from sdqkd.kms.kme import Kme, KmeLimits
from sdqkd.kms.store import Assignment, KeyStore, PoolLevels, SqliteKeyStore

__all__ = [
    "Assignment",
    "KeyStore",
    "Kme",
    "KmeConfig",
    "KmeLimits",
    "KmeLinkConfig",
    "PoolLevels",
    "SqliteKeyStore",
    "VirtualLinkConfig",
    "create_kme_app",
    "load_kme_config",
]
