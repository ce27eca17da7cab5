"""Test support: two KMEs as ETSI GS QKD 014 stand-ins, in memory (for the applications and QKD-TLS)."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from sdqkd.etsi014.client import Etsi014ClientError


class StandInKey:
    """A delivered key: its ID and bytes, as the ETSI 014 client's key gives them."""

    def __init__(self, key_id: uuid.UUID, material: bytes) -> None:
        self.key_id, self._material = key_id, material

    def material(self) -> bytes:
        return self._material


class StandInKmes:
    """Two KMEs sharing keys: enc_keys at one (``budget`` keys, then 503), dec_keys (once per key, then
    401, as ETSI 014 answers) at the other."""

    def __init__(self, budget: int = 10_000) -> None:
        self.budget = budget
        self.keys: dict[uuid.UUID, bytes] = {}
        self.delivered: list[uuid.UUID] = []

    async def enc_keys(self, slave: str, number: int, size: int) -> Any:
        if len(self.keys) >= self.budget:
            raise Etsi014ClientError("no key available", status_code=503)
        key_id = uuid.uuid4()
        self.keys[key_id] = secrets.token_bytes(size // 8)
        return type("Container", (), {"keys": [StandInKey(key_id, self.keys[key_id])]})

    async def dec_keys(self, master: str, key_ids: list[uuid.UUID]) -> Any:
        (key_id,) = key_ids
        if key_id in self.delivered or key_id not in self.keys:
            raise Etsi014ClientError("one or more key IDs are not available to this SAE", status_code=401)
        self.delivered.append(key_id)
        return type("Container", (), {"keys": [StandInKey(key_id, self.keys[key_id])]})
