"""Test support for the dashboard's tests: the canned upstream documents (tests/web/fixtures/, the
answers of a real ``sdqkd up --topology madrid``), and a dashboard app over them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdqkd.pki import IssuedCertificate
from sdqkd.server import TlsFiles
from sdqkd.web import Upstream

FIXTURES = Path(__file__).resolve().parent / "fixtures"

TOKEN = "a-test-token-of-the-dashboard-0123456789"
"""The token the tests' dashboards let in."""


def documents(name: str) -> dict[str, Any]:
    """The captured answers ``{"controller": {path: body}, "emulator": {path: body}}`` of a fixture."""
    return dict(json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8")))


def upstream(name: str, **replace: Any) -> Upstream:
    """The :class:`Upstream` a reader makes of the fixture's answers (members in ``replace`` instead)."""
    found = documents(name)
    controller, emulator = found["controller"], found["emulator"]
    members: dict[str, Any] = {
        "topology": controller["topology"],
        "links": controller["links"],
        "apps": controller["apps"],
        "services": controller["services"],
        "alarms": controller["alarms"],
        "fibres": controller["optical/fibres"]["fibres"],
        "actions": controller["optical/actions"]["actions"],
        "switches": controller["switches"]["switches"],
        "plant_fibres": emulator["plant/fibres"]["fibres"],
    }
    return Upstream(**{**members, **replace})


@dataclass(frozen=True)
class WebPki:
    """The certificates of the dashboard's tests."""

    ca_cert: Path
    web: IssuedCertificate
    operator: IssuedCertificate
    kme: IssuedCertificate

    def server_tls(self) -> TlsFiles:
        return TlsFiles(self.web.cert, self.web.key, self.ca_cert)
