"""A scenario's report: ``report.md`` for people and ``report.json`` for machines, side by side in the
report folder with the plots.

Both carry the same content: the checks the scenario makes of itself (the exit status follows them),
a short summary, tables of figures and the plots' files; the JSON adds the scenario's own fields
(phases, samples' figures, actions, ...).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Check", "Report", "Table", "write_report"]


@dataclass(frozen=True)
class Check:
    """One thing the scenario expects of the network, and whether it held."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Table:
    """A table of the report: its cells already formatted."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass
class Report:
    """What a scenario found.

    Attributes:
        scenario: its name (``coexistence``, ``switching``).
        title: one line saying what was done.
        summary: a few lines of what happened, the headline figures.
        checks: what the scenario checks of itself.
        tables: the figures, for the Markdown report.
        data: the scenario's own fields for ``report.json``.
        plots: the plots' file names (in the report folder).
    """

    scenario: str
    title: str
    summary: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    plots: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Every check held."""
        return all(check.passed for check in self.checks)


def _finite(value: Any) -> Any:
    """``value`` with non-finite floats replaced by None, recursively (strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _markdown_table(headers: tuple[str, ...], rows: tuple[tuple[str, ...], ...]) -> list[str]:
    lines = ["| " + " | ".join(_cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def markdown(report: Report) -> str:
    """The report as Markdown."""
    verdict = "passed" if report.passed else "FAILED"
    lines = [f"# {report.title}", "", f"Scenario `{report.scenario}`: {verdict}.", ""]
    lines += [f"- {line}" for line in report.summary]
    lines += ["", "## Checks", ""]
    rows = tuple((c.name, "pass" if c.passed else "FAIL", c.detail) for c in report.checks)
    lines += _markdown_table(("check", "result", "detail"), rows)
    for table in report.tables:
        lines += ["", f"## {table.title}", ""]
        lines += _markdown_table(table.headers, table.rows)
    if report.plots:
        lines += ["", "## Plots", ""]
        lines += [f"![{Path(name).stem}]({name})" for name in report.plots]
    return "\n".join(lines) + "\n"


def write_report(report: Report, out: Path) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.json`` into ``out`` (created if missing); their paths."""
    out.mkdir(parents=True, exist_ok=True)
    body = {
        "scenario": report.scenario,
        "title": report.title,
        "passed": report.passed,
        "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in report.checks],
        "summary": report.summary,
        "plots": report.plots,
        **report.data,
    }
    json_path, md_path = out / "report.json", out / "report.md"
    json_path.write_text(
        json.dumps(_finite(body), indent=2, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8"
    )
    md_path.write_text(markdown(report), encoding="utf-8")
    return md_path, json_path
