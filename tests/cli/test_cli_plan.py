"""``sdqkd plan``: per-link key rates and co-propagation margins of a topology."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

Sdqkd = Callable[..., subprocess.CompletedProcess[str]]

_MADRID_LINKS = ["concepcion-norte", "concepcion-quintin", "norte-quintin"]
_LINK_FIELDS = {
    "secret_key_rate_bps",
    "plob_fraction",
    "max_classical_power_for_target_dbm",
    "max_classical_power_for_key_dbm",
    "raman_excess_noise_snu",
    "excess_noise_snu",
    "snr",
    "key_bits_per_symbol",
    "length_km",
    "loss_db",
}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _plan_json(sdqkd: Sdqkd, *args: str) -> dict[str, Any]:
    result = sdqkd("plan", *args, "--format", "json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_plan_defaults_to_madrid_with_one_entry_per_link(sdqkd: Sdqkd) -> None:
    data = _plan_json(sdqkd)
    assert data["topology"] == "madrid"
    assert [link["id"] for link in data["links"]] == _MADRID_LINKS
    assert data["plots"] == []
    for link in data["links"]:
        assert _LINK_FIELDS - link.keys() == set(), link["id"]


def test_plan_json_figures_are_numbers_within_their_ranges(sdqkd: Sdqkd) -> None:
    for link in _plan_json(sdqkd)["links"]:
        assert 40e3 <= link["secret_key_rate_bps"] <= 70e3
        assert 0 < link["plob_fraction"] < 1
        assert link["raman_excess_noise_snu"] > 0
        assert link["excess_noise_snu"] == pytest.approx(
            link["device_excess_noise_snu"] + link["raman_excess_noise_snu"], rel=1e-12
        )
        assert link["key_bits_per_symbol"] > 0
        assert link["max_classical_power_for_key_dbm"] > link["max_classical_power_for_target_dbm"]


def test_plan_keeps_the_targets_the_links_set_by_default(sdqkd: Sdqkd) -> None:
    links = _plan_json(sdqkd)["links"]
    assert [link["target_rate_bps"] for link in links] == [40e3, 40e3, 40e3]
    assert all(link["meets_target"] for link in links)


def test_target_bps_sets_every_target_and_links_below_it_miss_it(sdqkd: Sdqkd) -> None:
    default = {link["id"]: link for link in _plan_json(sdqkd)["links"]}
    links = _plan_json(sdqkd, "--target-bps", "60000")["links"]
    assert [link["target_rate_bps"] for link in links] == [60e3, 60e3, 60e3]
    assert not all(link["meets_target"] for link in links)
    for link in links:
        before = default[link["id"]]
        assert link["secret_key_rate_bps"] == before["secret_key_rate_bps"]
        assert link["max_classical_power_for_key_dbm"] == before["max_classical_power_for_key_dbm"]
        assert link["meets_target"] is (link["secret_key_rate_bps"] >= 60e3)
        if not link["meets_target"]:
            # missed: either even without classical light (no margin), or at less than today's load
            margin = link["max_classical_power_for_target_dbm"]
            assert margin is None or margin < link["classical_launch_power_dbm"], link["id"]


@pytest.mark.parametrize(
    ("topology", "link_ids"),
    [
        ("chain:3", ["n1-n2", "n2-n3"]),
        ("grid:2x2", ["r1c1-r1c2", "r2c1-r2c2", "r1c1-r2c1", "r1c2-r2c2"]),
    ],
)
def test_plan_of_a_generated_topology(sdqkd: Sdqkd, topology: str, link_ids: list[str]) -> None:
    data = _plan_json(sdqkd, "--topology", topology)
    assert data["topology"] == topology
    assert [link["id"] for link in data["links"]] == link_ids
    for link in data["links"]:
        assert link["length_km"] == 10.0
        assert link["loss_db"] == pytest.approx(10.0 * 0.2 + 1.0, rel=1e-12)
        assert link["secret_key_rate_bps"] > 0


def test_plan_of_a_topology_file(sdqkd: Sdqkd, tmp_path: Path) -> None:
    text = resources.files("sdqkd.topology").joinpath("data", "madrid.yaml").read_text(encoding="utf-8")
    path = tmp_path / "my-network.yaml"
    path.write_text(text.replace("name: madrid", "name: my-network", 1), encoding="utf-8")
    from_file = _plan_json(sdqkd, "--topology", str(path))
    builtin = _plan_json(sdqkd)
    assert from_file["topology"] == "my-network"
    assert from_file["links"] == builtin["links"]


def test_plots_writes_two_png_files_and_lists_them(sdqkd: Sdqkd, tmp_path: Path) -> None:
    directory = tmp_path / "plots"
    data = _plan_json(sdqkd, "--plots", str(directory))
    written = [Path(p) for p in data["plots"]]
    assert sorted(p.name for p in written) == ["keyrate_vs_classical_power.png", "keyrate_vs_distance.png"]
    for path in written:
        assert path.parent == directory
        assert path.read_bytes().startswith(_PNG_SIGNATURE)


def test_plan_table_lists_every_link(sdqkd: Sdqkd) -> None:
    result = sdqkd("plan")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "sdqkd plan — madrid" in result.stdout
    for link_id in _MADRID_LINKS:
        assert link_id in result.stdout
    assert "concepcion-quintin †" in result.stdout  # its switch is connected to Norte


def test_plan_table_reports_the_plots_it_wrote(sdqkd: Sdqkd, tmp_path: Path) -> None:
    result = sdqkd("plan", "--topology", "chain:2", "--plots", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "n1-n2" in result.stdout
    assert "keyrate_vs_distance.png" in result.stdout
    assert (tmp_path / "keyrate_vs_classical_power.png").is_file()
