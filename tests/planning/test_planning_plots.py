"""Plots of a plan: two PNG files."""

from __future__ import annotations

from pathlib import Path

from sdqkd.planning import Plan
from sdqkd.planning.plots import write_plots

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_write_plots_writes_two_png_files(madrid_plan: Plan, tmp_path: Path) -> None:
    directory = tmp_path / "plots" / "madrid"  # created if missing
    written = write_plots(madrid_plan, directory)
    assert sorted(path.name for path in written) == [
        "keyrate_vs_classical_power.png",
        "keyrate_vs_distance.png",
    ]
    for path in written:
        assert path.parent == directory
        data = path.read_bytes()
        assert len(data) > len(_PNG_SIGNATURE)
        assert data.startswith(_PNG_SIGNATURE), path.name
