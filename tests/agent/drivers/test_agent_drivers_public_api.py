"""The public API of the agent's device drivers, its ETSI GS QKD 015 mapping (links, virtual links and
applications) and its call-home, frozen: a change here is a deliberate API change, made on purpose."""

from __future__ import annotations

import importlib

import pytest

PUBLIC_API = {
    "sdqkd.agent.callhome": {
        "Backoff",
        "CallHome",
        "CallHomeState",
        "Registration",
        "is_transient",
        "register",
    },
    "sdqkd.agent.applications": {
        "APP_STATE_MEMBERS",
        "Application",
        "app_configuration",
        "app_disconnected_notification",
        "app_new_notification",
        "app_status",
        "date_and_time",
        "link_statuses",
        "parse_app",
    },
    "sdqkd.agent.consumption": {
        "RATE_WINDOW_S",
        "STATISTICS_PERIODS",
        "ConsumptionPeriod",
        "app_consumed_bits",
        "consumption_period",
        "effective_skr_bps",
        "merged_statistics",
        "relay_rates_bps",
        "statistics_entry",
    },
    "sdqkd.agent.drivers": {
        "Attachment",
        "DeviceDescription",
        "DeviceEvent",
        "DeviceEventKind",
        "DeviceRefused",
        "ModuleState",
        "ModuleStatus",
        "Performance",
        "QkdDeviceDriver",
    },
    "sdqkd.agent.emulator_driver": {"EmulatorDriver"},
    "sdqkd.agent.mapping": {
        "InterfaceDirectory",
        "LinkDeviceCall",
        "ModuleConfiguration",
        "interface_address",
        "interface_down_notification",
        "interface_entry",
        "interface_new_notification",
        "interface_status",
        "link_device_call",
        "link_down_notification",
        "link_perf_update_notification",
        "link_status",
        "module_configurations",
        "node_tree",
        "wavelength_range",
    },
    "sdqkd.agent.kme": {"BLOCK_BITS", "KmeCounters", "KmeReader", "KmeUnavailable", "parse_kme_status"},
    "sdqkd.agent.virtual": {
        "HopLink",
        "PathPosition",
        "VirtualLink",
        "VirtualLinkError",
        "VirtualState",
        "check_hops",
        "hop_links",
        "is_virtual",
        "parse_virtual_link",
        "virtual_link_entry",
        "virtual_state",
    },
}


@pytest.mark.parametrize("module_name", sorted(PUBLIC_API))
def test_the_public_api_is_what_it_was(module_name: str) -> None:
    module = importlib.import_module(module_name)

    assert set(module.__all__) == PUBLIC_API[module_name]
    for name in module.__all__:
        assert hasattr(module, name), name
