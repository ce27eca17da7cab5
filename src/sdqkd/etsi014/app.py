"""The ETSI GS QKD 014 V1.1.1 REST API (§5) over any :class:`~sdqkd.etsi014.service.KeyService`.

Routes (§5.1–§5.3), under ``/api/v1/keys``::

    GET       {slave_SAE_ID}/status     → Status
    POST|GET  {slave_SAE_ID}/enc_keys   → Key container   (body Key request | query number, size)
    POST|GET  {master_SAE_ID}/dec_keys  → Key container   (body Key IDs | query key_ID)

and ``GET /openapi.json`` (the operator's: the API's description is no business of SAEs).

The caller's identity comes from its TLS client certificate; who may call is the app's
:class:`~sdqkd.server.authz.Table` (:func:`etsi014_table`), enforced before any route runs; a caller it
refuses gets 401 (a :class:`~sdqkd.errors.Forbidden`: §5 has no 403). The identity is handed to the
service, which decides what the caller may see and enforces its own limits (key counts and sizes,
extensions). The app adds one rule of its own: sizes are whole bytes.

Every answer carries ``Cache-Control: no-store``; every failure is a §6.5 Error body (``message``,
``details`` when there are any) with 400, 401 or 503 as §5 prescribes, or 404/405 for a route or
method that does not exist: one table (:data:`_STATUS_OF`) maps each error class to its status. A
validation failure says where and why, never what was sent; every error body is bounded (a message
of at most :data:`_MAX_MESSAGE` characters, details dropped past :data:`_MAX_DETAILS` characters of
JSON), so no request is echoed back at length. Bodies are strict JSON
(:mod:`sdqkd.server.strict_json`: a repeated member or deep nesting is a 400), and a Key IDs list
longer than the server's ``max_key_per_request`` is refused before the service sees it. Nothing
logged here names a key, a key ID or a request body.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from sdqkd.errors import (
    Forbidden,
    KeyDeliveryError,
    KeyRequestInvalid,
    KeyServiceUnavailable,
    SdqkdError,
    Unauthenticated,
    Unauthorized,
    Unavailable,
)
from sdqkd.etsi014.models import Error, KeyContainer, KeyId, KeyIds, KeyRequest, Status
from sdqkd.etsi014.service import KeyService
from sdqkd.pki.identity import Identity, Role
from sdqkd.server.authz import Check, Condition, Grant, Table, allow, authorise
from sdqkd.server.errors import (
    ErrorRenderer,
    ErrorTable,
    HTTPError,
    install_error_handlers,
    validation_problems,
)
from sdqkd.server.identity import peer_identity
from sdqkd.server.middleware import NoStoreAndContain
from sdqkd.server.openapi import ErrorAnswers, install_openapi
from sdqkd.server.strict_json import StrictJsonRoute

__all__ = ["create_etsi014_app", "etsi014_table"]

logger = logging.getLogger(__name__)

# ETSI GS QKD 014 §5: 400 bad request format, 401 unauthorized, 503 error on the server side. §5 has
# no 403: a caller that is known but not allowed (Forbidden) is 401, as one without a certificate.
# Unauthorized is a KeyDeliveryError and a Forbidden: named here so that its status does not depend
# on which of its bases comes first.
_STATUS_OF: dict[type[SdqkdError], int] = {
    KeyRequestInvalid: 400,
    Unauthorized: 401,
    Forbidden: 401,
    Unauthenticated: 401,
    KeyServiceUnavailable: 503,
    KeyDeliveryError: 503,
    Unavailable: 503,  # something the key service needs did not answer
}
_ERROR_ANSWERS = ErrorAnswers(
    name="Error",
    schema=Error.model_json_schema(),
    media_type="application/json",
    statuses={
        400: ("Bad request format", "always"),  # a repeated query parameter, on every route
        401: ("Unauthorized: no usable client certificate, or not these keys", "always"),
        413: ("The request body is too large", "body"),
        503: ("Error on the server side (e.g. not enough key material)", "always"),
    },
)
"""§5's answers, in the OpenAPI document: §6.5 Error bodies with 400/401/503, no 422 (validation
failures are 400s), 413 for an oversized body."""
_METHODS = {"status": "GET", "enc_keys": "GET, POST", "dec_keys": "GET, POST"}  # §5: the Allow header
_UNEXPECTED = "the key server could not serve the request"
_MAX_MESSAGE = 256  # characters of an Error's message
_MAX_DETAILS = 2048  # characters of its details, as JSON

SlaveSaeId = Annotated[str, Path(alias="slave_SAE_ID", description="the SAE to share keys with")]
MasterSaeId = Annotated[str, Path(alias="master_SAE_ID", description="the SAE that obtained the keys")]


class _EncKeysQuery(BaseModel):
    """§5.2 GET form of Get key: the Key request's ``number`` and ``size`` as query parameters."""

    model_config = ConfigDict(extra="forbid")  # an ignored parameter would silently change the request

    number: int | None = Field(default=None, ge=1, description="number of keys (default 1)")
    size: int | None = Field(default=None, ge=1, description="key size, bits, a multiple of 8")


