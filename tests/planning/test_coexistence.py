"""Coexistence algebra: channel floors, Raman noise per watt (against the physics, the link budget and
the emulator), the Raman budget of a target rate, grid channels in a range, slot occupancy and direction."""

from __future__ import annotations

import itertools
import math

import pytest

from sdqkd.emulator.world import World
from sdqkd.physics import (
    FiniteSizeSecurity,
    RamanModel,
    backward_raman_power_w,
    evaluate_key_rate,
    forward_raman_power_w,
    raman_photons_per_mode,
    transmittance_from_loss_db,
)
from sdqkd.planning import link_budget
from sdqkd.planning.coexistence import (
    GRID_SLOT_THZ,
    channel_floor_dbm,
    grid_channels_in,
    occupied,
    raman_budget_snu,
    raman_snu_per_watt,
    travels_forward,
)
from sdqkd.topology import Topology, load_topology
from sdqkd.topology.models import ClassicalChannel, DeviceProfile, Direction, Fibre
from sdqkd.units import SPEED_OF_LIGHT_M_PER_S, dbm_to_w, dwdm_channel_to_frequency_thz

QUANTUM_CHANNEL = 59  # the Madrid links' quantum channel (195.9 THz)


@pytest.fixture(scope="module")
def madrid() -> Topology:
    return load_topology("madrid")


def _profile(topology: Topology) -> DeviceProfile:
    return topology.profile("madrid-2018")


def _rate_bps(profile: DeviceProfile, transmittance: float, excess_noise_snu: float) -> float:
    """The GG02 key rate straight from sdqkd.physics, the profile's figures written out."""
    assert profile.block_size is not None
    result = evaluate_key_rate(
        transmittance=transmittance,
        excess_noise_snu=excess_noise_snu,
        modulation_variance_snu=profile.modulation_variance_snu,
        efficiency=profile.efficiency,
        electronic_noise_snu=profile.electronic_noise_snu,
        reconciliation_efficiency=profile.reconciliation_efficiency,
        symbol_rate_bd=profile.symbol_rate_bd,
        frame_error_rate=profile.frame_error_rate,
        detection=profile.detection,
        detector=profile.detector,
        finite_size=FiniteSizeSecurity(
            block_size=profile.block_size,
            pe_fraction=profile.pe_fraction,
            epsilon_pe=profile.epsilon_pe,
            epsilon_smooth=profile.epsilon_smooth,
            epsilon_pa=profile.epsilon_pa,
        ),
    )
    return float(result.secret_key_rate_bps)


def _snu_per_watt_from_physics(
    frequency_thz: float, forward: bool, fibre: Fibre, profile: DeviceProfile, transmittance: float
) -> float:
    """r of one channel from the Eraerds/Kumar formulas: photons per mode at the receiver per watt
    launched, referred to the channel input (÷ T)."""
    model = RamanModel(
        reference_cross_section_per_km_nm=profile.raman_cross_section_per_km_nm,
        reference_detuning_thz=profile.raman_reference_detuning_thz,
        fibre_temperature_k=profile.fibre_temperature_k,
    )
    rho = float(model.cross_section_per_km_nm(frequency_thz, dwdm_channel_to_frequency_thz(QUANTUM_CHANNEL)))
    raman_power = forward_raman_power_w if forward else backward_raman_power_w
    power_w = raman_power(
        1.0, fibre.length_km, fibre.attenuation_db_per_km, rho, profile.receiver_bandwidth_nm
    )
    wavelength_nm = SPEED_OF_LIGHT_M_PER_S / (dwdm_channel_to_frequency_thz(QUANTUM_CHANNEL) * 1e12) * 1e9
    photons = raman_photons_per_mode(power_w, wavelength_nm, profile.receiver_bandwidth_nm)
    return float(photons) / transmittance


def _channel(**fields: object) -> ClassicalChannel:
    spec: dict[str, object] = {"id": "c", "dwdm_channel": 35, "launch_power_dbm": 0.0, "direction": "a_to_b"}
    return ClassicalChannel.model_validate({**spec, **fields})


