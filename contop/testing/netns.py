"""A network namespace joined to the host by a veth pair: a real second host for tests (needs root)."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path


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
        # No IPv6 on our end: its link-local address would become valid a second or two after the link is up, and
        # a browser running meanwhile takes that change for a new network and fails what it was loading
        # (ERR_NETWORK_CHANGED).
        disable_ipv6 = Path(f"/proc/sys/net/ipv6/conf/{self.host_if}/disable_ipv6")
        if disable_ipv6.exists():
            disable_ipv6.write_text("1")
        self._ip("addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
        self._ip("link", "set", self.host_if, "up")
        self._ip("netns", "exec", self.name, "ip", "addr", "add", f"{self.peer_ip}/30", "dev", self.peer_if)
        self._ip("netns", "exec", self.name, "ip", "link", "set", self.peer_if, "up")
        self._ip("netns", "exec", self.name, "ip", "link", "set", "lo", "up")
        # The kernel reports a carrier change up to a second later (linkwatch): wait for it, so that nothing changes
        # under a program started next.
        operstate = Path(f"/sys/class/net/{self.host_if}/operstate")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and operstate.exists() and operstate.read_text().strip() != "up":
            time.sleep(0.05)
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
