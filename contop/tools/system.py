"""System tools: running processes, a machine summary, downloading a URL to a file, and waiting."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import math
import os
import platform
import shutil
import socket
import sys
import tempfile
import time
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from contop.core.downloads import download_name
from contop.core.errors import NotAvailableError, ToolError
from contop.tools.context import ToolContext
from contop.tools.files import human_size, new_file_mode, resolve, tool_result

if TYPE_CHECKING:
    from contop.platform.capture import Monitor

PROCESS_SAMPLE_S = 0.3  # CPU% is measured over this interval
MAX_PROCESS_ROWS = 500
MAX_DOWNLOAD_BYTES = 2 * 1024 * 1024 * 1024
DOWNLOAD_TIMEOUT_S = 30.0  # per connect/read, not for the whole transfer
# The whole transfer, redirects included: as long as the longest execute_cli command and an agent run may take, so a
# server sending a byte now and then cannot keep a download (and its partial file) going for ever.
DOWNLOAD_TOTAL_S = 600.0
MAX_REDIRECTS = 10
WRITE_BUFFER_BYTES = 1024 * 1024
MAX_WAIT_S = 300.0

ProgressCallback = Callable[[int, int | None], None]


# ------------------------------------------------------------------------------------------------ process_info


@dataclass(slots=True)
class ProcessRow:
    pid: int
    name: str
    user: str
    cpu_percent: float
    mem_percent: float
    rss_bytes: int
    command: str


async def process_info(
    ctx: ToolContext, name: str | None = None, pid: int | None = None, limit: int = 50
) -> dict[str, Any]:
    """List running processes with PID, name, CPU%, memory; ``name`` filters (substring), ``pid`` picks one.

    Sorted by CPU then memory use; ``limit`` rows at most.
    """
    started = time.monotonic()
    if limit < 1:
        raise ToolError("limit must be at least 1.")
    rows = await sample_processes()
    if pid is not None:
        rows = [r for r in rows if r.pid == pid]
        if not rows:
            raise ToolError(f"No running process has PID {pid}.")
    if name:
        needle = name.casefold()
        rows = [r for r in rows if needle in r.name.casefold() or needle in r.command.casefold()]
    rows.sort(key=lambda r: (-r.cpu_percent, -r.rss_bytes, r.pid))
    return tool_result(_format_processes(rows, min(limit, MAX_PROCESS_ROWS), name), started)


async def sample_processes(interval: float = PROCESS_SAMPLE_S) -> list[ProcessRow]:
    """Every visible process with its CPU% over ``interval`` seconds (the wait is spent off the event loop)."""
    if sys.platform.startswith("linux"):
        first = await asyncio.to_thread(_proc_scan)
        t0 = time.monotonic()
        await asyncio.sleep(interval)
        second = await asyncio.to_thread(_proc_scan)
        return await asyncio.to_thread(_proc_rows, first, second, time.monotonic() - t0)
    return await asyncio.to_thread(_psutil_rows, interval)


@dataclass(slots=True)
class _ProcStat:
    pid: int
    name: str
    uid: int
    ticks: int
    rss_pages: int
    command: str


def _proc_scan() -> dict[int, _ProcStat]:
    found: dict[int, _ProcStat] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat_line = f.read().decode("utf-8", errors="replace")
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
            uid = os.stat(f"/proc/{pid}").st_uid
        except OSError:  # the process ended while we looked, or is hidden from us
            continue
        # The name is inside parentheses and may itself contain spaces and parentheses.
        open_at, close_at = stat_line.find("("), stat_line.rfind(")")
        if open_at < 0 or close_at < 0:
            continue
        fields = stat_line[close_at + 2 :].split()
        try:
            ticks = int(fields[11]) + int(fields[12])  # utime + stime
            rss_pages = int(fields[21])
        except (IndexError, ValueError):
            continue
        name = stat_line[open_at + 1 : close_at]
        command = cmdline.replace(b"\x00", b" ").decode("utf-8", errors="replace").strip() or f"[{name}]"
        found[pid] = _ProcStat(pid, name, uid, ticks, rss_pages, command)
    return found


def _proc_rows(first: dict[int, _ProcStat], second: dict[int, _ProcStat], elapsed: float) -> list[ProcessRow]:
    hz = os.sysconf("SC_CLK_TCK")
    page = os.sysconf("SC_PAGE_SIZE")
    total_mem = _meminfo().get("MemTotal", 0)
    users: dict[int, str] = {}
    rows: list[ProcessRow] = []
    for pid, now in second.items():
        before = first.get(pid)
        delta = now.ticks - before.ticks if before is not None else 0
        cpu = max(0.0, delta / hz / elapsed * 100) if elapsed > 0 else 0.0
        rss = now.rss_pages * page
        rows.append(
            ProcessRow(
                pid=pid,
                name=now.name,
                user=users.setdefault(now.uid, _user_name(now.uid)),
                cpu_percent=cpu,
                mem_percent=rss / total_mem * 100 if total_mem else 0.0,
                rss_bytes=rss,
                command=now.command,
            )
        )
    return rows


def _user_name(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)


def _psutil_rows(interval: float) -> list[ProcessRow]:
    try:
        import psutil  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        raise NotAvailableError(
            "Listing processes on this system needs the psutil package (pip install psutil)."
        ) from None
    procs = list(psutil.process_iter(["pid", "name", "username", "memory_percent", "memory_info", "cmdline"]))
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.cpu_percent(None)
    time.sleep(interval)
    rows: list[ProcessRow] = []
    for p in procs:
        try:
            info = p.info
            cpu = p.cpu_percent(None)
        except psutil.Error:
            continue
        mem = info.get("memory_info")
        rows.append(
            ProcessRow(
                pid=info["pid"],
                name=info.get("name") or "?",
                user=info.get("username") or "?",
                cpu_percent=cpu,
                mem_percent=info.get("memory_percent") or 0.0,
                rss_bytes=mem.rss if mem else 0,
                command=" ".join(info.get("cmdline") or []) or f"[{info.get('name')}]",
            )
        )
    return rows


def _format_processes(rows: list[ProcessRow], limit: int, name: str | None) -> str:
    if not rows:
        return f"No running process matches '{name}'." if name else "No processes visible."
    shown = rows[:limit]
    lines = [f"{len(rows)} process(es)" + (f" matching '{name}'" if name else "") + ", sorted by CPU use:"]
    lines.append(f"{'PID':>7}  {'NAME':<16} {'USER':<10} {'CPU%':>6} {'MEM%':>5} {'RSS':>9}  COMMAND")
    for r in shown:
        command = r.command if len(r.command) <= 100 else r.command[:99] + "…"
        lines.append(
            f"{r.pid:>7}  {r.name[:16]:<16} {r.user[:10]:<10} {r.cpu_percent:>6.1f} {r.mem_percent:>5.1f} "
            f"{human_size(r.rss_bytes):>9}  {command}"
        )
    if len(rows) > len(shown):
        lines.append(f"[{len(rows) - len(shown)} more not shown; filter by name or raise limit]")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------- system_info


async def system_info(ctx: ToolContext) -> dict[str, Any]:
    """A summary of this machine: OS, host name, CPU, memory, disks, uptime, screen resolution and monitors,
    and GPU when known."""
    started = time.monotonic()
    screens = await _screens()
    text = await asyncio.to_thread(_system_summary, ctx.home, screens)
    return tool_result(text, started)


async def _screens() -> list[str]:
    """The desktop's screen and monitors as the screen tools see them; nothing when there is no desktop."""
    from contop.tools.desktop import desktop, run

    try:
        desk = await desktop()
        monitors = await run(desk.capturer.monitors)
    except ToolError:
        return []
    return screen_lines(monitors, getattr(desk.adapter, "display_name", None))


