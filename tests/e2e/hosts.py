"""Hosts on this machine: network namespaces on a bridge, each with a hostname of its own.

    root namespace: bridge tp<id>, 10.77.<n>.1/24 ── veth ── host-a: 10.77.<n>.2, hostname host-a
                                                  └─ veth ── host-b: 10.77.<n>.3, hostname host-b

A host reaches nothing of the root namespace but the bridge address, so a test serves what the
hosts share (the metadata database, the target server) there through a `TcpProxy`. Processes
started on a host run in its network namespace and in a UTS namespace named after it: a worker's
`socket.gethostname()` says which host it runs on. `crash` kills a host's processes and takes
its link down, as a machine dying does. Needs root and `ip` (iproute2).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType


def available() -> str | None:
    """Why hosts cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if not (shutil.which("ip") and shutil.which("unshare")):
        return "needs iproute2 (ip) and util-linux (unshare)"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass
class Hosts:
    """`names` as hosts on one bridge; a context manager that removes every trace on exit."""

    names: tuple[str, ...]
    token: str = field(default_factory=lambda: secrets.token_hex(3))
    subnet: int = field(default_factory=lambda: secrets.randbelow(200) + 20)
    processes: dict[str, list[subprocess.Popen[bytes]]] = field(default_factory=dict)

    @property
    def bridge_address(self) -> str:
        """The root namespace's address on the bridge: what the hosts can reach."""
        return f"10.77.{self.subnet}.1"

    def namespace(self, name: str) -> str:
        return f"tp{self.token}-{name}"

    def _veth(self, index: int) -> str:
        return f"tp{self.token}v{index}"  # 15 characters at most, the kernel's limit

    def __enter__(self) -> Hosts:
        bridge = f"tp{self.token}br"
        try:
            _ip("link", "add", bridge, "type", "bridge")
            _ip("addr", "add", f"{self.bridge_address}/24", "dev", bridge)
            _ip("link", "set", bridge, "up")
            for index, name in enumerate(self.names):
                ns, outside, inside = self.namespace(name), self._veth(index), f"{name[-1]}0"
                _ip("netns", "add", ns)
                _ip("link", "add", outside, "type", "veth", "peer", "name", inside, "netns", ns)
                _ip("link", "set", outside, "master", bridge, "up")
                address = f"10.77.{self.subnet}.{index + 2}/24"
                _ip("-n", ns, "addr", "add", address, "dev", inside)
                _ip("-n", ns, "link", "set", inside, "up")
                _ip("-n", ns, "link", "set", "lo", "up")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def start(
        self, name: str, argv: list[str], env: dict[str, str], log: Path
    ) -> subprocess.Popen[bytes]:
        """Run `argv` on host `name`, output to `log`."""
        command = [
            "ip", "netns", "exec", self.namespace(name),
            "unshare", "--uts", "sh", "-c", f'hostname {name} && exec "$@"', "sh", *argv,
        ]  # fmt: skip
        with log.open("wb") as out:
            process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        self.processes.setdefault(name, []).append(process)
        return process

    def crash(self, name: str) -> None:
        """Host `name` dies: its link goes down first (nothing more leaves it), then every
        process in its network namespace is killed."""
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("link", "set", self._veth(self.names.index(name)), "down")
        self._kill(name)

    def _kill(self, name: str) -> None:
        pids = subprocess.run(
            ["ip", "netns", "pids", self.namespace(name)], capture_output=True, text=True
        ).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        for process in self.processes.get(name, []):
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for index, name in enumerate(self.names):
            self._kill(name)
            # A dead host's sockets (its link down, their close never answered) keep its
            # namespace, and the veth pair in it, alive for minutes: delete the pair itself.
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip("link", "del", self._veth(index))
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip("netns", "del", self.namespace(name))
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("link", "del", f"tp{self.token}br")
