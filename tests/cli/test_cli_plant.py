"""``sdqkd plant set-channel``: a classical channel's launch power and grid channel, changed through the
emulator's plant API (an emulated Madrid served on loopback stands in for ``sdqkd up``'s)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sdqkd.cli import plant
from sdqkd.emulator.app import create_emulator_app
from sdqkd.emulator.client import EmulatorClient
from sdqkd.emulator.engine import Emulator
from sdqkd.pki import CertificateAuthority, Role
from sdqkd.server import BackgroundServer, TlsFiles
from sdqkd.topology import load_topology

pytestmark = pytest.mark.integration

Sdqkd = Callable[..., subprocess.CompletedProcess[str]]

_USAGE, _INVALID = 2, 1


@pytest.fixture
def operator(
    ca_issuing_into: Callable[[str], CertificateAuthority], monkeypatch: pytest.MonkeyPatch
) -> Iterator[EmulatorClient]:
    """An emulated Madrid served with mutual TLS; ``sdqkd plant`` reaches it as the operator. The
    test's own operator client."""
    ca = ca_issuing_into("cli-plant")
    server, operator = ca.issue(Role.EMULATOR, "emulator"), ca.issue(Role.OPERATOR, "operator")
    tls = TlsFiles(cert=server.cert, key=server.key, ca=ca.cert_path)
    app = create_emulator_app(Emulator(load_topology("madrid")), run_clock=False)
    with BackgroundServer(app, tls) as running:

        def client(_: Any) -> EmulatorClient:
            return EmulatorClient(running.url, operator.cert, operator.key, ca.cert_path)

        monkeypatch.setattr(plant, "_client", client)
        with client(None) as ours:
            yield ours


def channel(client: EmulatorClient, fibre_id: str, channel_id: str) -> dict[str, Any]:
    fibre = next(f for f in client.fibres() if f["id"] == fibre_id)
    return next(c for c in fibre["channels"] if c["id"] == channel_id)


def test_set_channel_moves_a_channel_and_sets_its_power(sdqkd: Sdqkd, operator: EmulatorClient) -> None:
    args = ["plant", "set-channel", "--fibre", "concepcion-norte", "--channel", "c100g-36"]

    moved = sdqkd(*args, "--dwdm-channel", "50")
    louder = sdqkd(*args, "--dbm", "4.5")

    assert moved.returncode == 0, moved.stderr
    assert "concepcion-norte/c100g-36: grid channel 50 (195.00 THz), 0 dBm" in moved.stdout
    assert louder.returncode == 0, louder.stderr
    assert "grid channel 50 (195.00 THz), 4.5 dBm" in louder.stdout
    now = channel(operator, "concepcion-norte", "c100g-36")
    assert (now["dwdm_channel"], now["launch_power_dbm"]) == (50, 4.5)


def test_set_channel_says_why_the_plant_refuses_a_move(sdqkd: Sdqkd, operator: EmulatorClient) -> None:
    result = sdqkd(
        "plant", "set-channel", "--fibre", "concepcion-norte", "--channel", "c10g-20", "--dwdm-channel", "50"
    )

    assert result.returncode == _INVALID
    assert "fixed-wavelength" in result.stderr
    assert "Traceback" not in result.stderr
    assert channel(operator, "concepcion-norte", "c10g-20")["dwdm_channel"] == 20


def test_set_channel_needs_a_power_or_a_grid_channel(sdqkd: Sdqkd, operator: EmulatorClient) -> None:
    result = sdqkd("plant", "set-channel", "--fibre", "concepcion-norte", "--channel", "c100g-36")

    assert result.returncode == _USAGE
    assert "--dbm" in result.stderr
    assert "--dwdm-channel" in result.stderr