def screen_lines(monitors: list[Monitor], x_display: str | None) -> list[str]:
    """``Screen: 3840x1080 (X display :0), 2 monitors`` and a line per monitor, from the capturer's list, whose
    entry 0 is the whole virtual screen (pure)."""
    if not monitors:
        return []
    whole, physical = monitors[0].rect, monitors[1:]
    where = f" (X display {x_display})" if x_display else ""
    lines = [f"Screen: {whole.width}x{whole.height}{where}, {len(physical)} monitor(s)"]
    for m in physical:
        extra = "".join(part for part, on in ((", primary", m.primary), (f", {m.name}", bool(m.name))) if on)
        lines.append(f"Monitor {m.index}: {m.rect.width}x{m.rect.height} at ({m.rect.left}, {m.rect.top}){extra}")
    return lines


def _system_summary(home: str, screens: list[str]) -> str:
    lines = [
        f"OS: {_os_name()}",
        f"Hostname: {socket.gethostname()}",
        f"Architecture: {platform.machine() or 'unknown'}",
        f"CPU: {_cpu_model()}, {os.cpu_count() or '?'} logical core(s)",
    ]
    if hasattr(os, "getloadavg"):
        with contextlib.suppress(OSError):
            one, five, fifteen = os.getloadavg()
            lines.append(f"Load average: {one:.2f} {five:.2f} {fifteen:.2f}")
    total, available = _memory()
    if total:
        used_pct = (total - available) / total * 100 if available is not None else None
        text = f"Memory: {human_size(total)} total"
        if available is not None:
            text += f", {human_size(available)} available ({used_pct:.0f}% used)"
        lines.append(text)
    else:
        lines.append("Memory: unknown")
    lines.extend(_disks(home))
    uptime = _uptime()
    lines.append(f"Uptime: {_duration(uptime)}" if uptime is not None else "Uptime: unknown")
    lines.extend(screens)
    lines.extend(_displays(have_screen=bool(screens)))
    lines.append(f"Python: {platform.python_version()}")
    return "\n".join(lines)


