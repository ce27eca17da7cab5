"""The limits every sdqkd HTTPS service puts on its connections and requests, and why.

An audit of a running network found a KME that 20,000 plain TCP connections (no TLS) starved of file
descriptors, connections that sent nothing (or their headers or body a byte at a time) held open for
ever, and a 200 MB body and a 50 MB header accepted into memory. These limits close that:

=========================  ==========  ================================================================
limit                      default     why
=========================  ==========  ================================================================
``handshake_timeout_s``    5 s         a TLS handshake takes milliseconds; a connection that has not
                                       finished it by then is closed (asyncio's default is 60 s)
``max_handshaking``        512         connections still in their handshake (not yet authenticated);
                                       when full the OLDEST is closed to admit the new one: a flood of
                                       idle connections is pushed out by each newcomer instead of
                                       locking newcomers out (on loopback attacker and SAE share one
                                       address, so a refusal per address would lock the SAE out too)
``max_connections``        4096        all connections, handshaking or not; when full the oldest
                                       handshaking one makes room, and if none is, the new one is
                                       refused
``max_per_address``        1024        authenticated connections from one peer address; one more is
                                       closed after its handshake
``header_timeout_s``       10 s        a request's head must arrive within this of its first byte (of
                                       the connection's start for the first request): slow headers
                                       ("slowloris") and connections that never send are closed
``body_timeout_s``         30 s        a request's body must arrive within this of its head's end
                                       (1 MiB in 30 s: 35 kB/s at least); slow bodies are closed
``max_header_bytes``       16 KiB      request line and header fields together; more: 431 and closed
``max_body_bytes``         1 MiB       a request body (the largest legitimate one, an ETSI 014
                                       ``dec_keys`` of many key IDs, is a few kB); more: 413 in the
                                       service's own error format, and the connection closed
=========================  ==========  ================================================================

Idle keep-alive connections between requests keep uvicorn's ``timeout_keep_alive`` (5 s). At service
start the process's soft limit of open files is raised to its hard limit, so that the caps above,
not the file descriptors, are what runs out first.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

__all__ = ["Limits", "raise_open_files_limit"]


@dataclass(frozen=True)
class Limits:
    """Connection and request limits of one service (see the module's table for the why of each)."""

    handshake_timeout_s: float = 5.0
    max_handshaking: int = 512
    max_connections: int = 4096
    max_per_address: int = 1024
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_header_bytes: int = 16 * 1024
    max_body_bytes: int = 1024 * 1024


def raise_open_files_limit() -> int:
    """Raise this process's soft limit of open files (RLIMIT_NOFILE) to its hard limit; returns the
    limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    return soft
