"""``sdqkd postproc simulate|bench``: the pipeline on simulated links, measured against eq. 8."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

import pytest

Sdqkd = Callable[..., subprocess.CompletedProcess[str]]

# A 2.3 km link with V_A = 2: SNR ≈ 1 like the Madrid links, and key left at 2·10⁶ symbols.
_SHORT = ["--length-km", "2.3", "--va", "2", "--block-size", "2e6", "--frame-bits", "16384"]


def test_simulate_reports_beta_fer_and_a_key_on_the_formula(sdqkd: Sdqkd) -> None:
    result = sdqkd(
        "postproc", "simulate", *_SHORT, "--target-efficiency", "0.8", "--seed", "3", "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    (link,) = json.loads(result.stdout)["links"]
    measured = link["measured"]
    assert link["link"] == "2.3 km"
    assert measured["snr"] == pytest.approx(link["snr"], rel=0.03)
    assert 0.79 < measured["efficiency"] <= 0.8
    assert measured["frame_error_rate"] < 0.5
    assert measured["keys_equal"] is True
    assert measured["key_bits"] > 0
    assert measured["key_rate_bps"] == pytest.approx(measured["key_bits_per_symbol"] * 2e6)  # madrid-2018
    # Eq. 8 at the measured β, FER and channel is the key the pipeline made, to within 5 %.
    assert link["formula"]["ratio"] == pytest.approx(1.0, abs=0.05)
    assert link["formula_true_channel"]["key_rate_bps"] > 0


def test_simulate_draws_a_table_and_says_why_a_block_made_no_key(sdqkd: Sdqkd) -> None:
    # 60 km at the Madrid profile: the estimate proves a channel, but the code rate it needs is
    # below what the codes are built for (or no key is left).
    result = sdqkd("postproc", "simulate", "--length-km", "60", "--block-size", "2e5", "--frame-bits", "4096")
    assert result.returncode == 0, result.stderr
    assert "60 km" in result.stdout
    assert "a block made no key" in result.stdout


def test_bench_times_each_step_of_a_block(sdqkd: Sdqkd) -> None:
    result = sdqkd(
        "postproc",
        "bench",
        "--link",
        "norte-quintin",
        "--block-size",
        "3e5",
        "--frame-bits",
        "4096",
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["symbols"] == 300_000
    assert figures["simulate_msymbols_per_s"] > 0
    assert figures["reconcile_mbit_per_s"] > 0
    assert 0.83 < figures["efficiency"] <= 0.84  # madrid-2018's measured β
    assert set(figures["seconds"]) == {"simulate", "estimate", "reconcile", "amplify"}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["postproc", "simulate"], "give the link"),
        (["postproc", "simulate", "--topology", "madrid", "--link", "nope"], "nope"),
        (["postproc", "simulate", "--length-km", "5", "--eta", "1.5"], "efficiency"),
        (["postproc", "simulate", "--length-km", "5", "--profile", "nope"], "nope"),
    ],
)
def test_bad_requests_are_one_line_errors(sdqkd: Sdqkd, arguments: list[str], message: str) -> None:
    result = sdqkd(*arguments)
    assert result.returncode != 0
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
