"""Fuzzing a KME in process: its ETSI GS QKD 014 API (for SAEs) and its own routes (KME↔KME for the
peer KME, management for the controller), each as the role allowed and as roles that are not."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fuzz_support import FuzzPki, fuzz
from starlette.routing import Mount

pytestmark = pytest.mark.fuzz

_PEER_API = "/kmeapi/|/kmapi/"
_MANAGEMENT = "/api/v1/kme"


def etsi014_document(app: FastAPI) -> dict[str, Any]:
    (mount,) = [route for route in app.routes if isinstance(route, Mount)]
    document: dict[str, Any] = mount.app.openapi()  # type: ignore[attr-defined]
    return document


def test_fuzz_kme_etsi014_as_an_sae(kme_app: FastAPI, fuzz_pki: FuzzPki) -> None:
    report = fuzz(etsi014_document(kme_app), kme_app, fuzz_pki.sae)
    assert report.operations == 5
    assert not report.failures, report.summary()


@pytest.mark.parametrize("caller", ["controller", "peer_kme", None])
def test_fuzz_kme_etsi014_refuses_every_other_caller_with_401(
    kme_app: FastAPI, fuzz_pki: FuzzPki, caller: str | None
) -> None:
    certificate = getattr(fuzz_pki, caller) if caller else None
    report = fuzz(etsi014_document(kme_app), kme_app, certificate, refused={401})  # §5 has no 403
    assert not report.failures, report.summary()


def test_fuzz_kme_peer_api_as_the_peer_kme(kme_app: FastAPI, fuzz_pki: FuzzPki) -> None:
    report = fuzz(kme_app.openapi(), kme_app, fuzz_pki.peer_kme, only=_PEER_API)
    assert report.operations == 3
    assert not report.failures, report.summary()


def test_fuzz_kme_management_as_the_controller(kme_app: FastAPI, fuzz_pki: FuzzPki) -> None:
    report = fuzz(kme_app.openapi(), kme_app, fuzz_pki.controller, only=_MANAGEMENT)
    assert report.operations == 4
    assert not report.failures, report.summary()


@pytest.mark.parametrize(("caller", "refused"), [("sae", 403), ("emulator", 403), (None, 401)])
def test_fuzz_kme_own_routes_refuse_other_callers(
    kme_app: FastAPI, fuzz_pki: FuzzPki, caller: str | None, refused: int
) -> None:
    certificate = getattr(fuzz_pki, caller) if caller else None
    report = fuzz(kme_app.openapi(), kme_app, certificate, refused={refused})
    assert report.operations == 7
    assert not report.failures, report.summary()


@pytest.mark.parametrize("other_sae", ["n1-other", "n2-app"])
def test_fuzz_kme_etsi014_with_an_sae_it_serves(kme_app: FastAPI, fuzz_pki: FuzzPki, other_sae: str) -> None:
    # n1-other is local (keys made here), n2-app over the link whose module does not answer (503)
    sae_ids = {"slave_SAE_ID": other_sae, "master_SAE_ID": other_sae}
    report = fuzz(etsi014_document(kme_app), kme_app, fuzz_pki.sae, path_parameters=sae_ids)
    assert report.operations == 5
    assert not report.failures, report.summary()


def test_fuzz_kme_peer_api_on_its_link(kme_app: FastAPI, fuzz_pki: FuzzPki) -> None:
    report = fuzz(
        kme_app.openapi(), kme_app, fuzz_pki.peer_kme, only="/kmeapi/", path_parameters={"link_id": "n1-n2"}
    )
    assert report.operations == 2
    assert not report.failures, report.summary()
