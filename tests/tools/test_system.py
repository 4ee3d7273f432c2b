"""process_info, system_info, download_file (against a real server on 127.0.0.1) and wait."""
# ruff: noqa: F811 - the X fixtures are imported into this module by name, then used as arguments

from __future__ import annotations

import asyncio
import gzip
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from contop.core.errors import NotAvailableError, ToolError
from contop.platform.capture import Monitor
from contop.platform.geometry import Rect
from contop.testing.loop import loop_ticks
from contop.testing.xsession import XSession
from contop.tools import system
from contop.tools.context import ToolContext
from contop.tools.files import human_size, new_file_mode
from contop.tools.system import (
    TOOLS,
    download_file,
    fetch_to_file,
    process_info,
    screen_lines,
    system_info,
    wait,
)

from .x11 import desk_env, xsession  # noqa: F401 - fixtures

RESULT_KEYS = {"status", "stdout", "stderr", "exit_code", "duration_ms"}
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _assert_success(result: dict[str, object]) -> None:
    assert RESULT_KEYS <= result.keys()
    assert result["status"] == "success"
    assert result["exit_code"] == 0
    assert isinstance(result["duration_ms"], int)


def test_tools_table() -> None:
    assert TOOLS == {
        "process_info": process_info,
        "system_info": system_info,
        "download_file": download_file,
        "wait": wait,
    }


# --------------------------------------------------------------------------------------------- process_info


@pytest.fixture
def busy_child() -> Iterator[subprocess.Popen[bytes]]:
    """A child that renames itself (a name with spaces and parentheses) and spins the CPU."""
    code = (
        "open('/proc/self/comm', 'w').write('odd) (name x')\n"
        "import time\n"
        "end = time.monotonic() + 60\n"
        "while time.monotonic() < end: pass\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code, "contop-busy-marker"])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{child.pid}/comm").read_text().strip() == "odd) (name x":
                break
        except OSError:
            pass
        time.sleep(0.02)
    try:
        yield child
    finally:
        child.kill()
        child.wait()


@linux_only
async def test_process_info_by_pid(ctx: ToolContext) -> None:
    result = await process_info(ctx, pid=os.getpid())
    _assert_success(result)
    lines = str(result["stdout"]).splitlines()
    assert lines[0] == "1 process(es), sorted by CPU use:"
    assert lines[1].split() == ["PID", "NAME", "USER", "CPU%", "MEM%", "RSS", "COMMAND"]
    assert lines[2].split()[0] == str(os.getpid())
    assert "pytest" in lines[2] or "python" in lines[2]


@linux_only
async def test_process_info_name_filter_cpu_and_odd_names(
    ctx: ToolContext, busy_child: subprocess.Popen[bytes]
) -> None:
    result = await process_info(ctx, name="contop-busy-marker")
    lines = str(result["stdout"]).splitlines()
    assert lines[0] == "1 process(es) matching 'contop-busy-marker', sorted by CPU use:"
    row = lines[2]
    assert row.split()[0] == str(busy_child.pid)
    assert "odd) (name x" in row
    after_name = row.split("odd) (name x", 1)[1].split()
    cpu = float(after_name[1])
    assert cpu > 5.0, row
    # The renamed process is found by its name as well, case-insensitively.
    by_name = str((await process_info(ctx, name="ODD) (NAME"))["stdout"])
    assert str(busy_child.pid) in by_name


@linux_only
async def test_process_info_limits_and_errors(ctx: ToolContext) -> None:
    everything = str((await process_info(ctx, limit=1))["stdout"])
    assert len(everything.splitlines()) >= 3
    if not everything.startswith("1 process(es)"):
        assert "more not shown" in everything
    none = await process_info(ctx, name="no-such-process-name-xyz")
    _assert_success(none)
    assert none["stdout"] == "No running process matches 'no-such-process-name-xyz'."
    with pytest.raises(ToolError, match="No running process has PID"):
        await process_info(ctx, pid=2**22 + 12345)
    with pytest.raises(ToolError, match="limit"):
        await process_info(ctx, limit=0)


@linux_only
async def test_process_info_keeps_the_loop_free(ctx: ToolContext) -> None:
    async with loop_ticks(0.01) as ticks:
        await process_info(ctx)
    assert ticks.count >= 10  # the 0.3 s CPU sample did not block the event loop


def test_psutil_fallback_reports_not_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psutil", None)
    with pytest.raises(NotAvailableError, match="psutil"):
        system._psutil_rows(0.0)


# ---------------------------------------------------------------------------------------------- system_info


