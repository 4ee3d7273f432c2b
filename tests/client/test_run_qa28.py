"""``contop run`` and the Python client under a bad pairing payload, signals and a revoked device (QA round 28)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from contop.client import signaling_urls
from contop.core.pairing_payload import build_payload, encode_fragment, parse_pairing_url
from contop.testing.server import ServerProcess
from tests.client.test_run_cli import contop_run, local_env, run_env
from tests.transport.conftest import devices, pair

# What must never reach stderr: a traceback, or asyncio's complaint about a task left behind when the loop closed.
LEFT_BEHIND = ("Traceback", "Task was destroyed", "never retrieved", "ERROR asyncio")


def payload(**changed: Any) -> dict[str, Any]:
    good = build_payload(
        token="secret-token-0123456789", fingerprint=":".join(["AB"] * 32), host="192.168.1.5", port=8000,
        expires_at="2030-01-01T00:00:00Z", connection_type="temp",
    )  # fmt: skip
    return {**good, **changed}


def url_of(data: dict[str, Any], origin: str = "http://127.0.0.1:1") -> str:
    return f"{origin}/#p={encode_fragment(data)}"


@pytest.mark.parametrize(
    ("changed", "reason"),
    [
        ({"h": "[::1"}, "host"),
        ({"h": "127.0.0.1:8620/evil"}, "host"),
        ({"h": "evil.example/x?"}, "host"),
        ({"h": ""}, "host"),
        ({"h": 7}, "host"),
        ({"ts": "100.64.0.1/x"}, "Tailscale address"),
        ({"p": "80/x"}, "port"),
        ({"p": 0}, "port"),
        ({"p": 65536}, "port"),
        ({"p": True}, "port"),
        ({"p": 80.5}, "port"),
        ({"s": "ftp://x.example/ws"}, "signaling URL"),
        ({"s": "wss://user:pw@x.example/ws"}, "signaling URL"),
        ({"s": "wss://[::1/ws"}, "signaling URL"),
        ({"s": "wss://x.example:99999/ws"}, "signaling URL"),
        ({"s": "wss://x.example/ws#frag"}, "signaling URL"),
    ],
)
def test_a_bad_address_in_the_payload_is_refused_when_parsed(changed: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValueError, match=f"the pairing payload's {reason}") as info:
        parse_pairing_url(url_of(payload(**changed)))
    assert "secret-token" not in str(info.value) and "pw" not in str(info.value)


@pytest.mark.parametrize(
    "changed",
    [
        {"h": "::1"},
        {"h": "[::1]"},
        {"h": "my-desktop.local"},
        {"h": "localhost."},
        {"ts": None},
        {"ts": "fd7a:115c:a1e0::1"},
        {"s": "wss://x.trycloudflare.com/ws/signaling"},
        {"s": "https://x.example:8443/ws/signaling?route=a"},
    ],
)
def test_good_addresses_are_accepted(changed: dict[str, Any]) -> None:
    data = payload(**changed)
    assert parse_pairing_url(url_of(data)) == data


def test_an_http_signaling_url_is_signaled_to_over_websocket_and_a_bad_origin_is_skipped() -> None:
    data = payload(s="https://x.example/ws/signaling?route=a")
    assert signaling_urls("http://[::1/#p=x", data) == [  # an origin urlsplit cannot parse: left out
        "ws://192.168.1.5:8000/ws/signaling?token=secret-token-0123456789",
        "wss://x.example/ws/signaling?route=a&token=secret-token-0123456789",
    ]
    assert signaling_urls("http://user:pw@10.0.0.1:8000/#p=x", data)[0].startswith("ws://192.168.1.5:")
    assert signaling_urls("http://[::1]:8000/#p=x", data)[0].startswith("ws://[::1]:8000/ws/signaling?token=")


def test_contop_run_refuses_a_bad_payload_with_exit_2_and_no_traceback() -> None:
    for changed in ({"h": "[::1"}, {"h": "127.0.0.1:8620/evil"}, {"p": "80/x"}, {"s": "ftp://x.example/"}):
        done = contop_run("--pair", url_of(payload(**changed)), "--tool", "get_action_history")
        assert done.returncode == 2, (changed, done.stderr)
        assert "contop run: bad pairing URL: the pairing payload's" in done.stderr, done.stderr
        assert "secret-token" not in done.stderr + done.stdout
        assert not any(word in done.stderr for word in LEFT_BEHIND), done.stderr


@pytest.mark.slow
def test_an_address_that_does_not_answer_is_skipped_and_the_token_never_shown(server: ServerProcess) -> None:
    """The origin and ``h`` name a port where nothing listens; ``s`` is an http URL of the real server. At a path
    that is no signaling endpoint it is refused like the others (exit 3, each address said, the token in none);
    at the right one the run connects through it."""
    real = parse_pairing_url(pair(server)["url"])
    token = str(real["t"])
    dead = {**real, "h": "127.0.0.1", "p": 1}
    done = contop_run("--pair", url_of({**dead, "s": f"http://127.0.0.1:{server.port}/x"}), "--tool", "system_info")
    assert done.returncode == 3, done.stderr
    assert "contop run: cannot connect: no signaling address answered" in done.stderr, done.stderr
    assert f"ws://127.0.0.1:{server.port}/x: " in done.stderr, done.stderr
    assert token not in done.stderr + done.stdout
    assert not any(word in done.stderr for word in LEFT_BEHIND), done.stderr
    good = url_of({**dead, "s": f"http://127.0.0.1:{server.port}/ws/signaling"})
    done = contop_run("--pair", good, "--tool", "execute_cli", "--args", '{"command": "echo through-s"}')
    assert done.returncode == 0 and done.stdout == "through-s\n", done.stderr


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _start_long_call(server: ServerProcess, *, local: bool, sigint: str, marker: Path) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "contop", "run", "--tool", "execute_cli"]
    argv += ["--args", json.dumps({"command": f"sleep 6; touch {marker}"})]
    if not local:
        argv += ["--pair", pair(server)["url"]]
    proc = subprocess.Popen(
        argv, env=run_env(local_env(server) if local else None), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, preexec_fn=_ignore_sigint if sigint == "ignored" else None,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while not any(d["device_id"].startswith("contop-run") and d["connected"] for d in devices(server)["devices"]):
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    time.sleep(1.5)  # the call has started
    return proc


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "sigint", "local"),
    [
        (signal.SIGTERM, "ignored", False),
        (signal.SIGTERM, "ignored", True),
        (signal.SIGHUP, "ignored", True),
        (signal.SIGTERM, "default", True),
        (signal.SIGHUP, "default", False),
        (signal.SIGINT, "default", True),
    ],
)
def test_a_signal_ends_the_run_and_leaves_no_task_pending(
    server: ServerProcess, tmp_path: Path, sig: signal.Signals, sigint: str, local: bool
) -> None:
    """SIGTERM and SIGHUP were turned into Ctrl-C's KeyboardInterrupt, raised in whatever code ran then (a task
    of aiortc's among them): stderr got 'Task was destroyed but it is pending! … RTCPeerConnection.close()'. A job
    started with '&' (SIGINT ignored) showed it nearly every time."""
    marker = tmp_path / "marker"
    proc = _start_long_call(server, local=local, sigint=sigint, marker=marker)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + sig, err
    assert not any(word in err for word in LEFT_BEHIND), err
    assert out == ""
    if local:  # the device is revoked as the run ends, and what it started with it
        assert not any(d["device_id"].startswith("contop-run-") for d in devices(server)["devices"])
        time.sleep(6)
        assert not marker.exists()


@pytest.mark.slow
def test_a_run_ignoring_sigint_keeps_running_on_ctrl_c(server: ServerProcess, tmp_path: Path) -> None:
    """A job a shell started with '&' ignores SIGINT: Ctrl-C at that terminal is not meant for it."""
    proc = _start_long_call(server, local=True, sigint="ignored", marker=tmp_path / "marker")
    proc.send_signal(signal.SIGINT)
    time.sleep(1)
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err


@pytest.mark.slow
@pytest.mark.parametrize("local", [False, True])
def test_a_device_revoked_mid_run_is_told_so(server: ServerProcess, tmp_path: Path, local: bool) -> None:
    """The run said that another run with the same pairing URL may have taken the device over; the desktop's close
    code (4001, revoked) says what happened."""
    proc = _start_long_call(server, local=local, sigint="default", marker=tmp_path / "marker")
    device = next(d["device_id"] for d in devices(server)["devices"] if d["device_id"].startswith("contop-run"))
    assert server.request("DELETE", "/api/pair", params={"device_id": device}).status_code == 200
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    assert "this device's pairing was revoked on the desktop; pair again" in err, err
    assert "take turns" not in err
    assert not any(word in err for word in LEFT_BEHIND), err
