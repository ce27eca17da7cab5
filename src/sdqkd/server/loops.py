"""Background loops that do not die: a service's periodic work (a KME's key supply, an agent's
refresh, the controller's watching) run round after round for as long as the service runs.

A round that raises is logged (a warning for the first failure of a run, debug lines after it, an
info line on recovery), the loop waits (exponential back-off from ``backoff_s``, doubled per
failure up to ``max_backoff_s``) and tries again; it never ends on an error, only when stopped. Each
loop keeps a :class:`LoopState` (running or backing off, failures in a row, the last error's class,
the last success), which a service shows at ``GET /health`` (:mod:`sdqkd.server.health`).

What is logged never holds key material: an sdqkd error's message (domain messages name links and
what went wrong, never keys), and for any other exception only its class and where it was raised
(its message could quote anything the failing code held).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from sdqkd.errors import SdqkdError

__all__ = ["Idle", "LoopState", "Loops", "RoundBody", "describe_failure"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Idle:
    """What a round returns when it had nothing to do: after failures it proves nothing (e.g. a key
    supply round that found nothing to ask the peer), so the loop stays backing off; otherwise it
    counts as a success."""

    pause_s: float
    """The pause before the next round."""


RoundBody = Callable[[], Awaitable[float | Idle | None]]
"""One round of a loop's work; returns the pause before the next round (seconds), None for the
loop's ``interval_s``, or :class:`Idle`."""


@dataclass
class LoopState:
    """What a loop is doing, for ``GET /health`` and the logs."""

    name: str
    state: Literal["starting", "running", "backing-off", "stopped"] = "starting"
    failures: int = 0
    """Failed rounds in a row (0 once a round succeeds)."""
    total_failures: int = 0
    last_error: str | None = None
    """The class of the last round's exception (kept after a recovery)."""
    last_success: float | None = None
    """Wall-clock time (s since the epoch) of the last round that succeeded."""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "failures": self.failures,
            "total_failures": self.total_failures,
            "last_error": self.last_error,
            "last_success": self.last_success,
        }


def describe_failure(exc: BaseException) -> str:
    """``exc`` as it may be logged: an sdqkd error with its message, any other exception as its class
    and the place it was raised (its message may hold anything, key material included)."""
    if isinstance(exc, SdqkdError):
        return f"{type(exc).__name__}: {exc}"
    frames = traceback.extract_tb(exc.__traceback__)
    where = (
        f" at {frames[-1].filename.rsplit('/', 2)[-1]}:{frames[-1].lineno} in {frames[-1].name}"
        if frames
        else ""
    )
    return f"{type(exc).__name__}{where}"


@dataclass
class _Loop:
    state: LoopState
    task: asyncio.Task[None]


@dataclass
class Loops:
    """A service's background loops: :meth:`start` each, :meth:`stop` them all, :meth:`states` for
    ``GET /health``.

    Args:
        logger: where failures and recoveries are logged.
        backoff_s: the pause after a first failure.
        max_backoff_s: the longest pause after failures.
    """

    logger: logging.Logger = log
    backoff_s: float = 0.1
    max_backoff_s: float = 30.0
    _loops: list[_Loop] = field(default_factory=list)

    def start(
        self, name: str, body: RoundBody, *, interval_s: float = 1.0, delay_s: float = 0.0
    ) -> LoopState:
        """Run ``body`` round after round until :meth:`stop`.

        Args:
            name: the loop's name, in logs and ``/health``.
            body: one round; the pause it returns (None: ``interval_s``) comes before the next.
            interval_s: the pause between rounds when the round does not say.
            delay_s: a pause before the first round.

        Returns:
            the loop's live state.
        """
        state = LoopState(name)
        task = asyncio.create_task(self._run(state, body, interval_s, delay_s), name=name)
        self._loops.append(_Loop(state, task))
        return state

    def states(self) -> list[LoopState]:
        return [loop.state for loop in self._loops]

    @property
    def healthy(self) -> bool:
        """No loop is backing off."""
        return all(loop.state.state != "backing-off" for loop in self._loops)

    async def stop(self) -> None:
        """Cancel every loop and wait for each to end."""
        for loop in self._loops:
            loop.task.cancel()
        for loop in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await loop.task
            loop.state.state = "stopped"
        self._loops.clear()

    async def _run(self, state: LoopState, body: RoundBody, interval_s: float, delay_s: float) -> None:
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        while True:
            try:
                answer = await body()
            except Exception as exc:  # any error: logged, backed off, tried again; cancellation ends it
                pause_s = self._failed(state, exc)
            else:
                if isinstance(answer, Idle):
                    pause_s = answer.pause_s
                    if not state.failures:  # after failures, an idle round proves nothing
                        self._succeeded(state)
                else:
                    pause_s = interval_s if answer is None else answer
                    self._succeeded(state)
            await asyncio.sleep(pause_s)

    def _failed(self, state: LoopState, exc: Exception) -> float:
        """Record and log a failed round; the pause before the next (exponential back-off)."""
        state.failures += 1
        state.total_failures += 1
        state.last_error = type(exc).__name__
        state.state = "backing-off"
        pause_s: float = min(self.backoff_s * 2.0 ** (state.failures - 1), self.max_backoff_s)
        # a run of failures is a warning once, when it starts (then /health shows it), and an info
        # line when it ends: a peer down for an hour does not flood the log
        self.logger.log(
            logging.WARNING if state.failures == 1 else logging.DEBUG,
            "%s: round failed (%d in a row), next try in %.2g s: %s",
            state.name, state.failures, pause_s, describe_failure(exc),
            extra={"loop": state.name, "failures": state.failures},
        )  # fmt: skip
        return pause_s

    def _succeeded(self, state: LoopState) -> None:
        if state.failures:
            self.logger.info(
                "%s: recovered after %d failed round(s)", state.name, state.failures,
                extra={"loop": state.name, "failures": 0},
            )  # fmt: skip
        state.failures = 0
        state.state = "running"
        state.last_success = time.time()
