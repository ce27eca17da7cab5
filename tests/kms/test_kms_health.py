"""A KME's background loops survive unexpected errors: a key-supply round that raises is logged
(without what the exception said), backed off, retried until it works, and ``GET /health`` shows it
meanwhile (503, the loop backing off) and after (200, running)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from kms_support import LINK, POOL_TARGET_BLOCKS, KmsPki, Network, running_network, wait_for

from sdqkd.kms import Kme
from sdqkd.kms.config import KmeLinkConfig

pytestmark = pytest.mark.integration

_SECRET = "MATERIAL-0f9e8d"  # in the injected exception's message: it must not reach the logs


class FlakySupply:
    """``Kme.fill_once`` of n1 raising an unexpected error while ``failing`` (and at least twice)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.failing = True
        self.raised = 0

    async def __call__(self, kme: Kme, link: KmeLinkConfig) -> int:
        if kme.id == "n1" and (self.failing or self.raised < 2):
            self.raised += 1
            raise RuntimeError(f"unexpected: {_SECRET}")
        result: int = await self.real(kme, link)
        return result


def health(network: Network, node: str) -> tuple[int, dict[str, Any]]:
    with network.http(node, network.pki.operator) as http:
        response = http.get("/health")
    assert response.headers["cache-control"] == "no-store"
    return response.status_code, response.json()


def supply_loop(body: dict[str, Any]) -> dict[str, Any]:
    (loop,) = [loop for loop in body["loops"] if loop["name"] == f"kme-n1-supply-{LINK}"]
    return loop


def test_a_failing_supply_round_is_logged_backed_off_retried_and_shown_on_health(
    kms_pki: KmsPki, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG, logger="sdqkd.kms.kme")
    flaky = FlakySupply(Kme.fill_once)
    monkeypatch.setattr(Kme, "fill_once", lambda kme, link: flaky(kme, link))  # a method: bound to the KME

    with running_network(kms_pki, tmp_path) as network:
        _, body = wait_for(
            lambda: health(network, "n1"),
            lambda answer: answer[0] == 503 and supply_loop(answer[1])["failures"] >= 2,
            timeout_s=20,
            what="n1's supply loop backing off after two failures",
        )
        assert body["status"] == "degraded"
        failing = supply_loop(body)
        assert failing["state"] == "backing-off"
        assert failing["last_error"] == "RuntimeError"
        assert failing["last_success"] is None
        assert {loop["name"]: loop["state"] for loop in body["loops"]}["kme-n1-expire"] in (
            "starting",
            "running",
        )
        assert health(network, "n2")[0] == 200  # the peer's loops are fine
        # backed off: far fewer rounds than the 0.05 s pace of a working supply would make
        assert flaky.raised <= 6

        flaky.failing = False
        _, body = wait_for(
            lambda: health(network, "n1"),
            lambda answer: answer[0] == 200,
            timeout_s=20,
            what="n1's supply loop running again",
        )
        recovered = supply_loop(body)
        assert (recovered["state"], recovered["failures"]) == ("running", 0)
        assert recovered["total_failures"] == flaky.raised
        assert recovered["last_success"] is not None
        network.wait_for_ready_blocks(POOL_TARGET_BLOCKS, timeout_s=20)  # and keys flow

        records = [r for r in caplog.records if getattr(r, "loop", None) == f"kme-n1-supply-{LINK}"]
        warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "RuntimeError at" in warnings[0]  # the class and where, for the engineer
        assert _SECRET not in caplog.text  # never what the exception said
        assert any(
            f"recovered after {flaky.raised} failed round(s)" in r.getMessage() for r in caplog.records
        )


def test_health_is_for_the_operator_and_the_controller(kms_pki: KmsPki, tmp_path: Path) -> None:
    with running_network(kms_pki, tmp_path) as network:
        network.wait_for_ready_blocks()
        for certificate, expected in ((kms_pki.n1_app, 403), (kms_pki.kme_n2, 403), (kms_pki.operator, 200)):
            with network.http("n1", certificate) as http:
                assert http.get("/health").status_code == expected
        status, body = health(network, "n1")
        assert status == 200
        assert body["status"] == "ok"
        assert sorted(loop["name"] for loop in body["loops"]) == ["kme-n1-expire", f"kme-n1-supply-{LINK}"]
