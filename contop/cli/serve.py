"""``contop serve``: run the server; print the pairing QR code and URL in the terminal."""

from __future__ import annotations

import argparse
import asyncio
import errno
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, cast

from contop.cli.common import DEFAULT_HOST, add_home_argument, port_from, port_type, state_dir_from
from contop.core.childenv import hide_own_secrets
from contop.core.errors import ContopError
from contop.core.settings import API_KEY_ENV

if TYPE_CHECKING:
    from contop.server.statedir import StateDir, StateDirLock

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("serve", help="run the Contop server")
    p.add_argument("--host", help=f"address to listen on (default: $CONTOP_HOST or {DEFAULT_HOST})")
    p.add_argument("--port", type=port_type, help="port (default: $CONTOP_PORT or 8000)")
    p.add_argument(
        "--advertise-host",
        type=advertise_host_type,
        metavar="NAME",
        help="the name or address your phone reaches this computer by (desk.lan, say), put in the pairing URL and "
        "allowed as the phone app's origin (default: $CONTOP_ADVERTISE_HOST, else the LAN address)",
    )
    add_home_argument(p)
    p.add_argument(
        "--no-qr",
        action="store_true",
        help="do not print the pairing QR code and URL at start; `contop pair` prints them when you need them",
    )
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.set_defaults(func=run)