class _DecKeysQuery(BaseModel):
    """§5.3 GET form of Get key with key IDs: a single ``key_ID``."""

    model_config = ConfigDict(extra="forbid")

    key_id: UUID = Field(alias="key_ID")


def _error(status_code: int, message: str, details: list[dict[str, Any]] | None = None) -> JSONResponse:
    """A §6.5 Error response; ``details`` omitted when there are none."""
    # bounded whatever the message or details quote: an error never echoes a request at length
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 1] + "…"
    body: dict[str, Any] = {"message": message}
    if details and len(json.dumps(details, default=str)) <= _MAX_DETAILS:
        body["details"] = details
    return JSONResponse(Error.model_validate(body).model_dump(mode="json", exclude_none=True), status_code)


def _whole_bytes(request: KeyRequest) -> KeyRequest:
    # §6.2: sizes are in bits; sdqkd delivers whole bytes. Other size limits are the service's.
    if request.size is not None and request.size % 8:
        raise KeyRequestInvalid(
            "size must be a multiple of 8 bits", details=[{"parameter": "size", "value": request.size}]
        )
    return request


async def _single_valued_query(request: Request) -> None:
    # A repeated parameter (?key_ID=a&key_ID=b) would otherwise be read as its last value only.
    keys = [key for key, _ in request.query_params.multi_items()]
    if len(keys) != len(set(keys)):
        raise KeyRequestInvalid("a query parameter is repeated")


async def _caller(request: Request) -> Identity:
    """The caller's identity (the app-wide authorisation has admitted it by then)."""
    return await peer_identity(request)


async def _service(request: Request) -> KeyService:
    service: KeyService = request.app.state.key_service
    return service


CallerDep = Annotated[Identity, Depends(_caller)]
ServiceDep = Annotated[KeyService, Depends(_service)]

# Who calls is checked first (the app's authorisation dependency); the routes get the same (cached)
# identity through CallerDep.
_router = APIRouter(
    prefix="/api/v1/keys",
    dependencies=[Depends(_single_valued_query)],
    route_class=StrictJsonRoute,  # §6: one meaning per body (no repeated members), bounded depth
)

_KEY_ROUTES = (
    ("GET", "/api/v1/keys/{slave_SAE_ID}/status"),
    ("POST", "/api/v1/keys/{slave_SAE_ID}/enc_keys"),
    ("GET", "/api/v1/keys/{slave_SAE_ID}/enc_keys"),
    ("POST", "/api/v1/keys/{master_SAE_ID}/dec_keys"),
    ("GET", "/api/v1/keys/{master_SAE_ID}/dec_keys"),
)


def etsi014_table(service: str, *key_callers: Role | Grant) -> Table:
    """The table of an ETSI 014 app: ``key_callers`` on the five key routes (the key service then
    decides which keys each may see), the operator on ``/openapi.json``."""
    keys = allow(*key_callers)
    return Table(
        service, {**dict.fromkeys(_KEY_ROUTES, keys), ("GET", "/openapi.json"): allow(Role.OPERATOR)}
    )


@_router.get("/{slave_SAE_ID}/status", response_model_exclude_none=True, summary="Get status (§5.1)")
async def get_status(caller: CallerDep, service: ServiceDep, slave_sae_id: SlaveSaeId) -> Status:
    return await service.status(caller, slave_sae_id)


@_router.post("/{slave_SAE_ID}/enc_keys", response_model_exclude_none=True, summary="Get key (§5.2)")
async def post_enc_keys(
    caller: CallerDep,
    service: ServiceDep,
    slave_sae_id: SlaveSaeId,
    request: Annotated[KeyRequest | None, Body()] = None,
) -> KeyContainer:
    # §6.2: every member is optional, so an empty body asks for the defaults.
    container = await service.enc_keys(caller, slave_sae_id, _whole_bytes(request or KeyRequest()))
    logger.debug("enc_keys: %s got %d keys for %s", caller, len(container.keys), slave_sae_id)
    return container


@_router.get("/{slave_SAE_ID}/enc_keys", response_model_exclude_none=True, summary="Get key (§5.2)")
async def get_enc_keys(
    caller: CallerDep, service: ServiceDep, slave_sae_id: SlaveSaeId, query: Annotated[_EncKeysQuery, Query()]
) -> KeyContainer:
    request = _whole_bytes(KeyRequest(number=query.number, size=query.size))
    container = await service.enc_keys(caller, slave_sae_id, request)
    logger.debug("enc_keys: %s got %d keys for %s", caller, len(container.keys), slave_sae_id)
    return container