def _fibre(length_km: float, *channels: ClassicalChannel, extra_loss_db: float = 0.0) -> Fibre:
    return Fibre(
        id="a-b",
        a="a",
        b="b",
        length_km=length_km,
        attenuation_db_per_km=0.2,
        extra_loss_db=extra_loss_db,
        classical_channels=list(channels),
    )


# channel_floor_dbm -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel_id", "floor_dbm"),
    [
        ("c100g-36", -20.0 + 2.9 + 3.0),  # 100G class: -20 dBm sensitivity, 3 dB margin
        ("c10g-20", -24.0 + 2.9 + 3.0),  # 10G class: -24 dBm sensitivity, 3 dB margin
    ],
)
def test_floor_is_the_class_sensitivity_plus_the_madrid_span_loss_plus_the_margin(
    madrid: Topology, channel_id: str, floor_dbm: float
) -> None:
    fibre = madrid.fibre("concepcion-norte")  # published 2.9 dB span
    channel = next(c for c in fibre.classical_channels if c.id == channel_id)
    assert channel_floor_dbm(channel, fibre) == pytest.approx(floor_dbm, abs=1e-9)


def test_floor_counts_the_lumped_losses_of_the_span(madrid: Topology) -> None:
    fibre = madrid.fibre("concepcion-quintin")  # 5 km at 0.3 dB/km and 1 dB of patches
    channel = next(c for c in fibre.classical_channels if c.id == "c10g-20")
    assert channel_floor_dbm(channel, fibre) == pytest.approx(-24.0 + 2.5 + 3.0, abs=1e-9)


def test_floor_uses_the_channels_own_sensitivity_and_margin_over_the_class_defaults() -> None:
    channel = _channel(rate_class="100G", receiver_sensitivity_dbm=-28.0, required_margin_db=1.5)
    fibre = _fibre(20.0, channel, extra_loss_db=0.5)
    assert channel_floor_dbm(channel, fibre) == pytest.approx(-28.0 + 4.5 + 1.5, abs=1e-9)


# raman_snu_per_watt ------------------------------------------------------------------------------------


def test_raman_per_watt_of_a_madrid_span_follows_the_eraerds_and_kumar_formulas(madrid: Topology) -> None:
    fibre = madrid.fibre("concepcion-norte")
    profile = _profile(madrid)
    transmittance = float(transmittance_from_loss_db(fibre.loss_db + 1.0))  # and the switch
    frequencies = [c.frequency_thz for c in fibre.classical_channels]
    for forward in (True, False):
        found = raman_snu_per_watt(
            frequencies, [forward] * len(frequencies), fibre, profile, QUANTUM_CHANNEL, transmittance
        )
        expected = [
            _snu_per_watt_from_physics(f, forward, fibre, profile, transmittance) for f in frequencies
        ]
        assert found == pytest.approx(expected, rel=1e-12)
        assert all(r > 0 for r in found)


def test_raman_per_watt_times_the_powers_is_the_link_budgets_raman_noise(madrid: Topology) -> None:
    budget = link_budget(madrid, madrid.link("concepcion-norte"))
    fibre = budget.fibre
    r = raman_snu_per_watt(
        [c.frequency_thz for c in fibre.classical_channels],
        [travels_forward(c, fibre, budget.transmitter_node) for c in fibre.classical_channels],
        fibre,
        budget.profile,
        budget.quantum_channel,
        budget.transmittance,
    )
    noise = sum(ri * dbm_to_w(c.launch_power_dbm) for ri, c in zip(r, fibre.classical_channels, strict=True))
    assert noise == pytest.approx(budget.raman_noise_snu, rel=1e-12)


def test_rate_predicted_from_raman_per_watt_is_the_rate_the_emulator_makes_on_concepcion_norte(
    madrid: Topology,
) -> None:
    world = World(madrid)
    world.configure("concepcion-tx", ["norte-rx"], QUANTUM_CHANNEL, enabled=True)
    world.configure("norte-rx", ["concepcion-tx"], QUANTUM_CHANNEL, enabled=True)
    pair = world.pair_of("norte-rx")
    assert pair is not None
    assert pair.active, pair.reason

    fibre = madrid.fibre("concepcion-norte")
    profile = _profile(madrid)
    transmittance = float(transmittance_from_loss_db(2.9 + 1.0))  # the span and the switch
    r = raman_snu_per_watt(
        [c.frequency_thz for c in fibre.classical_channels],
        [travels_forward(c, fibre, "concepcion") for c in fibre.classical_channels],
        fibre,
        profile,
        QUANTUM_CHANNEL,
        transmittance,
    )
    raman_snu = sum(
        ri * dbm_to_w(c.launch_power_dbm) for ri, c in zip(r, fibre.classical_channels, strict=True)
    )
    predicted = _rate_bps(profile, transmittance, profile.excess_noise_snu + raman_snu)
    assert 40e3 < predicted < 70e3  # the rate the Madrid profile is calibrated to
    assert pair.rate_bps == pytest.approx(predicted, rel=1e-9)


