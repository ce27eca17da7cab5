"""The service processes of ``sdqkd up``: starting them, waiting until each serves, watching them
while the network runs, and stopping them all, in order, however ``up`` ends.

A process that dies (a crash, ``kill -9``, the OOM killer) is started again, as it was started and
on the same port: a KME on its crash-safe key store (keys it handed out stay retrievable by their
slaves), the emulator from its state file (the plant and module configuration), the controller from
its database; an agent is configured again by the controller. One that keeps dying (more than
:data:`RESTARTS` times within :data:`RESTART_WINDOW_S`) stops the network.
``benchmarks/chaos.py`` kills every kind of role under load and checks that no key is lost or
delivered twice.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from sdqkd.errors import SdqkdError
from sdqkd.runtime.processes import is_alive, spawn_sdqkd, terminate
from sdqkd.runtime.rundir import RunDir
from sdqkd.server.logs import LogFormat

__all__ = [
    "RESTARTS",
    "RESTART_WINDOW_S",
    "RETRY_PAUSES_S",
    "START_ATTEMPTS",
    "START_TIMEOUT_S",
    "LaunchError",
    "Supervisor",
    "stop_on_signals",
]

START_TIMEOUT_S = 30.0
"""How long a service process may take to serve (its endpoint record appears)."""
RESTARTS = 5
"""How many times ``up`` restarts one child (any role) within :data:`RESTART_WINDOW_S` before it
gives up and stops the network."""
RESTART_WINDOW_S = 60.0
START_ATTEMPTS = 10
"""How many restarts in a row that do not serve ``up`` tries before it stops the network."""
RETRY_PAUSES_S = (0.5, 1.0, 2.0, 4.0, 8.0)
"""The pause before the next try after a restart that did not serve (the last one repeats)."""


class LaunchError(SdqkdError):
    """The network could not be started, or one of its processes died."""


@contextlib.contextmanager
def stop_on_signals() -> Iterator[list[bool]]:
    """A flag set by SIGTERM/SIGINT (instead of dying with children left behind)."""
    stop = [False]

    def handler(signum: int, frame: FrameType | None) -> None:
        stop[0] = True

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _on_port(arguments: list[str], port: int) -> list[str]:
    """``arguments`` that start a role again on ``port``: the emulator gets ``--port``; a role
    started from a configuration file whose ``port`` is 0 (a free one, chosen at start) gets the file
    rewritten with ``port`` (a KME's port is in its file already)."""
    if arguments[0] == "emulator":
        return arguments if "--port" in arguments else [*arguments, "--port", str(port)]
    if "--config" in arguments:
        path = Path(arguments[arguments.index("--config") + 1])
        config = json.loads(path.read_text(encoding="utf-8"))
        if config.get("port") == 0:
            config["port"] = port
            path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return arguments


def _exit_reason(returncode: int) -> str:
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-returncode).name}"
        return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