async def test_system_info(ctx: ToolContext) -> None:
    result = await system_info(ctx)
    _assert_success(result)
    out = str(result["stdout"])
    fields = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    assert fields["Hostname"] == socket.gethostname()
    assert fields["OS"]
    assert f"{os.cpu_count()} logical core(s)" in fields["CPU"]
    assert "total" in fields["Memory"] and "available" in fields["Memory"]
    assert any(key.startswith("Disk /") for key in fields)
    assert "h" in fields["Uptime"] and "min" in fields["Uptime"]
    assert any(line.startswith(("Display", "Displays", "Screen")) for line in out.splitlines())


@pytest.mark.x11
async def test_system_info_reports_the_x_screen(ctx: ToolContext, desk_env: XSession) -> None:
    # Xvfb has no DRM connector: this said "Displays: none reported by the kernel" with a screen right there.
    out = str((await system_info(ctx))["stdout"])
    lines = out.splitlines()
    assert f"Screen: 1920x1080 (X display {desk_env.display}), 1 monitor(s)" in lines
    assert any(line.startswith("Monitor 1: 1920x1080 at (0, 0)") for line in lines)
    assert not any("none" in line for line in lines if line.startswith("Displays"))


def test_screen_lines() -> None:
    monitors = [
        Monitor(0, Rect(0, 0, 3840, 1080), False),
        Monitor(1, Rect(0, 0, 1920, 1080), True, "DP-1"),
        Monitor(2, Rect(1920, 0, 1920, 1080), False),
    ]
    assert screen_lines(monitors, ":0") == [
        "Screen: 3840x1080 (X display :0), 2 monitor(s)",
        "Monitor 1: 1920x1080 at (0, 0), primary, DP-1",
        "Monitor 2: 1920x1080 at (1920, 0)",
    ]
    assert screen_lines(monitors[:2], None)[0] == "Screen: 3840x1080, 1 monitor(s)"
    assert screen_lines([], ":0") == []


# -------------------------------------------------------------------------------------------- download_file


PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


async def test_download_success(ctx: ToolContext, http_server: Any) -> None:
    http_server.serve("/files/data.bin", PAYLOAD)
    result = await download_file(ctx, http_server.url("/files/data.bin"), "sub/data.bin")
    _assert_success(result)
    target = Path(ctx.cwd, "sub", "data.bin")
    assert target.read_bytes() == PAYLOAD
    assert result["stdout"] == f"Downloaded 1.0 MB to {target}"
    assert result["path"] == str(target)
    assert result["size_bytes"] == len(PAYLOAD)
    assert result["content_type"] == "application/octet-stream"
    assert sorted(p.name for p in target.parent.iterdir()) == ["data.bin"]
    assert target.stat().st_mode & 0o777 == new_file_mode()  # not mkstemp's 0600


async def test_download_into_existing_folder_and_home(ctx: ToolContext, http_server: Any) -> None:
    http_server.serve("/a/report.txt", b"hello", content_type="text/plain")
    result = await download_file(ctx, http_server.url("/a/report.txt?x=1"), "~")
    assert Path(ctx.home, "report.txt").read_bytes() == b"hello"
    assert result["stdout"] == f"Downloaded 5 bytes to {Path(ctx.home, 'report.txt')}"


async def test_download_into_a_folder_takes_the_name_the_gate_judged(ctx: ToolContext, http_server: Any) -> None:
    from contop.core.downloads import download_name

    http_server.serve("/a%2F.profile", b"x")
    url = http_server.url("/a%2F.profile")
    result = await download_file(ctx, url, "~")
    assert result["path"] == str(Path(ctx.home, download_name(url))) == str(Path(ctx.home, ".profile"))


async def test_download_overwrites_existing_file(ctx: ToolContext, http_server: Any) -> None:
    Path(ctx.cwd, "f.txt").write_text("old")
    Path(ctx.cwd, "f.txt").chmod(0o640)
    http_server.serve("/f", b"new")
    await download_file(ctx, http_server.url("/f"), "f.txt")
    assert Path(ctx.cwd, "f.txt").read_text() == "new"
    assert Path(ctx.cwd, "f.txt").stat().st_mode & 0o777 == 0o640


async def test_download_http_error(ctx: ToolContext, http_server: Any) -> None:
    with pytest.raises(ToolError, match="HTTP 404 Not Found"):
        await download_file(ctx, http_server.url("/missing"), "out.bin")
    http_server.serve("/boom", b"oops", status=500)
    with pytest.raises(ToolError, match="HTTP 500"):
        await download_file(ctx, http_server.url("/boom"), "out.bin")
    assert list(Path(ctx.cwd).iterdir()) == []


