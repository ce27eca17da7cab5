"""KME↔KME synchronisation over mutual TLS.

Two calls, both from the KME that owns blocks or keys to its peer on the same QKD link:

``POST /kmeapi/v1/links/{link}/blocks`` ``{"block_ids": [...]}``
    "I pulled these blocks from my module as master; pull your copies." The peer pulls them from
    its module as slave and answers ``{"held": [...], "missing": [...]}``. Idempotent.
``POST /kmeapi/v1/links/{link}/assignments`` ``{"key_ids": [...], "slave": SAE}``
    "Which of these keys did you make for this slave SAE, from which blocks?" Answers
    ``{"assignments": [{"key_ID", "master_SAE_ID", "slave_SAE_IDs", "size", "block_IDs"}]}`` for the
    keys that exist and name that slave; the others are simply absent.

``POST /kmapi/v1/ext_keys`` (ETSI GS QKD 020, synchronous mode)
    One hop of a key relay over a virtual link (:mod:`sdqkd.kms.relay`): answered with an
    ``ack_container`` once the far end has stored the keys.

Only the peer KME of a configured link may call (certificate ``kme:PEER``); errors are RFC 9457
problem details.

On the calling side every failure is one :class:`PeerKmeUnavailable`: no answer, an answer other than
200, or a 200 whose body is not what the call answers (not JSON, members missing or of the wrong type).
The caller retries later; nothing it sent is assumed to have been acted upon.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sdqkd.errors import KeyServiceUnavailable, Unavailable
from sdqkd.kms.relay import AckContainer, ExtKeysRequest
from sdqkd.kms.store import Assignment
from sdqkd.pki.identity import Identity, Role
from sdqkd.pki.tls import client_ssl_context
from sdqkd.server.request_id import carry_request_id

__all__ = [
    "AssignmentsRequest",
    "AssignmentsResponse",
    "BlocksRequest",
    "BlocksResponse",
    "PeerClient",
    "PeerKmeUnavailable",
    "WireAssignment",
]

_Answer = TypeVar("_Answer", bound=BaseModel)


class PeerKmeUnavailable(KeyServiceUnavailable, Unavailable):
    """The peer KME did not answer, or not as the KME↔KME API says (an error status, a body that is
    not the call's answer). A :class:`KeyServiceUnavailable` too: an SAE whose request needed the
    peer gets 503 and may retry."""


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)


_MAX_IDS = 4096  # block or key IDs per call


class BlocksRequest(_Wire):
    block_ids: list[uuid.UUID] = Field(min_length=1, max_length=_MAX_IDS)


class BlocksResponse(_Wire):
    held: list[uuid.UUID]
    missing: list[uuid.UUID]


class AssignmentsRequest(_Wire):
    key_ids: list[uuid.UUID] = Field(alias="key_IDs", min_length=1, max_length=_MAX_IDS)
    slave: str = Field(min_length=1)


class WireAssignment(_Wire):
    key_id: uuid.UUID = Field(alias="key_ID")
    master: str = Field(alias="master_SAE_ID")
    slaves: list[str] = Field(alias="slave_SAE_IDs")
    size: int
    block_ids: list[uuid.UUID] = Field(alias="block_IDs")

    @classmethod
    def of(cls, assignment: Assignment) -> WireAssignment:
        return cls(
            key_id=assignment.key_id,
            master=assignment.master,
            slaves=list(assignment.slaves),
            size=assignment.size_bits,
            block_ids=list(assignment.block_ids),
        )

    def assignment(self) -> Assignment:
        return Assignment(self.key_id, self.master, tuple(self.slaves), self.size, tuple(self.block_ids))


class AssignmentsResponse(_Wire):
    assignments: list[WireAssignment]


class PeerClient:
    """This KME's client of one peer KME."""

    def __init__(
        self,
        base_url: str,
        cert: Any,
        key: Any,
        ca: Any,
        timeout_s: float = 10.0,
        *,
        peer_kme_id: str,
        crl: Path | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        peer = Identity(Role.KME, peer_kme_id)  # the link's other end, and no other KME
        self._http = carry_request_id(  # a relay hop is logged under the SAE's request
            httpx.AsyncClient(
                base_url=self.base_url,
                verify=client_ssl_context(cert, key, ca, peer=peer, crl=crl),
                timeout=timeout_s,
            )
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _post(self, path: str, body: BaseModel, answer: type[_Answer]) -> _Answer:
        """POST ``body`` to ``path``; the peer's answer as ``answer``.

        Raises:
            PeerKmeUnavailable: no answer, a status other than 200, or a body that is not ``answer``.
        """
        try:
            response = await self._http.post(path, content=body.model_dump_json(by_alias=True),
                                             headers={"content-type": "application/json"})  # fmt: skip
        except httpx.HTTPError as exc:
            raise PeerKmeUnavailable(f"peer KME unreachable ({type(exc).__name__})") from exc
        if response.status_code != 200:
            raise PeerKmeUnavailable(f"peer KME answered {response.status_code}")
        try:
            # The peer's own body is not repeated: it is the peer's to log, and could be anything.
            return answer.model_validate_json(response.content)
        except ValidationError as exc:
            raise PeerKmeUnavailable(
                f"peer KME answered 200 with something that is not a {answer.__name__} "
                f"({exc.error_count()} problem(s))"
            ) from exc

    async def ext_keys(self, request: ExtKeysRequest) -> AckContainer:
        """Send one relay hop; the far end's acknowledgement.

        Raises:
            PeerKmeUnavailable: the peer (or a KME after it) did not relay and store the keys.
        """
        return await self._post("/kmapi/v1/ext_keys", request, AckContainer)

    async def hold_blocks(self, link_id: str, block_ids: Sequence[uuid.UUID]) -> BlocksResponse:
        """Ask the peer to pull its copies of ``block_ids`` (which this KME pulled as master).

        Raises:
            PeerKmeUnavailable: the peer did not answer with a :class:`BlocksResponse` about these
                blocks.
        """
        body = BlocksRequest(block_ids=list(block_ids))
        answer = await self._post(f"/kmeapi/v1/links/{link_id}/blocks", body, BlocksResponse)
        held, missing = set(answer.held), set(answer.missing)
        # The caller marks ready what is held and deletes what is missing: an answer about other
        # blocks (or both about one) would make it hand out, or delete, blocks the peer never saw.
        if not held | missing <= set(block_ids) or held & missing:
            raise PeerKmeUnavailable("peer KME answered about blocks it was not asked about")
        return answer

    async def assignments(self, link_id: str, key_ids: Sequence[uuid.UUID], slave: str) -> list[Assignment]:
        """The peer's assignments of ``key_ids`` to ``slave`` (those it has; the others are absent).

        Raises:
            PeerKmeUnavailable: the peer did not answer with an :class:`AssignmentsResponse`.
        """
        found: list[Assignment] = []
        # An SAE may name any number of key IDs in dec_keys; a call carries at most _MAX_IDS.
        for start in range(0, len(key_ids), _MAX_IDS):
            body = AssignmentsRequest(key_ids=list(key_ids[start : start + _MAX_IDS]), slave=slave)
            answer = await self._post(f"/kmeapi/v1/links/{link_id}/assignments", body, AssignmentsResponse)
            found += [a.assignment() for a in answer.assignments]
        return found
