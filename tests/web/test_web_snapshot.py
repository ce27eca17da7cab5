"""The snapshot built from the answers of a real ``sdqkd up --topology madrid`` (tests/web/fixtures):
what each view reads is there, in the contract's shape, and nothing secret is."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import pytest
from web_support import documents, upstream

from sdqkd.web import Upstream, build_snapshot
from sdqkd.web.snapshot import MAX_EVENTS, circle_layout

NOW = dt.datetime(2026, 12, 3, 13, 0, tzinfo=dt.UTC)
MEMBERS = {
    "time", "network", "nodes", "fibres", "links", "spectra", "switches", "apps", "services", "alarms",
    "actions", "problems",
}  # fmt: skip
LINK_MEMBERS = {
    "id", "type", "nodes", "over", "status", "skr_bps", "target_bps", "time_share", "excess_noise",
    "raman_noise", "pools",
}  # fmt: skip


def _by_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in items}


@pytest.fixture
def up() -> dict[str, Any]:
    return build_snapshot(upstream("madrid_up"), NOW)


@pytest.fixture
def cut() -> dict[str, Any]:
    return build_snapshot(upstream("madrid_cut"), NOW)


def test_every_member_is_there_and_the_snapshot_is_json(up: dict[str, Any]) -> None:
    assert set(up) == MEMBERS
    assert json.loads(json.dumps(up, allow_nan=False)) == up
    assert up["time"] == "2026-12-03T13:00:00+00:00"
    assert up["network"] == "madrid"
    assert up["problems"] == []


def test_the_nodes_are_madrids_with_their_names_reachability_and_a_place_in_the_square(
    up: dict[str, Any],
) -> None:
    nodes = _by_id(up["nodes"])
    assert set(nodes) == {"concepcion", "norte", "quintin"}
    assert nodes["quintin"]["name"] == "Quintín"
    assert all(node["reachable"] is True for node in nodes.values())
    places = {(node["x"], node["y"]) for node in nodes.values()}
    assert len(places) == 3
    assert all(0 <= x <= 1 and 0 <= y <= 1 for x, y in places)


def test_the_layout_is_the_same_for_the_same_nodes_whatever_their_order() -> None:
    assert circle_layout(["b", "c", "a"]) == circle_layout(["a", "b", "c"])
    assert circle_layout(["a"]) == {"a": (0.5, 0.5)}
    first = circle_layout(["a", "b", "c", "d"])["a"]
    assert first == (0.5, 0.1)  # the first at the top


def test_the_fibres_carry_length_and_cut(up: dict[str, Any], cut: dict[str, Any]) -> None:
    assert _by_id(up["fibres"])["concepcion-norte"] == {
        "id": "concepcion-norte", "a": "concepcion", "b": "norte", "length_km": 8.1, "cut": False,
    }  # fmt: skip
    assert {f["id"]: f["cut"] for f in cut["fibres"]} == {
        "concepcion-norte": False, "concepcion-quintin": False, "norte-quintin": True,
    }  # fmt: skip


def test_a_physical_link_has_rate_target_share_noise_and_both_pools(up: dict[str, Any]) -> None:
    link = _by_id(up["links"])["concepcion-quintin"]
    assert set(link) == LINK_MEMBERS
    assert link["type"] == "PHYS"
    assert link["nodes"] == ["concepcion", "quintin"]
    assert link["over"] == ["concepcion-quintin"]
    assert link["status"] in ("up", "standby")
    assert link["target_bps"] == 40000.0
    assert 0 <= link["time_share"] <= 1  # behind the concepcion switch
    assert link["excess_noise"] > link["raman_noise"] > 0  # the Raman part of the excess noise
    assert set(link["pools"]) == {"concepcion", "quintin"}
    assert all(pool["target_blocks"] == 4096 for pool in link["pools"].values())
    assert all(pool["ready_blocks"] >= 0 for pool in link["pools"].values())


def test_a_link_not_behind_a_switch_has_no_time_share(up: dict[str, Any]) -> None:
    assert _by_id(up["links"])["norte-quintin"]["time_share"] is None


def test_the_rates_and_statuses_are_the_controllers(up: dict[str, Any]) -> None:
    controller = {link["id"]: link for link in documents("madrid_up")["controller"]["links"]}
    for link in up["links"]:
        assert link["status"] == controller[link["id"]]["status"]
        assert link["skr_bps"] == float(controller[link["id"]]["skr_bps"])


def test_a_relayed_link_is_over_its_hops_with_its_slowest_hops_rate(up: dict[str, Any]) -> None:
    links = _by_id(up["links"])
    (relayed,) = [link for link in up["links"] if link["type"] == "VIRT"]
    assert set(relayed) == LINK_MEMBERS
    assert all(hop in links for hop in relayed["over"])
    assert len(relayed["over"]) == 2
    assert relayed["pools"] == {}
    assert relayed["excess_noise"] is None
    assert relayed["target_bps"] == 40000.0  # its hops' lowest target


def test_a_cut_fibre_takes_its_link_and_what_is_relayed_over_it_down(cut: dict[str, Any]) -> None:
    links = _by_id(cut["links"])
    assert links["norte-quintin"]["status"] == "down"
    assert links["norte-quintin"]["skr_bps"] == 0.0
    for link in cut["links"]:
        if "norte-quintin" in link["over"]:
            assert link["status"] == "down"


def test_the_plant_says_a_fibre_is_cut_before_the_controller_has_seen_it() -> None:
    found = upstream("madrid_up")
    assert found.plant_fibres is not None
    plant = [{**fibre, "cut": fibre["id"] == "concepcion-norte"} for fibre in found.plant_fibres]
    snapshot = build_snapshot(upstream("madrid_up", plant_fibres=plant), NOW)
    assert _by_id(snapshot["fibres"])["concepcion-norte"]["cut"] is True
    assert _by_id(snapshot["links"])["concepcion-norte"]["status"] == "down"


def test_each_fibre_has_its_spectrum_with_the_quantum_channel_among_the_classical_ones(
    up: dict[str, Any],
) -> None:
    assert set(up["spectra"]) == {fibre["id"] for fibre in up["fibres"]}
    spectrum = up["spectra"]["concepcion-norte"]
    assert spectrum["classical"][0] == {
        "id": "c100g-36", "dwdm_channel": 36, "frequency_thz": 193.6, "power_dbm": 0.0, "floor_dbm": -14.1,
        "rate_class": "100G",
    }  # fmt: skip
    (quantum,) = spectrum["quantum"]
    assert quantum["link"] == "concepcion-norte"
    assert quantum["dwdm_channel"] == 59
    assert quantum["frequency_thz"] == pytest.approx(195.9)
    assert quantum["raman_noise"] > 0
    assert quantum["predicted_skr_bps"] > 0


def test_the_switch_shows_its_port_its_ports_and_the_shares(up: dict[str, Any]) -> None:
    (switch,) = up["switches"]
    assert switch["id"] == "concepcion-switch"
    assert switch["node"] == "concepcion"
    assert switch["port"] in switch["ports"]
    assert sorted(switch["ports"]) == ["to-norte", "to-quintin"]
    assert set(switch["shares"]) == {"concepcion-norte", "concepcion-quintin"}
    assert math.isclose(sum(switch["shares"].values()), 1.0, abs_tol=0.01)


def test_applications_and_services_with_their_status(up: dict[str, Any]) -> None:
    apps = up["apps"]
    assert len(apps) == 3
    assert {(app["client"], app["server"]) for app in apps} >= {("concepcion-app", "quintin-app")}
    assert all(set(app) == {"id", "client", "server", "status", "min_bps"} for app in apps)
    services = {service["type"]: service for service in up["services"]}
    assert services["opot"]["summary"] == "concepcion → norte → quintin"
    assert services["encrypted-tunnel"]["summary"] == "concepcion → quintin"
    assert all(set(s) == {"id", "type", "state", "reason", "summary"} for s in up["services"])


def test_alarms_and_actions_newest_first_and_actions_in_words(up: dict[str, Any]) -> None:
    times = [alarm["time"] for alarm in up["alarms"]]
    assert times == sorted(times, reverse=True)
    assert up["alarms"][0]["kind"] == "link_down"
    action_times = [action["time"] for action in up["actions"]]
    assert action_times == sorted(action_times, reverse=True)
    oldest = up["actions"][-1]
    assert oldest["what"] == "switch concepcion-switch to-norte → to-quintin"
    assert oldest["why"].startswith("to to-quintin")


def test_actions_of_every_kind_read_as_a_line() -> None:
    def what(kind: str, before: Any, after: Any) -> str:
        action = {"time": "t", "fibre": "f", "kind": kind, "target": "c100g-36", "before": before,
                  "after": after, "reason": "why"}  # fmt: skip
        return str(build_snapshot(Upstream(actions=[action]), NOW)["actions"][0]["what"])

    assert what("lower_power", 15.0, -14.1) == "power c100g-36 15.0 → -14.1 dBm"
    assert what("move_channel", 36, 14) == "move c100g-36 channel 36 → 14"
    assert what("target_missed", None, None) == "target missed c100g-36"


def test_at_most_the_newest_hundred_alarms() -> None:
    alarms = [{"raised_at": f"2026-12-03T13:{i // 60:02d}:{i % 60:02d}+00:00"} for i in range(300)][::-1]
    snapshot = build_snapshot(Upstream(alarms=alarms), NOW)
    assert len(snapshot["alarms"]) == MAX_EVENTS
    assert snapshot["alarms"][0]["time"] == alarms[0]["raised_at"]


def test_nothing_read_gives_every_member_empty_and_says_why() -> None:
    snapshot = build_snapshot(Upstream(problems=("controller: topology: unreachable",)), NOW)
    assert set(snapshot) == MEMBERS
    assert snapshot["network"] == ""
    assert snapshot["nodes"] == snapshot["links"] == snapshot["fibres"] == []
    assert snapshot["spectra"] == {}
    assert snapshot["problems"] == ["controller: topology: unreachable"]


def test_without_the_controllers_optical_view_the_plant_gives_fibres_and_spectra() -> None:
    snapshot = build_snapshot(upstream("madrid_cut", fibres=None), NOW)
    assert {f["id"]: f["cut"] for f in snapshot["fibres"]}["norte-quintin"] is True
    spectrum = snapshot["spectra"]["concepcion-norte"]
    assert spectrum["classical"][0]["power_dbm"] == 0.0
    assert spectrum["classical"][0]["floor_dbm"] is None
    assert spectrum["quantum"][0]["frequency_thz"] == pytest.approx(195.9)
    assert _by_id(snapshot["links"])["norte-quintin"]["excess_noise"] is None


def test_without_the_topology_the_nodes_are_the_ends_of_fibres_and_links() -> None:
    snapshot = build_snapshot(upstream("madrid_up", topology=None), NOW, network="madrid")
    assert {node["id"] for node in snapshot["nodes"]} == {"concepcion", "norte", "quintin"}
    assert all(node["reachable"] is None for node in snapshot["nodes"])
    assert snapshot["network"] == "madrid"


def test_no_key_id_and_no_service_secret_reaches_a_snapshot() -> None:
    found = upstream("madrid_up")
    share, key_id = "opot-share-3f9a1c77e2", "0c7d2f5e-6b1a-4c3e-9d8f-2a4b6c8d0e1f"
    services = [
        {**service, "processes": {"p": {"node": "norte", "args": {"share": share}}}}
        for service in found.services or ()
    ]
    links = [
        {**link, "kmes": {"norte": {"last_key_ID": key_id}}, "apps": [key_id]} for link in found.links or ()
    ]
    alarms = [{**alarm, "key_ID": key_id} for alarm in found.alarms or ()]
    snapshot = build_snapshot(upstream("madrid_up", services=services, links=links, alarms=alarms), NOW)
    text = json.dumps(snapshot)
    assert share not in text
    assert key_id not in text
