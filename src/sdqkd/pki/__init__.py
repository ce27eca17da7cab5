"""The project's PKI: a certificate authority, certificates for every role (KME, SAE, agent,
controller, emulator, operator), the identity a certificate carries, and TLS contexts for mutual
authentication.

Identity: every certificate carries the URI subject alternative name ``urn:sdqkd:ROLE:NAME`` (and
CN = NAME, OU = ROLE). Services authorise peers by that identity; an SAE's ID is the NAME of its
``sae`` certificate, a KME's ID the NAME of its ``kme`` certificate.
"""

from __future__ import annotations

from sdqkd.pki.ca import CertificateAuthority, IssuedCertificate
from sdqkd.pki.identity import Identity, Role, identity_of_certificate
from sdqkd.pki.server_contexts import ServerContexts
from sdqkd.pki.tls import ExpectedPeer, client_ssl_context, server_ssl_context

__all__ = [
    "CertificateAuthority",
    "ExpectedPeer",
    "Identity",
    "IssuedCertificate",
    "Role",
    "ServerContexts",
    "client_ssl_context",
    "identity_of_certificate",
    "server_ssl_context",
]