def test_raman_per_watt_is_the_same_for_one_channel_alone_or_among_others(madrid: Topology) -> None:
    fibre = madrid.fibre("concepcion-norte")
    profile = _profile(madrid)
    frequencies = [193.6, 195.8, 196.0]
    together = raman_snu_per_watt(frequencies, [True, False, True], fibre, profile, QUANTUM_CHANNEL, 0.4)
    alone = [
        raman_snu_per_watt([f], [forward], fibre, profile, QUANTUM_CHANNEL, 0.4)[0]
        for f, forward in zip(frequencies, [True, False, True], strict=True)
    ]
    assert together == pytest.approx(alone, rel=1e-12)


def test_raman_per_watt_of_no_channels_is_an_empty_list(madrid: Topology) -> None:
    assert raman_snu_per_watt([], [], madrid.fibre("concepcion-norte"), _profile(madrid), 59, 0.4) == []


@pytest.mark.parametrize("forward", [True, False])
def test_raman_noise_grows_with_the_length_of_the_fibre(madrid: Topology, forward: bool) -> None:
    profile = _profile(madrid)
    noise = []
    for length_km in (1.0, 5.0, 10.0, 25.0, 50.0):
        fibre = _fibre(length_km)
        transmittance = float(transmittance_from_loss_db(fibre.loss_db))
        (r,) = raman_snu_per_watt([193.6], [forward], fibre, profile, QUANTUM_CHANNEL, transmittance)
        noise.append(r)
    assert all(later > earlier for earlier, later in itertools.pairwise(noise)), noise


def test_raman_noise_grows_with_launch_power_and_lowers_the_key_rate(madrid: Topology) -> None:
    """ξ_R = r·P: more power, more noise and less key; the noise is proportional to the power."""
    fibre = madrid.fibre("concepcion-norte")
    profile = _profile(madrid)
    transmittance = float(transmittance_from_loss_db(fibre.loss_db))
    (r,) = raman_snu_per_watt([196.0], [True], fibre, profile, QUANTUM_CHANNEL, transmittance)
    powers_dbm = [-20.0, -10.0, 0.0, 5.0, 10.0]
    noise = [r * dbm_to_w(p) for p in powers_dbm]
    rates = [_rate_bps(profile, transmittance, profile.excess_noise_snu + xi) for xi in noise]
    assert all(later > earlier for earlier, later in itertools.pairwise(noise))
    assert all(later < earlier for earlier, later in itertools.pairwise(rates)), rates


def test_a_channel_on_the_stokes_side_costs_more_than_its_mirror_on_the_anti_stokes_side(
    madrid: Topology,
) -> None:
    """The quantum channel red of a pump (Stokes) gets the (n_th + 1) share, blue of it only n_th."""
    fibre = madrid.fibre("concepcion-norte")
    quantum_thz = dwdm_channel_to_frequency_thz(QUANTUM_CHANNEL)
    blue_pump, red_pump = raman_snu_per_watt(
        [quantum_thz + 1.0, quantum_thz - 1.0], [True, True], fibre, _profile(madrid), QUANTUM_CHANNEL, 0.4
    )
    assert blue_pump > red_pump > 0


# raman_budget_snu --------------------------------------------------------------------------------------


