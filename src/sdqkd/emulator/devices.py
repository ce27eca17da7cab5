"""ETSI GS QKD 014 key delivery of one emulated QKD module, with its node's KME as the SAE.

SAE IDs here are KME IDs: the KME of node N (certificate ``kme:N``) is the SAE of N's modules, and
its SAE ID is N. Nobody else takes keys from a module, the operator included: the app's table
(:func:`sdqkd.emulator.app.module_etsi014_table`) refuses every other caller first, and the service
checks again here, where the keys are.
The ``source_KME_ID``/``target_KME_ID`` of the status are the two modules' ids: the devices are the
key managers of this link.
"""

from __future__ import annotations

from sdqkd.emulator.engine import Emulator
from sdqkd.emulator.keys import SharedKeys
from sdqkd.emulator.world import PairState
from sdqkd.errors import KeyRequestInvalid, KeyServiceUnavailable, Unauthorized
from sdqkd.etsi014.models import Key, KeyContainer, KeyIds, KeyRequest, Status, encode_key
from sdqkd.pki.identity import Identity, Role

__all__ = ["ModuleKeyService"]


class ModuleKeyService:
    """The :class:`~sdqkd.etsi014.KeyService` of emulated module ``module_id``."""

    def __init__(self, emulator: Emulator, module_id: str) -> None:
        self.emulator = emulator
        self.module_id = module_id
        self.node = emulator.world.module(module_id).node

    def _authorise(self, caller: Identity) -> None:
        if caller.role is Role.KME and caller.name == self.node:
            return
        raise Unauthorized("this device serves only the KME of its node")

    def _pair(self, peer_sae_id: str) -> tuple[PairState, SharedKeys]:
        found = self.emulator.pair_for(self.module_id, peer_sae_id)
        if found is None:
            raise KeyRequestInvalid(f"this device has no QKD link to SAE {peer_sae_id!r}")
        return found

    def _peer(self, pair: PairState) -> str:
        return pair.receiver if pair.transmitter == self.module_id else pair.transmitter

    async def status(self, caller: Identity, slave_sae_id: str) -> Status:
        self._authorise(caller)
        pair, keys = self._pair(slave_sae_id)
        limits = self.emulator.limits
        return Status(
            source_kme_id=self.module_id,
            target_kme_id=self._peer(pair),
            master_sae_id=self.node,
            slave_sae_id=slave_sae_id,
            key_size=limits.key_size_bits,
            stored_key_count=keys.stored_keys(limits.key_size_bits),
            max_key_count=limits.buffer_keys,
            max_key_per_request=limits.max_keys_per_request,
            max_key_size=limits.max_key_size_bits,
            min_key_size=limits.min_key_size_bits,
            max_sae_id_count=0,
            status_extension={"link_active": pair.active, "skr_bps": pair.rate_bps},
        )

    async def enc_keys(self, caller: Identity, slave_sae_id: str, request: KeyRequest) -> KeyContainer:
        self._authorise(caller)
        limits = self.emulator.limits
        number = request.number or 1
        size = request.size or limits.key_size_bits
        if request.additional_slave_sae_ids:
            raise KeyRequestInvalid("a QKD link has one slave SAE: additional_slave_SAE_IDs is not supported")
        if request.extension_mandatory:
            raise KeyRequestInvalid(
                "unsupported mandatory extension",
                details=[{"extension_mandatory": request.extension_mandatory}],
            )
        if number > limits.max_keys_per_request:
            raise KeyRequestInvalid(f"number exceeds max_key_per_request ({limits.max_keys_per_request})")
        if not limits.min_key_size_bits <= size <= limits.max_key_size_bits or size % 8:
            low, high = limits.min_key_size_bits, limits.max_key_size_bits
            raise KeyRequestInvalid(f"size must be a multiple of 8 from {low} to {high} bits")
        pair, keys = self._pair(slave_sae_id)
        if not pair.active and keys.stored_keys(size) < number:
            raise KeyServiceUnavailable(f"the QKD link is down ({pair.reason})")
        taken = keys.take(self.module_id, self.node, number, size)
        return KeyContainer(keys=[Key(key_id=key_id, key=encode_key(material)) for key_id, material in taken])

    async def dec_keys(self, caller: Identity, master_sae_id: str, key_ids: KeyIds) -> KeyContainer:
        self._authorise(caller)
        found = self.emulator.pair_for(self.module_id, master_sae_id)
        if found is None:
            raise Unauthorized("one or more key IDs are not available to this SAE")
        _, keys = found
        claimed = keys.claim(self.module_id, master_sae_id, [k.key_id for k in key_ids.key_ids])
        return KeyContainer(
            keys=[Key(key_id=key_id, key=encode_key(material)) for key_id, material in claimed]
        )
