"""The identity a certificate carries: ``urn:sdqkd:ROLE:NAME`` in its subject alternative names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509

from sdqkd.errors import PkiError

__all__ = ["Identity", "Role", "identity_of_certificate"]

_NAME = r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}"
# Anchored with \Z, not `$`: `$` also matches before a trailing newline ('alice\n' would pass as 'alice').
NAME_PATTERN = rf"^{_NAME}\Z"
_URN = re.compile(rf"urn:sdqkd:([a-z]+):({_NAME})")  # used with fullmatch


class Role(StrEnum):
    """What a certificate's holder is allowed to be."""

    CA = "ca"
    KME = "kme"
    SAE = "sae"
    AGENT = "agent"
    CONTROLLER = "controller"
    EMULATOR = "emulator"
    OPERATOR = "operator"
    WEB = "web"  # the operator's dashboard (sdqkd web): a server certificate browsers verify


@dataclass(frozen=True)
class Identity:
    """Who is at the other end of a mutually authenticated connection."""

    role: Role
    name: str

    @property
    def urn(self) -> str:
        return f"urn:sdqkd:{self.role}:{self.name}"

    def __str__(self) -> str:
        return f"{self.role}:{self.name}"


def identity_of_certificate(certificate: x509.Certificate) -> Identity:
    """The sdqkd identity of a certificate.

    Raises:
        PkiError: the certificate carries no (or an invalid) sdqkd identity.
    """
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound as exc:
        raise PkiError("certificate has no subject alternative names") from exc
    for uri in names.get_values_for_type(x509.UniformResourceIdentifier):
        if match := _URN.fullmatch(uri):
            try:
                return Identity(Role(match.group(1)), match.group(2))
            except ValueError as exc:
                raise PkiError(f"certificate names unknown role {match.group(1)!r}") from exc
    raise PkiError("certificate carries no urn:sdqkd:ROLE:NAME identity")
