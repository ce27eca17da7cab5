"""Limits on a service's open event streams: so many in all, so many per caller.

An event stream holds a connection, a queue and a task for as long as the client likes; without a
limit one client (or a compromised certificate) could open streams until the service starves
(DESIGN §7). :class:`StreamLimits` counts the open streams of one service, in all and per certificate
identity, and refuses one more with :class:`~sdqkd.errors.SubscriptionsFull` (503: the service is
full; retry later) or :class:`~sdqkd.errors.TooManySubscriptions` (429: this caller holds its share),
which the app's error table answers in its protocol's format.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from sdqkd.errors import SubscriptionsFull, TooManySubscriptions
from sdqkd.pki.identity import Identity

__all__ = ["MAX_STREAMS", "MAX_STREAMS_PER_CALLER", "StreamLimits"]

MAX_STREAMS = 32
"""Event streams a service keeps open at once, all callers together."""

MAX_STREAMS_PER_CALLER = 4
"""Event streams one certificate identity may hold open at once at one service."""


class StreamLimits:
    """The open event streams of one service, counted in all and per caller.

    Args:
        total: streams open at once, all callers together.
        per_caller: streams open at once for one identity.
    """

    def __init__(self, total: int = MAX_STREAMS, per_caller: int = MAX_STREAMS_PER_CALLER) -> None:
        if total < 1 or per_caller < 1:
            raise ValueError("stream limits must be at least 1")
        self.total, self.per_caller = total, per_caller
        self._open: Counter[Identity] = Counter()

    @property
    def open(self) -> int:
        """Streams open now."""
        return self._open.total()

    def held_by(self, caller: Identity, response: StreamingResponse) -> StreamingResponse:
        """``response``, counted against ``caller`` until it ends (however it ends).

        Raises:
            TooManySubscriptions: ``caller`` holds ``per_caller`` streams already.
            SubscriptionsFull: the service holds ``total`` streams already.
        """
        # the per-caller share first: a caller at its share hears so even when the service is full
        if self._open[caller] >= self.per_caller:
            raise TooManySubscriptions(f"{caller} holds {self.per_caller} event streams already")
        if self.open >= self.total:
            raise SubscriptionsFull(f"this service serves {self.total} event streams at most")
        self._open[caller] += 1
        return _Counted(response, lambda: self._release(caller))

    def _release(self, caller: Identity) -> None:
        self._open[caller] -= 1
        if self._open[caller] <= 0:
            del self._open[caller]


class _Counted(StreamingResponse):
    """A streaming response that gives its slot back when it ends, sent or not."""

    def __init__(self, response: StreamingResponse, release: Callable[[], None]) -> None:
        self.__dict__.update(response.__dict__)  # the same body, status and headers
        self._release = release
        self._released = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.release()

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._release()
