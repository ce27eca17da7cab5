"""Test support for the multi-host tests: the addresses of a Madrid deployment, and reading
certificates back."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from cryptography import x509

from sdqkd.pki.identity import Identity, identity_of_certificate

MADRID_ADDRESSES: dict[str, Any] = {
    "controller": {"host": "10.77.0.1", "port": 7443},
    "emulator": {"host": "10.77.0.1", "port": 9443},
    "nodes": {
        "concepcion": {"host": "10.77.0.2"},
        "norte": {"host": "10.77.0.3"},
        "quintin": {"host": "10.77.0.4"},
    },
}
NODE_HOSTS = {"concepcion": "10.77.0.2", "norte": "10.77.0.3", "quintin": "10.77.0.4"}


def addresses(**changes: Any) -> dict[str, Any]:
    """The Madrid addresses with ``changes`` (``nodes`` merged node by node; None drops an entry)."""
    document = copy.deepcopy(MADRID_ADDRESSES)
    for key, value in changes.items():
        if key == "nodes":
            for node, entry in value.items():
                if entry is None:
                    del document["nodes"][node]
                else:
                    document["nodes"][node] = entry
        elif value is None:
            del document[key]
        else:
            document[key] = value
    return document


def certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def ip_addresses(cert: x509.Certificate) -> set[str]:
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}


def identity(path: Path) -> Identity:
    return identity_of_certificate(certificate(path))