@_router.post(
    "/{master_SAE_ID}/dec_keys", response_model_exclude_none=True, summary="Get key with key IDs (§5.3)"
)
async def post_dec_keys(
    caller: CallerDep, service: ServiceDep, master_sae_id: MasterSaeId, key_ids: KeyIds, request: Request
) -> KeyContainer:
    most: int | None = request.app.state.max_key_ids
    if most is not None and len(key_ids.key_ids) > most:  # refused before any is looked up
        raise KeyRequestInvalid(
            f"more key IDs than max_key_per_request ({most})", details=[{"max_key_per_request": most}]
        )
    container = await service.dec_keys(caller, master_sae_id, key_ids)
    logger.debug("dec_keys: %s got %d keys from %s", caller, len(container.keys), master_sae_id)
    return container


@_router.get(
    "/{master_SAE_ID}/dec_keys", response_model_exclude_none=True, summary="Get key with key IDs (§5.3)"
)
async def get_dec_keys(
    caller: CallerDep,
    service: ServiceDep,
    master_sae_id: MasterSaeId,
    query: Annotated[_DecKeysQuery, Query()],
) -> KeyContainer:
    key_ids = KeyIds(key_ids=[KeyId(key_id=query.key_id)])
    container = await service.dec_keys(caller, master_sae_id, key_ids)
    logger.debug("dec_keys: %s got %d keys from %s", caller, len(container.keys), master_sae_id)
    return container


def _refused(status_code: int) -> ErrorRenderer:
    def render(request: Request, exc: SdqkdError) -> JSONResponse:
        logger.info("ETSI 014 request refused: %d %s", status_code, type(exc).__name__)
        if isinstance(exc, KeyDeliveryError):
            return _error(status_code, exc.message, exc.details)
        if isinstance(exc, Unavailable):  # its message is about another service: not the SAE's business
            return _error(status_code, _UNEXPECTED)
        return _error(status_code, str(exc))

    return render


def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    # Where and why only: the offending input is not echoed (it may be a key ID).
    details: list[dict[str, Any]] = [
        {"location": problem["field"], "reason": problem["problem"]} for problem in validation_problems(exc)
    ]
    return _error(400, "bad request format", details)


def _http_error(request: Request, exc: HTTPError) -> JSONResponse:
    response = _error(exc.status_code, str(exc.detail))
    response.headers.update(exc.headers or {})
    operation = request.url.path.rsplit("/", 1)[-1]
    if exc.status_code == 405 and operation in _METHODS:
        # RFC 9110 §10.2.1: all the methods of the path (Starlette names its first route's only)
        response.headers["Allow"] = _METHODS[operation]
    return response


_ERROR_TABLE: ErrorTable = {
    **{error_class: _refused(status_code) for error_class, status_code in _STATUS_OF.items()},
    RequestValidationError: _invalid_request,
    HTTPError: _http_error,
}


def create_etsi014_app(
    service: KeyService,
    *,
    title: str = "sdqkd ETSI GS QKD 014 key delivery",
    table: Table | None = None,
    checks: Mapping[Condition, Check] | None = None,
    max_key_ids: int | None = None,
) -> FastAPI:
    """The ETSI GS QKD 014 API serving ``service``.

    Args:
        service: what holds the keys (a KME, an emulated QKD module).
        title: the OpenAPI title.
        table: who may call (default: SAEs and KMEs on the key routes, :func:`etsi014_table`);
            others get 401.
        checks: the predicates of the table's conditions.
        max_key_ids: the most key IDs one Key IDs request may name (the service's
            ``max_key_per_request``); more get 400 before the service is called. None: only the
            protocol-wide :data:`~sdqkd.etsi014.models.MAX_KEY_IDS`.
    """
    table = table or etsi014_table("ETSI GS QKD 014", Role.SAE, Role.KME)
    app = FastAPI(
        title=title,
        version="1.1.1",
        description="ETSI GS QKD 014 V1.1.1 (2019-02): REST-based key delivery to SAEs.",
        docs_url=None,  # the interactive docs load scripts from a CDN: not on a key server
        redoc_url=None,
        openapi_url=None,  # served below, behind the table like every other route
        dependencies=[authorise(table, checks)],
    )
    app.state.key_service = service
    app.state.max_key_ids = max_key_ids

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    app.add_middleware(
        NoStoreAndContain, error_response=lambda: _error(503, _UNEXPECTED), logger=logger, label="ETSI 014"
    )
    app.include_router(_router)
    install_openapi(app, _ERROR_ANSWERS)

    install_error_handlers(app, _ERROR_TABLE)
    return app