def advertise_host_type(text: str) -> str:
    from contop.server.network import parse_advertise_host

    try:
        return parse_advertise_host(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # '::' means every address, as '0.0.0.0' does: IPv4 too (the pairing URL usually names the LAN's IPv4 address).
    # Python's create_server makes an IPv6 socket IPv6-only unless asked for both.
    dual = host.strip("[]") == "::" and socket.has_dualstack_ipv6()
    try:
        return socket.create_server((host.strip("[]"), port), family=family, backlog=128, dualstack_ipv6=dual)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ContopError(
                f"port {port} on {host} is already in use (is another contop serve running?); "
                "stop it or choose another port with --port"
            ) from exc
        raise ContopError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


HEAD_TIMEOUT_S = 10.0  # how long a connection may take to send a complete request head
MAX_CONNECTIONS_PER_CLIENT = 64  # open HTTP connections one address other than loopback may hold
MAX_OPEN_FILES = 65536  # the soft descriptor limit the server asks for (at most the hard limit)
# The uvicorn protocols the guard knows: it reads their per-request state, ``cycle.response_complete``.
_GUARDED_BASES = frozenset(
    {"uvicorn.protocols.http.h11_impl.H11Protocol", "uvicorn.protocols.http.httptools_impl.HttpToolsProtocol"}
)


class _ConnectionGuard(asyncio.Protocol):
    """Mixed in before uvicorn's HTTP protocol (``guarded_http_protocol``). uvicorn bounds the wait between
    requests (``timeout_keep_alive``) but not a request head that never ends, so a few hundred half-sent requests
    from anyone on the network held every descriptor, and the server answered nobody. Here a connection waiting for
    a head closes after ``HEAD_TIMEOUT_S``, and an address other than loopback (cloudflared and this computer's
    own programs are loopback) holds at most ``MAX_CONNECTIONS_PER_CLIENT`` at once. A connection upgraded to a
    WebSocket leaves the guard: signaling bounds its own waits."""

    head_timeout_s: float = HEAD_TIMEOUT_S
    per_client_limit: int = MAX_CONNECTIONS_PER_CLIENT
    open_per_client: dict[str, int]  # one count for all connections of a server, set by guarded_http_protocol
    warned: set[str]

    _guarded: asyncio.Transport | None = None
    _head_deadline: asyncio.TimerHandle | None = None
    _counted: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        from contop.server.network import host_key, is_loopback

        super().connection_made(transport)
        self._guarded = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio's subclasses
        peer = transport.get_extra_info("peername")
        if peer and not is_loopback(peer[0]):
            key = host_key(peer[0])
            self._counted = key
            self.open_per_client[key] = held = self.open_per_client.get(key, 0) + 1
            if held > self.per_client_limit:
                if key not in self.warned:
                    self.warned.add(key)
                    log.warning(
                        "refusing connections from %s: it holds %d open already (at most %d at once)",
                        key,
                        held - 1,
                        self.per_client_limit,
                    )
                transport.close()
                return
        self._watch_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._leave()
        super().connection_lost(exc)

    def _watch_head(self) -> None:
        transport = self._guarded
        if transport is None or transport.get_protocol() is not self:  # a WebSocket's protocol owns it now
            self._leave()
            return
        cycle = getattr(self, "cycle", None)
        if cycle is not None and not cycle.response_complete:  # a request is being answered: its head is in
            self._stop_deadline()
        elif self._head_deadline is None and not transport.is_closing():
            self._head_deadline = asyncio.get_running_loop().call_later(self.head_timeout_s, self._head_timed_out)

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        transport = self._guarded
        if transport is not None and transport.get_protocol() is self and not transport.is_closing():
            log.debug("closing a connection whose request head took over %.0f s", self.head_timeout_s)
            transport.close()

    def _stop_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _leave(self) -> None:
        self._stop_deadline()
        key, self._counted = self._counted, None
        if key is not None:
            held = self.open_per_client.get(key, 1) - 1
            if held > 0:
                self.open_per_client[key] = held
            else:
                self.open_per_client.pop(key, None)
                self.warned.discard(key)  # a later flood from it is reported again


def guarded_http_protocol() -> type[asyncio.Protocol]:
    """The HTTP protocol class uvicorn would pick (``http="auto"``: httptools when installed, else h11), with
    ``_ConnectionGuard`` in front; unguarded, and said so, if it is one the guard does not know."""
    from uvicorn.config import HTTP_PROTOCOLS
    from uvicorn.importer import import_from_string

    base: type[asyncio.Protocol] = import_from_string(HTTP_PROTOCOLS["auto"])
    if f"{base.__module__}.{base.__qualname__}" not in _GUARDED_BASES:
        log.warning("HTTP protocol %s is not guarded against unfinished request heads", base.__qualname__)
        return base
    guarded = type(f"Guarded{base.__name__}", (_ConnectionGuard, base), {"open_per_client": {}, "warned": set()})
    return guarded


def raise_open_file_limit() -> tuple[int, int] | None:
    """Raise the soft limit on open descriptors to the hard one (at most ``MAX_OPEN_FILES``): each client
    connection holds one, and a desktop's usual 1024 (256 on some) leaves little room. (old, new) when raised."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return None
    wanted = MAX_OPEN_FILES if hard == resource.RLIM_INFINITY else min(hard, MAX_OPEN_FILES)
    for target in (wanted, 10240):  # macOS refuses more than OPEN_MAX (10240) even under an unlimited hard limit
        if target <= soft:
            return None
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            continue
        return soft, target
    return None


SWITCH_INTERVAL_S = 0.0005  # how soon a thread running Python hands the interpreter back (default 5 ms)


def keep_inherited_descriptors_out_of_children() -> int:
    """Mark every descriptor above stderr that whoever started us left open as close-on-exec; returns how many.

    The commands the server starts must not inherit them: uvloop's subprocess ignores ``close_fds``, and bubblewrap
    passes on whatever it gets, so a directory descriptor inherited from a launcher would reach the sandbox and
    open the whole host file system to it. Our own descriptors are created close-on-exec (PEP 446).
    """
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:  # no /proc: every possible descriptor, up to a sane bound
        fds = list(range(3, min(os.sysconf("SC_OPEN_MAX"), 65536)))
    marked = 0
    for fd in fds:
        if fd <= 2:
            continue
        try:
            if os.get_inheritable(fd):
                os.set_inheritable(fd, False)
                marked += 1
        except OSError:  # closed meanwhile (the listing's own descriptor)
            pass
    return marked


def run(args: argparse.Namespace) -> int:
    from contop.server.statedir import StateDirLock

    if sys.platform != "win32":
        keep_inherited_descriptors_out_of_children()

    env = os.environ
    host = (args.host or env.get("CONTOP_HOST") or DEFAULT_HOST).strip("[]")  # '[::]' as written in URLs is '::'
    port = port_from(args.port, env)
    advertise = args.advertise_host
    if advertise is None and env.get("CONTOP_ADVERTISE_HOST"):
        from contop.server.network import parse_advertise_host

        try:
            advertise = parse_advertise_host(env["CONTOP_ADVERTISE_HOST"])
        except ValueError as exc:  # exit 2, as argparse does for --advertise-host
            print(f"contop serve: error: CONTOP_ADVERTISE_HOST {exc}", file=sys.stderr)
            return 2
    state_dir = state_dir_from(args.home, env)
    try:
        state_dir.ensure()
        lock = StateDirLock.acquire(state_dir)  # before the port: a second server on this home is named as such
    except ContopError as exc:
        print(f"contop: error: {exc}", file=sys.stderr)
        return 1
    with lock:
        return _serve(args, env, host, port, state_dir, lock, advertise)


def _serve(
    args: argparse.Namespace,
    env: Mapping[str, str],
    host: str,
    port: int,
    state_dir: StateDir,
    lock: StateDirLock,
    advertise: str | None,
) -> int:
    import uvicorn

    from contop.server.admin import local_address
    from contop.server.app import create_app
    from contop.server.logsetup import configure_logging
    from contop.server.state import ServerConfig
    from contop.server.statedir import ServerInfo

    redactor = configure_logging(args.log_level)
    if lock.swept:
        names = [str(p.relative_to(state_dir.root)) for p in lock.swept]
        logging.getLogger("contop.server.statedir").info(
            "removed %d temp file(s) of interrupted writes: %s", len(names), names
        )
    config = ServerConfig(
        state_dir=state_dir,
        host=host,
        port=port,
        advertise_host=advertise,
        env={
            k: env[k]
            for k in [*API_KEY_ENV.values(), "CONTOP_EXECUTION_MODEL", "CONTOP_SCRIPTED_RECORD", "CONTOP_BENCH_ECHO"]
            if k in env
        },
    )
    try:
        sock = _bind(host, port)
        bound = str(sock.getsockname()[0])
        config.port = sock.getsockname()[1]
        lock.publish(ServerInfo(pid=os.getpid(), host=bound, port=config.port, parent=os.getppid()))
        app = create_app(config, redactor=redactor)
    except ContopError as exc:
        print(f"contop: error: {exc}", file=sys.stderr)
        return 1
    if local_address(bound) is None:
        print(f"contop: warning: {admin_unreachable(bound)}", file=sys.stderr, flush=True)
    if not args.no_qr:
        _print_pairing(app)
    loop = event_loop(env)
    logging.getLogger("contop.server").info("event loop: %s", loop)
    if sys.platform != "win32" and (raised := raise_open_file_limit()):
        logging.getLogger("contop.server").info("open file limit raised from %d to %d", *raised)
    # proxy_headers off: uvicorn would take the client address from X-Forwarded-For of any loopback peer (every
    # local program, and cloudflared for every tunnel phone). The server decides who the client is itself: the TCP
    # peer, and Cloudflare's cf-connecting-ip only while the tunnel runs (network.attempt_address).
    uvicorn_config = uvicorn.Config(
        app,
        log_config=None,
        access_log=True,
        lifespan="on",
        loop=loop,
        http=guarded_http_protocol(),
        proxy_headers=False,
    )
    server = uvicorn.Server(uvicorn_config)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM and then re-raises the signal with the handlers that were
    # installed before it started; these make that re-raise a clean exit instead of a death by signal.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _exit_cleanly)
    tune_for_latency()
    if hidden := hide_own_secrets():
        logging.getLogger("contop.server").info("secrets hidden from /proc/%d/environ: %s", os.getpid(), hidden)
    try:
        server.run(sockets=[sock])
    except SystemExit as stop:
        if stop.code != 0 or not server.started:
            raise
    return 0 if server.started else 1


def admin_unreachable(bound: str) -> str:
    """Why the admin API cannot be used when the server listens on ``bound`` only (no loopback address)."""
    return (
        f"the server listens on {bound} only, so the admin API, which answers this computer's loopback address "
        "(127.0.0.1), cannot be reached: the desktop app and `contop pair` will not work. Listen on all addresses "
        "(--host 0.0.0.0, the default) or on 127.0.0.1 to use them"
    )


def event_loop(env: Mapping[str, str]) -> str:
    """uvloop when it is installed (not on Windows), unless ``CONTOP_EVENT_LOOP=asyncio``: libuv's loop runs the
    callbacks, timers and UDP reads of every data-channel message in C, which takes a third off the server's
    share of a round trip (bench/bench_transport.py)."""
    if env.get("CONTOP_EVENT_LOOP", "").lower() == "asyncio":
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def tune_for_latency() -> None:
    """Two interpreter settings that keep the server's event loop answering within a millisecond
    (bench/bench_transport.py). Set here, by the process that serves, not by ``create_app``: tests build apps
    inside pytest, whose interpreter they must leave alone.

    - What exists once the server is up (modules, the app, settings: it lives as long as the process) is taken
      out of the cyclic garbage collector's reach. Otherwise every older-generation collection walks it again,
      stopping the loop for milliseconds (tens of them for a full collection).
    - A thread running Python (python-xlib applying pointer moves, for one) gives the interpreter back to the
      event loop after 0.5 ms instead of the default 5 ms when the loop needs it.
    """
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def _exit_cleanly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _print_pairing(app: object) -> None:
    from contop.core.errors import StateDirError
    from contop.server.network import is_loopback
    from contop.server.pairing_flow import issue_pairing
    from contop.server.qr import qr_for

    state = app.state.contop  # type: ignore[attr-defined]
    try:
        _tok, payload, url = asyncio.run(issue_pairing(state, "permanent", None))
    except StateDirError as exc:  # a full disk: the server still serves the phones already paired
        print(f"contop serve: no pairing code to show: {exc}. Run `contop pair` once that is fixed.", flush=True)
        return
    print(qr_for(sys.stdout, url))
    print()
    print("Scan this code with your phone's camera, or open this pairing URL on the phone:")
    print(f"  {url}")
    if state.config.host == "localhost" or is_loopback(state.config.host):
        print(
            f"  (the server listens on loopback ({state.config.host}) only: only this computer can use it; "
            "start it with --host 0.0.0.0, the default, for phones on your network)"
        )
    elif payload["h"] == "127.0.0.1" and not state.config.advertise_host:
        print("  (no LAN address found: only this computer can use it; see `contop doctor`)")
    print(flush=True)