def _os_name() -> str:
    system = platform.system() or sys.platform
    if system == "Linux":
        with contextlib.suppress(OSError):
            info = platform.freedesktop_os_release()
            return f"Linux {platform.release()} ({info.get('PRETTY_NAME', info.get('NAME', 'unknown distribution'))})"
        return f"Linux {platform.release()}"
    if system == "Darwin":
        return f"macOS {platform.mac_ver()[0] or platform.release()}"
    if system == "Windows":
        return f"Windows {platform.release()} ({platform.version()})"
    return f"{system} {platform.release()}"


def _cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Hardware", "Processor", "cpu model") and value.strip():
                return value.strip()
    return platform.processor() or "unknown model"


def _meminfo() -> dict[str, int]:
    values: dict[str, int] = {}
    with contextlib.suppress(OSError), open("/proc/meminfo", encoding="ascii", errors="replace") as f:
        for line in f:
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                values[key] = int(parts[0]) * (1024 if parts[1:2] == ["kB"] else 1)
    return values


def _memory() -> tuple[int, int | None]:
    info = _meminfo()
    if "MemTotal" in info:
        return info["MemTotal"], info.get("MemAvailable")
    try:
        import psutil
    except ImportError:
        return 0, None
    vm = psutil.virtual_memory()
    return int(vm.total), int(vm.available)


def _disks(home: str) -> list[str]:
    roots = [os.path.abspath(os.sep)]
    if os.name == "nt":
        roots = [os.environ.get("SystemDrive", "C:") + "\\"]
    if home and home not in roots:
        roots.append(home)
    lines: list[str] = []
    seen: set[int] = set()
    for root in roots:
        try:
            device = os.stat(root).st_dev
            usage = shutil.disk_usage(root)
        except OSError:
            continue
        if device in seen:
            continue
        seen.add(device)
        pct = usage.used / usage.total * 100 if usage.total else 0
        lines.append(f"Disk {root}: {human_size(usage.total)} total, {human_size(usage.free)} free ({pct:.0f}% used)")
    return lines or ["Disk: unknown"]


def _uptime() -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/uptime", encoding="ascii") as f:
        return float(f.read().split()[0])
    try:
        import psutil
    except ImportError:
        return None
    return max(0.0, time.time() - float(psutil.boot_time()))


def _duration(seconds: float) -> str:
    minutes, _ = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [f"{days} day(s)"] if days else []
    parts.append(f"{hours} h {minutes} min")
    return ", ".join(parts)


def _displays(*, have_screen: bool) -> list[str]:
    """What the kernel knows about connected screens and GPUs (no display server is contacted): on a virtual X
    server (Xvfb) or in a VM it may know nothing, which is only worth saying when no screen was found either."""
    lines: list[str] = []
    for connector in sorted(glob.glob("/sys/class/drm/card*-*")):
        try:
            with open(os.path.join(connector, "status"), encoding="ascii") as f:
                if f.read().strip() != "connected":
                    continue
            with open(os.path.join(connector, "modes"), encoding="ascii") as f:
                mode = f.readline().strip() or "unknown resolution"
        except OSError:
            continue
        lines.append(f"Display {os.path.basename(connector).split('-', 1)[1]}: {mode}")
    drivers: list[str] = []
    for card in sorted(glob.glob("/sys/class/drm/card[0-9]")):
        with contextlib.suppress(OSError):
            driver = os.path.basename(os.readlink(os.path.join(card, "device", "driver")))
            if driver not in drivers:
                drivers.append(driver)
    if drivers:
        lines.append(f"GPU driver(s): {', '.join(drivers)}")
    if not lines and not have_screen:
        lines.append("Displays: none (no desktop to open here, and the kernel reports no connected screen)")
    return lines


