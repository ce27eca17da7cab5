"""TLS contexts for mutual authentication with the project's CA: TLS 1.3 preferred, TLS 1.2 only
with AEAD ECDHE suites, verification always on, the CA's CRL checked when there is one, and on the
client side the server's sdqkd identity checked against the one the client meant to reach.

Why an identity check on top of the host name: every service's certificate names ``localhost``
(and the hosts it serves on), so a chain and host name check alone accepts any certificate of the
CA, an SAE's as well as an agent's of another node. :func:`client_ssl_context` with ``peer``
refuses the handshake unless the server's ``urn:sdqkd:ROLE:NAME`` is the expected one.
"""

from __future__ import annotations

import ssl
from collections.abc import Collection
from pathlib import Path
from typing import Any, TypeAlias

import httpx
from cryptography import x509

from sdqkd.errors import PkiError
from sdqkd.pki.identity import Identity, Role, identity_of_certificate

__all__ = ["ExpectedPeer", "async_https_client", "client_ssl_context", "server_ssl_context"]

# TLS 1.2 suites: ephemeral ECDH (forward secrecy) and an AEAD cipher only, no CBC (Lucky13-style
# padding oracles) and no static RSA; TLS 1.3 suites are all AEAD and stay OpenSSL's defaults.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"

ExpectedPeer: TypeAlias = Identity | Role | Collection[Identity | Role]
"""Whom a client means to reach: one identity (role and node), a role (any holder of it), or several
of these (any of them)."""


def _matches(identity: Identity, expected: ExpectedPeer) -> bool:
    if isinstance(expected, Identity):
        return identity == expected
    if isinstance(expected, Role):
        return identity.role is expected
    return any(_matches(identity, one) for one in expected)


def _describe(expected: ExpectedPeer) -> str:
    if isinstance(expected, Identity | Role):
        return str(expected)
    return " or ".join(sorted(str(one) for one in expected))


def _check_peer(connection: ssl.SSLObject | ssl.SSLSocket) -> None:
    """After a completed handshake: refuse a server whose certificate is not the expected peer's.

    Raises:
        ssl.SSLCertVerificationError: it names another role or node, or no sdqkd identity.
    """
    context = connection.context
    expected = context.expected_peer if isinstance(context, _PeerCheckingContext) else None
    if expected is None or connection.server_side:
        return
    der = connection.getpeercert(binary_form=True)
    try:
        if der is None:
            raise PkiError("the server presented no certificate")
        identity = identity_of_certificate(x509.load_der_x509_certificate(der))
    except (PkiError, ValueError) as exc:
        raise ssl.SSLCertVerificationError(f"expected {_describe(expected)}: {exc}") from exc
    if not _matches(identity, expected):
        raise ssl.SSLCertVerificationError(
            f"the server's certificate is {identity}'s, expected {_describe(expected)}"
        )


class _PeerCheckingObject(ssl.SSLObject):
    """A TLS connection over memory buffers (asyncio, hence httpx's async client) that checks the
    server's identity once its handshake completes."""

    def do_handshake(self) -> None:
        super().do_handshake()
        _check_peer(self)


class _PeerCheckingSocket(ssl.SSLSocket):
    """A TLS socket (httpx's sync client) that checks the server's identity once its handshake
    completes (a failed check closes it, as ``wrap_socket`` does with any handshake error)."""

    def do_handshake(self, block: bool = False) -> None:
        super().do_handshake(block)
        _check_peer(self)


class _PeerCheckingContext(ssl.SSLContext):
    """A client context whose connections check the server's sdqkd identity (``expected_peer``;
    None: no check)."""

    sslobject_class = _PeerCheckingObject
    sslsocket_class = _PeerCheckingSocket
    expected_peer: ExpectedPeer | None = None


def _load_crl(context: ssl.SSLContext, crl: Path | None) -> None:
    """Check peers against ``crl`` when the file exists (RFC 5280 §6.3: the leaf's CRL only, the
    project's CA being the only issuer)."""
    if crl is not None and crl.exists():
        context.load_verify_locations(cafile=crl)
        context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF


def server_ssl_context(
    cert: Path, key: Path, ca: Path, crl: Path | None = None, *, client_cert_required: bool = True
) -> ssl.SSLContext:
    """A server context that requires (or, without ``client_cert_required``, asks for and verifies
    when presented) a client certificate issued by ``ca`` and not revoked in ``crl``.

    Raises:
        ssl.SSLError, OSError: the certificate, key, CA or CRL cannot be used.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # ETSI GS QKD 014 §5: TLS 1.2 or higher
    context.set_ciphers(TLS12_CIPHERS)
    context.load_cert_chain(cert, key)
    context.load_verify_locations(cafile=ca)
    _load_crl(context, crl)
    context.verify_mode = ssl.CERT_REQUIRED if client_cert_required else ssl.CERT_OPTIONAL
    return context


def client_ssl_context(
    cert: Path, key: Path, ca: Path, *, peer: ExpectedPeer | None = None, crl: Path | None = None
) -> ssl.SSLContext:
    """A client context that presents ``cert`` and verifies the server against ``ca`` (host name
    checked; not revoked in ``crl`` when given and present).

    Args:
        cert, key, ca: the client's certificate and key, and the CA.
        peer: whom the client means to reach; the handshake fails with
            :class:`ssl.SSLCertVerificationError` when the server's certificate names another role
            or node. None (for callers outside sdqkd's services) checks the chain and host only.
        crl: the CA's CRL (``crl.pem``); read once, when the context is made.

    Raises:
        ssl.SSLError, OSError: the certificate, key, CA or CRL cannot be used.
    """
    context = _PeerCheckingContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname and CERT_REQUIRED on
    context.expected_peer = peer
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.load_verify_locations(cafile=ca)
    _load_crl(context, crl)
    context.load_cert_chain(cert, key)
    return context


def async_https_client(
    owner: str,
    cert: Path | None,
    key: Path | None,
    ca: Path | None,
    timeout_s: float,
    http_client: httpx.AsyncClient | None = None,
    *,
    peer: ExpectedPeer | None = None,
    crl: Path | None = None,
    **client_options: Any,
) -> tuple[httpx.AsyncClient, bool]:
    """The HTTPS client of a service client (``owner``): ``http_client`` if given (it stays the
    caller's), else a new one presenting ``cert``, verifying against ``ca`` and checking that the
    server is ``peer`` (:func:`client_ssl_context`). Returns it and whether the caller made it here
    (and so must close it).

    Raises:
        PkiError: the certificate, key or CA cannot be used.
        TypeError: neither ``http_client`` nor all of ``cert``, ``key``, ``ca``.
    """
    if http_client is not None:
        return http_client, False
    if cert is None or key is None or ca is None:
        raise TypeError(f"{owner} needs cert, key and ca, or an http_client")
    try:
        context = client_ssl_context(cert, key, ca, peer=peer, crl=crl)  # never verify=False
    except OSError as exc:  # ssl.SSLError is one: a key that is not the certificate's, a bad PEM
        raise PkiError(f"cannot use certificate {cert} (key {key}, CA {ca}): {exc}") from exc
    return httpx.AsyncClient(verify=context, timeout=timeout_s, **client_options), True
