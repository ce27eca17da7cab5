"""The emulator driver against a real emulator over mutual TLS: discovery, configuration, performance,
events, who may configure what, and the ETSI GS QKD 015 trees built from what it reports."""

from __future__ import annotations

import time
from contextlib import aclosing
from typing import Any
from uuid import UUID

import anyio
import pytest
from agent_drivers_support import (
    NORTE_MODULES,
    AgentPki,
    driver_as,
    validate_notification,
    validate_tree,
    wait_for,
)
from yangson import DataModel

from sdqkd import etsi015
from sdqkd.agent import mapping
from sdqkd.agent.drivers import (
    Attachment,
    DeviceEvent,
    DeviceEventKind,
    DeviceRefused,
    ModuleRole,
    ModuleState,
)
from sdqkd.agent.emulator_driver import EmulatorDriver
from sdqkd.emulator.client import EmulatorClient
from sdqkd.errors import DeviceError, NotFound
from sdqkd.runtime.configs import pair_configuration
from sdqkd.server import BackgroundServer
from sdqkd.topology.models import Topology

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def configure_madrid(operator: EmulatorClient, madrid: Topology) -> None:
    """The Madrid pairs configured as ``sdqkd up`` does, with key buffered in both active pairs."""
    for module_id, config in pair_configuration(madrid).items():
        operator.configure(module_id, config["peers"], config["dwdm_channel"], enabled=True)
    wait_for(
        operator.links,
        lambda links: all(link["keys_available"] > 0 for link in links if link["active"]),
        what="key in the active pairs",
        timeout_s=5.0,
    )


async def test_discovery_returns_exactly_the_nodes_modules_as_they_describe_themselves(
    server: BackgroundServer, agent_pki: AgentPki, madrid: Topology
) -> None:
    profile = madrid.profile("madrid-2018")

    async with driver_as(server, agent_pki, agent_pki.agent_norte, "norte") as driver:
        modules = {m.id: m for m in await driver.discover()}
        peers = {m.id for m in await driver.peer_modules()}

    assert set(modules) == NORTE_MODULES
    assert peers == {m.id for m in madrid.qkd_modules} - NORTE_MODULES
    receiver, transmitter = modules["norte-rx"], modules["norte-tx"]
    assert (receiver.node, receiver.role, transmitter.role) == (
        "norte",
        ModuleRole.RECEIVER,
        ModuleRole.TRANSMITTER,
    )
    for module in modules.values():
        assert (module.model, module.technology) == (profile.model, "CV-QKD")
        assert (module.wavelength_min_nm, module.wavelength_max_nm) == (
            profile.quantum_wavelength_min_nm,
            profile.quantum_wavelength_max_nm,
        )
        assert module.max_absorption_db == profile.max_absorption_db
    assert receiver.attachment == Attachment("fibre", "concepcion-norte")
    assert transmitter.attachment == Attachment("fibre", "norte-quintin")


async def test_a_switched_transmitter_is_discovered_on_its_switchs_common_port(
    server: BackgroundServer, agent_pki: AgentPki
) -> None:
    async with driver_as(server, agent_pki, agent_pki.agent_concepcion, "concepcion") as driver:
        (module,) = await driver.discover()

    assert module.id == "concepcion-tx"
    assert module.attachment == Attachment("switch", "concepcion-switch", 0)


async def test_configuring_both_ends_through_their_agents_drivers_pairs_the_modules(
    server: BackgroundServer, agent_pki: AgentPki, operator: EmulatorClient
) -> None:
    async with (
        driver_as(server, agent_pki, agent_pki.agent_concepcion, "concepcion") as concepcion,
        driver_as(server, agent_pki, agent_pki.agent_norte, "norte") as norte,
    ):
        await concepcion.configure("concepcion-tx", ["norte-rx"], 59, enabled=True)
        status = await norte.configure("norte-rx", ["concepcion-tx"], 59, enabled=True)
        again = await norte.status("norte-rx")

    assert status.state is ModuleState.UP
    assert (status.peers, status.dwdm_channel, status.enabled, status.paired_with) == (
        ("concepcion-tx",),
        59,
        True,
        "concepcion-tx",
    )
    assert status.wavelength_nm == pytest.approx(1530.33, abs=0.01)
    assert again == status
    (link,) = operator.links()
    assert (link["transmitter"], link["receiver"], link["active"]) == ("concepcion-tx", "norte-rx", True)
    assert link["skr_bps"] > 0


