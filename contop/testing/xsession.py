"""A throw-away X session for tests and benchmarks: Xvfb, openbox, a private D-Bus session bus, optionally AT-SPI.

Every process starts in its own process group and ``close()`` kills all of them, so a test run leaves nothing
behind. The display number comes from Xvfb itself (``-displayfd``): several test runs can share one machine.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from contop.core.processes import die_with_parent

logger = logging.getLogger(__name__)

DEFAULT_SCREEN = "1920x1080x24"
_ATSPI_LAUNCHER_PATHS = ("/usr/libexec/at-spi-bus-launcher", "/usr/lib/at-spi2-core/at-spi-bus-launcher")


class XSessionError(RuntimeError):
    """The X session could not be started; the message names the missing program or the failing step."""


@dataclass
class XSession:
    """A running X session. ``env`` is what a client process needs (DISPLAY, DBUS_SESSION_BUS_ADDRESS, ...)."""

    display: str
    screen: tuple[int, int, int]
    env: dict[str, str]
    runtime_dir: Path
    _procs: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list, repr=False)
    _closed: bool = field(default=False, repr=False)

    @property
    def width(self) -> int:
        return self.screen[0]

    @property
    def height(self) -> int:
        return self.screen[1]

    def child_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The current environment overlaid with this session's variables (and ``extra``), for ``subprocess``."""
        env = dict(os.environ)
        env.update(self.env)
        if extra:
            env.update(extra)
        return env

    def spawn(self, name: str, argv: list[str], extra_env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start a program inside the session; ``close()`` kills it with the rest."""
        proc = subprocess.Popen(
            argv,
            env=self.child_env(extra_env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent(),
        )
        self._procs.append((name, proc))
        return proc

    def start_atspi(self, timeout: float = 20.0) -> None:
        """Start the AT-SPI accessibility bus in this session (once); returns when it answers."""
        if any(name == "at-spi-bus-launcher" for name, _ in self._procs):
            return
        _start_atspi(self, time.monotonic() + timeout)

    def close(self) -> None:
        """Kill every process group this session started, newest first; safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        for name, proc in reversed(self._procs):
            _kill_group(name, proc)
        self._procs.clear()
        shutil.rmtree(self.runtime_dir, ignore_errors=True)

    def __enter__(self) -> XSession:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _die_with_parent() -> Callable[[], None] | None:
    """SIGTERM to the child when this test run dies (even killed with SIGKILL), so no Xvfb is left behind. Only
    from the main thread: a worker thread that forked would end, and signal, far too early."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return die_with_parent(signal.SIGTERM)


def _group_members(pgid: int) -> dict[int, tuple[int, bool]]:
    """Members of a process group other than its leader: pid -> (parent pid, is a zombie). Linux /proc."""
    members = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == pgid:
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            members[int(entry)] = (int(fields[1]), fields[0] == b"Z")
    return members


def _stop_members_leaves_first(pgid: int, budget: float = 4.0) -> None:
    """Stop a group's members from the bottom of the process tree up, each while its parent is alive to reap it:
    an orphan would stay a zombie where PID 1 does not reap, as in many containers."""
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        members = _group_members(pgid)
        live = {pid for pid, (_, zombie) in members.items() if not zombie}
        if not live:
            return
        parents = {ppid for pid, (ppid, _) in members.items() if pid in live}
        leaves = [pid for pid in live if pid not in parents]
        for pid in leaves:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        step_end = min(deadline, time.monotonic() + 1.0)
        while time.monotonic() < step_end:
            # Gone and reaped (no longer listed at all), or reparented away from the group's tree.
            if not any(pid in _group_members(pgid) for pid in leaves):
                break
            time.sleep(0.02)


def _kill_group(name: str, proc: subprocess.Popen[bytes]) -> None:
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    _stop_members_leaves_first(proc.pid)
    for sig, wait in ((signal.SIGTERM, 1.0), (signal.SIGKILL, 2.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            return
        except subprocess.TimeoutExpired:
            logger.debug("%s (pid %d) outlived %s", name, proc.pid, sig.name)


def parse_screen(screen: str) -> tuple[int, int, int]:
    """``"1920x1080x24"`` -> ``(1920, 1080, 24)``; the depth defaults to 24."""
    parts = screen.lower().split("x")
    if len(parts) == 2:
        parts.append("24")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"screen must look like 1920x1080x24, not {screen!r}")
    w, h, d = (int(p) for p in parts)
    return w, h, d


def _require(program: str, package: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise XSessionError(f"{program} not found; install the {package} package")
    return path


def _read_line_from_fd(fd: int, deadline: float, what: str) -> str:
    buf = b""
    while b"\n" not in buf:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise XSessionError(f"timed out waiting for {what}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, 256)
        if not chunk:
            raise XSessionError(f"{what}: the program exited before answering")
        buf += chunk
    return buf.split(b"\n", 1)[0].decode().strip()


def _start_xvfb(session: XSession, screen: tuple[int, int, int], deadline: float, extra: Sequence[str] = ()) -> str:
    xvfb = _require("Xvfb", "xvfb")
    read_fd, write_fd = os.pipe()
    try:
        proc = subprocess.Popen(
            [
                xvfb,
                "-displayfd",
                str(write_fd),
                "-screen",
                "0",
                "x".join(str(v) for v in screen),
                "-nolisten",
                "tcp",
                "-noreset",
                "+extension",
                "XTEST",
                "+extension",
                "X-Resource",
                *extra,
            ],
            pass_fds=(write_fd,),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent(),
        )
        session._procs.append(("Xvfb", proc))
        os.close(write_fd)
        write_fd = -1
        number = _read_line_from_fd(read_fd, deadline, "Xvfb to announce its display")
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)
    return f":{number}"


def _start_dbus(session: XSession, deadline: float) -> str:
    dbus = _require("dbus-daemon", "dbus")
    proc = subprocess.Popen(
        [dbus, "--session", "--nofork", "--nopidfile", "--print-address=1"],
        env=session.child_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_die_with_parent(),
    )
    session._procs.append(("dbus-daemon", proc))
    assert proc.stdout is not None
    address = _read_line_from_fd(proc.stdout.fileno(), deadline, "dbus-daemon to print its address")
    if not address:
        raise XSessionError("dbus-daemon printed an empty address")
    return address


def _wait_for_wm(display: str, deadline: float) -> None:
    """Wait until a EWMH window manager announces itself on the root window."""
    from Xlib import display as xdisplay

    d = xdisplay.Display(display)
    try:
        atom = d.intern_atom("_NET_SUPPORTING_WM_CHECK")
        root = d.screen().root
        while time.monotonic() < deadline:
            prop = root.get_full_property(atom, 0)
            if prop is not None and len(prop.value):
                return
            time.sleep(0.02)
    finally:
        d.close()
    raise XSessionError("openbox did not become ready in time")


def _start_atspi(session: XSession, deadline: float) -> None:
    """Start the accessibility bus and wait until ``org.a11y.Bus.GetAddress`` answers on the session bus."""
    if "DBUS_SESSION_BUS_ADDRESS" not in session.env:
        raise XSessionError("AT-SPI needs the D-Bus session bus")
    launcher = next((p for p in _ATSPI_LAUNCHER_PATHS if os.access(p, os.X_OK)), None)
    if launcher is None:
        raise XSessionError("at-spi-bus-launcher not found; install the at-spi2-core package")
    session.spawn("at-spi-bus-launcher", [launcher, "--launch-immediately"])
    from jeepney import DBusAddress, message_bus, new_method_call
    from jeepney.io.blocking import open_dbus_connection

    bus = DBusAddress("/org/a11y/bus", bus_name="org.a11y.Bus", interface="org.a11y.Bus")
    last: Exception | None = None
    with open_dbus_connection(bus=session.env["DBUS_SESSION_BUS_ADDRESS"]) as conn:
        while time.monotonic() < deadline:
            try:
                # Ask whether our launcher owns the name yet; calling org.a11y.Bus before that would make the
                # bus activate a second launcher from its service file.
                owned = conn.send_and_get_reply(message_bus.NameHasOwner("org.a11y.Bus"), timeout=2).body[0]
                if owned:
                    reply = conn.send_and_get_reply(new_method_call(bus, "GetAddress"), timeout=2)
                    if reply.body and reply.body[0]:
                        return
            except Exception as exc:  # keep polling until the deadline
                last = exc
            time.sleep(0.05)
    raise XSessionError(f"the AT-SPI bus did not come up: {last}")


def start_xsession(
    screen: str = DEFAULT_SCREEN,
    *,
    window_manager: bool = True,
    dbus: bool = True,
    atspi: bool = False,
    timeout: float = 20.0,
    xvfb_args: Sequence[str] = (),
) -> XSession:
    """Start Xvfb (+ openbox, + a session bus, + AT-SPI when asked) and return the running session.

    ``xvfb_args`` go to Xvfb after ours (``["-extension", "DAMAGE"]`` for a server without DAMAGE).

    On any failure everything already started is killed before the error propagates.
    """
    dims = parse_screen(screen)
    deadline = time.monotonic() + timeout
    runtime_dir = Path(tempfile.mkdtemp(prefix="contop-xsession-"))
    runtime_dir.chmod(0o700)
    session = XSession(display="", screen=dims, env={}, runtime_dir=runtime_dir)
    try:
        session.display = _start_xvfb(session, dims, deadline, xvfb_args)
        session.env.update(
            {
                "DISPLAY": session.display,
                "XDG_RUNTIME_DIR": str(runtime_dir),
                "XDG_SESSION_TYPE": "x11",
                "QT_QPA_PLATFORM": "xcb",
            }
        )
        # Never let a client wander off to the user's real desktop.
        session.env["WAYLAND_DISPLAY"] = ""
        if dbus:
            session.env["DBUS_SESSION_BUS_ADDRESS"] = _start_dbus(session, deadline)
        if window_manager:
            session.spawn("openbox", [_require("openbox", "openbox"), "--sm-disable"])
            _wait_for_wm(session.display, deadline)
        if atspi:
            _start_atspi(session, deadline)
    except BaseException:
        session.close()
        raise
    logger.info("X session ready on %s (%s)", session.display, screen)
    return session


def xsession_for_tests(size: str = "1920x1080x24") -> Iterator[XSession]:
    """Body of a pytest fixture: a running session, closed afterwards; the test is skipped when X tools are
    missing (make test installs them, and CI fails on any skip)."""
    import pytest

    missing = [p for p in ("Xvfb", "openbox", "dbus-daemon") if shutil.which(p) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (apt-get install xvfb openbox dbus)")
    session = start_xsession(size)
    try:
        yield session
    finally:
        session.close()


def linux_adapter_for_tests(session: XSession) -> Iterator[Any]:
    """Body of a pytest fixture: the X11 adapter connected to ``session`` and its private bus, closed afterwards."""
    from contop.platform.linux.adapter import LinuxAdapter

    adapter = LinuxAdapter(session.display, session_bus=session.env["DBUS_SESSION_BUS_ADDRESS"])
    try:
        yield adapter
    finally:
        adapter.close()
