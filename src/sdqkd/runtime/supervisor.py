"""The service processes of ``sdqkd up``: starting them, waiting until each serves, watching them
while the network runs, and stopping them all, in order, however ``up`` ends.

A KME that dies (a crash, ``kill -9``, the OOM killer) is started again on the same port and
database: its key store is crash-safe, so keys it handed out stay retrievable by their slaves. A
KME that keeps dying (more than :data:`KME_RESTARTS` times within :data:`KME_RESTART_WINDOW_S`)
stops the network, as does the death of any other process (the emulator holds the state of the
optical plant; the controller and the agents the control plane).
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import Any

from sdqkd.errors import SdqkdError
from sdqkd.runtime.processes import is_alive, spawn_sdqkd, terminate
from sdqkd.runtime.rundir import RunDir
from sdqkd.server.logs import LogFormat

__all__ = [
    "KME_RESTARTS",
    "KME_RESTART_WINDOW_S",
    "START_TIMEOUT_S",
    "LaunchError",
    "Supervisor",
    "stop_on_signals",
]

START_TIMEOUT_S = 30.0
"""How long a service process may take to serve (its endpoint record appears)."""
KME_RESTARTS = 3
"""How many times ``up`` restarts one KME within :data:`KME_RESTART_WINDOW_S` before it gives up."""
KME_RESTART_WINDOW_S = 60.0


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

    def spawn(self, name: str, arguments: list[str], log: Path, endpoint: Path) -> None:
        """Start ``sdqkd ARGUMENTS --log-format F`` as the child ``name``; a previous process's
        ``endpoint`` record (a killed one leaves it behind) is removed first, so that
        :meth:`wait_ready` sees this one's."""
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
        """Look at every child once; restart the KMEs that died (waiting until they serve).

        Raises:
            LaunchError: the emulator, the controller or an agent died, a KME kept dying, or a
                restarted KME did not start.
        """
        for name, child in list(self.children.items()):
            if self.stop[0] or child.poll() is None:
                continue
            reason = _exit_reason(child.returncode)
            if not name.startswith("kme-"):  # the emulator, the controller or an agent
                raise LaunchError(f"{name} {reason}; see the logs in {self.run.root}")
            self._restart_kme(name, reason)

    def _restart_kme(self, name: str, reason: str) -> None:
        node_id = name.removeprefix("kme-")
        now = time.monotonic()
        recent = [t for t in self._restarts[name] if now - t < KME_RESTART_WINDOW_S]
        if len(recent) >= KME_RESTARTS:
            raise LaunchError(
                f"{name} {reason}, {len(recent) + 1} times within {KME_RESTART_WINDOW_S:.0f} s: "
                f"not restarting it; see {self.run.kme_log(node_id)}"
            )
        self._restarts[name] = [*recent, now]
        self.say(f"{name} {reason}; restarting it ({len(recent) + 1}/{KME_RESTARTS})")
        endpoint, log = self.run.kme_endpoint(node_id), self.run.kme_log(node_id)
        self.spawn(name, ["kme", "--config", str(self.run.kme_config(node_id))], log, endpoint)
        if self.record is not None:  # `down` must find it while it starts
            self.publish(self.record)
        found = self.wait_ready(name, endpoint, log)
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