# ----------------------------------------------------------------------------------------------- download_file


async def download_file(ctx: ToolContext, url: str, path: str) -> dict[str, Any]:
    """Download an http(s) URL to ``path`` (a file, or an existing folder to keep the URL's file name), within 10
    minutes; the bytes are saved as the server sends them."""
    started = time.monotonic()
    destination = resolve(ctx, path)
    if path.rstrip() != path.rstrip().rstrip("/\\"):  # "dir/" names a folder, which resolution normalises away
        destination += os.sep
    result = await fetch_to_file(url, destination, max_bytes=MAX_DOWNLOAD_BYTES, total_timeout_s=DOWNLOAD_TOTAL_S)
    note = ""
    if result.content_encoding:
        note = f" (saved as the server sent it, {result.content_encoding}-compressed)"
    return tool_result(
        f"Downloaded {human_size(result.size)} to {result.path}{note}",
        started,
        path=result.path,
        size_bytes=result.size,
        content_type=result.content_type,
    )


@dataclass(frozen=True, slots=True)
class Download:
    path: str
    size: int
    content_type: str | None
    final_url: str
    content_encoding: str | None = None  # the compression the server applied, kept in the saved bytes


def _check_url(raw: str | httpx.URL, *, redirected_from: str | None = None) -> httpx.URL:
    try:
        url = raw if isinstance(raw, httpx.URL) else httpx.URL(raw.strip())
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise ToolError(f"Invalid URL '{raw}': {exc}") from None
    if url.scheme not in ("http", "https"):
        scheme = url.scheme or "none"
        if redirected_from:
            raise ToolError(
                f"{redirected_from} redirected to a '{scheme}:' URL; only http and https downloads are allowed."
            )
        raise ToolError(f"Only http and https URLs can be downloaded (this URL's scheme is '{scheme}').")
    if not url.host:
        raise ToolError(f"Invalid URL '{raw}': it has no host name.")
    return url


def _redirect_target(response: httpx.Response, current: httpx.URL) -> httpx.URL:
    location = response.headers["location"]
    try:
        joined = response.url.join(location)
    except (httpx.InvalidURL, ValueError):
        raise ToolError(f"{current} redirected to an invalid URL '{location}'.") from None
    return _check_url(joined, redirected_from=str(current))


def _target_path(destination: str, url: str) -> str:
    """The file to write: ``destination`` itself, or the URL's file name inside it when it is a folder."""
    if os.path.isdir(destination):
        name = download_name(url)
        if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in name):
            raise ToolError(
                f"The file name this URL gives, {name!r}, contains control characters (a NUL byte, a line break…); "
                "give a file path to save it under instead of a folder. Nothing was downloaded."
            )
        return os.path.join(destination, name)
    if destination.endswith(("/", os.sep)):
        raise ToolError(f"The folder {destination} does not exist.")
    return destination


