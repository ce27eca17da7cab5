"""The optical manager's rounds against a plant that answers at once (no network): what it takes as the
operator's request, and that an operator's change crossing one of its own writes at the plant is not lost."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from sdqkd.controller.alarms import Alarms
from sdqkd.controller.network import Network
from sdqkd.controller.optical.manager import OpticalManager
from sdqkd.controller.optical.plant import PlantState
from sdqkd.controller.store import ControllerStore
from sdqkd.topology.loader import load_topology
from sdqkd.topology.models import ClassicalChannel, Topology

FIBRE = "concepcion-norte"
LOUD = "c100g-36"
FLOOR_100G_DBM = -20.0 + 2.9 + 3.0


class Plant:
    """The optical plant as a topology changed in place; ``before_next_write`` runs just before the
    controller's next write lands (what happens at the plant while that write is on its way)."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.writes: list[tuple[str, float | None, int | None]] = []
        self.before_next_write: Callable[[], None] | None = None

    async def read(self, _: Topology) -> PlantState:
        return PlantState(self.topology, frozenset())

    async def set_channel(
        self,
        fibre: str,
        channel: str,
        *,
        launch_power_dbm: float | None = None,
        dwdm_channel: int | None = None,
    ) -> None:
        hook, self.before_next_write = self.before_next_write, None
        if hook is not None:
            hook()
        self.writes.append((channel, launch_power_dbm, dwdm_channel))
        change: dict[str, Any] = {}
        if launch_power_dbm is not None:
            change["launch_power_dbm"] = launch_power_dbm
        if dwdm_channel is not None:
            change |= {"dwdm_channel": dwdm_channel, "wavelength_nm": None}
        self._edit(fibre, lambda cs: [c.model_copy(update=change) if c.id == channel else c for c in cs])

    async def set_switch(self, switch: str, port: str | None) -> None:
        raise AssertionError("no switch moves in these tests")

    async def aclose(self) -> None:
        pass

    # The operator, behind the controller's back
    def power(self, channel: str) -> float:
        return next(
            c.launch_power_dbm for c in self.topology.fibre(FIBRE).classical_channels if c.id == channel
        )

    def set_power(self, channel: str, power_dbm: float) -> None:
        self._edit(
            FIBRE,
            lambda cs: [
                c.model_copy(update={"launch_power_dbm": power_dbm}) if c.id == channel else c for c in cs
            ],
        )

    def add(self, channel_id: str, dwdm_channel: int, power_dbm: float) -> None:
        new = ClassicalChannel(
            id=channel_id,
            dwdm_channel=dwdm_channel,
            launch_power_dbm=power_dbm,
            rate_class="10G",
            direction="a_to_b",
        )
        self._edit(FIBRE, lambda cs: [*cs, new])

    def remove(self, channel_id: str) -> None:
        self._edit(FIBRE, lambda cs: [c for c in cs if c.id != channel_id])

    def _edit(
        self, fibre_id: str, change: Callable[[list[ClassicalChannel]], list[ClassicalChannel]]
    ) -> None:
        fibres = [
            f.model_copy(update={"classical_channels": change(list(f.classical_channels))})
            if f.id == fibre_id
            else f
            for f in self.topology.fibres
        ]
        self.topology = self.topology.model_copy(update={"fibres": fibres})


@pytest.fixture
def setup(tmp_path: Path) -> tuple[OpticalManager, Plant]:
    topology = load_topology("madrid")
    plant = Plant(topology)
    store = ControllerStore(tmp_path / "state.db")
    network = Network(topology, {})
    manager = OpticalManager(
        topology,
        network,
        store,
        Alarms(store),
        lambda _: 0,
        lambda _: None,
        plant,  # type: ignore[arg-type]
    )
    return manager, plant


def run(coroutine: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coroutine)


def power_event(channel: str, power_dbm: float) -> dict[str, Any]:
    return {"type": "channel_power", "fibre": FIBRE, "channel": channel, "launch_power_dbm": power_dbm}


def louder(plant: Plant) -> None:
    """The issue's operator change: +15 dBm on c100g-36, four 10G at +3 dBm next to the quantum channel."""
    plant.set_power(LOUD, 15.0)
    for number in (57, 58, 60, 61):
        plant.add(f"near-{number}", number, 3.0)


def test_a_change_at_the_plant_becomes_the_request_and_the_controller_lowers_it(
    setup: tuple[OpticalManager, Plant],
) -> None:
    manager, plant = setup

    async def scenario() -> None:
        await manager.round()
        louder(plant)
        await manager.round()

    run(scenario())
    assert manager.requests[(FIBRE, LOUD)].power_dbm == 15.0
    assert FLOOR_100G_DBM - 1e-6 <= plant.power(LOUD) < 15.0
    assert manager.last_plan is not None
    assert not manager.last_plan.missed


def test_the_events_of_its_own_writes_are_not_taken_as_requests(setup: tuple[OpticalManager, Plant]) -> None:
    manager, plant = setup

    async def scenario() -> None:
        await manager.round()
        louder(plant)
        await manager.round()
        for channel, power_dbm, _ in plant.writes:
            assert power_dbm is not None
            manager.heard(power_event(channel, power_dbm))

    run(scenario())
    assert manager.requests[(FIBRE, LOUD)].power_dbm == 15.0
    assert all(manager.requests[(FIBRE, f"near-{n}")].power_dbm == 3.0 for n in (57, 58, 60, 61))


def test_an_operator_change_that_crosses_a_write_of_the_controller_at_the_plant_is_kept(
    setup: tuple[OpticalManager, Plant],
) -> None:
    manager, plant = setup

    def operator_sets_zero() -> None:
        plant.set_power(LOUD, 0.0)
        manager.heard(power_event(LOUD, 0.0))  # published before the controller's write lands

    async def scenario() -> None:
        await manager.round()
        louder(plant)
        await manager.round()
        lowered = plant.power(LOUD)
        for number in (57, 58, 60, 61):
            plant.remove(f"near-{number}")
        plant.before_next_write = operator_sets_zero
        await manager.round()  # planned from a read before the operator's 0 dBm: raises c100g-36
        raised = plant.power(LOUD)
        assert raised > lowered  # the controller's write landed last, over the operator's 0 dBm
        manager.heard(power_event(LOUD, raised))  # and its own event comes back
        await manager.round()

    run(scenario())
    assert manager.requests[(FIBRE, LOUD)].power_dbm == 0.0
    assert plant.power(LOUD) == 0.0
