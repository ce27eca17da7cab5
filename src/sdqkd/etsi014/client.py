"""An async ETSI GS QKD 014 V1.1.1 client (what an SAE uses to get keys from its KME), over HTTPS
with mutual TLS.

Every failure is one :class:`Etsi014ClientError`: an answer other than 200 (with the §6.5 Error
body's ``message`` and ``details``), a malformed answer, or a transport error (TLS refused, timeout,
connection lost; chained with ``from``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar, overload
from urllib.parse import quote
from uuid import UUID

import httpx
from pydantic import BaseModel, ValidationError

from sdqkd.errors import Unavailable
from sdqkd.etsi014.models import Error, KeyContainer, KeyId, KeyIds, KeyRequest, Status
from sdqkd.pki.tls import ExpectedPeer, async_https_client
from sdqkd.server.request_id import carry_request_id

__all__ = ["Etsi014Client", "Etsi014ClientError"]

_Model = TypeVar("_Model", bound=BaseModel)


class Etsi014ClientError(Unavailable):
    """An ETSI 014 request that did not deliver: the KME (or QKD module) did not answer, refused
    (``status_code`` says how: 400, 401 or 503), or answered something that is not ETSI 014.

    Attributes:
        status_code: the HTTP status of the answer; None when none came (transport error).
        message: the Error body's ``message`` (or a description of what went wrong).
        details: the Error body's ``details``, if any.
    """

    def __init__(
        self, message: str, *, status_code: int | None = None, details: list[dict[str, Any]] | None = None
    ) -> None:
        self.status_code = status_code
        self.message = message
        self.details = details
        super().__init__(f"{status_code}: {message}" if status_code is not None else message)


class Etsi014Client:
    """An SAE's client of a KME's ETSI GS QKD 014 API.

    Either give the SAE's certificate, key and the network CA (the usual way), or an
    ``httpx.AsyncClient`` already set up (e.g. with ``httpx.ASGITransport`` for in-process tests);
    that one stays the caller's to close. Use as ``async with`` or call :meth:`aclose`. Every method
    raises :class:`Etsi014ClientError` when the request does not deliver, and ``ValueError`` for
    arguments that cannot make a request (an SAE ID of ``""``, ``"."`` or ``".."``, say).

    Args:
        base_url: the KME's URL, e.g. ``https://kme-1:8443``.
        cert: the SAE's certificate (PEM).
        key: its private key (PEM).
        ca: the CA certificate the KME's certificate must chain to.
        timeout_s: connect/read/write/pool timeout, seconds.
        http_client: an existing client, instead of ``cert``/``key``/``ca``.
        peer: whom ``base_url`` must be (an SAE's KME: ``Identity(Role.KME, kme_id)``, or
            ``Role.KME``); the TLS handshake fails on a server whose certificate names another
            role or node. None checks the chain and host name only (a device outside sdqkd's PKI).
    """

    @overload
    def __init__(
        self,
        base_url: str,
        *,
        cert: Path,
        key: Path,
        ca: Path,
        timeout_s: float = 10.0,
        peer: ExpectedPeer | None = None,
    ) -> None: ...

    @overload
    def __init__(self, base_url: str, *, http_client: httpx.AsyncClient) -> None: ...

    def __init__(
        self,
        base_url: str,
        *,
        cert: Path | None = None,
        key: Path | None = None,
        ca: Path | None = None,
        timeout_s: float = 10.0,
        http_client: httpx.AsyncClient | None = None,
        peer: ExpectedPeer | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._http, self._owns_http = async_https_client(
            "Etsi014Client", cert, key, ca, timeout_s, http_client, peer=peer
        )
        if self._owns_http:  # a client of the caller's stays as it was made
            carry_request_id(self._http)

    async def __aenter__(self) -> Etsi014Client:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections (of a client this object made)."""
        if self._owns_http:
            await self._http.aclose()

    async def status(self, slave_sae_id: str) -> Status:
        """§5.1 Get status of the keys shared with ``slave_sae_id``."""
        return await self._call(Status, "GET", slave_sae_id, "status")

    async def enc_keys(
        self,
        slave_sae_id: str,
        number: int | None = None,
        size: int | None = None,
        additional_slave_sae_ids: Sequence[str] = (),
        extension_mandatory: Sequence[dict[str, Any]] = (),
        extension_optional: Sequence[dict[str, Any]] = (),
        use_get: bool = False,
    ) -> KeyContainer:
        """§5.2 Get key: new keys to share with ``slave_sae_id`` (and the additional slaves).

        Args:
            slave_sae_id: the SAE that will fetch the same keys with :meth:`dec_keys`.
            number: how many keys (default: the KME's, 1).
            size: key size, bits (default: the link's ``key_size``).
            additional_slave_sae_ids: further SAEs to share the keys with.
            extension_mandatory: extensions the KME must honour or refuse the request.
            extension_optional: extensions the KME may ignore.
            use_get: use the GET form (``number`` and ``size`` only).

        Raises:
            ValueError: ``use_get`` with members the GET form cannot carry.
            Etsi014ClientError: the request did not deliver.
        """
        if use_get:
            if additional_slave_sae_ids or extension_mandatory or extension_optional:
                raise ValueError("the GET form of enc_keys carries only number and size")
            params = {
                name: value for name, value in (("number", number), ("size", size)) if value is not None
            }
            return await self._call(KeyContainer, "GET", slave_sae_id, "enc_keys", params=params)
        request = KeyRequest(
            number=number,
            size=size,
            additional_slave_sae_ids=list(additional_slave_sae_ids),
            extension_mandatory=list(extension_mandatory),
            extension_optional=list(extension_optional),
        )
        body = request.model_dump(mode="json", exclude_defaults=True)
        return await self._call(KeyContainer, "POST", slave_sae_id, "enc_keys", json=body)

    async def dec_keys(
        self, master_sae_id: str, key_ids: Sequence[UUID], use_get: bool = False
    ) -> KeyContainer:
        """§5.3 Get key with key IDs: the keys ``master_sae_id`` obtained for this SAE.

        Args:
            master_sae_id: the SAE that called :meth:`enc_keys`.
            key_ids: the IDs it passed on.
            use_get: use the GET form (exactly one key ID).

        Raises:
            ValueError: no key IDs, or ``use_get`` with more than one.
            Etsi014ClientError: the request did not deliver.
        """
        if use_get:
            if len(key_ids) != 1:
                raise ValueError("the GET form of dec_keys carries exactly one key ID")
            params = {"key_ID": str(key_ids[0])}
            return await self._call(KeyContainer, "GET", master_sae_id, "dec_keys", params=params)
        request = KeyIds(key_ids=[KeyId(key_id=key_id) for key_id in key_ids])
        body = request.model_dump(mode="json", exclude_none=True)
        return await self._call(KeyContainer, "POST", master_sae_id, "dec_keys", json=body)

    async def _call(
        self,
        model: type[_Model],
        method: str,
        sae_id: str,
        operation: str,
        *,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
    ) -> _Model:
        if sae_id in ("", ".", ".."):  # would change the path, not name an SAE
            raise ValueError(f"invalid SAE ID {sae_id!r}")
        url = f"{self._base_url}/api/v1/keys/{quote(sae_id, safe='')}/{operation}"
        try:
            response = await self._http.request(method, url, params=params, json=json)
        except httpx.HTTPError as exc:
            # The URL is not repeated: a GET dec_keys URL holds a key ID.
            raise Etsi014ClientError(f"{operation} at {self._base_url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise _error_of(response)
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            raise Etsi014ClientError(
                f"{operation}: malformed {model.__name__} in the answer", status_code=response.status_code
            ) from exc


def _error_of(response: httpx.Response) -> Etsi014ClientError:
    """The error of a non-200 answer, from its §6.5 Error body if it has one."""
    try:
        error = Error.model_validate_json(response.content)
    except ValidationError:  # not JSON, or not an Error body (a proxy's page, say)
        reason = response.reason_phrase or "error"
        return Etsi014ClientError(f"{reason} (no ETSI 014 Error body)", status_code=response.status_code)
    return Etsi014ClientError(error.message, status_code=response.status_code, details=error.details)
