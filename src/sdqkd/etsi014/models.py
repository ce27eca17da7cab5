"""ETSI GS QKD 014 V1.1.1 (2019-02) data formats, §6: the wire names stay here, at the edge
(as aliases of snake_case fields).

Status (§6.1), Key request (§6.2), Key container (§6.3), Key IDs (§6.4), Error (§6.5). Keys are
base64 text, key IDs UUIDs in text form, sizes in bits. Extension members are opaque JSON.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "MAX_KEY_IDS",
    "MAX_LIST_ITEMS",
    "Error",
    "Key",
    "KeyContainer",
    "KeyId",
    "KeyIds",
    "KeyRequest",
    "Status",
    "decode_key",
    "encode_key",
]


MAX_KEY_IDS = 4096
"""The most key IDs a §6.4 Key IDs body may carry, whatever the server: a longer list is refused by
validation, which stops at the first ID too many, before any is looked up. Servers refuse more than
their own ``max_key_per_request`` (see :func:`sdqkd.etsi014.create_etsi014_app`)."""

MAX_LIST_ITEMS = 64
"""The most additional slave SAEs or extensions a §6.2 Key request may list (a server offers far
fewer: ``max_SAE_ID_count``); more is refused by validation, before the server loops over them."""


class _Wire(BaseModel):
    # Python names are snake_case; each field's alias is the spec's wire name (``key_ID``), used on
    # the wire in both directions (serialise with ``by_alias=True``; FastAPI does for responses).
    # Unknown members are ignored rather than refused, so newer peers interoperate.
    model_config = ConfigDict(extra="ignore", populate_by_name=True, serialize_by_alias=True)


class Status(_Wire):
    """§6.1 Status: the link between the caller's KME and the slave SAE's KME."""

    source_kme_id: str = Field(alias="source_KME_ID")
    target_kme_id: str = Field(alias="target_KME_ID")
    master_sae_id: str = Field(alias="master_SAE_ID")
    slave_sae_id: str = Field(alias="slave_SAE_ID")
    key_size: int = Field(description="default key size, bits")
    stored_key_count: int
    max_key_count: int
    max_key_per_request: int
    max_key_size: int = Field(description="bits")
    min_key_size: int = Field(description="bits")
    max_sae_id_count: int = Field(
        alias="max_SAE_ID_count", description="additional slave SAEs a request may name"
    )
    status_extension: dict[str, Any] | None = None


class KeyRequest(_Wire):
    """§6.2 Key request (POST enc_keys). Defaults: number 1, size the link's ``key_size``."""

    # strict: JSON true or "2" is not a number of keys (§6.2 says integer)
    number: int | None = Field(default=None, ge=1, strict=True)
    size: int | None = Field(default=None, ge=1, strict=True, description="bits")
    additional_slave_sae_ids: list[str] = Field(
        alias="additional_slave_SAE_IDs", default_factory=list, max_length=MAX_LIST_ITEMS
    )
    extension_mandatory: list[dict[str, Any]] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)
    extension_optional: list[dict[str, Any]] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)


class Key(_Wire):
    """One key of a §6.3 Key container. ``key`` is base64; never logged (redacted repr)."""

    key_id: UUID = Field(alias="key_ID")
    key_id_extension: dict[str, Any] | None = Field(default=None, alias="key_ID_extension")
    key: str = Field(repr=False)
    key_extension: dict[str, Any] | None = None

    @field_validator("key")
    @classmethod
    def _base64(cls, value: str) -> str:
        decode_key(value)
        return value

    def material(self) -> bytes:
        """The key bytes."""
        return decode_key(self.key)


class KeyContainer(_Wire):
    """§6.3 Key container."""

    keys: list[Key]
    key_container_extension: dict[str, Any] | None = None


class KeyId(_Wire):
    """One entry of §6.4 Key IDs."""

    key_id: UUID = Field(alias="key_ID")
    key_id_extension: dict[str, Any] | None = Field(default=None, alias="key_ID_extension")


class KeyIds(_Wire):
    """§6.4 Key IDs (POST dec_keys)."""

    key_ids: list[KeyId] = Field(alias="key_IDs", min_length=1, max_length=MAX_KEY_IDS)
    key_ids_extension: dict[str, Any] | None = Field(default=None, alias="key_IDs_extension")


class Error(_Wire):
    """§6.5 Error: ``message`` and optional ``details`` (a list of objects)."""

    message: str
    details: list[dict[str, Any]] | None = None


def encode_key(material: bytes) -> str:
    """Key bytes as the base64 text of the wire format."""
    return base64.b64encode(material).decode("ascii")


def decode_key(text: str) -> bytes:
    """Key bytes from base64 text (strict: no stray characters).

    Raises:
        ValueError: not valid base64.
    """
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError("key is not valid base64") from exc
