"""The service manager's child processes: started as ordered, watched, restarted when they die,
stopped when ordered or when the manager stops.

Each process runs in a session (and so a process group) of its own, so that a stop reaches whatever
it started itself, and a Ctrl-C at the manager's terminal does not; its standard output and error are
appended to ``LOG_DIR/ID.log``, after a line of the manager's that says when and how it was started
(its command line holds options, addresses and paths, never key material).

A process that exits without being told to (a crash, ``kill -9``, the OOM killer, an exit status of
0) is started again after a delay of :attr:`RestartPolicy.first_delay_s`, doubling at each death up
to :attr:`RestartPolicy.max_delay_s` (back to the first after a run longer than the window). More
than :attr:`RestartPolicy.max_deaths` deaths within :attr:`RestartPolicy.window_s` is a crash loop:
the process is ``failed`` (logged, reported) and no longer restarted, until it is ordered again.

Stopping a process (an order, a replacement, the manager's shutdown) sends SIGTERM to its group,
then SIGKILL after ``stop_timeout_s``. On Linux the children also get SIGTERM should the manager
die without stopping them (``PR_SET_PDEATHSIG``; it fires when the thread that started them ends,
which is the manager's event loop): no child outlives its manager.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sdqkd.errors import SdqkdError
from sdqkd.nfv.kinds import DEFAULT_KINDS, Launch, ProcessKind, ProcessRefused, Site
from sdqkd.nfv.ports import LISTEN_MEMBER, resolve_listen
from sdqkd.server.request_id import without_request_id

__all__ = ["PROCESS_ID_PATTERN", "ProcessInfo", "RestartPolicy", "State", "Supervisor", "UnknownProcess"]

log = logging.getLogger(__name__)

State = Literal["starting", "running", "restarting", "failed", "stopped"]

PROCESS_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
"""A process id: it names the process's log and stats files, so no separators and no leading dot."""

Outcome = Literal["created", "unchanged", "replaced"]


class UnknownProcess(SdqkdError):
    """No process of that id runs under this service manager."""


@dataclass(frozen=True)
class RestartPolicy:
    """When a process that died is started again.

    Attributes:
        first_delay_s: the delay before the first restart, seconds.
        max_delay_s: the longest delay (it doubles from the first at each death), seconds.
        max_deaths: more deaths than this within ``window_s`` and the process is ``failed``.
        window_s: the window of the crash-loop count, seconds; a run longer than it resets the delay.
    """

    first_delay_s: float = 0.2
    max_delay_s: float = 5.0
    max_deaths: int = 5
    window_s: float = 30.0


@dataclass(frozen=True)
class ProcessInfo:
    """What the manager reports of one process."""

    id: str
    kind: str
    args: dict[str, Any]
    state: State
    pid: int | None
    restarts: int
    last_exit: dict[str, Any] | None
    started_at: str | None
    log_file: str
    stats: dict[str, Any] | None
    reason: str | None


@dataclass(eq=False)
class _Child:
    id: str
    kind: str
    args: dict[str, Any]
    launch: Launch
    log_file: Path
    ordered: dict[str, Any] = field(default_factory=dict)
    """The arguments as ordered (a ``listen`` of port 0 still 0), to tell the same order again."""
    state: State = "starting"
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    last_exit: dict[str, Any] | None = None
    started_at: datetime | None = None
    reason: str | None = None
    deaths: deque[float] = field(default_factory=deque)
    stop_requested: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def info(self) -> ProcessInfo:
        running = self.process is not None and self.process.returncode is None
        return ProcessInfo(
            id=self.id,
            kind=self.kind,
            args=dict(self.args),
            state=self.state,
            pid=self.process.pid if running and self.process is not None else None,
            restarts=self.restarts,
            last_exit=None if self.last_exit is None else dict(self.last_exit),
            started_at=None if self.started_at is None else self.started_at.isoformat(),
            log_file=str(self.log_file),
            stats=_read_stats(self.launch.stats_file),
            reason=self.reason,
        )


def _read_stats(path: Path | None) -> dict[str, Any] | None:
    """The stats file's JSON object, or None while there is none (or it cannot be read)."""
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _exit_of(returncode: int) -> dict[str, Any]:
    """``{"code": N}``, or ``{"signal": "SIGKILL"}`` for a process a signal ended."""
    if returncode < 0:
        try:
            return {"signal": signal.Signals(-returncode).name}
        except ValueError:
            return {"signal": str(-returncode)}
    return {"code": returncode}


