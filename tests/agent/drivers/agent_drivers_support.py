"""Test support for the agent's device drivers and its ETSI GS QKD 015 mapping (imported by the conftest
and the tests): the session's certificates, drivers over a real emulator, and validation against the
official YANG modules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from yangson import DataModel
from yangson.enumerations import ContentType

from polling import wait_for as wait_for
from sdqkd.agent.emulator_driver import EmulatorDriver
from sdqkd.etsi015 import packaged_yang_dir
from sdqkd.pki import CertificateAuthority, IssuedCertificate
from sdqkd.server import BackgroundServer

# Fast enough that key is buffered at once, slow enough that buffers do not fill during a test.
TIME_SCALE = 100.0

SPECS = packaged_yang_dir()
"""The ETSI GS QKD 015 YANG modules shipped with sdqkd (tests/etsi015 checks them against the official)."""

NORTE_MODULES = {"norte-rx", "norte-tx"}

_T = TypeVar("_T")


@dataclass(frozen=True)
class AgentPki:
    """A CA, the emulator's server certificate, two agents' and the operator's."""

    ca: CertificateAuthority
    emulator: IssuedCertificate
    agent_norte: IssuedCertificate
    agent_concepcion: IssuedCertificate
    operator: IssuedCertificate


def driver_as(
    server: BackgroundServer, pki: AgentPki, caller: IssuedCertificate, node_id: str
) -> EmulatorDriver:
    """A driver of ``node_id``'s modules presenting ``caller``'s certificate (use ``async with``)."""
    return EmulatorDriver(server.url, caller.cert, caller.key, pki.ca.cert_path, node_id)


def validate_tree(model: DataModel, tree: dict[str, Any]) -> None:
    """Raise (a yangson error) unless ``tree`` is a valid instance of the data model, state included."""
    model.from_raw(tree).validate(ctype=ContentType.all)


def validate_notification(model: DataModel, payload: dict[str, Any]) -> None:
    """Raise (a yangson error) unless ``payload`` (``{"module:notification": {...}}``) is a valid
    instance of that notification of the model."""
    ((name, content),) = payload.items()
    model.from_raw(content, subschema=name).validate(ctype=ContentType.all)
