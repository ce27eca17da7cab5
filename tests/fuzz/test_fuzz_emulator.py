"""Fuzzing the emulator in process: its management and optical plant API as the operator (who may
call everything), one module's ETSI GS QKD 014 as a KME, and both as callers that may not call."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fuzz_support import FuzzPki, fuzz

pytestmark = pytest.mark.fuzz

_MODULE = "norte-rx"


def module_etsi014_document(app: FastAPI) -> dict[str, Any]:
    (mount,) = [route for route in app.routes if getattr(route, "path", "") == f"/devices/{_MODULE}"]
    document: dict[str, Any] = mount.app.openapi()  # type: ignore[attr-defined]
    return document


def test_fuzz_emulator_as_the_operator(emulator_app: FastAPI, fuzz_pki: FuzzPki) -> None:
    document = emulator_app.openapi()
    report = fuzz(document, emulator_app, fuzz_pki.operator)
    assert report.operations == sum(len(item) for item in document["paths"].values())
    assert not report.failures, report.summary()


@pytest.mark.parametrize(("caller", "refused"), [("sae", 403), ("kme", 403), (None, 401)])
def test_fuzz_emulator_refuses_other_callers(
    emulator_app: FastAPI, fuzz_pki: FuzzPki, caller: str | None, refused: int
) -> None:
    certificate = getattr(fuzz_pki, caller) if caller else None
    report = fuzz(emulator_app.openapi(), emulator_app, certificate, refused={refused})
    assert not report.failures, report.summary()


def test_fuzz_emulator_module_etsi014_as_a_kme(emulator_app: FastAPI, fuzz_pki: FuzzPki) -> None:
    base_url = f"http://testserver/devices/{_MODULE}"
    report = fuzz(module_etsi014_document(emulator_app), emulator_app, fuzz_pki.kme, base_url=base_url)
    assert report.operations == 5
    assert not report.failures, report.summary()


@pytest.mark.parametrize("caller", ["sae", "controller", None])
def test_fuzz_emulator_module_etsi014_refuses_other_callers_with_401(
    emulator_app: FastAPI, fuzz_pki: FuzzPki, caller: str | None
) -> None:
    certificate = getattr(fuzz_pki, caller) if caller else None
    base_url = f"http://testserver/devices/{_MODULE}"
    document = module_etsi014_document(emulator_app)
    report = fuzz(document, emulator_app, certificate, refused={401}, base_url=base_url)
    assert not report.failures, report.summary()


def test_fuzz_emulator_elements_that_exist_as_the_operator(emulator_app: FastAPI, fuzz_pki: FuzzPki) -> None:
    # generated bodies and actions for a module, a fibre, a channel and a switch that exist
    existing = {
        "module_id": "norte-rx",
        "fibre_id": "concepcion-norte",
        "channel_id": "c10g-20",
        "switch_id": "concepcion-switch",
    }
    document = emulator_app.openapi()
    report = fuzz(document, emulator_app, fuzz_pki.operator, only="[{]", path_parameters=existing)
    assert report.operations == 11
    assert not report.failures, report.summary()
