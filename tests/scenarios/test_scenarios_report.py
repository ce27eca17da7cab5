"""A scenario's report files: ``report.json`` with the common fields and the scenario's own, strict JSON;
``report.md`` with the verdict, the checks and every table, and the plots linked."""

from __future__ import annotations

import json
from pathlib import Path

from sdqkd.scenarios.report import Check, Report, Table, write_report


def _report(passed: bool) -> Report:
    return Report(
        scenario="demo",
        title="A demonstration",
        summary=["one line", "another"],
        checks=[Check("it works", True, "yes"), Check("it is fast", passed, "1.5 s")],
        tables=[Table("Figures", ("name", "value"), (("a|b", "1"), ("c", "2")))],
        data={"time_to_target_s": float("nan"), "nested": {"rates": [1.0, float("inf")]}},
        plots=["demo-rates.png"],
    )


def test_json_has_the_checks_the_verdict_and_the_scenario_fields_with_non_finite_numbers_as_null(
    tmp_path: Path,
) -> None:
    _, json_path = write_report(_report(passed=False), tmp_path / "out")

    body = json.loads(json_path.read_text(encoding="utf-8"))
    assert body["scenario"] == "demo"
    assert body["passed"] is False
    assert body["checks"] == [
        {"name": "it works", "passed": True, "detail": "yes"},
        {"name": "it is fast", "passed": False, "detail": "1.5 s"},
    ]
    assert body["summary"] == ["one line", "another"]
    assert body["plots"] == ["demo-rates.png"]
    assert body["time_to_target_s"] is None
    assert body["nested"] == {"rates": [1.0, None]}


def test_markdown_has_the_verdict_the_checks_table_each_table_and_the_plots(tmp_path: Path) -> None:
    md_path, _ = write_report(_report(passed=True), tmp_path)

    text = md_path.read_text(encoding="utf-8")
    assert text.startswith("# A demonstration\n\nScenario `demo`: passed.\n\n- one line\n- another\n")
    assert (
        "| check | result | detail |\n|---|---|---|\n| it works | pass | yes |\n| it is fast | pass | 1.5 s |"
        in text
    )
    assert "## Figures\n\n| name | value |\n|---|---|\n| a\\|b | 1 |\n| c | 2 |" in text
    assert text.rstrip().endswith("![demo-rates](demo-rates.png)")


def test_one_failed_check_fails_the_report(tmp_path: Path) -> None:
    md_path, _ = write_report(_report(passed=False), tmp_path)

    assert _report(passed=False).passed is False
    assert "Scenario `demo`: FAILED." in md_path.read_text(encoding="utf-8")
    assert "| it is fast | FAIL | 1.5 s |" in md_path.read_text(encoding="utf-8")
