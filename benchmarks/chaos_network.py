"""``sdqkd up`` for the chaos benchmark: the launcher's own start-up, with a supervisor that restarts
every role that dies.

``sdqkd up``'s :class:`~sdqkd.runtime.supervisor.Supervisor` restarts a dead KME (at most
:data:`~sdqkd.runtime.supervisor.KME_RESTARTS` times a minute) and stops the whole network when the
emulator, the controller or an agent dies. A chaos run kills those too, so this module runs
:func:`sdqkd.runtime.launcher.up` unchanged except for its supervisor: :class:`RestartingSupervisor`
starts any dead child again the way the launcher started it (same arguments, same configuration,
same log and endpoint record) and on the same port, since the other roles know it by URL (the
KMEs and agents the emulator's, the agents the controller's). It has no restart limit: the chaos
driver decides how often roles die.

Run by ``benchmarks/chaos.py`` as ``python benchmarks/chaos_network.py --run-dir RUN
--time-scale X``; it serves until SIGTERM, like ``sdqkd up``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sdqkd.runtime import launcher
from sdqkd.runtime.supervisor import LaunchError, Supervisor

TOPOLOGY = "madrid"
RESTART_ATTEMPTS = 20
"""Consecutive failed restarts of one role before the network is given up."""


def same_port(arguments: list[str], port: int) -> list[str]:
    """``arguments`` that start the role again on ``port``: the emulator gets ``--port``; a role
    started from a configuration file whose ``port`` is 0 (a free one, chosen at start) gets that
    file rewritten with ``port`` (a KME's port is fixed already)."""
    if arguments[0] == "emulator":
        return arguments if "--port" in arguments else [*arguments, "--port", str(port)]
    if "--config" in arguments:
        path = Path(arguments[arguments.index("--config") + 1])
        config = json.loads(path.read_text(encoding="utf-8"))
        if config.get("port") == 0:
            config["port"] = port
            path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return arguments


class RestartingSupervisor(Supervisor):
    """A :class:`Supervisor` that restarts whichever child dies, on the port it served on."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._started: dict[str, tuple[list[str], Path, Path]] = {}
        self._ports: dict[str, int] = {}
        self._failures: dict[str, int] = {}

    def spawn(self, name: str, arguments: list[str], log: Path, endpoint: Path) -> None:
        self._started[name] = (list(arguments), log, endpoint)
        super().spawn(name, arguments, log, endpoint)

    def wait_ready(self, name: str, endpoint: Path, log: Path) -> dict[str, Any] | None:
        found = super().wait_ready(name, endpoint, log)
        if found is not None:
            port = urlsplit(str(found["url"])).port
            if port is not None:
                self._ports[name] = port
        return found

    def check(self) -> None:
        for name, child in list(self.children.items()):
            if self.stop[0] or child.poll() is None:
                continue
            self._restart(name, child.returncode)

    def _restart(self, name: str, returncode: int) -> None:
        arguments, log, endpoint = self._started[name]
        if name in self._ports:
            arguments = same_port(arguments, self._ports[name])
        self.say(f"{name} exited ({returncode}); restarting it")
        self.spawn(name, arguments, log, endpoint)
        if self.record is not None:  # the chaos driver finds the new pid in network.json
            self.publish(self.record)
        try:
            found = self.wait_ready(name, endpoint, log)
        except LaunchError as exc:  # e.g. its port still taken: the next check tries again
            self._failures[name] = self._failures.get(name, 0) + 1
            if self._failures[name] >= RESTART_ATTEMPTS:
                raise
            self.say(f"{name} did not start again: {exc}")
            return
        self._failures[name] = 0
        if found is not None:
            self.say(f"{name} serves again at {found['url']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--time-scale", type=float, default=50.0)
    args = parser.parse_args()
    launcher.Supervisor = RestartingSupervisor  # type: ignore[misc]  # the one change to `sdqkd up`

    def say(text: str) -> None:
        print(f"• {text}", flush=True)

    def ready(status: dict[str, Any]) -> None:
        print("• serving", flush=True)

    progress = launcher.Progress(say=say, links=lambda links: None)
    try:
        launcher.up(TOPOLOGY, args.run_dir, args.time_scale, progress, ready)
    except Exception as exc:
        print(f"chaos network: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from exc


if __name__ == "__main__":
    main()