async def test_performance_is_what_the_emulator_reports(
    server: BackgroundServer, agent_pki: AgentPki, operator: EmulatorClient, madrid: Topology
) -> None:
    configure_madrid(operator, madrid)

    async with driver_as(server, agent_pki, agent_pki.agent_norte, "norte") as driver:
        before = operator.performance("norte-rx")
        performance = await driver.performance("norte-rx")
        after = operator.performance("norte-rx")

    assert performance.id == "norte-rx"
    for name in ("skr_bps", "snr", "excess_noise_snu", "raman_excess_noise_snu", "loss_db", "key_size_bits"):
        assert getattr(performance, name) == before[name] == after[name], name
    assert performance.skr_bps > 0
    assert performance.snr is not None
    assert before["keys_available"] <= performance.keys_available <= after["keys_available"]
    assert (performance.keys_waiting, performance.keys_delivered) == (0, 0)


async def test_a_fibre_cut_reaches_the_event_stream_as_link_down_within_two_seconds(
    server: BackgroundServer, agent_pki: AgentPki, operator: EmulatorClient, madrid: Topology
) -> None:
    configure_madrid(operator, madrid)
    seen: list[DeviceEvent] = []

    async with (
        driver_as(server, agent_pki, agent_pki.agent_norte, "norte") as driver,
        aclosing(driver.events()) as events,
    ):
        with anyio.fail_after(5):
            sync = await anext(events)
        assert sync.kind is DeviceEventKind.SYNC
        assert set(sync.modules) == NORTE_MODULES

        started = time.monotonic()
        with anyio.fail_after(2):
            await anyio.to_thread.run_sync(operator.fibre_action, "concepcion-norte", "cut")
            async for event in events:
                seen.append(event)
                if event.kind is DeviceEventKind.LINK_DOWN:
                    break
        elapsed_s = time.monotonic() - started

    down = seen[-1]
    assert elapsed_s < 2.0
    assert down.modules == ("norte-rx",)
    assert (down.transmitter, down.receiver) == ("concepcion-tx", "norte-rx")
    assert "concepcion-norte is cut" in down.reason
    assert down.skr_bps == 0.0
    assert all(set(event.modules) <= NORTE_MODULES for event in seen)


async def test_events_of_other_nodes_modules_are_not_followed(
    server: BackgroundServer, agent_pki: AgentPki, operator: EmulatorClient, madrid: Topology
) -> None:
    configure_madrid(operator, madrid)
    seen: list[DeviceEvent] = []

    async with (
        driver_as(server, agent_pki, agent_pki.agent_norte, "norte") as driver,
        aclosing(driver.events()) as events,
    ):
        with anyio.fail_after(5):
            await anext(events)
        # Concepción's switch turns to Quintín: Concepción-Quintín comes up (not Norte's), then the
        # failure of Norte's transmitter is the next event of Norte's.
        await anyio.to_thread.run_sync(operator.set_switch, "concepcion-switch", "to-quintin")
        await anyio.to_thread.run_sync(operator.module_action, "norte-tx", "fail")
        with anyio.fail_after(5):
            async for event in events:
                seen.append(event)
                if event.kind is DeviceEventKind.MODULE_DOWN:
                    break

    assert [(e.kind, e.modules) for e in seen] == [
        (DeviceEventKind.LINK_DOWN, ("norte-rx",)),
        (DeviceEventKind.MODULE_DOWN, ("norte-tx",)),
    ]
    assert "switch" in seen[0].reason


