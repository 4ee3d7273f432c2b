"""A network namespace joined to the host by a veth pair: a real second host for tests (needs root)."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess


class NetNamespace:
    """``host_ip`` is on our side of the veth, ``peer_ip`` inside the namespace; ``run()`` executes inside it."""

    def __init__(self, subnet_octet: int | None = None) -> None:
        octet = subnet_octet if subnet_octet is not None else secrets.randbelow(200) + 20
        suffix = secrets.token_hex(3)
        self.name = f"contop-{suffix}"
        self.host_if = f"ch{suffix}"
        self.peer_if = f"cp{suffix}"
        self.host_ip = f"10.231.{octet}.1"
        self.peer_ip = f"10.231.{octet}.2"
        self._up = False

    @staticmethod
    def available() -> bool:
        if os.geteuid() != 0 or shutil.which("ip") is None:
            return False
        probe = NetNamespace()
        try:
            probe.create()
        except (OSError, subprocess.CalledProcessError):
            return False
        finally:
            probe.destroy()
        return True

    def _ip(self, *args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)

    def create(self) -> NetNamespace:
        self._ip("netns", "add", self.name)
        self._up = True
        self._ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.peer_if)
        self._ip("link", "set", self.peer_if, "netns", self.name)
        self._ip("addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
        self._ip("link", "set", self.host_if, "up")
        self._ip("netns", "exec", self.name, "ip", "addr", "add", f"{self.peer_ip}/30", "dev", self.peer_if)
        self._ip("netns", "exec", self.name, "ip", "link", "set", self.peer_if, "up")
        self._ip("netns", "exec", self.name, "ip", "link", "set", "lo", "up")
        return self

    def run(self, argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.name, *argv], capture_output=True, text=True, timeout=timeout, check=False
        )

    def destroy(self) -> None:
        if not self._up:
            return
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True, check=False, timeout=10)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, check=False, timeout=10)
        self._up = False

    def __enter__(self) -> NetNamespace:
        return self.create()

    def __exit__(self, *exc: object) -> None:
        self.destroy()
