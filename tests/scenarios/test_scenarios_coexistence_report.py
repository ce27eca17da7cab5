"""``sdqkd scenario coexistence``'s report, made from a recorded run: the time to target counted from the
change only once the controller shows it and every link is at target at the controller and at the
emulator, channels below their floor, key rates per phase, actions on the scenario's time axis, and
the files (JSON fields, Markdown tables, PNG plots)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from sdqkd.scenarios.coexistence import ChannelSample, CoexistenceRecord, FibreSample, LinkSample, Phase
from sdqkd.scenarios.coexistence_report import below_floor, coexistence_report, phase_rates, time_to_target_s
from sdqkd.scenarios.plots import SpectrumChannel, SpectrumSnapshot
from sdqkd.scenarios.report import write_report

_PNG = b"\x89PNG\r\n\x1a\n"
_START = dt.datetime(2026, 12, 2, 22, 10, 0, tzinfo=dt.UTC)
_TARGET = 42000.0
_ADDED = {"op-10g-57": 57, "op-10g-58": 58, "op-10g-60": 60, "op-10g-61": 61}


def _link(
    predicted: float, measured: float | None, emulator: float | None, at_target: bool, grid: int = 59
) -> LinkSample:
    return LinkSample("concepcion-norte", "up", grid, measured, predicted, _TARGET, at_target, emulator)


def _channels(c100g_dbm: float, added: bool = False, c10g_dbm: float = -3.0) -> tuple[ChannelSample, ...]:
    channels = [ChannelSample("c100g-36", 36, c100g_dbm, 15.0 if added else 0.0, -14.1)]
    channels.append(ChannelSample("c10g-20", 20, c10g_dbm, -3.0, -18.1))
    if added:
        channels += [ChannelSample(i, n, 3.0, 3.0, -18.1) for i, n in _ADDED.items()]
    return tuple(channels)


def _sample(t_s: float, link: LinkSample, channels: tuple[ChannelSample, ...]) -> FibreSample:
    return FibreSample(t_s, (link,), channels)


@pytest.fixture
def record() -> CoexistenceRecord:
    """A run: no load (on standby), 2 channels, the change at 4.0 s (the controller's view still stale at
    4.25 s, the link below target at 4.75 s, at target at the controller but not yet at the emulator at
    5.25 s, back at 6.25 s), one 10G channel below its floor meanwhile, the undo at 8.0 s, back at 9.0 s."""
    samples = [
        _sample(0.5, _link(50000.0, None, None, True), ()),
        _sample(1.5, _link(50000.0, None, None, True), ()),
        _sample(2.5, _link(45000.0, 45000.0, 45000.0, True), _channels(0.0)),
        _sample(3.5, _link(45000.0, 45000.0, 45000.0, True), _channels(0.0)),
        _sample(4.25, _link(45000.0, 45000.0, 28000.0, True), _channels(0.0)),
        _sample(4.75, _link(28000.0, 28000.0, 28000.0, False), _channels(15.0, added=True)),
        _sample(5.25, _link(43000.0, 43000.0, 40000.0, True), _channels(-14.1, added=True)),
        _sample(6.25, _link(43000.0, 43000.0, 43000.0, True), _channels(-14.1, added=True, c10g_dbm=-20.0)),
        _sample(7.25, _link(43000.0, 43000.0, 43000.0, True), _channels(-14.1, added=True, c10g_dbm=-19.0)),
        _sample(8.5, _link(45000.0, 45000.0, 45000.0, True), _channels(0.0)),
        _sample(9.5, _link(45000.0, 45000.0, 45000.0, True), _channels(0.0)),
    ]
    spectrum = SpectrumSnapshot(
        "before", [SpectrumChannel("c100g-36", 193.6, 0.0, 0.0, -14.1)], [("concepcion-norte", 195.9)]
    )
    after = SpectrumSnapshot(
        "after", [SpectrumChannel("c100g-36", 193.6, -14.1, 15.0, -14.1)], [("concepcion-norte", 195.9)]
    )
    action = {
        "id": 3,
        "time": "2026-12-02T22:10:05.000Z",
        "fibre": "concepcion-norte",
        "kind": "lower_power",
        "target": "c100g-36",
        "before": 15.0,
        "after": -14.1,
        "reason": "predicted 28000 < target 42000",
    }
    return CoexistenceRecord(
        fibre="concepcion-norte",
        time_scale=10.0,
        started_at=_START,
        raised=("c100g-36", 0.0),
        added=dict(_ADDED),
        original={"c100g-36": (36, 0.0), "c10g-20": (20, -3.0)},
        original_quantum={"concepcion-norte": 59},
        phases=[
            Phase("no classical load", 0.0, 2.0),
            Phase("2 classical channels", 2.0, 4.0),
            Phase("operator raises power and adds channels", 4.0, 8.0),
            Phase("operator undoes the change", 8.0, 10.0),
        ],
        samples=samples,
        actions=[action],
        spectra=[spectrum, after],
        change_s=4.0,
        undo_s=8.0,
        restored_s=9.0,
    )


def test_time_to_target_waits_for_the_change_in_view_and_the_emulator_at_target(
    record: CoexistenceRecord,
) -> None:
    assert time_to_target_s(record) == pytest.approx(2.25)


def test_time_to_target_is_none_when_the_links_never_come_back(record: CoexistenceRecord) -> None:
    record.samples = record.samples[:7]

    assert time_to_target_s(record) is None


def test_below_floor_gives_each_channel_once_at_its_lowest(record: CoexistenceRecord) -> None:
    assert below_floor(record.samples) == [
        {"channel": "c10g-20", "t_s": 6.25, "power_dbm": -20.0, "floor_dbm": -18.1}
    ]


def test_phase_rates_give_min_and_mean_per_link_and_none_while_on_standby(record: CoexistenceRecord) -> None:
    rates = phase_rates(record)

    assert rates["no classical load"]["concepcion-norte"]["measured_bps"] is None
    assert rates["no classical load"]["concepcion-norte"]["predicted_bps"] == {
        "min": 50000.0,
        "mean": 50000.0,
    }
    change = rates["operator raises power and adds channels"]["concepcion-norte"]
    assert change["measured_bps"] == {"min": 28000.0, "mean": 40400.0}
    assert change["emulator_bps"]["min"] == 28000.0
    assert change["samples"] == 5


def test_the_report_fails_on_a_channel_below_its_floor_and_writes_its_files(
    record: CoexistenceRecord, tmp_path: Path
) -> None:
    report = coexistence_report(record, tmp_path)
    md_path, json_path = write_report(report, tmp_path)

    assert [(c.name, c.passed) for c in report.checks] == [
        ("links back at target after the operator's change", True),
        ("no classical channel below its floor", False),
        ("the fibre back as found after the undo", True),
    ]
    body = json.loads(json_path.read_text(encoding="utf-8"))
    assert body["passed"] is False
    assert body["time_to_target_s"] == 2.25
    assert body["restored_after_undo_s"] == 1.0
    assert [p["name"] for p in body["phases"]] == [p.name for p in record.phases]
    assert body["change"]["raised"] == {"channel": "c100g-36", "from_dbm": 0.0, "to_dbm": 15.0}
    assert [a["dwdm_channel"] for a in body["change"]["added"]] == [57, 58, 60, 61]
    assert body["actions"][0]["t_s"] == 5.0
    assert body["below_floor"][0]["channel"] == "c10g-20"
    assert body["series"]["concepcion-norte"]["measured_bps"][:2] == [None, None]
    assert [s["title"] for s in body["spectra"]] == ["before", "after"]
    text = md_path.read_text(encoding="utf-8")
    assert "| links back at target after the operator's change | pass | after 2.25 s |" in text
    assert "| no classical channel below its floor | FAIL | c10g-20 -20.0 < -18.1 dBm |" in text
    assert "| operator raises power and adds channels | concepcion-norte | 28.0 / 40.4 |" in text
    assert "| 3 | 5.00 | lower_power | c100g-36 | 15.0 → -14.1 |" in text
    for name in ("coexistence-rates.png", "coexistence-spectrum.png"):
        assert name in body["plots"]
        data = (tmp_path / name).read_bytes()
        assert data.startswith(_PNG)
        assert len(data) > 10_000


def test_a_run_that_stopped_before_the_change_reports_the_links_not_back(
    record: CoexistenceRecord, tmp_path: Path
) -> None:
    record.change_s = record.undo_s = record.restored_s = None
    record.phases = record.phases[:2]
    record.spectra = []

    report = coexistence_report(record, tmp_path)

    assert not report.checks[0].passed
    assert report.checks[0].detail == "not within the settle timeout"
    assert report.plots == ["coexistence-rates.png"]