async def test_an_agent_certificate_of_another_node_cannot_configure_this_nodes_modules(
    server: BackgroundServer, agent_pki: AgentPki, operator: EmulatorClient
) -> None:
    async with driver_as(server, agent_pki, agent_pki.agent_concepcion, "norte") as impostor:
        assert {m.id for m in await impostor.discover()} == NORTE_MODULES  # agents may read
        with pytest.raises(DeviceRefused) as refused:
            await impostor.configure("norte-rx", ["concepcion-tx"], 59, enabled=True)

    assert refused.value.status_code == 403
    assert "agent:concepcion may not PUT /api/v1/modules/norte-rx/config" in refused.value.detail
    assert operator.module_status("norte-rx")["enabled"] is False


async def test_a_driver_never_touches_modules_of_another_node(
    server: BackgroundServer, agent_pki: AgentPki, operator: EmulatorClient
) -> None:
    async with driver_as(server, agent_pki, agent_pki.agent_norte, "norte") as driver:
        for call in (
            driver.configure("concepcion-tx", ["norte-rx"], 59, enabled=True),
            driver.status("concepcion-tx"),
            driver.performance("no-such-module"),
        ):
            with pytest.raises(NotFound, match="at node 'norte'"):
                await call

    assert operator.module_status("concepcion-tx")["enabled"] is False


async def test_a_channel_outside_the_tuning_range_is_refused_by_the_device(
    server: BackgroundServer, agent_pki: AgentPki
) -> None:
    async with driver_as(server, agent_pki, agent_pki.agent_norte, "norte") as driver:
        with pytest.raises(DeviceRefused) as refused:
            await driver.configure("norte-rx", ["concepcion-tx"], 90, enabled=True)

    assert refused.value.status_code == 409
    assert "outside the tuning range" in refused.value.detail


async def test_a_closed_driver_refuses_further_calls(server: BackgroundServer, agent_pki: AgentPki) -> None:
    driver = driver_as(server, agent_pki, agent_pki.agent_norte, "norte")
    await driver.aclose()

    with pytest.raises(DeviceError, match="closed"):
        await driver.discover()


# The ETSI GS QKD 015 view of what the driver reports ---------------------------------------------------


async def controller_links(
    norte: EmulatorDriver, concepcion: EmulatorDriver
) -> tuple[mapping.InterfaceDirectory, dict[str, list[etsi015.PhysicalLink]]]:
    """The links a controller would write to Norte's and Concepción's agents for Concepción→Norte, as
    each agent parses them; and the directory of the modules Norte's driver sees."""
    directory = mapping.InterfaceDirectory([*await norte.discover(), *await norte.peer_modules()])
    tx, rx = directory.address("concepcion-tx"), directory.address("norte-rx")
    link_id = UUID("0b8f6a4e-5f0c-4c59-9d8e-3f1f0f6b2a11")
    written: dict[str, dict[str, Any]] = {
        "concepcion": {
            "qkdl_id": str(link_id),
            "qkdl_enable": True,
            "qkdl_local": {"qkdn_id": str(tx.qkdn_id), "qkdi_id": tx.qkdi_id},
            "qkdl_remote": {"qkdn_id": str(rx.qkdn_id), "qkdi_id": rx.qkdi_id},
            "qkdl_type": "etsi-qkd-node-types:PHYS",
            "phys_wavelength": "59",
            "phys_qkd_role": "etsi-qkd-node-types:TRANSMITTER",
        },
        "norte": {
            "qkdl_id": str(link_id),
            "qkdl_local": {"qkdn_id": str(rx.qkdn_id), "qkdi_id": rx.qkdi_id},
            "qkdl_remote": {"qkdn_id": str(tx.qkdn_id), "qkdi_id": tx.qkdi_id},
            "qkdl_type": "etsi-qkd-node-types:PHYS",
            "phys_wavelength": "59",
            "phys_qkd_role": "etsi-qkd-node-types:RECEIVER",
        },
    }
    return directory, {
        node: [etsi015.parse_link(entry, etsi015.qkdn_id(node))] for node, entry in written.items()
    }