async def fetch_to_file(
    url: str,
    destination: str,
    *,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
    read_timeout_s: float = DOWNLOAD_TIMEOUT_S,
    total_timeout_s: float = DOWNLOAD_TOTAL_S,
    on_progress: ProgressCallback | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Download:
    """Stream ``url`` into a temp file beside ``destination`` and rename it there when complete.

    Redirects are followed by hand so each hop's scheme is checked. The bytes are saved as sent, like curl does: a
    server that compresses anyway (Content-Encoding) has that kept rather than unpacked to any size. Going over
    ``max_bytes`` or ``total_timeout_s``, an HTTP error, a network failure or cancellation removes the partial file.
    ``on_progress(received, total_or_None)`` is called after every chunk.
    """
    current = _check_url(url)
    target = _target_path(destination, url)
    deadline = asyncio.timeout(total_timeout_s)
    try:
        async with deadline:
            return await _fetch(current, url, target, max_bytes, read_timeout_s, on_progress, transport)
    except TimeoutError:
        if not deadline.expired():
            raise
        raise ToolError(
            f"The download from {url} did not finish within {total_timeout_s:g} s, the time limit for one download "
            f"(each read may also wait at most {read_timeout_s:g} s); nothing was saved."
        ) from None


async def _fetch(
    current: httpx.URL,
    url: str,
    target: str,
    max_bytes: int,
    read_timeout_s: float,
    on_progress: ProgressCallback | None,
    transport: httpx.AsyncBaseTransport | None,
) -> Download:
    async with httpx.AsyncClient(
        follow_redirects=False,
        timeout=httpx.Timeout(read_timeout_s),
        transport=transport,
        headers={"Accept-Encoding": "identity"},  # ask for the file itself, not a compressed transfer of it
    ) as client:
        for _ in range(MAX_REDIRECTS + 1):
            try:
                async with client.stream("GET", current) as response:
                    if response.is_redirect and "location" in response.headers:
                        current = _redirect_target(response, current)
                        continue
                    if response.status_code >= 400:
                        raise ToolError(
                            f"The server answered HTTP {response.status_code} {response.reason_phrase} for {current}."
                        )
                    return await _save(response, target, max_bytes, on_progress)
            except httpx.InvalidURL as exc:  # httpx parses a redirect's Location even when not following it
                raise ToolError(f"{current} redirected to an invalid URL ({exc}); nothing was downloaded.") from exc
            except httpx.TimeoutException as exc:
                raise ToolError(f"Download from {current} timed out ({type(exc).__name__}).") from exc
            except httpx.ConnectError as exc:
                raise ToolError(f"Could not connect to {current.host}: {exc or 'connection failed'}.") from exc
            except httpx.HTTPError as exc:
                raise ToolError(f"Download from {current} failed: {exc or type(exc).__name__}.") from exc
    raise ToolError(f"Too many redirects (more than {MAX_REDIRECTS}) starting from {url}.")


async def _save(
    response: httpx.Response, target: str, max_bytes: int, on_progress: ProgressCallback | None
) -> Download:
    declared = response.headers.get("content-length")
    total = int(declared) if declared and declared.isdigit() else None
    if total is not None and total > max_bytes:
        raise ToolError(
            f"The file is {human_size(total)}, over the download limit of {human_size(max_bytes)}; nothing was saved."
        )
    directory = os.path.dirname(target)
    try:
        await asyncio.to_thread(os.makedirs, directory, exist_ok=True)
        fd, tmp = await asyncio.to_thread(
            tempfile.mkstemp, dir=directory, prefix="." + os.path.basename(target) + ".", suffix=".part"
        )
    except OSError as exc:
        raise ToolError(f"Cannot write in {directory}: {exc.strerror or exc}") from exc
    received = 0
    try:
        with os.fdopen(fd, "wb") as f:
            pending: list[bytes] = []
            pending_size = 0
            async for chunk in response.aiter_raw():  # not aiter_bytes(), which would undo a Content-Encoding
                received += len(chunk)
                if received > max_bytes:
                    raise ToolError(
                        f"The download went over the limit of {human_size(max_bytes)}; the partial file was removed."
                    )
                pending.append(chunk)
                pending_size += len(chunk)
                if pending_size >= WRITE_BUFFER_BYTES:
                    await asyncio.to_thread(f.write, b"".join(pending))
                    pending, pending_size = [], 0
                if on_progress is not None:
                    on_progress(received, total)
            await asyncio.to_thread(_finish, f, b"".join(pending), tmp, target)
        await asyncio.to_thread(os.replace, tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise ToolError(f"Could not save the download to {target}: {exc.strerror or exc}") from exc
        raise
    encoding = response.headers.get("content-encoding", "").strip().lower()
    return Download(
        target,
        received,
        response.headers.get("content-type"),
        str(response.url),
        encoding if encoding not in ("", "identity") else None,
    )


def _finish(f: Any, data: bytes, tmp: str, target: str) -> None:
    f.write(data)
    f.flush()
    os.fsync(f.fileno())
    try:  # a replaced file keeps its permissions; a new one gets the usual mode instead of mkstemp's 0600
        mode = os.stat(target).st_mode & 0o7777
    except OSError:
        mode = new_file_mode()
    os.chmod(tmp, mode)


# -------------------------------------------------------------------------------------------------------- wait


async def wait(ctx: ToolContext, seconds: float) -> dict[str, Any]:
    """Pause for ``seconds`` (at most 300), e.g. to let an application finish starting."""
    started = time.monotonic()
    if math.isnan(seconds) or seconds < 0:
        raise ToolError("seconds must be a number of seconds, 0 or more.")
    if seconds > MAX_WAIT_S:
        raise ToolError(f"seconds must be at most {MAX_WAIT_S:.0f}; wait in several steps if needed.")
    await asyncio.sleep(seconds)
    return tool_result(f"Waited {seconds:g} second(s)", started)


TOOLS: dict[str, Callable[..., Awaitable[dict[str, Any]]]] = {
    "process_info": process_info,
    "system_info": system_info,
    "download_file": download_file,
    "wait": wait,
}