async def test_download_size_cap_declared_length(ctx: ToolContext, http_server: Any) -> None:
    http_server.serve("/big", PAYLOAD)
    with pytest.raises(ToolError, match=r"over the download limit.*nothing was saved"):
        await fetch_to_file(http_server.url("/big"), str(Path(ctx.cwd, "big.bin")), max_bytes=1000)
    assert list(Path(ctx.cwd).iterdir()) == []


async def test_download_size_cap_streamed_removes_partial(ctx: ToolContext, http_server: Any) -> None:
    http_server.serve_stream("/stream", [b"x" * 65536] * 16)
    with pytest.raises(ToolError, match="partial file was removed"):
        await fetch_to_file(http_server.url("/stream"), str(Path(ctx.cwd, "s.bin")), max_bytes=200_000)
    assert list(Path(ctx.cwd).iterdir()) == []
    # Under the cap, the same stream (no Content-Length) is saved whole.
    done = await fetch_to_file(http_server.url("/stream"), str(Path(ctx.cwd, "s.bin")), max_bytes=2_000_000)
    assert done.size == 16 * 65536 == Path(ctx.cwd, "s.bin").stat().st_size


async def test_download_tool_uses_module_cap(
    ctx: ToolContext, http_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(system, "MAX_DOWNLOAD_BYTES", 10)
    http_server.serve("/big", PAYLOAD)
    with pytest.raises(ToolError, match="download limit"):
        await download_file(ctx, http_server.url("/big"), "big.bin")
    assert list(Path(ctx.cwd).iterdir()) == []


async def test_download_progress(ctx: ToolContext, http_server: Any) -> None:
    http_server.serve("/p", PAYLOAD)
    seen: list[tuple[int, int | None]] = []
    await fetch_to_file(
        http_server.url("/p"), str(Path(ctx.cwd, "p.bin")), on_progress=lambda n, t: seen.append((n, t))
    )
    assert seen and seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert [n for n, _ in seen] == sorted(n for n, _ in seen)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///etc/passwd", "scheme is 'file'"),
        ("ftp://example.com/x", "scheme is 'ftp'"),
        ("javascript:alert(1)", "scheme is 'javascript'"),
        ("example.com/file", "scheme is 'none'"),
        ("http://", "no host"),
        ("http://[::1", "Invalid URL"),
    ],
)
async def test_download_refuses_bad_urls(ctx: ToolContext, url: str, message: str) -> None:
    with pytest.raises(ToolError, match=message):
        await download_file(ctx, url, "out.bin")
    assert list(Path(ctx.cwd).iterdir()) == []


async def test_download_redirects(ctx: ToolContext, http_server: Any) -> None:
    http_server.serve("/real", b"payload")
    http_server.redirect("/hop", "/real")
    http_server.redirect("/to-file", "file:///etc/passwd")
    http_server.redirect("/loop", "/loop", status=301)
    http_server.redirect("/to-js", "javascript:alert(1)", status=307)
    http_server.redirect("/to-ftp", "ftp://127.0.0.1/file", status=308)
    await download_file(ctx, http_server.url("/hop"), "ok.bin")
    assert Path(ctx.cwd, "ok.bin").read_bytes() == b"payload"
    with pytest.raises(ToolError, match="redirected to a 'file:' URL"):
        await download_file(ctx, http_server.url("/to-file"), "bad.bin")
    with pytest.raises(ToolError, match="redirected to an invalid URL"):
        await download_file(ctx, http_server.url("/to-js"), "bad.bin")
    with pytest.raises(ToolError, match="redirected to a 'ftp:' URL"):
        await download_file(ctx, http_server.url("/to-ftp"), "bad.bin")
    with pytest.raises(ToolError, match="Too many redirects"):
        await download_file(ctx, http_server.url("/loop"), "loop.bin")
    assert sorted(p.name for p in Path(ctx.cwd).iterdir()) == ["ok.bin"]


async def test_download_unreachable_host(ctx: ToolContext) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ToolError, match=r"Could not connect to 127\.0\.0\.1"):
        await download_file(ctx, f"http://127.0.0.1:{port}/x", "x.bin")
    assert list(Path(ctx.cwd).iterdir()) == []


async def test_download_cancelled_leaves_nothing(ctx: ToolContext, http_server: Any) -> None:
    http_server.serve_stream("/slow", [b"y" * 65536] * 50, pause=0.2)
    received: list[int] = []
    task = asyncio.create_task(
        fetch_to_file(
            http_server.url("/slow"), str(Path(ctx.cwd, "slow.bin")), on_progress=lambda n, t: received.append(n)
        )
    )
    while not received:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert list(Path(ctx.cwd).iterdir()) == []


