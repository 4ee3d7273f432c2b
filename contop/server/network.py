"""Which addresses a phone can reach this desktop on: LAN, Tailscale, and how a given client came in."""

from __future__ import annotations

import ipaddress
import json
import logging
import shutil
import socket
import subprocess
from collections.abc import Mapping

from contop.server.devices import ConnectionPath

log = logging.getLogger(__name__)

TAILSCALE_NET = ipaddress.ip_network("100.64.0.0/10")


def _interface_ipv4() -> list[tuple[str, str]]:
    """(interface, address) pairs from iproute2, when present."""
    ip = shutil.which("ip")
    if ip is None:
        return []
    try:
        out = subprocess.run([ip, "-j", "-4", "addr"], capture_output=True, text=True, timeout=2, check=True)
        data = json.loads(out.stdout or "[]")
    except (OSError, subprocess.SubprocessError, ValueError):
        return []
    pairs = []
    for iface in data:
        for addr in iface.get("addr_info", []):
            if addr.get("family") == "inet" and addr.get("local"):
                pairs.append((str(iface.get("ifname", "")), str(addr["local"])))
    return pairs


def lan_ip() -> str | None:
    """The address of the interface that carries the default route, else the first private IPv4; None if none."""
    try:
        # A UDP connect() sends nothing; it only asks the kernel which source address it would use.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))
            address = probe.getsockname()[0]
        if address and not ipaddress.ip_address(address).is_loopback:
            return str(address)
    except OSError:
        pass
    for _iface, address in _interface_ipv4():
        ip = ipaddress.ip_address(address)
        if not ip.is_loopback and ip not in TAILSCALE_NET:
            return address
    return None


def tailscale_ip() -> str | None:
    """``tailscale ip -4`` when the CLI is installed, else an interface address in 100.64.0.0/10."""
    exe = shutil.which("tailscale")
    if exe is not None:
        try:
            out = subprocess.run([exe, "ip", "-4"], capture_output=True, text=True, timeout=3, check=True)
            for line in out.stdout.split():
                if ipaddress.ip_address(line) in TAILSCALE_NET:
                    return line
        except (OSError, subprocess.SubprocessError, ValueError):
            log.debug("tailscale ip -4 failed", exc_info=True)
    for _iface, address in _interface_ipv4():
        if ipaddress.ip_address(address) in TAILSCALE_NET:
            return address
    return None


def is_loopback(address: str | None) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def connection_path(
    client_ip: str | None, headers: Mapping[str, str], tunnel_host: str | None = None
) -> ConnectionPath:
    """How a signaling client reached us: through the tunnel, over Tailscale, locally, or on the LAN."""
    host = headers.get("host", "").split(":")[0].lower()
    if "cf-connecting-ip" in headers or (tunnel_host and host == tunnel_host.lower()):
        return ConnectionPath.TUNNEL
    if is_loopback(client_ip):
        return ConnectionPath.LOOPBACK
    try:
        ip = ipaddress.ip_address(client_ip) if client_ip else None
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:  # a dual-stack socket ('::')
            ip = ip.ipv4_mapped
        if ip is not None and ip in TAILSCALE_NET:
            return ConnectionPath.TAILSCALE
    except ValueError:
        pass
    return ConnectionPath.LAN


def attempt_address(client_ip: str | None, headers: Mapping[str, str], tunnel_host: str | None) -> str:
    """The address failed signaling attempts are counted against (CONTRACTS.md §4).

    Through the tunnel the peer is cloudflared on loopback for every phone; the real client is in the
    ``cf-connecting-ip`` header Cloudflare sets. The header is trusted only from a loopback peer while the tunnel
    runs (anyone else could send it to dodge the limit), and an IPv6 client there counts as its /64, which one
    subscriber usually holds whole. A direct peer counts by its own address, IPv6 too: on a LAN one /64 is the
    whole network, and every phone on it would share one limit.
    """
    if tunnel_host and is_loopback(client_ip):
        try:
            forwarded = ipaddress.ip_address(headers.get("cf-connecting-ip", "").strip())
        except ValueError:
            forwarded = None
        if isinstance(forwarded, ipaddress.IPv6Address):
            return str(ipaddress.ip_network((forwarded, 64), strict=False))
        if forwarded is not None:
            return str(forwarded)
    return client_ip or "unknown"
