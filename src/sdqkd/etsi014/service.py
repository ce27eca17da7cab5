"""What an ETSI GS QKD 014 server needs from whatever holds the keys: a KME (key plane) or a QKD
device (the emulator's modules). ``app.py`` turns any implementation into the REST API."""

from __future__ import annotations

from typing import Protocol

from sdqkd.etsi014.models import KeyContainer, KeyIds, KeyRequest, Status
from sdqkd.pki.identity import Identity

__all__ = ["KeyService"]


class KeyService(Protocol):
    """Key delivery to SAEs. ``caller`` is the authenticated identity of the calling SAE (from its
    client certificate); the service decides what it may see.

    Implementations raise the ETSI 014 domain errors of :mod:`sdqkd.errors`:
    ``KeyRequestInvalid`` (→ 400), ``Unauthorized`` (→ 401, never revealing whether a key or SAE
    exists) and ``KeyServiceUnavailable`` / ``KeyExhausted`` (→ 503).
    """

    async def status(self, caller: Identity, slave_sae_id: str) -> Status:
        """§5.1 Get status of the keys shared with ``slave_sae_id``."""
        ...

    async def enc_keys(self, caller: Identity, slave_sae_id: str, request: KeyRequest) -> KeyContainer:
        """§5.2 Get key: new keys for the caller (master SAE) to share with ``slave_sae_id``.

        ``request.size`` (bits), when given, is a multiple of 8 (the app refuses other sizes); its
        limits, ``number`` and the additional slave SAEs are the service's to check. An
        ``extension_mandatory`` entry the service does not support must make it raise
        ``KeyRequestInvalid`` (§5.2, §6.2); unsupported ``extension_optional`` entries are ignored.
        """
        ...

    async def dec_keys(self, caller: Identity, master_sae_id: str, key_ids: KeyIds) -> KeyContainer:
        """§5.3 Get key with key IDs: the keys ``master_sae_id`` obtained for the caller (slave SAE)."""
        ...
