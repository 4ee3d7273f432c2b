"""A real ``contop serve`` on a state directory whose sessions database or DTLS identity is locked, unreadable or
corrupt: nothing that still holds the user's data is moved or replaced unless it is truly corrupt, and then a copy
is kept and the log says what the user must do."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from contop.agent.history import SessionStore
from contop.client.client import ContopClient
from contop.server.dtls import fingerprint_of
from contop.testing.server import ServerProcess

pytestmark = pytest.mark.timeout(120)

JSON = {"Accept": "application/json"}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home a server has run in (DTLS identity, sessions database), with one stored conversation."""
    home = tmp_path / "home"
    ServerProcess(home).start().stop()
    store = SessionStore(home / "data" / "sessions.db")
    store.open()
    store.save_sync("s-1", [])
    store.close()
    return home


@pytest.fixture
def without_dac_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Servers started from here cannot read a mode 000 file, even as root; returns the environment they need.

    As root they run under setpriv without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH, and with no bwrap on PATH: the
    sandbox probe cannot clean up its workspace as such a root, which is not what these tests are about.
    """
    if os.geteuid() != 0:
        return {}
    wrapper = tmp_path / "python-without-dac-override"
    wrapper.write_text(
        "#!/bin/sh\nexec /usr/bin/setpriv --bounding-set=-dac_override,-dac_read_search --inh-caps=-all "
        f'{sys.executable} "$@"\n'
    )
    wrapper.chmod(0o700)
    monkeypatch.setattr(sys, "executable", str(wrapper))
    empty = tmp_path / "bin"
    empty.mkdir()
    return {"PATH": str(empty)}


def unreadable_for_the_server(path: Path) -> None:
    path.chmod(0o000)
    probe = subprocess.run([sys.executable, "-c", f"open({str(path)!r}, 'rb')"], capture_output=True, text=True)
    assert "PermissionError" in probe.stderr, probe  # the server really cannot read it


@contextlib.contextmanager
def held(path: Path, *statements: str) -> Iterator[None]:
    """Another program (this test process) holding a lock on the database, as a DB browser or backup tool does."""
    other = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in statements:
            other.execute(statement).fetchall()
        yield
    finally:
        other.close()


def rows(path: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return [r[0] for r in db.execute("SELECT session_id FROM sessions")]


def qr_fingerprint(server: ServerProcess) -> str:
    return str(server.request("POST", "/api/pair", headers=JSON).json()["payload"]["d"])


def file_fingerprint(home: Path) -> str:
    return fingerprint_of(x509.load_pem_x509_certificate((home / "dtls" / "cert.pem").read_bytes()))


# --- the sessions database -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statements",
    [
        ("PRAGMA locking_mode=EXCLUSIVE", "BEGIN EXCLUSIVE", "SELECT count(*) FROM sessions"),
        ("BEGIN IMMEDIATE", "UPDATE sessions SET updated_at = updated_at"),
    ],
    ids=["exclusive", "write-transaction"],
)
def test_a_sessions_database_held_by_another_program_is_kept(home: Path, statements: tuple[str, ...]) -> None:
    db = home / "data" / "sessions.db"
    with held(db, *statements):
        server = ServerProcess(home).start()
        try:
            assert qr_fingerprint(server)  # the server works: the phone can pair and connect
            line = f"WARNING contop.agent.history: sessions database {db} is held by another program"
            log = server.wait_for_log(line)  # said as the agent loads, after the server answers
        finally:
            assert server.stop() == 0
    assert "not stored" in log and "Traceback" not in log and "moved to" not in log
    assert not list(db.parent.glob("*corrupt*"))
    assert rows(db) == ["s-1"]  # the user's conversations are all still there


def test_the_server_answers_while_a_held_history_holds_up_the_agent_and_a_request_waits_for_it(
    home: Path, tmp_path: Path
) -> None:
    """The agent (pydantic-ai, the conversation history) loads after the server answers. A history another
    program holds makes that load wait SQLite's 5 s busy timeout: pairing must not wait for it, and a request sent
    meanwhile waits and is then answered, not refused."""
    db = home / "data" / "sessions.db"
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"text": "answered after the wait"}]))
    line = f"WARNING contop.agent.history: sessions database {db} is held by another program"
    with held(db, "PRAGMA locking_mode=EXCLUSIVE", "BEGIN EXCLUSIVE", "SELECT count(*) FROM sessions"):
        server = ServerProcess(home, env={"CONTOP_EXECUTION_MODEL": f"scripted:{script}"}).start()
        try:
            url = server.pair(connection_type="temp")["url"]
            assert line not in server.log()  # answering already, while the agent still waits for the database

            async def ask() -> dict[str, Any]:
                client = ContopClient(url, device_id="early-phone", video=False)
                await client.connect()
                try:
                    client.send({"type": "user_intent", "id": "early-1", "payload": {"text": "hello"}})
                    return dict((await client.next_message("agent_result", "error", timeout=30)).to_dict())
                finally:
                    await client.aclose()

            reply = asyncio.run(ask())
            log = server.log()
        finally:
            assert server.stop() == 0
    assert reply["type"] == "agent_result", reply
    assert reply["payload"]["answer"] == "answered after the wait", reply
    assert line in log  # the request was answered by the agent once the database wait was over


def test_a_sessions_database_that_is_a_directory_is_reported_and_left_alone(home: Path) -> None:
    db = home / "data" / "sessions.db"
    for path in db.parent.iterdir():
        path.unlink()
    db.mkdir()
    (db / "keep-me").write_text("x")
    server = ServerProcess(home).start()
    try:
        assert qr_fingerprint(server)
        log = server.wait_for_log(f"ERROR   contop.agent.history: sessions database {db} is a directory: move it")
    finally:
        assert server.stop() == 0
    assert "Traceback" not in log
    assert sorted(p.name for p in db.parent.iterdir()) == ["sessions.db"] and (db / "keep-me").read_text() == "x"


def test_an_unreadable_sessions_database_is_reported_and_left_alone(
    home: Path, without_dac_override: dict[str, str]
) -> None:
    db = home / "data" / "sessions.db"
    before = db.read_bytes()
    unreadable_for_the_server(db)
    server = ServerProcess(home, env=without_dac_override).start()
    try:
        assert qr_fingerprint(server)
        log = server.wait_for_log(f"ERROR   contop.agent.history: sessions database {db} cannot be opened (Permission")
    finally:
        assert server.stop() == 0
    assert f"chmod 600 {db}" in log and "Traceback" not in log
    assert not list(db.parent.glob("*corrupt*"))
    db.chmod(0o600)
    assert db.read_bytes() == before and rows(db) == ["s-1"]


# --- the DTLS identity -----------------------------------------------------------------------------------------


def test_an_unreadable_dtls_key_stops_the_server_and_is_never_replaced(
    home: Path, without_dac_override: dict[str, str]
) -> None:
    key = home / "dtls" / "key.pem"
    fingerprint, before = file_fingerprint(home), key.read_bytes()
    unreadable_for_the_server(key)
    server = ServerProcess(home, env=without_dac_override)
    try:
        with pytest.raises(RuntimeError) as failed:
            server.start()
    finally:
        server.stop()  # one that started after all must not outlive the test
    message = str(failed.value)
    assert "exited with 1" in message and "Traceback" not in message
    assert f"contop: error: cannot read the DTLS identity file {key}: Permission denied" in message
    assert "chmod 600" in message
    key.chmod(0o600)
    assert key.read_bytes() == before and sorted(p.name for p in key.parent.iterdir()) == ["cert.pem", "key.pem"]
    with ServerProcess(home, env=without_dac_override) as again:  # fixed: the paired phones' fingerprint holds
        assert qr_fingerprint(again) == fingerprint


def test_a_dtls_key_that_is_a_directory_stops_the_server(home: Path) -> None:
    key = home / "dtls" / "key.pem"
    cert = (home / "dtls" / "cert.pem").read_bytes()
    key.unlink()
    key.mkdir()
    server = ServerProcess(home)
    try:
        with pytest.raises(RuntimeError) as failed:
            server.start()
    finally:
        server.stop()
    assert f"contop: error: cannot read the DTLS identity file {key}: Is a directory" in str(failed.value)
    assert key.is_dir() and (home / "dtls" / "cert.pem").read_bytes() == cert


@pytest.mark.parametrize("damage", ["corrupt", "mismatched"])
def test_a_corrupt_dtls_identity_is_kept_aside_and_the_phones_must_pair_again(home: Path, damage: str) -> None:
    dtls = home / "dtls"
    old_fingerprint = file_fingerprint(home)
    if damage == "corrupt":
        (dtls / "key.pem").write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot a key\n")
    else:  # the key of another identity
        other = home.parent / "other"
        ServerProcess(other).start().stop()
        (dtls / "key.pem").write_bytes((other / "dtls" / "key.pem").read_bytes())
    old = {name: (dtls / name).read_bytes() for name in ("key.pem", "cert.pem")}
    with ServerProcess(home) as server:
        new_fingerprint = qr_fingerprint(server)
        log = server.log()
    assert new_fingerprint != old_fingerprint and new_fingerprint == file_fingerprint(home)
    errors = [line for line in log.splitlines() if "contop.server.dtls" in line]
    assert len(errors) == 1 and "ERROR" in errors[0] and "pair each of them again" in errors[0], errors
    for name, content in old.items():
        kept = list(dtls.glob(f"{name}.corrupt-*"))
        assert len(kept) == 1 and kept[0].read_bytes() == content and kept[0].stat().st_mode & 0o777 == 0o600
        assert kept[0].name in errors[0]


def test_a_start_after_a_failed_replacement_still_says_the_phones_must_pair_again(home: Path) -> None:
    """A corrupt identity was set aside, then writing the new one failed (a full disk) and the server stopped:
    the next start makes the new identity, and must still say that paired phones need pairing again."""
    dtls = home / "dtls"
    for name in ("key.pem", "cert.pem"):
        (dtls / name).replace(dtls / f"{name}.corrupt-20261206T101010000000Z")
    with ServerProcess(home) as server:
        log = server.log()
    errors = [line for line in log.splitlines() if "contop.server.dtls" in line]
    assert len(errors) == 1 and "ERROR" in errors[0] and "pair each of them again" in errors[0], errors
    assert "cert.pem.corrupt-20261206T101010000000Z, key.pem.corrupt-20261206T101010000000Z" in errors[0]


async def test_reopening_a_conversation_while_the_database_is_held_says_so(home: Path) -> None:
    """The phone reopens a stored conversation: while another program holds the database, the answer must not
    suggest the conversation is gone ("older than 7 days?")."""
    from contop.client import ContopClient
    from contop.core.messages import SessionContext, SessionContextPayload

    db = home / "data" / "sessions.db"
    with held(db, "PRAGMA locking_mode=EXCLUSIVE", "BEGIN EXCLUSIVE", "SELECT count(*) FROM sessions"):
        server = ServerProcess(home).start()
        try:
            url = server.request("POST", "/api/pair", headers=JSON).json()["url"]
            async with ContopClient(url, video=False) as phone:
                ask = SessionContext(payload=SessionContextPayload(session_id="s-1"))
                error = (await phone.request(ask, expect_type="error", timeout=20)).to_dict()["payload"]
        finally:
            server.stop()
    assert "cannot read its conversation history right now" in error["message"], error
    assert "older than 7 days" not in error["message"]


def test_a_first_start_on_a_full_disk_says_so_in_a_sentence(tmp_path: Path) -> None:
    """Needs root (it mounts a small tmpfs), as the network-namespace tests do."""
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)], check=True)
    try:
        with contextlib.suppress(OSError), open(disk / "filler", "wb") as fh:
            while True:
                fh.write(b"x" * 4096)
                fh.flush()
        done = subprocess.run(
            [sys.executable, "-m", "contop", "serve", "--home", str(disk / "new"), "--port", "0", "--no-qr"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr, done.stderr
    assert "could not save admin.token" in done.stderr and "space" in done.stderr, done.stderr


def test_temp_files_of_interrupted_writes_are_removed_and_the_log_says_so(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ServerProcess(home).start().stop()  # a state directory
    (home / ".tokens.json.abcd1234.tmp").write_text("half")
    (home / "dtls" / ".key.pem.efgh5678.tmp").write_text("half")
    server = ServerProcess(home).start()
    try:
        log = server.log()
    finally:
        server.stop()
    assert not (home / ".tokens.json.abcd1234.tmp").exists() and not (home / "dtls" / ".key.pem.efgh5678.tmp").exists()
    assert "removed 2 temp file(s) of interrupted writes" in log and "dtls/.key.pem.efgh5678.tmp" in log, log


async def test_reopening_a_conversation_after_a_damaged_history_was_moved_aside_says_so(home: Path) -> None:
    """A damaged sessions.db is moved aside at start: the phone reopening one of its conversations is told that,
    not "older than 7 days?", which sends the user looking for the wrong cause."""
    from contop.client import ContopClient
    from contop.core.messages import SessionContext, SessionContextPayload

    db = home / "data" / "sessions.db"
    db.write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
    server = ServerProcess(home).start()
    try:
        url = server.request("POST", "/api/pair", headers=JSON).json()["url"]
        async with ContopClient(url, video=False) as phone:
            ask = SessionContext(payload=SessionContextPayload(session_id="s-1"))
            error = (await phone.request(ask, expect_type="error", timeout=20)).to_dict()["payload"]
    finally:
        server.stop()
    (kept,) = db.parent.glob("sessions.db.corrupt-*")
    assert "the conversation history was damaged and was moved aside" in error["message"], error
    assert kept.name in error["message"] and "older than 7 days" not in error["message"]
