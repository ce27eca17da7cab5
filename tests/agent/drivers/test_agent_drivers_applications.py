"""ETSI GS QKD 015 applications: the controller's ``qkd_app`` entries read, given a status from their links,
and announced with notifications the official YANG modules accept."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

import pytest
from agent_drivers_support import validate_notification, validate_tree
from hypothesis import given
from hypothesis import strategies as st
from yangson import DataModel
from yangson.exceptions import YangsonException

from sdqkd import etsi015
from sdqkd.agent import applications, mapping
from sdqkd.agent.applications import Application
from sdqkd.errors import ConfigError
from sdqkd.etsi015 import AppStatus, LinkStatus

NORTE = etsi015.qkdn_id("norte")
QUINTIN = etsi015.qkdn_id("quintin")
APP_ID = UUID("e3c7a9f4-6d5b-4a8c-9fae-3b4c5d6e7f80")
LINK_A = UUID("0b8f6a4e-5f0c-4c59-9d8e-3f1f0f6b2a11")
LINK_B = UUID("1c9a7b5f-6a1d-4d6a-8e9f-4a2b1c7d3b22")
TYPES = "etsi-qkd-node-types:"


def app_entry(**changes: Any) -> dict[str, Any]:
    """A client app between two SAEs over link A, as the controller writes it."""
    entry: dict[str, Any] = {
        "app_id": str(APP_ID),
        "app_type": f"{TYPES}CLIENT",
        "server_app_id": "urn:sdqkd:sae:norte-app",
        "client_app_id": ["urn:sdqkd:sae:quintin-app"],
        "app_priority": 3,
        "app_qos": {
            "max_bandwidth": 256000,
            "min_bandwidth": 32000,
            "jitter": 10,
            "ttl": 3600,
            "clients_shared_path_enable": False,
            "clients_shared_keys_required": False,
        },
        "backing_qkdl_id": [str(LINK_A)],
        "local_qkdn_id": str(NORTE),
        "remote_qkdn_id": str(QUINTIN),
        "expiration_time": "2030-01-01T00:00:00Z",
    }
    entry.update(changes)
    return entry


def test_an_app_entry_reads_as_its_ids() -> None:
    app = applications.parse_app(app_entry(backing_qkdl_id=[str(LINK_A), str(LINK_B)]))

    assert app == Application(APP_ID, (LINK_A, LINK_B), NORTE, QUINTIN)


def test_an_app_entry_without_optional_members_has_no_links_and_no_nodes() -> None:
    assert applications.parse_app({"app_id": str(APP_ID)}) == Application(APP_ID)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"app_type": f"{TYPES}CLIENT"}, "qkd_app/app_id: missing"),
        ({"app_id": "app-1"}, "qkd_app/app_id: 'app-1' is not a UUID"),
        ({"app_id": str(APP_ID), "backing_qkdl_id": ["link-1"]}, r"qkd_app\[e3c7.*\]/backing_qkdl_id"),
        ({"app_id": str(APP_ID), "backing_qkdl_id": str(LINK_A)}, "is not a list of UUIDs"),
        ({"app_id": str(APP_ID), "local_qkdn_id": "norte"}, r"/local_qkdn_id: 'norte' is not a UUID"),
        ({"app_id": str(APP_ID), "remote_qkdn_id": 7}, r"/remote_qkdn_id: 7 is not a UUID"),
    ],
)
def test_a_malformed_app_entry_is_a_config_error_that_names_the_member(
    entry: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        applications.parse_app(entry)


def test_an_app_is_on_only_while_every_backing_link_is_active() -> None:
    app = Application(APP_ID, (LINK_A, LINK_B))
    both_active = {LINK_A: LinkStatus.ACTIVE, LINK_B: LinkStatus.ACTIVE}

    assert applications.app_status(app, both_active) is AppStatus.ON
    assert applications.app_status(app, {**both_active, LINK_B: LinkStatus.PASSIVE}) is AppStatus.DISCONNECTED
    assert applications.app_status(app, {LINK_A: LinkStatus.ACTIVE}) is AppStatus.DISCONNECTED  # B unknown
    assert applications.app_status(app, {**both_active, LINK_A: None}) is AppStatus.DISCONNECTED


def test_an_app_without_backing_links_gets_no_keys_and_is_disconnected() -> None:
    assert applications.app_status(Application(APP_ID), {LINK_A: LinkStatus.ACTIVE}) is AppStatus.DISCONNECTED


@given(st.lists(st.sampled_from([*LinkStatus, None]), min_size=1, max_size=6))
def test_app_status_is_on_exactly_when_all_its_links_are_active(statuses: list[LinkStatus | None]) -> None:
    links = [UUID(int=i + 1) for i in range(len(statuses))]
    app = Application(APP_ID, tuple(links))

    status = applications.app_status(app, dict(zip(links, statuses, strict=True)))

    assert (status is AppStatus.ON) == all(s is LinkStatus.ACTIVE for s in statuses)


def test_link_statuses_are_read_from_the_link_entries_by_id() -> None:
    entries = [
        {"qkdl_id": str(LINK_A), "qkdl_status": f"{TYPES}ACTIVE"},
        {"qkdl_id": str(LINK_B).upper()},  # no status yet; ids compare as UUIDs, not as text
        {"qkdl_id": str(APP_ID), "qkdl_status": "other-module:ACTIVE"},
    ]

    assert applications.link_statuses(entries) == {LINK_A: LinkStatus.ACTIVE, LINK_B: None, APP_ID: None}


def test_the_configuration_of_an_app_leaves_out_its_state() -> None:
    entry = app_entry(app_status=f"{TYPES}ON", creation_time="2024-06-11T09:30:00.000000Z")

    assert applications.app_configuration(entry) == app_entry()


def test_a_date_and_time_is_utc_with_a_z() -> None:
    madrid = dt.timezone(dt.timedelta(hours=2))
    moment = dt.datetime(2024, 6, 11, 11, 30, 0, 250000, tzinfo=madrid)

    assert applications.date_and_time(moment) == "2024-06-11T09:30:00.250000Z"
    with pytest.raises(ValueError, match="time zone"):
        applications.date_and_time(dt.datetime(2024, 6, 11, 11, 30))  # naive: no zone


def test_an_app_with_its_state_validates_in_the_node_tree(yang_model: DataModel) -> None:
    entry = app_entry(
        app_status=f"{TYPES}{AppStatus.ON}",
        creation_time=applications.date_and_time(dt.datetime.now(dt.UTC)),
    )

    validate_tree(yang_model, mapping.node_tree(NORTE, "Norte", [], [], [entry]))


def test_the_new_app_notification_carries_the_apps_details_as_the_model_defines_them(
    yang_model: DataModel,
) -> None:
    payload = applications.app_new_notification(app_entry(app_status=f"{TYPES}ON"), NORTE)

    validate_notification(yang_model, payload)
    content = payload["etsi-qkd-sdn-node:sdqkdn_application_new"]["qkd_application"]
    expected = app_entry()
    assert content == {
        name: expected[name]
        for name in ("app_type", "server_app_id", "client_app_id", "app_priority", "local_qkdn_id", "app_qos")
    }


def test_the_new_app_notification_names_this_node_when_the_entry_does_not(yang_model: DataModel) -> None:
    entry = app_entry()
    del entry["local_qkdn_id"]

    payload = applications.app_new_notification(entry, NORTE)

    validate_notification(yang_model, payload)
    content = payload["etsi-qkd-sdn-node:sdqkdn_application_new"]["qkd_application"]
    assert content["local_qkdn_id"] == str(NORTE)


def test_the_official_new_app_notification_has_no_app_id(yang_model: DataModel) -> None:
    """Why the notification leaves the app_id out: the model does not define it there."""
    payload = applications.app_new_notification(app_entry(), NORTE)
    payload["etsi-qkd-sdn-node:sdqkdn_application_new"]["qkd_application"]["app_id"] = str(APP_ID)

    with pytest.raises(YangsonException):
        validate_notification(yang_model, payload)


def test_the_disconnected_app_notification_carries_its_id(yang_model: DataModel) -> None:
    payload = applications.app_disconnected_notification(APP_ID)

    validate_notification(yang_model, payload)
    assert payload == {
        "etsi-qkd-sdn-node:sdqkdn_application_disconnected": {"qkd_application": {"app_id": str(APP_ID)}}
    }