class Supervisor:
    """The children of one ``up``, by name (``emulator``, ``controller``, ``agent-NODE``,
    ``kme-NODE``).

    Args:
        run: the run directory (configurations, endpoint records, logs).
        say: reports a restart to the user.
        stop: the flag of :func:`stop_on_signals`: set, every wait ends early.
        log_format: how every child writes its log (``--log-format``).
    """

    def __init__(
        self,
        run: RunDir,
        say: Callable[[str], None],
        stop: list[bool],
        log_format: LogFormat = LogFormat.TEXT,
    ) -> None:
        self.run = run
        self.say = say
        self.stop = stop
        self.log_format = log_format
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.record: dict[str, Any] | None = None
        self._restarts: dict[str, list[float]] = defaultdict(list)
        self._started: dict[str, tuple[list[str], Path, Path]] = {}  # how each child was started
        self._ports: dict[str, int] = {}  # the port each child served on
        self._failed_starts: dict[str, int] = defaultdict(int)  # restarts in a row that did not serve
        self._retry_at: dict[str, float] = {}  # when to try a child that did not start again

    def spawn(self, name: str, arguments: list[str], log: Path, endpoint: Path) -> None:
        """Start ``sdqkd ARGUMENTS --log-format F`` as the child ``name``; a previous process's
        ``endpoint`` record (a killed one leaves it behind) is removed first, so that
        :meth:`wait_ready` sees this one's."""
        self._started[name] = (list(arguments), log, endpoint)
        endpoint.unlink(missing_ok=True)
        self.children[name] = spawn_sdqkd([*arguments, "--log-format", self.log_format.value], log)

    def wait_ready(self, name: str, endpoint: Path, log: Path) -> dict[str, Any] | None:
        """The endpoint record of the child ``name`` once it serves; None if told to stop meanwhile.

        Raises:
            LaunchError: it exited, or did not serve within :data:`START_TIMEOUT_S`.
        """
        pid = self.children[name].pid
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and not self.stop[0]:
            if endpoint.exists():
                found = RunDir(endpoint.parent).read_json(endpoint)
                if found.get("pid") == pid:
                    if (port := urlsplit(str(found.get("url", ""))).port) is not None:
                        self._ports[name] = port
                    return found
            if not is_alive(pid):
                text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
                tail = text.strip().splitlines()[-5:]
                raise LaunchError(f"{log.stem} failed to start: " + (" | ".join(tail) or "no output"))
            time.sleep(0.05)
        if self.stop[0]:
            return None
        raise LaunchError(f"{log.stem} did not start within {START_TIMEOUT_S:.0f} s")

    def publish(self, record: dict[str, Any]) -> None:
        """Write the network's record (``network.json``: ``down`` and ``status`` read it); its
        ``processes`` are kept current from now on."""
        self.record = record
        record["processes"] = {name: child.pid for name, child in self.children.items()}
        self.run.write_json(self.run.network, record)

    def check(self) -> None:
        """Look at every child once; restart those that died (waiting until they serve), on the
        port they served on (the other roles know them by URL).

        A restart that does not serve (an agent started while the emulator is down exits) is
        reported and tried again after a pause that doubles each time (:data:`RETRY_PAUSES_S`).

        Raises:
            LaunchError: a child that served died more than :data:`RESTARTS` times within
                :data:`RESTART_WINDOW_S`, or did not start again in :data:`START_ATTEMPTS` tries.
        """
        now = time.monotonic()
        for name, child in list(self.children.items()):
            if self.stop[0] or child.poll() is None or now < self._retry_at.get(name, 0.0):
                continue
            self._restart(name, _exit_reason(child.returncode))

    def _restart(self, name: str, reason: str) -> None:
        now = time.monotonic()
        arguments, log, endpoint = self._started[name]
        failed_starts = self._failed_starts[name]
        if failed_starts == 0:  # a process that served died: count it against the crash budget
            recent = [t for t in self._restarts[name] if now - t < RESTART_WINDOW_S]
            if len(recent) >= RESTARTS:
                raise LaunchError(
                    f"{name} {reason}, {len(recent) + 1} times within {RESTART_WINDOW_S:.0f} s: "
                    f"not restarting it; see {log}"
                )
            self._restarts[name] = [*recent, now]
            self.say(f"{name} {reason}; restarting it ({len(recent) + 1}/{RESTARTS})")
        elif failed_starts >= START_ATTEMPTS:
            raise LaunchError(f"{name} did not start again in {START_ATTEMPTS} tries; see {log}")
        if name in self._ports:
            arguments = _on_port(arguments, self._ports[name])
        self.spawn(name, arguments, log, endpoint)
        if self.record is not None:  # `down` must find it while it starts
            self.publish(self.record)
        try:
            found = self.wait_ready(name, endpoint, log)
        except LaunchError as exc:
            pause = RETRY_PAUSES_S[min(failed_starts, len(RETRY_PAUSES_S) - 1)]
            self._failed_starts[name] = failed_starts + 1
            self._retry_at[name] = time.monotonic() + pause
            self.say(f"{name} did not start again ({exc}); trying again in {pause:.1f} s")
            return
        self._failed_starts[name] = 0
        if found is not None:
            self.say(f"{name} serves again at {found['url']}")

    def serve(self) -> None:
        """Check the children until told to stop."""
        while not self.stop[0]:
            self.check()
            time.sleep(0.2)

    def stop_all(self) -> None:
        """Stop every child: the controller first (it would report the agents' stops as failures),
        then the KMEs and agents, all at once (none depends on another's stop, and each takes its
        graceful shutdown's time), the emulator last."""
        middle = [name for name in self.children if name not in ("controller", "emulator")]
        for group in (["controller"], middle, ["emulator"]):
            children = [self.children[name] for name in group if name in self.children]
            if not children:
                continue
            with ThreadPoolExecutor(len(children), thread_name_prefix="sdqkd-stop") as pool:
                list(pool.map(lambda child: terminate(child.pid), children))
            for child in children:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(timeout=5)
