"""ETSI GS QKD 014 (REST key delivery to SAEs): wire models, the service interface, the FastAPI
app that serves any :class:`KeyService`, and an async client. Used by the emulator's QKD modules
and by the KME."""

from __future__ import annotations

from sdqkd.etsi014.app import create_etsi014_app
from sdqkd.etsi014.client import Etsi014Client, Etsi014ClientError
from sdqkd.etsi014.models import (
    Error,
    Key,
    KeyContainer,
    KeyId,
    KeyIds,
    KeyRequest,
    Status,
    decode_key,
    encode_key,
)
from sdqkd.etsi014.service import KeyService

__all__ = [
    "Error",
    "Etsi014Client",
    "Etsi014ClientError",
    "Key",
    "KeyContainer",
    "KeyId",
    "KeyIds",
    "KeyRequest",
    "KeyService",
    "Status",
    "create_etsi014_app",
    "decode_key",
    "encode_key",
]
