"""The scenarios' background sampler: samples in order with the scenario's time, a service failing for
a moment costs a sample and is counted, a bug in the probe stops it and is raised at the end."""

from __future__ import annotations

import pytest

from sdqkd.errors import Unavailable
from sdqkd.scenarios.sampler import Clock, Sampler, wall_time


def test_samples_come_in_order_and_wait_for_returns_the_first_accepted() -> None:
    calls = iter(range(1000))

    with Sampler(lambda t_s: (next(calls), t_s), Clock(), interval_s=0.005) as sampler:
        found = sampler.wait_for(lambda sample: sample[0] >= 3, timeout_s=10.0)

    assert found is not None
    assert found[0] == 3
    samples = sampler.samples
    assert [n for n, _ in samples] == list(range(len(samples)))
    assert [t for _, t in samples] == sorted(t for _, t in samples)


def test_a_failing_service_is_counted_and_sampling_goes_on() -> None:
    calls = iter(range(1000))

    def probe(t_s: float) -> int:
        n = next(calls)
        if n % 2 == 0:
            raise Unavailable(f"not now ({n})")
        return n

    with Sampler(probe, Clock(), interval_s=0.005) as sampler:
        sampler.wait_for(lambda n: n >= 5, timeout_s=10.0)

    assert all(n % 2 == 1 for n in sampler.samples)
    assert sampler.failures >= 3
    assert sampler.last_failure is not None
    assert sampler.last_failure.startswith("not now")


def test_a_bug_in_the_probe_stops_sampling_and_is_raised_when_the_block_ends() -> None:
    def probe(t_s: float) -> int:
        raise KeyError("quantum_channels")

    with (
        pytest.raises(KeyError, match="quantum_channels"),
        Sampler(probe, Clock(), interval_s=0.005) as sampler,
    ):
        assert sampler.wait_for(lambda n: True, timeout_s=10.0) is None


def test_wall_time_reads_the_services_timestamps() -> None:
    assert (
        wall_time("2026-12-02T22:10:05.000Z") - wall_time("2026-12-02T22:10:00+00:00")
    ).total_seconds() == 5.0
