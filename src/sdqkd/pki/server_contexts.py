"""A server's TLS context kept in step with its files: a rotated certificate, a renewed CA or a new
CRL takes effect at the next connection, without a restart."""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sdqkd.errors import PkiError
from sdqkd.pki.tls import server_ssl_context

__all__ = ["ServerContexts"]

log = logging.getLogger(__name__)

_Stamp = tuple[tuple[int, int, int] | None, ...]


def _stamp(path: Path | None) -> tuple[int, int, int] | None:
    """What tells a rewritten file from the old one: inode (a file renamed over it), size, mtime."""
    if path is None:
        return None
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    return (status.st_ino, status.st_size, status.st_mtime_ns)


class ServerContexts:
    """The current :class:`ssl.SSLContext` of a server (:func:`server_ssl_context`), rebuilt when its
    certificate, key, CA or CRL file changed.

    The files are looked at (``stat``) at most once per ``check_interval_s``, from :meth:`current`;
    a context is rebuilt only when one of them changed. A change that cannot be used (a certificate
    written before its key, a damaged CRL) keeps the old context and logs a warning; the next
    change is tried again. A CRL that does not exist yet is not checked, and is once it appears.

    Args:
        cert, key, ca: the server's certificate and key, and the CA its clients' chain to.
        crl: the CA's CRL (``crl.pem``), or None for none.
        client_cert_required: require a client certificate (else ask for one, verify it when
            presented: the dashboard's browsers).
        check_interval_s: the least time between two looks at the files, seconds.
        clock: monotonic seconds (tests pass their own).

    Raises:
        PkiError: the files cannot be used at start.
    """

    def __init__(
        self,
        cert: Path,
        key: Path,
        ca: Path,
        crl: Path | None = None,
        client_cert_required: bool = True,
        *,
        check_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cert, self.key, self.ca, self.crl = cert, key, ca, crl
        self.client_cert_required = client_cert_required
        self._interval_s, self._clock = check_interval_s, clock
        self._lock = threading.Lock()  # current() may be called from the threads of a sync server
        self._stamps = self._read_stamps()
        try:
            self._context = self._build()
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            raise PkiError(f"cannot serve with certificate {cert} (key {key}, CA {ca}): {exc}") from exc
        self._checked_at = clock()
        self.reloads = 0
        """How many times the context was rebuilt since start."""

    def __repr__(self) -> str:
        return f"ServerContexts({str(self.cert)!r}, crl={str(self.crl) if self.crl else None!r})"

    def current(self) -> ssl.SSLContext:
        """The context for a new connection: the files' as they are now (or as last usable)."""
        with self._lock:
            now = self._clock()
            if now - self._checked_at >= self._interval_s:
                self._checked_at = now
                self._reload_if_changed()
            return self._context

    def _read_stamps(self) -> _Stamp:
        return tuple(_stamp(path) for path in (self.cert, self.key, self.ca, self.crl))

    def _build(self) -> ssl.SSLContext:
        return server_ssl_context(
            self.cert, self.key, self.ca, self.crl, client_cert_required=self.client_cert_required
        )

    def _reload_if_changed(self) -> None:
        stamps = self._read_stamps()
        if stamps == self._stamps:
            return
        self._stamps = stamps  # a bad change is reported once, and retried when the files change again
        try:
            context = self._build()
        except (OSError, ValueError) as exc:
            log.warning("TLS files of %s changed but cannot be used, old ones kept: %s", self.cert, exc)
            return
        self._context = context
        self.reloads += 1
        log.info("TLS context of %s reloaded (certificate, key, CA or CRL changed)", self.cert)
