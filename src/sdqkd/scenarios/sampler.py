"""Periodic sampling in the background while a scenario changes the network: a thread that calls a probe
every interval and keeps what it returns, so that the scenario's own steps (a change at the plant, key
consumers) and the record of what the network did run side by side."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from sdqkd.errors import SdqkdError

__all__ = ["Clock", "Sampler", "wall_time"]

_T = TypeVar("_T")


def wall_time(iso: str) -> dt.datetime:
    """A service's timestamp (ISO 8601, ``Z`` or an offset) as an aware datetime."""
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))


class Clock:
    """Seconds since the scenario started (monotonic), the time axis of its record; ``started_at`` is
    that start on the wall clock (UTC), to place the services' timestamps on the same axis."""

    def __init__(self) -> None:
        self._start = time.monotonic()
        self.started_at = dt.datetime.now(dt.UTC)

    def now_s(self) -> float:
        return time.monotonic() - self._start


class Sampler(Generic[_T]):
    """Calls ``probe(t_s)`` every ``interval_s`` on a thread of its own and keeps the samples.

    A probe that fails with an sdqkd error (a service not answering for a moment) costs that sample
    only: the failure is counted and the last one kept, and sampling goes on. Any other exception (a
    bug) stops the sampling and is raised again when the ``with`` block ends.

    Args:
        probe: makes one sample at scenario time ``t_s``.
        clock: the scenario's clock.
        interval_s: the time between the starts of two probes, seconds.
    """

    def __init__(self, probe: Callable[[float], _T], clock: Clock, interval_s: float = 0.2) -> None:
        self._probe = probe
        self._clock = clock
        self._interval_s = interval_s
        self._samples: list[_T] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scenario-sampler", daemon=True)
        self.failures = 0
        self.last_failure: str | None = None
        self._crash: Exception | None = None

    def __enter__(self) -> Sampler[_T]:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self._crash is not None and kind is None:
            raise self._crash

    def _run(self) -> None:
        next_s = time.monotonic()
        while not self._stop.is_set():
            try:
                sample = self._probe(self._clock.now_s())
            except SdqkdError as exc:
                self.failures += 1
                self.last_failure = str(exc)
            except Exception as exc:  # a bug in the probe: stop, and say so when the block ends
                self._crash = exc
                return
            else:
                with self._lock:
                    self._samples.append(sample)
            next_s += self._interval_s
            self._stop.wait(max(0.0, next_s - time.monotonic()))

    @property
    def samples(self) -> list[_T]:
        """The samples so far, oldest first (a copy)."""
        with self._lock:
            return list(self._samples)

    def latest(self) -> _T | None:
        with self._lock:
            return self._samples[-1] if self._samples else None

    def wait_for(self, accept: Callable[[_T], bool], timeout_s: float) -> _T | None:
        """The first new sample that ``accept`` approves, or None after ``timeout_s``."""
        with self._lock:
            seen = len(self._samples)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                fresh = self._samples[seen:]
                seen = len(self._samples)
            for sample in fresh:
                if accept(sample):
                    return sample
            if not self._thread.is_alive():
                return None
            time.sleep(self._interval_s / 4)
        return None