@pytest.mark.parametrize("escape", ["%00", "%0A", "%0D", "%1B", "%7F", "%C2%85"])
async def test_download_refuses_control_characters_in_the_urls_file_name(
    ctx: ToolContext, http_server: Any, escape: str
) -> None:
    # "ok.txt%00.sh" used to fail with "ValueError: embedded null byte"; "%0A" made a file with a newline in its name.
    http_server.serve(f"/ok.txt{escape}.sh", b"payload")
    with pytest.raises(ToolError, match=r"contains control characters .* Nothing was downloaded\.$"):
        await download_file(ctx, http_server.url(f"/ok.txt{escape}.sh"), "~")
    assert list(Path(ctx.home).iterdir()) == []
    assert http_server.requests == []  # refused before any network I/O
    # Saved under a name of one's own, the same URL downloads.
    await download_file(ctx, http_server.url(f"/ok.txt{escape}.sh"), "~/ok.txt")
    assert Path(ctx.home, "ok.txt").read_bytes() == b"payload"


async def test_download_keeps_a_compressed_body_as_sent(ctx: ToolContext, http_server: Any) -> None:
    # A server that compresses anyway: 3 KB on the wire used to be saved as the 3 MB it unpacks to (and 300 KB as
    # 300 MB), past the download limit, which only counted what was received.
    body = gzip.compress(bytes(3_000_000))
    asked: list[str | None] = []

    def gzipped(req: BaseHTTPRequestHandler) -> None:
        asked.append(req.headers.get("Accept-Encoding"))
        req.send_response(200)
        req.send_header("Content-Type", "application/octet-stream")
        req.send_header("Content-Encoding", "gzip")
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)

    http_server.routes["/data.bin"] = gzipped
    result = await download_file(ctx, http_server.url("/data.bin"), "data.bin")
    assert Path(ctx.cwd, "data.bin").read_bytes() == body
    assert result["size_bytes"] == len(body)
    assert result["stdout"] == (
        f"Downloaded {human_size(len(body))} to {Path(ctx.cwd, 'data.bin')} (saved as the server sent it, "
        "gzip-compressed)"
    )
    assert asked == ["identity"]  # the file itself was asked for
    with pytest.raises(ToolError, match="over the download limit"):
        await fetch_to_file(http_server.url("/data.bin"), str(Path(ctx.cwd, "capped.bin")), max_bytes=len(body) - 1)


async def test_download_has_a_total_time_limit(
    ctx: ToolContext, http_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A byte every 0.2 s never trips the 30 s read timeout: without a limit on the whole it went on for ever.
    http_server.serve_stream("/drip", [b"x"] * 10_000, pause=0.2)
    started = time.monotonic()
    with pytest.raises(ToolError, match=r"did not finish within 1 s, the time limit for one download .*nothing was"):
        await fetch_to_file(http_server.url("/drip"), str(Path(ctx.cwd, "drip.bin")), total_timeout_s=1.0)
    assert time.monotonic() - started < 10
    assert list(Path(ctx.cwd).iterdir()) == []
    # The tool applies the module's limit.
    monkeypatch.setattr(system, "DOWNLOAD_TOTAL_S", 0.5)
    with pytest.raises(ToolError, match=r"did not finish within 0\.5 s"):
        await download_file(ctx, http_server.url("/drip"), "drip.bin")
    assert list(Path(ctx.cwd).iterdir()) == []


async def test_download_destination_folder_missing(ctx: ToolContext, http_server: Any) -> None:
    with pytest.raises(ToolError, match="does not exist"):
        await download_file(ctx, http_server.url("/x"), "nowhere/")
    assert http_server.requests == []  # refused before any network I/O


# ------------------------------------------------------------------------------------------------------ wait


async def test_wait(ctx: ToolContext) -> None:
    started = time.monotonic()
    result = await wait(ctx, 0.05)
    assert time.monotonic() - started >= 0.05
    _assert_success(result)
    assert result["stdout"] == "Waited 0.05 second(s)"
    assert (await wait(ctx, 0))["stdout"] == "Waited 0 second(s)"


@pytest.mark.parametrize(("seconds", "message"), [(-1, "0 or more"), (float("nan"), "0 or more"), (301, "at most 300")])
async def test_wait_rejects_bad_durations(ctx: ToolContext, seconds: float, message: str) -> None:
    with pytest.raises(ToolError, match=message):
        await wait(ctx, seconds)
