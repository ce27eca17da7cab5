"""``sdqkd status`` of a switched link: its time share from the controller's ``GET /api/v1/switches``
(``receivers[].share``), in the JSON and in the table — against stand-ins for the emulator and the
controller of a Madrid run directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from sdqkd.cli.network import link_state_note, links_table
from sdqkd.controller.client import ControllerClientError
from sdqkd.runtime.rundir import RunDir
from sdqkd.runtime.status import network_status, switched_shares

_PAIRS = [
    {
        "transmitter": "concepcion-tx",
        "receiver": "norte-rx",
        "active": True,
        "reason": "",
        "skr_bps": 45170.0,
        "keys_available": 10,
    },
    {
        "transmitter": "concepcion-tx",
        "receiver": "quintin-rx",
        "active": False,
        "reason": "a switch on the way is connected elsewhere",
        "skr_bps": 0.0,
        "keys_available": 8,
    },
    {
        "transmitter": "norte-tx",
        "receiver": "quintin-rx2",
        "active": True,
        "reason": "",
        "skr_bps": 58000.0,
        "keys_available": 12,
    },
]
_SWITCHES = [
    {
        "id": "concepcion-switch",
        "port": "to-norte",
        "receivers": [
            {"port": "to-norte", "link": "concepcion-norte", "connected": True, "share": 0.48},
            {"port": "to-quintin", "link": "concepcion-quintin", "connected": False, "share": 0.52},
        ],
    }
]


class Emulator:
    def links(self) -> list[dict[str, Any]]:
        return _PAIRS


class Controller:
    def __init__(self, switches: list[dict[str, Any]] | None) -> None:
        self._switches = switches

    def links(self) -> list[dict[str, Any]]:
        return []

    def switches(self) -> list[dict[str, Any]]:
        if self._switches is None:
            raise ControllerClientError("controller refused GET /api/v1/switches: not found", 404)
        return self._switches


@pytest.fixture
def run(tmp_path: Path) -> RunDir:
    """A Madrid run directory as ``sdqkd up`` records it (no KMEs to read)."""
    run = RunDir(tmp_path)
    record = {
        "topology": "madrid",
        "emulator": {"url": "https://localhost:1"},
        "controller": {"url": "https://localhost:2"},
        "kmes": {},
    }
    run.network.write_text(json.dumps(record), encoding="utf-8")
    return run


def _links(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {link["id"]: link for link in status["links"]}


def test_switched_shares_are_read_per_link_from_the_receivers() -> None:
    assert switched_shares(_SWITCHES) == {"concepcion-norte": 0.48, "concepcion-quintin": 0.52}
    assert switched_shares([]) == {}


def test_status_gives_each_switched_link_its_time_share_and_no_other_link_one(run: RunDir) -> None:
    status = network_status(run, Emulator(), Controller(_SWITCHES))

    links = _links(status)
    assert (links["concepcion-norte"]["status"], links["concepcion-norte"]["time_share"]) == ("up", 0.48)
    assert (links["concepcion-quintin"]["status"], links["concepcion-quintin"]["time_share"]) == (
        "standby",
        0.52,
    )
    assert "time_share" not in links["norte-quintin"]


def test_status_without_the_switches_answer_shows_no_share(run: RunDir) -> None:
    status = network_status(run, Emulator(), Controller(None))

    assert all("time_share" not in link for link in status["links"])


def test_the_table_shows_the_connected_pair_up_and_the_other_on_standby_with_their_shares(
    run: RunDir,
) -> None:
    status = network_status(run, Emulator(), Controller(_SWITCHES))
    console = Console(width=250, record=True)

    console.print(links_table(status["links"]))

    text = console.export_text()
    rows = {
        line.split("│")[1].strip(): line.split("│")[5].strip() for line in text.splitlines() if "│" in line
    }
    assert rows["concepcion-norte"] == "up, time-shared 48 %"
    assert rows["concepcion-quintin"] == "standby, time-shared 52 %"
    assert rows["norte-quintin"] == "up"


def test_a_switched_link_that_is_down_says_why_rather_than_its_share() -> None:
    down = {"status": "down", "reason": "fibre cut", "time_share": 0.3}

    assert link_state_note(down) == " (fibre cut)"


_FIGURES = {
    "block_symbols": 1 << 23,
    "blocks": 7,
    "aborted": 1,
    "efficiency": 0.951,
    "mean_efficiency": 0.948,
    "frame_error_rate": 0.125,
    "mean_frame_error_rate": 0.1,
    "key_rate_world_bps": 9100.0,
}


class ProtocolEmulator(Emulator):
    """An emulator of the protocol engine: its pairs carry what their blocks measured."""

    def links(self) -> list[dict[str, Any]]:
        return [{**pair, "protocol": _FIGURES} for pair in _PAIRS]


def test_status_carries_the_protocol_figures_and_the_table_shows_beta_and_fer(run: RunDir) -> None:
    status = network_status(run, ProtocolEmulator(), Controller(_SWITCHES))
    console = Console(width=250, record=True)

    console.print(links_table(status["links"]))

    assert _links(status)["norte-quintin"]["protocol"] == _FIGURES
    text = console.export_text()
    assert "β" in text
    assert "FER" in text
    row = next(line for line in text.splitlines() if "norte-quintin" in line)
    cells = [cell.strip() for cell in row.split("│")]
    assert "0.948 (0.951)" in cells
    assert "0.100 (0.125)" in cells
    assert "7 (1)" in cells


def test_with_the_rate_engine_the_table_has_no_protocol_columns(run: RunDir) -> None:
    status = network_status(run, Emulator(), Controller(_SWITCHES))
    console = Console(width=250, record=True)

    console.print(links_table(status["links"]))

    assert all("protocol" not in link for link in status["links"])
    assert "FER" not in console.export_text()