@pytest.mark.parametrize("target_bps", [10e3, 40e3, 42e3, 50e3])
def test_the_key_rate_at_the_raman_budget_is_the_target(madrid: Topology, target_bps: float) -> None:
    profile = _profile(madrid)
    transmittance = float(transmittance_from_loss_db(3.9))
    budget = raman_budget_snu(profile, transmittance, target_bps)
    assert budget is not None
    assert 0 < budget < math.inf
    assert _rate_bps(profile, transmittance, profile.excess_noise_snu + budget) == pytest.approx(
        target_bps, rel=1e-6
    )
    # just inside the budget the target is kept, just beyond it is not
    assert _rate_bps(profile, transmittance, profile.excess_noise_snu + budget * 0.99) > target_bps
    assert _rate_bps(profile, transmittance, profile.excess_noise_snu + budget * 1.01) < target_bps


def test_a_higher_target_leaves_a_smaller_raman_budget(madrid: Topology) -> None:
    profile = _profile(madrid)
    budgets = [raman_budget_snu(profile, 0.4, target) for target in (10e3, 30e3, 45e3)]
    assert all(b is not None for b in budgets)
    assert budgets[0] > budgets[1] > budgets[2]  # type: ignore[operator]


def test_no_budget_when_the_link_misses_the_target_even_without_classical_light(madrid: Topology) -> None:
    profile = _profile(madrid)
    transmittance = float(transmittance_from_loss_db(3.9))
    dark_rate = _rate_bps(profile, transmittance, profile.excess_noise_snu)
    assert raman_budget_snu(profile, transmittance, dark_rate * 1.01) is None
    just_kept = raman_budget_snu(profile, transmittance, dark_rate * 0.99)
    assert just_kept is not None
    assert just_kept > 0


def test_a_target_of_nothing_is_kept_at_any_noise(madrid: Topology) -> None:
    assert raman_budget_snu(_profile(madrid), 0.4, 0.0) == math.inf


# grid_channels_in, occupied, travels_forward -----------------------------------------------------------


def _wavelength_nm(channel: int) -> float:
    return SPEED_OF_LIGHT_M_PER_S / (dwdm_channel_to_frequency_thz(channel) * 1e12) * 1e9


def test_grid_channels_in_the_c_band_are_those_whose_wavelength_lies_in_it() -> None:
    expected = [n for n in range(1, 100) if 1528.0 <= _wavelength_nm(n) <= 1568.0]
    assert grid_channels_in(1528.0, 1568.0) == expected
    assert expected[0] == 12  # 191.2 THz, 1567.9 nm
    assert expected[-1] == 61  # ch 62 (196.2 THz) is just below 1528 nm


def test_grid_channels_in_includes_channels_on_the_bounds() -> None:
    assert grid_channels_in(_wavelength_nm(50), _wavelength_nm(45)) == [45, 46, 47, 48, 49, 50]


def test_grid_channels_in_a_range_between_two_channels_is_empty() -> None:
    assert grid_channels_in(_wavelength_nm(50) + 0.1, _wavelength_nm(50) + 0.3) == []


def test_a_carrier_occupies_the_grid_slot_within_half_a_spacing() -> None:
    assert pytest.approx(0.05) == GRID_SLOT_THZ
    assert occupied(195.9, [193.6, 195.9])
    assert occupied(195.93, [195.9])  # off-grid, in ch 59's slot
    assert occupied(195.87, [195.9])
    assert not occupied(195.8, [195.9])  # the next grid channel
    assert not occupied(195.96, [195.9])
    assert not occupied(195.9, [])


@pytest.mark.parametrize(
    ("direction", "transmitter_node", "forward"),
    [
        (Direction.A_TO_B, "a", True),
        (Direction.A_TO_B, "b", False),
        (Direction.B_TO_A, "a", False),
        (Direction.B_TO_A, "b", True),
    ],
)
def test_a_channel_travels_forward_when_launched_from_the_transmitters_node(
    direction: Direction, transmitter_node: str, forward: bool
) -> None:
    channel = _channel(direction=direction.value)
    assert travels_forward(channel, _fibre(10.0, channel), transmitter_node) is forward


def test_madrid_channels_travel_with_the_quantum_signal_from_concepcion(madrid: Topology) -> None:
    fibre = madrid.fibre("concepcion-norte")
    assert all(travels_forward(c, fibre, "concepcion") for c in fibre.classical_channels)
    assert not any(travels_forward(c, fibre, "norte") for c in fibre.classical_channels)
