"""Which addresses a phone can reach this desktop on: LAN, Tailscale, and how a given client came in."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from urllib.parse import urlsplit

from contop.server.devices import ConnectionPath

log = logging.getLogger(__name__)

TAILSCALE_NET = ipaddress.ip_network("100.64.0.0/10")


def _interface_addresses(*families: str) -> list[tuple[str, str]]:
    """(interface, address) pairs from iproute2, when present, of the families given (``inet``, ``inet6``)."""
    ip = shutil.which("ip")
    if ip is None:
        return []
    only = ["-4"] if families == ("inet",) else []
    try:
        out = subprocess.run([ip, "-j", *only, "addr"], capture_output=True, text=True, timeout=2, check=True)
        data = json.loads(out.stdout or "[]")
    except (OSError, subprocess.SubprocessError, ValueError):
        return []
    pairs = []
    for iface in data:
        for addr in iface.get("addr_info", []):
            if addr.get("family") in families and addr.get("local"):
                pairs.append((str(iface.get("ifname", "")), str(addr["local"])))
    return pairs


def _interface_ipv4() -> list[tuple[str, str]]:
    return _interface_addresses("inet")


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


# Headers a proxy adds to name the client it forwards; this computer's own programs never send them.
FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip", "cf-connecting-ip")


def through_proxy(headers: Mapping[str, str]) -> bool:
    """Whether a request names a client other than its TCP peer: the peer is then a proxy (cloudflared, or one the
    user set up), and the request came from wherever that proxy takes requests from."""
    return any(name in headers for name in FORWARDING_HEADERS)


LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def host_key(host: str) -> str:
    """A host as origins are compared by: lower case, no brackets or trailing dot, an address in its short form
    (an IPv4 address seen through a dual-stack socket as itself)."""
    host = host.strip().strip("[]").rstrip(".").lower()
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def origin_allowed(origin: str, port: int, own_hosts: Collection[str], tunnel_hosts: Collection[str]) -> bool:
    """Whether a browser page at ``origin`` is this server's own phone app, so that its signaling attempts may be
    counted against the phone that runs it.

    The phone app is served at this computer's names and addresses with the server's port, or through the tunnel
    on https; it signals to the origin that served it, then to the pairing's ``h``, ``ts`` and ``s``, which are
    among those too (CONTRACTS.md §4). Any other page (``null`` included: a sandboxed frame) is someone else's,
    whose failed attempts would get the phone's address banned. ``own_hosts`` and ``tunnel_hosts`` are in
    ``host_key`` form.
    """
    try:
        parts = urlsplit(origin.strip())
        origin_port = parts.port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if parts.username is not None or parts.password is not None or parts.path or parts.query or parts.fragment:
        return False  # a browser's Origin is scheme, host and port only
    host = host_key(parts.hostname)
    effective_port = origin_port or (443 if parts.scheme == "https" else 80)
    if parts.scheme == "https" and effective_port == 443 and host in tunnel_hosts:
        return True
    return effective_port == port and host in own_hosts


_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


def parse_advertise_host(value: str) -> str:
    """The host a phone reaches this computer by (``--advertise-host``), in the form put in pairing URLs: a name
    (``desk.lan``) or an address, without scheme, port or path. Raises ValueError saying what is wrong.

    It goes into the URL the phone opens and becomes an allowed ``Origin`` host, so it must be a host a browser
    parses as itself: letters, digits and hyphens in dot-separated labels, or an IP address."""
    text = value.strip()
    example = "give the name or address your phone reaches this computer by, such as desk.lan or 192.168.1.20"
    if not text:
        raise ValueError(f"is empty: {example}")
    if "://" in text:
        raise ValueError(f"{value!r} has a scheme: {example}, not a URL")
    if any(c in text for c in "/?#@"):
        raise ValueError(f"{value!r} is not a host name (it has a path or a user part): {example}")
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        ip = ipaddress.ip_address(bare)
    except ValueError:
        ip = None
    if ip is not None:
        if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
            raise ValueError(f"{value!r} has a zone (%{ip.scope_id}), which a phone's browser cannot use: {example}")
        if ip.is_unspecified or ip.is_multicast:
            raise ValueError(f"{value!r} is not an address a phone can connect to: {example}")
        return str(ip)
    if text.startswith("[") or text.count(":") > 1:
        raise ValueError(f"{value!r} is not a valid IPv6 address: {example}")
    if ":" in text:
        raise ValueError(f"{value!r} has a port: {example}, and the port with --port")
    name = text.rstrip(".").lower()
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError(
            f"{value!r} is not a valid host name: {example} (letters, digits and hyphens, in labels joined by dots)"
        )
    last = labels[-1]
    # A browser reads a name whose last label is a number (decimal, or 0x and hex digits: the URL standard's
    # "ends in a number") as an IPv4 address, and refuses the URL when the whole is not one.
    if last.isdigit() or (last[:2] == "0x" and all(c in "0123456789abcdef" for c in last[2:])):
        raise ValueError(f"{value!r} is not a valid IPv4 address: {example}")
    return name


def refusal_hint(origin: str, port: int) -> str:
    """What the owner can do about a refused ``Origin``, for the log and the refused client. Only a host that
    ``parse_advertise_host`` accepts is repeated in the advice, so whatever a page sends cannot write the sentence."""
    try:
        parts = urlsplit(origin.strip())
        origin_port = parts.port or (443 if parts.scheme == "https" else 80)
        host = parse_advertise_host(parts.hostname or "") if parts.scheme in ("http", "https") else None
    except ValueError:
        host = None
    if host is None:
        return "not this server's phone app (another web page the phone has open, say): nothing to do"
    if origin_port != port:
        return (
            f"the phone app is served on port {port}, and a page on port {origin_port} is another program's: "
            "open the pairing URL as `contop pair` prints it"
        )
    return (
        f"{host} is not a name or address of this computer that the server knows: if your phone opens the phone "
        f"app as {host}, start the server with --advertise-host {host} (or CONTOP_ADVERTISE_HOST={host}); "
        "otherwise it is another web page, and nothing needs doing"
    )


def _tailscale_self() -> list[str]:
    """This computer's Tailscale addresses and MagicDNS name, from ``tailscale status --json`` when installed."""
    exe = shutil.which("tailscale")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, "status", "--json"], capture_output=True, text=True, timeout=3, check=True)
        me = json.loads(out.stdout or "{}").get("Self") or {}
    except (OSError, subprocess.SubprocessError, ValueError, AttributeError):
        return []
    names = [str(a) for a in me.get("TailscaleIPs") or [] if isinstance(a, str)]
    if isinstance(me.get("DNSName"), str) and me["DNSName"]:
        names.append(me["DNSName"])
    return names


