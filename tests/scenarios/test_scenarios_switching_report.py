"""``sdqkd scenario switching``'s report, made from a recorded run: time shares from the port over the
samples, the moves, the key each pair made against ideal time-sharing, a pool that ran dry, and the
files (JSON fields, Markdown tables, the PNG plot)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from sdqkd.scenarios.report import write_report
from sdqkd.scenarios.switching import ConsumerTally, ReceiverSample, SwitchingRecord, SwitchSample
from sdqkd.scenarios.switching_report import (
    connected_s,
    delivered_bits,
    key_delivery,
    moves,
    switching_report,
)

_PNG = b"\x89PNG\r\n\x1a\n"
_NORTE, _QUINTIN = "concepcion-norte", "concepcion-quintin"


def _sample(t_s: float) -> SwitchSample:
    """To Norte for the first 10 s, then to Quintín; Quintín re-synchronises for 0.5 s after the move.
    Norte's pool falls 10 kbit a second from 1000 kbit, Quintín's stays at 800 kbit."""
    north = t_s < 10.0
    return SwitchSample(
        t_s,
        "to-norte" if north else "to-quintin",
        3 if north else 4,
        (
            ReceiverSample(
                _NORTE,
                "to-norte",
                "norte",
                north,
                0.5,
                "up" if north else "standby",
                1_000_000.0 - 10_000.0 * t_s,
                45000.0 if north else None,
            ),
            ReceiverSample(
                _QUINTIN,
                "to-quintin",
                "quintin",
                not north,
                0.5,
                "standby" if north else "up",
                800_000.0,
                54000.0 if t_s >= 10.5 else None,
            ),
        ),
    )


@pytest.fixture
def record() -> SwitchingRecord:
    samples = [_sample(0.5 * i) for i in range(41)]  # 0 … 20 s
    return SwitchingRecord(
        switch="concepcion-switch",
        node="concepcion",
        transmitter="concepcion-tx",
        ports=["to-norte", "to-quintin"],
        time_scale=10.0,
        duration_s=20.0,
        rate_keys_per_s=20.0,
        key_bits=256,
        started_at=dt.datetime(2026, 12, 2, 22, 10, tzinfo=dt.UTC),
        low_water_bits=262144.0,
        samples=samples,
        consumers={
            _NORTE: ConsumerTally(_NORTE, "concepcion-app", "norte-app", requests=400, keys=400, bits=102400),
            _QUINTIN: ConsumerTally(
                _QUINTIN,
                "concepcion-app",
                "quintin-app",
                requests=400,
                keys=397,
                bits=101632,
                not_enough_key=3,
                first_dry_s=12.0,
            ),
        },
    )


def test_shares_and_moves_come_from_the_port_over_the_samples(record: SwitchingRecord) -> None:
    assert connected_s(record.samples) == pytest.approx({"to-norte": 10.0, "to-quintin": 10.0})
    assert moves(record.samples) == [(10.0, "to-norte", "to-quintin")]


def test_key_made_integrates_the_emulator_rate_times_the_time_scale_while_the_pair_makes_key(
    record: SwitchingRecord,
) -> None:
    made = delivered_bits(record.samples, record.time_scale)

    assert made == pytest.approx({_NORTE: 45000.0 * 10 * 10.0, _QUINTIN: 54000.0 * 10 * 9.5})


def test_delivery_is_against_the_rate_while_connected_for_the_share_of_the_time(
    record: SwitchingRecord,
) -> None:
    delivery, shares, rates = key_delivery(record)

    assert shares == pytest.approx({_NORTE: 0.5, _QUINTIN: 0.5})
    assert rates == pytest.approx({_NORTE: 450_000.0, _QUINTIN: 540_000.0})
    assert delivery.ratios == pytest.approx({_NORTE: 1.0, _QUINTIN: 0.95})


def test_the_report_fails_when_a_pool_ran_dry_and_writes_its_files(
    record: SwitchingRecord, tmp_path: Path
) -> None:
    report = switching_report(record, tmp_path)
    md_path, json_path = write_report(report, tmp_path)

    assert [(c.name, c.passed) for c in report.checks] == [
        ("every switched receiver served", True),
        ("no pool ran dry", False),
        ("key made at least 80 % of ideal time-sharing", True),
    ]
    body = json.loads(json_path.read_text(encoding="utf-8"))
    assert body["any_pool_ran_dry"] is True
    assert body["moves"]["seen"] == 1
    assert body["moves"]["controller_count"] == 1
    assert body["moves"]["at"] == [{"t_s": 10.0, "from": "to-norte", "to": "to-quintin"}]
    norte, quintin = body["receivers"][_NORTE], body["receivers"][_QUINTIN]
    assert (norte["share"], norte["pool_min_bits"], norte["ran_dry"]) == (0.5, 800_000.0, False)
    assert (quintin["delivery_ratio"], quintin["ran_dry"]) == (0.95, True)
    assert quintin["consumer"]["not_enough_key"] == 3
    assert norte["delivered_bits"] == 4_500_000
    assert body["series"]["port"][0] == "to-norte"
    assert len(body["series"]["pool_bits"][_NORTE]) == 41
    text = md_path.read_text(encoding="utf-8")
    assert "| no pool ran dry | FAIL |" in text
    assert (
        "| concepcion-quintin | to-quintin | 50.0 % | 50.0 % | 800 | 5130 | 5400 | 95.0 % | 397 | 3 |" in text
    )
    assert "| 10.00 | to-norte | to-quintin |" in text
    data = (tmp_path / "switching-pools.png").read_bytes()
    assert body["plots"] == ["switching-pools.png"]
    assert data.startswith(_PNG)
    assert len(data) > 10_000


def test_a_receiver_never_served_fails_the_report(record: SwitchingRecord, tmp_path: Path) -> None:
    record.samples = [s for s in record.samples if s.t_s < 10.0]

    report = switching_report(record, tmp_path)

    assert not report.checks[0].passed
    assert report.checks[0].detail == "concepcion-norte 100 %, concepcion-quintin 0 %"
