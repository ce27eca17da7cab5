"""The emulator's ``/metrics`` (Prometheus text format): per-link key rate and noise, module states,
fibre cuts and switch ports as the management API reports them; for the operator only."""

from __future__ import annotations

import asyncio

import pytest
from emulator_http_support import EmulatorPki, HttpAs, assert_problem
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from asgi_support import clients_presenting
from sdqkd.emulator.app import create_emulator_app
from sdqkd.emulator.client import EmulatorClient
from sdqkd.emulator.engine import Emulator
from sdqkd.topology.models import Topology

pytestmark = pytest.mark.integration


def scrape(http_as: HttpAs, pki: EmulatorPki) -> list[Sample]:
    """Every sample of the emulator's ``/metrics``, read with the operator's certificate."""
    response = http_as(pki.operator).get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return [sample for family in text_string_to_metric_families(response.text) for sample in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The value of the one sample ``name`` whose labels include ``labels``."""
    (found,) = [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]
    return found


def test_metrics_give_each_links_rate_and_noise_as_the_links_api(
    network: EmulatorClient, http_as: HttpAs, emulator_pki: EmulatorPki
) -> None:
    samples = scrape(http_as, emulator_pki)
    links = network.links()

    for link in links:
        pair = {"transmitter": link["transmitter"], "receiver": link["receiver"]}
        assert value(samples, "sdqkd_link_active", **pair) == (1.0 if link["active"] else 0.0)
        assert value(samples, "sdqkd_link_skr_bits_per_second", **pair) == pytest.approx(link["skr_bps"])
    norte = {"link": "concepcion-norte", "transmitter": "concepcion-tx", "receiver": "norte-rx"}
    performance = network.performance("norte-rx")
    assert value(samples, "sdqkd_link_skr_bits_per_second", **norte) > 0
    assert value(samples, "sdqkd_link_excess_noise_snu", **norte) == pytest.approx(
        performance["excess_noise_snu"]
    )
    raman = value(samples, "sdqkd_link_raman_excess_noise_snu", **norte)
    assert 0 < raman < value(samples, "sdqkd_link_excess_noise_snu", **norte)
    assert value(samples, "sdqkd_module_state", module="norte-rx", state="up") == 1
    assert value(samples, "sdqkd_module_state", module="norte-rx", state="down") == 0
    assert value(samples, "sdqkd_switch_port_connected", switch="concepcion-switch", port="to-norte") == 1
    assert value(samples, "sdqkd_switch_port_connected", switch="concepcion-switch", port="to-quintin") == 0


def test_metrics_show_a_fibre_cut_and_the_link_it_stops(
    network: EmulatorClient, http_as: HttpAs, emulator_pki: EmulatorPki
) -> None:
    before = scrape(http_as, emulator_pki)
    network.fibre_action("concepcion-norte", "cut")
    after = scrape(http_as, emulator_pki)

    norte = {"link": "concepcion-norte"}
    assert value(before, "sdqkd_fibre_cut", fibre="concepcion-norte") == 0
    assert value(after, "sdqkd_fibre_cut", fibre="concepcion-norte") == 1
    assert value(before, "sdqkd_link_active", **norte) == 1
    assert value(after, "sdqkd_link_active", **norte) == 0
    assert value(after, "sdqkd_link_skr_bits_per_second", **norte) == 0
    assert value(after, "sdqkd_module_state", module="norte-rx", state="down") == 1
    assert value(after, "sdqkd_link_active", link="norte-quintin") == 1


@pytest.mark.parametrize("name", ["controller", "agent_norte", "kme_norte", "sae_x"])
def test_metrics_are_for_the_operator_only(http_as: HttpAs, emulator_pki: EmulatorPki, name: str) -> None:
    response = http_as(getattr(emulator_pki, name)).get("/metrics")

    assert_problem(response, 403)


def test_metrics_without_a_client_certificate_are_401(madrid: Topology) -> None:
    # over TLS a client without a certificate cannot even connect: in process, the app itself says 401
    async def call() -> int:
        app = create_emulator_app(Emulator(madrid), run_clock=False)
        async with clients_presenting(app, "https://emulator") as call_as:
            response = await call_as(None).get("/metrics")
        assert_problem(response, 401)
        return response.status_code

    assert asyncio.run(call()) == 401