def _load_prctl() -> Callable[..., int] | None:
    """libc's ``prctl`` (Linux), loaded once here, never in a child between fork and exec."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


_PRCTL = _load_prctl()
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with(parent: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the kernel send SIGTERM to the child when its parent (the thread that
    forked it) ends — Linux's ``prctl(PR_SET_PDEATHSIG)``; None elsewhere."""
    prctl = _PRCTL
    if prctl is None:
        return None

    def set_signal() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the manager died before the prctl: nobody would tell us
            os.kill(os.getpid(), signal.SIGTERM)

    return set_signal


class Supervisor:
    """The processes of one service manager, by id. Its coroutines run on one event loop (the
    manager's app's); :meth:`close` stops every process.

    Args:
        site: the manager's node, the run directory its commands read and the folder of their logs.
        kinds: the kinds of process it may start (default: :data:`~sdqkd.nfv.kinds.DEFAULT_KINDS`).
        policy: when a process that died is started again.
        stop_timeout_s: how long a process may take to end after SIGTERM before SIGKILL, seconds.
    """

    def __init__(
        self,
        site: Site,
        kinds: Mapping[str, ProcessKind] = DEFAULT_KINDS,
        policy: RestartPolicy = RestartPolicy(),
        stop_timeout_s: float = 3.0,
    ) -> None:
        self.site, self.kinds, self.policy, self.stop_timeout_s = site, dict(kinds), policy, stop_timeout_s
        self._children: dict[str, _Child] = {}
        self._lock = asyncio.Lock()
        self._closed = False

    def list(self) -> list[ProcessInfo]:
        """Every process, by id."""
        return [self._children[key].info() for key in sorted(self._children)]

    def get(self, process_id: str) -> ProcessInfo:
        """One process.

        Raises:
            UnknownProcess: no process of that id.
        """
        return self._child(process_id).info()

    def _child(self, process_id: str) -> _Child:
        child = self._children.get(process_id)
        if child is None:
            raise UnknownProcess(f"no process {process_id!r} on {self.site.node_id}")
        return child

    async def put(self, process_id: str, kind: str, args: Mapping[str, Any]) -> Outcome:
        """Have process ``process_id`` run ``kind`` with ``args``: start it (``created``), leave it
        as it is when it already runs the same (``unchanged``), or stop it and start the new one
        (``replaced``; also a ``failed`` process ordered again).

        Raises:
            ProcessRefused: an id that cannot name a file, an unknown kind, arguments that do not
                validate or name another node, or a manager that is shutting down.
        """
        if re.fullmatch(PROCESS_ID_PATTERN, process_id) is None:
            raise ProcessRefused(f"process id must match {PROCESS_ID_PATTERN}")
        known = self.kinds.get(kind)
        if known is None:
            raise ProcessRefused(f"unknown kind {kind!r} (kinds: {', '.join(sorted(self.kinds))})")
        model, launch = known.prepare(args, process_id, self.site)
        ordered = model.model_dump(mode="json")
        # a listen port of 0 is chosen here, once: every restart of the process listens on that port
        resolved = resolve_listen(ordered, known.listen_type)
        if resolved != ordered:  # the order as sent (secret arguments are masked in ``ordered``)
            model, launch = known.prepare(
                {**args, LISTEN_MEMBER: resolved[LISTEN_MEMBER]}, process_id, self.site
            )
        normalised = model.model_dump(mode="json")
        async with self._lock:
            if self._closed:
                raise ProcessRefused("the service manager is shutting down")
            old = self._children.get(process_id)
            same = old is not None and (old.kind, old.ordered, old.launch.files) == (
                kind,
                ordered,
                launch.files,
            )
            if old is not None and same and old.state != "failed":
                return "unchanged"
            if old is not None:
                await self._stop(old)
                _remove_files(old)  # the new process's own are written before it starts
                del self._children[process_id]
            self.site.log_dir.mkdir(parents=True, exist_ok=True)
            child = _Child(
                process_id, kind, normalised, launch, self.site.log_dir / f"{process_id}.log", ordered
            )
            child.task = asyncio.create_task(  # it outlives the order: its records are not the order's
                self._supervise(child), name=f"nfv-{process_id}", context=without_request_id()
            )
            self._children[process_id] = child
            log.info("process %s (%s) ordered on %s", process_id, kind, self.site.node_id)
            return "created" if old is None else "replaced"

    async def delete(self, process_id: str) -> None:
        """Stop process ``process_id`` (SIGTERM, SIGKILL after ``stop_timeout_s``) and forget it, with
        the files written for it (an OPoT node's share: a secret must not outlive its process).

        Raises:
            UnknownProcess: no process of that id.
        """
        async with self._lock:
            child = self._child(process_id)
            await self._stop(child)
            _remove_files(child)
            del self._children[process_id]
            log.info("process %s stopped and removed", process_id)

    async def close(self) -> None:
        """Stop every process (all at once) and remove the files written for them; the manager takes no
        more orders (a manager started again runs nothing until the controller orders it again)."""
        async with self._lock:
            self._closed = True
            await asyncio.gather(*(self._stop(child) for child in self._children.values()))
            for child in self._children.values():
                _remove_files(child)

    async def _stop(self, child: _Child) -> None:
        child.stop_requested.set()
        if child.task is not None:
            await child.task

    async def _supervise(self, child: _Child) -> None:
        """Run ``child`` until it is told to stop or fails: its whole life, in one task."""
        delay = self.policy.first_delay_s
        process: asyncio.subprocess.Process | None = None
        try:
            while True:
                child.state = "starting"
                started = time.monotonic()
                try:
                    process = await self._spawn(child)
                except OSError as exc:
                    process = None
                    child.last_exit = {"error": f"{type(exc).__name__}: {exc.strerror or exc}"}
                else:
                    child.state = "running"
                    if await self._ended_or_stopped(child, process):
                        return
                    assert process.returncode is not None
                    child.last_exit = _exit_of(process.returncode)
                now = time.monotonic()
                child.deaths.append(now)
                while child.deaths and child.deaths[0] < now - self.policy.window_s:
                    child.deaths.popleft()
                if len(child.deaths) > self.policy.max_deaths:
                    child.state = "failed"
                    child.reason = (
                        f"died {len(child.deaths)} times within {self.policy.window_s:g} s; last exit "
                        f"{child.last_exit}: not restarted"
                    )
                    log.error("process %s (%s) %s", child.id, child.kind, child.reason)
                    return
                if now - started > self.policy.window_s:
                    delay = self.policy.first_delay_s  # it ran a while: not a crash loop
                log.warning(
                    "process %s (%s) exited (%s); restarting in %.1f s",
                    child.id,
                    child.kind,
                    child.last_exit,
                    delay,
                )
                child.state = "restarting"
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(child.stop_requested.wait(), delay)
                if child.stop_requested.is_set():
                    child.state = "stopped"
                    return
                delay = min(2 * delay, self.policy.max_delay_s)
                child.restarts += 1
        finally:
            if process is not None and process.returncode is None:  # cancelled: never leave it behind
                _signal_group(process.pid, signal.SIGKILL)
                child.state = "stopped"

    async def _ended_or_stopped(self, child: _Child, process: asyncio.subprocess.Process) -> bool:
        """Wait until ``process`` ends (False) or a stop is requested (it is then stopped: True)."""
        ended = asyncio.ensure_future(process.wait())
        stop = asyncio.ensure_future(child.stop_requested.wait())
        try:
            await asyncio.wait({ended, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not child.stop_requested.is_set():
            return False
        _signal_group(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(ended), self.stop_timeout_s)
        except TimeoutError:
            log.warning(
                "process %s did not end on SIGTERM within %g s: SIGKILL", child.id, self.stop_timeout_s
            )
            _signal_group(process.pid, signal.SIGKILL)
            await ended
        _signal_group(process.pid, signal.SIGKILL)  # whatever it started and left in its group
        assert process.returncode is not None
        child.last_exit = _exit_of(process.returncode)
        child.state = "stopped"
        return True

    async def _spawn(self, child: _Child) -> asyncio.subprocess.Process:
        """Start ``child``'s command in a session of its own, output appended to its log."""
        for path, content in child.launch.files:
            _write_private(path, content)
        with child.log_file.open("ab") as output:
            now = datetime.now(UTC)
            output.write(
                f"--- {now.isoformat()} sdqkd service-manager: starting {child.kind} {child.id} "
                f"(restart {child.restarts}): {shlex.join(child.launch.argv)}\n".encode()
            )
            output.flush()
            process = await asyncio.create_subprocess_exec(
                *child.launch.argv,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with(os.getpid()),
            )
        child.process, child.started_at = process, now
        log.info("process %s (%s) started: pid %d", child.id, child.kind, process.pid)
        return process


def _remove_files(child: _Child) -> None:
    """Remove the files written for ``child``: a secret must not outlive its process."""
    for path, _ in child.launch.files:
        path.unlink(missing_ok=True)


def _write_private(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path``, readable and writable by this user only (also when it was there)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write(content)


def _signal_group(pid: int, signum: signal.Signals) -> None:
    """Send ``signum`` to the process group of ``pid`` (its own: it leads a session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)
