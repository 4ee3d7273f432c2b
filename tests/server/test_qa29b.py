"""QA findings on today's additions: admin.token files no client could use, hex-looking advertised names, and a
classify request nested too deeply."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from contop.server.network import parse_advertise_host
from contop.testing.server import ServerProcess


@pytest.mark.parametrize("name", ["desk.0x1", "desk.0x", "a.0XFF", "0x7f000001"])
def test_a_name_a_browser_reads_as_an_ipv4_number_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="not a valid IPv4 address"):
        parse_advertise_host(name)


@pytest.mark.parametrize("name", ["desk.0xz", "desk.x01", "0xdesk.lan"])
def test_names_that_only_look_like_hex_stay_names(name: str) -> None:
    assert parse_advertise_host(name) == name


@pytest.mark.parametrize(
    "content",
    [
        os.urandom(100),
        ("é" * 70).encode(),
        b"A" * 40 + b"\n" + b"B" * 40 + b"\n",  # two lines: no HTTP header could carry it
        b"A" * 40 + b" " + b"B" * 40,
    ],
    ids=["binary", "non-ascii", "two-lines", "a-space"],
)
def test_an_admin_token_no_client_could_send_is_replaced_and_logged(tmp_path: Path, content: bytes) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / "admin.token").write_bytes(content)
    with ServerProcess(home) as srv:
        token = (home / "admin.token").read_text(encoding="ascii").strip()
        assert len(token) == 64 and all(c in "0123456789abcdef" for c in token)
        assert srv.request("GET", "/api/settings").status_code == 200  # the new token is the one in use
        log = srv.log()
    assert "admin.token held no valid admin token" in log
    assert token not in log


def test_an_admin_token_that_is_a_fifo_stops_the_start_with_a_reason_instead_of_hanging(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    os.mkfifo(home / "admin.token")
    out = subprocess.run(
        [sys.executable, "-m", "contop", "serve", "--home", str(home), "--port", "0", "--no-qr"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert "admin.token: it is not a regular file" in out.stderr


def test_classify_answers_a_line_nested_too_deeply_and_goes_on(tmp_path: Path) -> None:
    lines = ['{"command": "ls"}', "[" * 5000, '{"a":' * 2000, '{"command": "pwd"}']
    out = subprocess.run(
        [sys.executable, "-m", "contop", "classify", "--jsonl"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    answers = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(answers) == 4
    assert answers[1]["decision"] == answers[2]["decision"] == "block"
    assert "nested too deeply" in answers[1]["error"]
    assert answers[3]["decision"] == "safe"


def test_a_settings_file_that_is_a_fifo_is_moved_aside_at_start_and_doctor_says_so(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    os.mkfifo(home / "settings.json")
    doctor = subprocess.run(
        [sys.executable, "-m", "contop", "doctor", "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert doctor.returncode == 1, doctor.stdout
    assert "not a regular file" in doctor.stdout
    with ServerProcess(home) as srv:  # it starts: no read waiting for a writer
        assert srv.request("GET", "/api/settings").status_code == 200
        log = srv.log()
    assert (home / "settings.json").is_file()
    assert [p.name for p in home.glob("settings.json.corrupt-*")], "the FIFO was not moved aside"
    assert "not a regular file" in log


def test_an_admin_token_link_to_nothing_is_replaced_and_logged(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / "admin.token").symlink_to(tmp_path / "gone")
    with ServerProcess(home) as srv:
        log = srv.log()
    assert not (home / "admin.token").is_symlink() and (home / "admin.token").is_file()
    assert "admin.token held no valid admin token" in log
