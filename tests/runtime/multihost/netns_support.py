"""Hosts for the multi-host test: Linux network namespaces, each with its own address on one private
/24, joined by a bridge in a hub namespace. The root namespace (where the test runs) is on the same
bridge, so the test reaches every host as a client on another host would.

    root ns  ── veth ──┐
    ns ctl   ── veth ──┤ br0 (hub ns)
    ns node… ── veth ──┘

The bridge lives in a namespace of its own, so the root namespace's firewall (a FORWARD policy of
DROP, br_netfilter) never sees the traffic between the hosts.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
from pathlib import Path

__all__ = ["Hosts", "NamespacesUnavailable"]

_ROOT_HOST = 254  # the root namespace's address on the bridge: x.y.z.254


class NamespacesUnavailable(Exception):
    """This machine does not let the test make network namespaces (why: the message)."""


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)


def _must(*args: str) -> None:
    done = _ip(*args)
    if done.returncode != 0:
        raise RuntimeError(f"`ip {' '.join(args)}` failed: {done.stderr.strip()}")


def _networks_in_use() -> list[ipaddress.IPv4Network]:
    """The IPv4 networks of the root namespace's addresses and routes."""
    found = []
    for args in (("-4", "-o", "addr", "show"), ("-4", "route", "show", "table", "all")):
        for word in _ip(*args).stdout.split():
            with contextlib.suppress(ValueError):
                found.append(ipaddress.IPv4Network(word, strict=False))
    return [net for net in found if net.prefixlen > 0]  # the default route overlaps everything


def _free_subnet() -> ipaddress.IPv4Network:
    used = _networks_in_use()
    for _ in range(100):
        candidate = ipaddress.IPv4Network(f"10.{random.randint(100, 250)}.{random.randint(0, 255)}.0/24")
        if not any(candidate.overlaps(net) for net in used):
            return candidate
    raise RuntimeError("no free private /24 for the test network")


class Hosts:
    """Network namespaces as hosts. Use as a context manager: on exit every process started in them
    is killed and every namespace and link removed, whatever happened.

    Raises (on enter):
        NamespacesUnavailable: no ``ip`` command, or ``ip netns add`` refused.
    """

    def __init__(self) -> None:
        self.suffix = secrets.token_hex(3)
        self.subnet = ipaddress.IPv4Network("10.0.0.0/24")  # chosen on enter, once `ip` is known to exist
        self.hub = f"sdq{self.suffix}-hub"
        self.root_link = f"sdq{self.suffix}"  # an interface name: 15 characters at most
        self.namespaces: dict[str, str] = {}  # host name -> namespace
        self.addresses: dict[str, str] = {}  # host name -> address
        self.processes: list[subprocess.Popen[bytes]] = []
        self._created: list[str] = []

    @property
    def root_address(self) -> str:
        return str(self.subnet[_ROOT_HOST])

    def __enter__(self) -> Hosts:
        if shutil.which("ip") is None:
            raise NamespacesUnavailable("no `ip` command (iproute2) to make network namespaces")
        self.subnet = _free_subnet()
        added = _ip("netns", "add", self.hub)
        if added.returncode != 0:
            raise NamespacesUnavailable(f"`ip netns add` is not permitted here: {added.stderr.strip()}")
        self._created.append(self.hub)
        try:
            _must("-n", self.hub, "link", "set", "lo", "up")
            _must("-n", self.hub, "link", "add", "br0", "type", "bridge")
            _must("-n", self.hub, "link", "set", "br0", "up")
            _must(
                "link",
                "add",
                "name",
                self.root_link,
                "type",
                "veth",
                "peer",
                "name",
                "root",
                "netns",
                self.hub,
            )
            _must("-n", self.hub, "link", "set", "root", "master", "br0", "up")
            _must("addr", "add", f"{self.root_address}/{self.subnet.prefixlen}", "dev", self.root_link)
            _must("link", "set", self.root_link, "up")
        except RuntimeError as exc:
            self.__exit__(None, None, None)
            raise NamespacesUnavailable(str(exc)) from exc
        return self

    def add(self, name: str) -> str:
        """A new host ``name`` (its own namespace, loopback up, one veth on the bridge); its address."""
        index = len(self.namespaces) + 1
        namespace = f"sdq{self.suffix}-{name}"[:64]
        address = str(self.subnet[index])
        _must("netns", "add", namespace)
        self._created.append(namespace)
        _must("-n", namespace, "link", "set", "lo", "up")
        port = f"p{index}"
        _must("-n", namespace, "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", self.hub)
        _must("-n", self.hub, "link", "set", port, "master", "br0", "up")
        _must("-n", namespace, "addr", "add", f"{address}/{self.subnet.prefixlen}", "dev", "eth0")
        _must("-n", namespace, "link", "set", "eth0", "up")
        self.namespaces[name], self.addresses[name] = namespace, address
        return address

    def run_sdqkd(self, name: str, args: list[str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
        """Start ``sdqkd ARGS`` on host ``name`` (inside its namespace), in ``cwd``, output to ``log``."""
        with log.open("ab") as sink:
            process = subprocess.Popen(
                ["ip", "netns", "exec", self.namespaces[name], sys.executable, "-m", "sdqkd.cli.app", *args],
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        return process

    def __exit__(self, *exc: object) -> None:
        # `ip netns exec` execs the command: each Popen is the service itself
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for namespace in self._created:  # anything else still inside one of ours (none expected)
            for pid in _ip("netns", "pids", namespace).stdout.split():
                if pid.isdigit() and int(pid) != os.getpid():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
        for namespace in reversed(self._created):
            _ip("netns", "del", namespace)  # takes its veth ends with it
        if _ip("link", "show", self.root_link).returncode == 0:
            _ip("link", "del", self.root_link)
        self._created.clear()