def own_hosts() -> frozenset[str]:
    """Every address and name of this computer a phone's browser may have loaded the phone app from (blocking: a
    few short subprocesses and name lookups). Names are only those the computer gives itself: a name resolved
    from the origin would let any web page whose DNS points at this computer pass (DNS rebinding)."""
    hosts: set[str] = set(LOOPBACK_NAMES)
    hosts.update(address for _iface, address in _interface_addresses("inet", "inet6"))
    hosts.update(address for address in (lan_ip(), tailscale_ip()) if address)
    hosts.update(_tailscale_self())
    name = socket.gethostname()
    if name:
        hosts.update((name, f"{name}.local"))
        try:
            hosts.update(str(info[4][0]) for info in socket.getaddrinfo(name, None))
        except OSError:
            pass
        try:
            hosts.add(socket.getfqdn(name))
        except OSError:
            pass
    return frozenset(host_key(h) for h in hosts if h)


class OwnOrigins:
    """Judges a signaling client's ``Origin`` (``origin_allowed``) against this computer's names and addresses,
    gathered off the event loop and kept for a while. An origin not found refreshes them first when they are a few
    seconds old (an address that just changed), never more often, whoever keeps asking."""

    TTL_S = 60.0
    MISS_REFRESH_S = 5.0
    TUNNEL_MEMORY = 16
    REPORTED_PERIOD_S = 3600.0  # the memory of logged origins starts again every hour
    REPORTED_MEMORY = 64  # refused origins each named once in the log; past that, one line says the rest are not

    def __init__(
        self,
        extra: Iterable[str | None] = (),
        gather: Callable[[], frozenset[str]] = own_hosts,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._extra = LOOPBACK_NAMES | {host_key(h) for h in extra if h}
        self._gather = gather
        self._clock = clock
        self._hosts: frozenset[str] = frozenset()
        self._gathered_at: float | None = None
        self._lock = asyncio.Lock()
        # Tunnel hosts seen while they ran, newest last: a page the phone loaded through a tunnel since stopped may
        # still signal to the LAN address.
        self._tunnels: dict[str, None] = {}
        self._reported: set[str] = set()
        self._reported_since = clock()

    def remember_tunnel(self, tunnel_host: str | None) -> None:
        if not tunnel_host:
            return
        key = host_key(tunnel_host)
        self._tunnels.pop(key, None)
        self._tunnels[key] = None
        while len(self._tunnels) > self.TUNNEL_MEMORY:
            del self._tunnels[next(iter(self._tunnels))]

    async def allowed(self, origin: str, port: int, tunnel_host: str | None, arrived_at: str | None) -> bool:
        """``arrived_at`` is the local address the connection came in on: one of ours, whatever the lists say. A
        refused origin is named in the log with what to do, once (``report_refusal``)."""
        if await self._judge(origin, port, tunnel_host, arrived_at):
            return True
        self.report_refusal(origin, port)
        return False

    def report_refusal(self, origin: str, port: int) -> None:
        """Log a refused origin and the way to allow it, once per origin: a page that keeps retrying, or many
        pages, would otherwise fill the log. The owner whose phone uses a name of this computer we do not know
        (a router's DNS name) learns from this line why the phone cannot connect."""
        now = self._clock()
        if now - self._reported_since >= self.REPORTED_PERIOD_S:
            # A new period: the pages of the last one cannot have used up the lines for an owner's name for good.
            self._reported.clear()
            self._reported_since = now
        key = origin.strip().lower()[:200]
        if key in self._reported or len(self._reported) > self.REPORTED_MEMORY:
            return
        self._reported.add(key)
        if len(self._reported) > self.REPORTED_MEMORY:
            log.warning(
                "pages at %d different origins were refused signaling; further ones are not logged for an hour",
                self.REPORTED_MEMORY,
            )
            return
        log.warning(
            "a page at %r was refused signaling: %s (this origin is logged once)",
            origin[:200],
            refusal_hint(origin, port),
        )

    async def _judge(self, origin: str, port: int, tunnel_host: str | None, arrived_at: str | None) -> bool:
        self.remember_tunnel(tunnel_host)
        local = {host_key(arrived_at)} if arrived_at else set()

        def judge() -> bool:
            return origin_allowed(origin, port, self._hosts | self._extra | local, self._tunnels)

        age = None if self._gathered_at is None else self._clock() - self._gathered_at
        if age is not None and age < self.TTL_S and judge():
            return True
        if age is not None and age < self.MISS_REFRESH_S:
            return judge()
        async with self._lock:
            if self._gathered_at is None or self._clock() - self._gathered_at >= self.MISS_REFRESH_S:
                try:
                    self._hosts = await asyncio.to_thread(self._gather)
                except Exception:  # the loopback names, the extra hosts and the arrival address still judge
                    log.warning("could not list this computer's addresses for the Origin check", exc_info=True)
                self._gathered_at = self._clock()
        return judge()
