"""QKD-TLS: TLS 1.3 keyed by a QKD key (an external PSK whose identity is its ETSI 014 key ID) and
an ephemeral key exchange (X25519MLKEM768 or X25519) together, so a connection stays confidential
if either holds (DESIGN §5, control plane).

- :mod:`sdqkd.qtls.session`: one connection's handshake, client and server side, and its I/O.
- :mod:`sdqkd.qtls.front`: a server that takes each client's key from its KME by key ID and forwards
  the plaintext (also in front of an app: :func:`app_front`), and a client that gets a key from its
  KME and connects.
- :mod:`sdqkd.qtls.http`: an httpx transport whose connections are QKD-TLS, a new key each.

Shared by the applications (``sdqkd qtls``) and the control plane (the controller↔agent channel),
so it sits below both.
"""

from sdqkd.qtls.front import QtlsServer, ServerStats, Target, app_front, open_connection, relay
from sdqkd.qtls.session import GROUPS, PskKey, QtlsConnection, accept, connect

__all__ = [
    "GROUPS",
    "PskKey",
    "QtlsConnection",
    "QtlsServer",
    "ServerStats",
    "Target",
    "accept",
    "app_front",
    "connect",
    "open_connection",
    "relay",
]