async def test_links_written_by_the_controller_become_driver_calls_that_pair_the_modules(
    server: BackgroundServer, agent_pki: AgentPki, operator: EmulatorClient, yang_model: DataModel
) -> None:
    async with (
        driver_as(server, agent_pki, agent_pki.agent_norte, "norte") as norte,
        driver_as(server, agent_pki, agent_pki.agent_concepcion, "concepcion") as concepcion,
    ):
        directory, links = await controller_links(norte, concepcion)
        for node, driver in (("concepcion", concepcion), ("norte", norte)):
            calls = [mapping.link_device_call(link, directory) for link in links[node]]
            own = [m.id for m in await driver.discover()]
            for config in mapping.module_configurations(calls, own):
                await driver.configure(
                    config.module_id, list(config.peers), config.dwdm_channel, config.enabled
                )

        (link,) = operator.links()
        assert (link["transmitter"], link["receiver"], link["active"]) == ("concepcion-tx", "norte-rx", True)

        # Norte's agent reports the link back, with its state, and the tree validates.
        status = await norte.status("norte-rx")
        performance = await norte.performance("norte-rx")
        modules = await norte.discover()
        interfaces = [
            mapping.interface_entry(etsi015.qkdi_id(m.id), m, (await norte.status(m.id)).state)
            for m in modules
        ]
    (written,) = links["norte"]
    state = mapping.link_status(status, "concepcion-tx", performance.keys_available)
    entry = etsi015.link_entry(written, status=state, skr_bps=performance.skr_bps)
    tree = mapping.node_tree(etsi015.qkdn_id("norte"), "norte", interfaces, [entry], [])

    validate_tree(yang_model, tree)
    assert state is etsi015.LinkStatus.ACTIVE
    assert entry["qkdl_performance"]["skr"] == round(performance.skr_bps) > 0
    assert etsi015.parse_link(entry, etsi015.qkdn_id("norte")) == written
    # norte-tx carries no link: its agent switched it off
    assert {m.id: i["qkdi_status"] for m, i in zip(modules, interfaces, strict=True)} == {
        "norte-rx": "etsi-qkd-node-types:ENABLED",
        "norte-tx": "etsi-qkd-node-types:DISABLED",
    }
    validate_notification(yang_model, mapping.link_perf_update_notification(written.qkdl_id, performance))


async def test_every_discovered_interface_validates_as_an_interface_and_its_notifications(
    server: BackgroundServer, agent_pki: AgentPki, yang_model: DataModel
) -> None:
    async with driver_as(server, agent_pki, agent_pki.agent_norte, "norte") as driver:
        modules = [*await driver.discover(), *await driver.peer_modules()]

    for module in modules:
        number = etsi015.qkdi_id(module.id)
        entry = mapping.interface_entry(number, module, ModuleState.DISABLED)
        tree = mapping.node_tree(etsi015.qkdn_id(module.node), module.node, [entry], [], [])
        validate_tree(yang_model, tree)
        validate_notification(yang_model, mapping.interface_new_notification(number, module))
        validate_notification(
            yang_model, mapping.interface_down_notification(number, "the module has failed")
        )
        assert entry["qkdi_capabilities"]["wavelength_range"] == "12-61"


async def test_closing_the_driver_ends_an_event_stream_another_task_follows(
    server: BackgroundServer, agent_pki: AgentPki
) -> None:
    driver = driver_as(server, agent_pki, agent_pki.agent_norte, "norte")
    seen: list[DeviceEvent] = []
    subscribed = anyio.Event()

    async def follow() -> None:
        async with aclosing(driver.events()) as events:
            async for event in events:
                seen.append(event)
                subscribed.set()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(follow)
            await subscribed.wait()
            await driver.aclose()  # follow() returns: the task group's exit waits for it

    assert [event.kind for event in seen] == [DeviceEventKind.SYNC]
