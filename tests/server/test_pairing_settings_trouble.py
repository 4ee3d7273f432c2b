"""``tokens.json`` and ``settings.json`` in trouble, against a real server: a full disk, a file half-written by an
editor, a bad entry, a folder where a file should be, temp files a killed server left. What is saved is what the
server says, and nothing valid is thrown away."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from contop.server.settings_store import SETTLE_S
from contop.testing.server import ServerProcess
from tests.server.disk import SmallDisk
from tests.server.wsutil import offer, passed_gate, signal_once

JSON = {"Accept": "application/json"}


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    with SmallDisk(tmp_path / "disk") as disk:
        yield disk


def _server_on(disk: SmallDisk, tmp_path: Path) -> ServerProcess:
    srv = ServerProcess(disk.where / "home")
    srv.log_path = tmp_path / "server.log"  # off the small disk: the log must not fail when it is full
    return srv


def _paired_phone(srv: ServerProcess, device_id: str) -> str:
    token = srv.request("POST", "/api/pair", params={"device_id": device_id}, headers=JSON).json()["token"]
    assert passed_gate(signal_once(srv.port, token, offer(device_id)))  # claimed, as a phone scanning the QR does
    return str(token)


def test_a_revocation_the_full_disk_refuses_holds_now_says_so_and_is_saved_when_asked_again(
    small_disk: SmallDisk, tmp_path: Path
) -> None:
    srv = _server_on(small_disk, tmp_path).start()
    try:
        token = _paired_phone(srv, "phoneA")
        small_disk.fill()
        r = srv.request("DELETE", "/api/pair", params={"device_id": "phoneA"})
        assert r.status_code == 507, r.text
        assert r.json()["detail"] == (
            "device 'phoneA' is disconnected and refused, but the revocation is not saved: could not save "
            "tokens.json: No space left on device; free some space and try again. Until it is saved, a restart of "
            "the server would let it connect again"
        )
        assert signal_once(srv.port, token, offer("phoneA")).close_code == 4001  # refused now all the same
        status = srv.request("GET", "/api/pair/status", params={"device_id": "phoneA"})
        assert status.status_code == 404 and "not saved yet" in status.json()["detail"]
        small_disk.free()
        again = srv.request("DELETE", "/api/pair", params={"device_id": "phoneA"})
        assert again.status_code == 200 and again.json() == {"revoked": True}
    finally:
        srv.stop(signal.SIGKILL)  # no shutdown: only what was saved before the answers counts
    srv.start()
    try:
        assert signal_once(srv.port, token, offer("phoneA")).close_code == 4001
        assert srv.request("GET", "/api/pair/status", params={"device_id": "phoneA"}).status_code == 404
    finally:
        srv.stop()


def test_new_codes_the_full_disk_refuses_change_nothing(small_disk: SmallDisk, tmp_path: Path) -> None:
    srv = _server_on(small_disk, tmp_path).start()
    try:
        old = _paired_phone(srv, "phoneA")
        before = srv.request("GET", "/api/devices").json()
        small_disk.fill()
        for device in ({"device_id": "phoneA"}, {"device_id": "laptop2"}, {}):
            r = srv.request("POST", "/api/pair", params=device, headers=JSON)
            assert r.status_code == 507, r.text
            assert "could not save tokens.json: No space left on device; free some space" in r.json()["detail"]
        repair = srv.request("POST", "/api/pair", params={"device_id": "phoneA"}, headers=JSON)
        assert repair.json()["detail"].startswith("no new pairing code ('phoneA' keeps the code it had)")
        assert srv.request("GET", "/api/devices").json() == before  # no laptop2, no event
        assert passed_gate(signal_once(srv.port, old, offer("phoneA")))  # its old code still works
        small_disk.free()
    finally:
        srv.stop(signal.SIGKILL)
    srv.start()
    try:
        assert passed_gate(signal_once(srv.port, old, offer("phoneA")))
        assert [d["device_id"] for d in srv.request("GET", "/api/devices").json()["devices"]] == ["phoneA"]
    finally:
        srv.stop()


def test_settings_the_full_disk_refuses_leave_the_settings_in_use(small_disk: SmallDisk, tmp_path: Path) -> None:
    srv = _server_on(small_disk, tmp_path).start()
    try:
        settings = srv.request("GET", "/api/settings").json()
        settings["openai_api_key"] = "sk-kept-1234"
        assert srv.request("PUT", "/api/settings", json=settings).status_code == 200
        small_disk.fill()
        r = srv.request("PUT", "/api/settings", json={**settings, "openai_api_key": "sk-new-5678"})
        assert r.status_code == 507, r.text
        assert r.json()["detail"] == (
            "could not save settings.json: No space left on device; free some space and try again"
        )
        r = srv.request("POST", "/api/settings/reset")
        assert r.status_code == 507 and "No space left on device" in r.json()["detail"]
        assert srv.request("GET", "/api/settings").json() == settings
        assert json.loads((srv.home / "settings.json").read_text()) == settings
    finally:
        srv.stop()


def _edit_in_place(path: Path, text: str, *, upto: int | None = None) -> None:
    """As an editor saving in place: truncate, then write (``upto`` characters only: caught mid-write)."""
    with path.open("r+") as fh:
        fh.truncate(0)
        fh.write(text[:upto])


def test_a_hand_edit_read_half_written_keeps_the_settings_until_it_is_complete(server: ServerProcess) -> None:
    settings = server.request("GET", "/api/settings").json()
    settings["openai_api_key"] = "sk-user-key-0001"
    assert server.request("PUT", "/api/settings", json=settings).status_code == 200
    edited = json.dumps({**settings, "custom_instructions": "be brief " + "y" * 20000}, indent=2)
    path = server.home / "settings.json"
    for upto in (0, 100, 9000):  # as the desktop app's polling reads it: empty, then two partial writes
        _edit_in_place(path, edited, upto=upto)
        assert server.request("GET", "/api/settings").json()["openai_api_key"] == "sk-user-key-0001"
    _edit_in_place(path, edited)
    served = server.request("GET", "/api/settings").json()
    assert served["openai_api_key"] == "sk-user-key-0001" and served["custom_instructions"].startswith("be brief")
    assert not list(server.home.glob("settings.json.corrupt-*"))
    assert "invalid" not in server.log()


def test_a_hand_edit_still_invalid_a_moment_later_is_set_aside(server: ServerProcess) -> None:
    settings = server.request("GET", "/api/settings").json()
    settings["openai_api_key"] = "sk-user-key-0002"
    server.request("PUT", "/api/settings", json=settings)
    _edit_in_place(server.home / "settings.json", '{"version": 1,')
    assert server.request("GET", "/api/settings").json()["openai_api_key"] == "sk-user-key-0002"
    time.sleep(SETTLE_S + 0.2)
    assert server.request("GET", "/api/settings").json()["openai_api_key"] == ""  # defaults
    (aside,) = server.home.glob("settings.json.corrupt-*")
    assert aside.read_text() == '{"version": 1,'


def test_one_bad_entry_in_tokens_json_drops_that_entry_only(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with ServerProcess(home) as srv:
        tokens = {d: _paired_phone(srv, d) for d in ("phoneA", "phoneB", "phoneC")}
    original = json.loads((home / "tokens.json").read_text())
    for entry in original["tokens"]:
        if entry["device_id"] == "phoneB":
            entry["token"] = "short"
        if entry["device_id"] == "phoneC":
            entry["expires_at"] = "next tuesday"
    text = json.dumps(original, indent=2)
    (home / "tokens.json").write_text(text)
    with ServerProcess(home) as srv:
        assert passed_gate(signal_once(srv.port, tokens["phoneA"], offer("phoneA")))
        assert signal_once(srv.port, tokens["phoneC"], offer("phoneC")).close_code == 4001
        assert [d["device_id"] for d in srv.request("GET", "/api/devices").json()["devices"]] == ["phoneA"]
        log = srv.log()
    assert "restored 1 permanent pairing token(s)" in log
    assert "dropped pairing code #2 (device 'phoneB')" in log and "token too short" in log
    assert "dropped pairing code #3 (device 'phoneC')" in log and "next tuesday" in log
    assert not any(tok in log for tok in tokens.values())
    (copy,) = home.glob("tokens.json.corrupt-*")
    assert copy.read_text() == text and stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert [t["device_id"] for t in json.loads((home / "tokens.json").read_text())["tokens"]] == ["phoneA"]


def _serve(home: Path) -> subprocess.CompletedProcess[str]:
    """``contop serve`` that is expected to stop at once."""
    return subprocess.run(
        [sys.executable, "-m", "contop", "serve", "--home", str(home), "--port", "0", "--no-qr"],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "CONTOP_HOME"},
    )


def test_a_tokens_json_that_cannot_be_read_stops_the_server_with_a_clear_error(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "tokens.json").mkdir()
    out = _serve(home)
    assert out.returncode == 1, out.stderr
    assert out.stderr.strip().splitlines()[-1] == (
        f"contop: error: cannot read the pairing file {home / 'tokens.json'}: it is a folder, but it must be a file. "
        "Move it away (without it the server starts with no paired phones), then start again"
    )
    assert "Traceback" not in out.stderr


def test_files_nested_too_deeply_are_invalid_content(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "tokens.json").write_text("[" * 100_000)
    (home / "settings.json").write_text("[" * 100_000)
    with ServerProcess(home) as srv:
        assert srv.request("GET", "/api/settings").json()["version"] == 1  # defaults
        log = srv.log()
    assert "Traceback" not in log
    assert "tokens.json is corrupt (nested too deeply)" in log
    assert "settings.json is invalid (nested too deeply)" in log
    assert len(list(home.glob("tokens.json.corrupt-*"))) == 1 and len(list(home.glob("settings.json.corrupt-*"))) == 1


def test_a_settings_json_that_is_a_folder_is_named_when_saving(server: ServerProcess) -> None:
    path = server.home / "settings.json"
    path.unlink()
    path.mkdir()
    settings = server.request("GET", "/api/settings").json()
    problem = f"could not save settings.json: {path} is a folder, but it must be a file; move it away and try again"
    r = server.request("PUT", "/api/settings", json=settings)
    assert r.status_code == 503 and r.json()["detail"] == problem
    r = server.request("POST", "/api/settings/reset")
    assert r.status_code == 503 and r.json()["detail"] == problem


@pytest.mark.parametrize("folder", ["dtls", "data", "logs"])
def test_a_file_where_a_folder_of_the_home_must_be_is_named(tmp_path: Path, folder: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / folder).write_text("{}")
    out = _serve(home)
    assert out.returncode == 1
    assert out.stderr.strip() == (
        f"contop: error: cannot use the state directory {home}: {home / folder} is a file, but it must be a folder. "
        "Move it away, or choose another state directory with --home / CONTOP_HOME."
    )


def test_temp_files_of_writes_a_killed_server_left_are_removed_at_start(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with ServerProcess(home):
        pass
    left = [
        home / ".tokens.json.k2x_9a0b.tmp",
        home / ".settings.json.abcdefgh.tmp",
        home / "dtls" / ".key.pem.q1w2e3r4.tmp",
        home / "skills" / "web-research" / ".SKILL.md.a1b2c3d4.tmp",  # a skill edit cut short
    ]
    kept = [home / "notes.tmp", home / ".tokens.json.tmp", home / "tokens.json.corrupt-20260101T000000000000Z"]
    for path in left + kept:
        path.write_text('{"tokens": []}')
    with ServerProcess(home):
        pass
    assert [p.name for p in left if p.exists()] == []
    assert [p.name for p in kept if p.exists()] == [p.name for p in kept]


def test_any_route_whose_change_the_full_disk_refuses_says_so(small_disk: SmallDisk, tmp_path: Path) -> None:
    """Away Mode PINs live in settings.json too: their route answered a bare 500 when the disk refused."""
    srv = _server_on(small_disk, tmp_path).start()
    try:
        small_disk.fill()
        r = srv.request("POST", "/api/away-mode/pin", json={"pin": "2468"})
        assert r.status_code == 507, r.text
        assert "could not save settings.json: No space left on device; free some space" in r.json()["detail"]
        assert srv.request("GET", "/api/away-mode/status").json()["pin_set"] is False
    finally:
        srv.stop()
