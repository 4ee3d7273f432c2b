"""``tokens.json`` is written by a thread of its own: the event loop never waits for the disk, and what must be
durable (a new code, a claim, a revocation) is on disk before the server answers."""

from __future__ import annotations

import asyncio
import json
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import contop.server.statedir as statedir
from contop.core.errors import StateDirError
from contop.server.pairing import TokenRefused
from contop.server.pairing_service import PairingService
from contop.server.statedir import LatestWriter
from contop.testing.loop import loop_ticks
from contop.testing.server import ServerProcess
from tests.server.disk import SlowDisk, full_disk
from tests.server.wsutil import offer, passed_gate, signal_once

JSON = {"Accept": "application/json"}


def test_the_newest_contents_land_atomically_with_the_secret_mode(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    writer = LatestWriter(path)
    ticket = writer.submit(b"first")
    writer.flush(ticket)
    assert path.read_bytes() == b"first"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    writer.submit(b"second")
    writer.flush()
    assert path.read_bytes() == b"second"
    assert not list(tmp_path.glob("*.tmp"))


def test_contents_submitted_during_a_slow_write_collapse_into_one_write_of_the_newest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = SlowDisk(monkeypatch, 0.2)
    path = tmp_path / "tokens.json"
    writer = LatestWriter(path)
    writer.submit(b"a")
    assert disk.started.wait(5)
    for data in (b"b", b"c", b"d"):
        writer.submit(data)
    writer.flush(timeout=10)
    assert disk.writes == [b"a", b"d"]  # b and c were overtaken before their turn came
    assert path.read_bytes() == b"d"
    assert disk.threads == {"write-tokens.json"}


def test_a_failed_write_is_raised_by_flush_until_a_later_one_succeeds(tmp_path: Path) -> None:
    folder = tmp_path / "gone"
    writer = LatestWriter(folder / "tokens.json")
    writer.submit(b"lost")
    with pytest.raises(FileNotFoundError):
        writer.flush(timeout=10)
    with pytest.raises(FileNotFoundError):
        writer.flush(timeout=0)  # settled: the same failure at once, no waiting
    folder.mkdir()
    writer.submit(b"kept")
    writer.flush(timeout=10)
    assert (folder / "tokens.json").read_bytes() == b"kept"


def test_a_writer_that_failed_unexpectedly_keeps_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = statedir.atomic_write
    calls = 0

    def broken_once(path: Path, data: bytes, *, mode: int = statedir.SECRET_MODE) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ValueError("a bug")
        real(path, data, mode=mode)

    monkeypatch.setattr(statedir, "atomic_write", broken_once)
    writer = LatestWriter(tmp_path / "tokens.json")
    writer.submit(b"one")
    with pytest.raises(ValueError, match="a bug"):
        writer.flush(timeout=10)
    writer.submit(b"two")  # the writer thread did not die with the error
    writer.flush(timeout=10)
    assert (tmp_path / "tokens.json").read_bytes() == b"two"


def test_a_ticket_is_durable_once_it_or_newer_contents_are_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = LatestWriter(tmp_path / "tokens.json")
    kept = writer.submit(b"kept")
    writer.flush(kept)
    full_disk(monkeypatch)
    lost = writer.submit(b"lost")
    with pytest.raises(OSError, match="No space"):
        writer.flush(lost)
    writer.flush(kept)  # still on disk: a failed atomic write leaves the old file
    assert (tmp_path / "tokens.json").read_bytes() == b"kept"


def test_where_no_thread_can_start_the_caller_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't create new thread at interpreter shutdown")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    writer = LatestWriter(tmp_path / "tokens.json")
    writer.submit(b"written here")
    writer.flush(timeout=0)  # written before submit returned: nothing left to wait for
    assert (tmp_path / "tokens.json").read_bytes() == b"written here"
    monkeypatch.undo()
    writer.submit(b"and by the thread again")
    writer.flush(timeout=10)
    assert (tmp_path / "tokens.json").read_bytes() == b"and by the thread again"


async def test_waiting_coroutines_hold_no_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    SlowDisk(monkeypatch, 0.3)
    writer = LatestWriter(tmp_path / "tokens.json")
    before = threading.active_count()
    waits = []
    for n in range(20):
        writer.submit(b"%d" % n)
        waits.append(asyncio.create_task(writer.wait(timeout=10)))
    await asyncio.sleep(0.1)
    assert threading.active_count() <= before + 1  # the writer itself, not one thread per waiter
    await asyncio.gather(*waits)
    assert (tmp_path / "tokens.json").read_bytes() == b"19"
    full_disk(monkeypatch)
    writer.submit(b"lost")
    with pytest.raises(OSError, match="No space"):
        await writer.wait(timeout=10)
    monkeypatch.undo()
    SlowDisk(monkeypatch, 0.5)
    writer.submit(b"slow")
    with pytest.raises(TimeoutError, match="not written within"):
        await writer.wait(timeout=0.05)
    await writer.wait(timeout=10)  # a waiter that gave up does not disturb the next one


async def test_a_revocation_closes_the_sessions_even_when_the_disk_refuses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = PairingService(tmp_path / "tokens.json")
    tok = service.issue("permanent")
    service.claim(tok.token, device_id="phone", device_name="Phone")
    await service.persisted()
    closed: list[str] = []

    async def close_sessions(device_id: str, reason: str) -> None:
        closed.append(device_id)

    service.on_revoke(close_sessions)
    full_disk(monkeypatch)
    with pytest.raises(StateDirError, match="'phone' is disconnected and refused, but the revocation is not saved"):
        await service.revoke_device("phone")
    assert closed == ["phone"]
    with pytest.raises(TokenRefused):  # refused now: the owner of a lost phone needs that first
        service.claim(tok.token, device_id="phone", device_name="Phone")
    assert service.revocation_unsaved("phone")
    monkeypatch.undo()
    assert await service.revoke_device("phone")  # asked again: saved this time
    assert not service.revocation_unsaved("phone")
    assert json.loads((tmp_path / "tokens.json").read_text())["tokens"] == []


async def test_a_new_code_the_disk_refuses_leaves_everything_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = PairingService(tmp_path / "tokens.json")
    old = service.issue("permanent", device_id="phone")
    service.claim(old.token, device_id="phone", device_name="Phone")
    service.mark_connected("phone", True)
    await service.persisted()
    memory = (service.tokens.all(), [d.to_json() for d in service.devices.all()], service.devices.events())
    current = service.current()
    full_disk(monkeypatch)
    for kind, device in (("permanent", "phone"), ("temp", "phone"), ("permanent", "laptop"), ("permanent", None)):
        with pytest.raises(StateDirError, match=r"could not save tokens\.json: No space left on device"):
            await service.issue_saved(kind, device)  # type: ignore[arg-type]
        assert (service.tokens.all(), [d.to_json() for d in service.devices.all()], service.devices.events()) == memory
        assert service.current() == current


def test_flush_gives_up_after_its_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    SlowDisk(monkeypatch, 0.5)
    writer = LatestWriter(tmp_path / "tokens.json")
    writer.submit(b"slow")
    with pytest.raises(TimeoutError, match="not written within"):
        writer.flush(timeout=0.05)
    writer.flush(timeout=10)


async def test_a_slow_disk_does_not_hold_the_event_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    disk = SlowDisk(monkeypatch, 0.3)
    service = PairingService(tmp_path / "tokens.json")
    tok = service.issue("permanent")
    service.claim(tok.token, device_id="phone", device_name="Phone")
    async with loop_ticks(0.01) as ticks:
        started = time.monotonic()
        service.mark_connected("phone", True)  # on the loop, as the transport calls it
        returned = time.monotonic() - started
        await service.persisted()
        waited = time.monotonic() - started
    assert returned < 0.1, returned  # the old synchronous write would have taken the whole 0.3 s here
    assert waited >= 0.3 and ticks.count >= 10, (waited, ticks)  # the loop went on ticking while the disk worked
    saved = json.loads((tmp_path / "tokens.json").read_text())
    assert [(d["device_id"], d["connected"]) for d in saved["devices"]] == [("phone", True)]
    assert len(disk.writes) <= 3  # issue, claim and connect, or fewer when they overtook each other


def test_an_exiting_interpreter_finishes_the_pending_write(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    code = (
        "import sys, time; from pathlib import Path; import contop.server.statedir as sd; real = sd.atomic_write\n"
        "def slow(path, data, mode=0o600):\n    time.sleep(0.3); real(path, data, mode=mode)\n"
        "sd.atomic_write = slow\n"
        "from contop.server.pairing_service import PairingService\n"
        "print(PairingService(Path(sys.argv[1])).issue('permanent').token)\n"
    )  # no flush, and a slow disk: the writer thread is not a daemon, so the exit waits for it
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert [t["token"] for t in json.loads(path.read_text())["tokens"]] == [out.stdout.strip()]


def test_codes_claims_and_revocations_survive_a_server_killed_right_after_answering(tmp_path: Path) -> None:
    home = tmp_path / "home"
    srv = ServerProcess(home).start()
    try:
        kept = srv.request("POST", "/api/pair", headers=JSON).json()["token"]
        assert passed_gate(signal_once(srv.port, kept, offer("phone-kept", "Kept")))
        revoked = srv.request("POST", "/api/pair", params={"device_id": "phone-gone"}, headers=JSON).json()["token"]
        assert srv.request("DELETE", "/api/pair", params={"device_id": "phone-gone"}).json() == {"revoked": True}
    finally:
        srv.stop(signal.SIGKILL)  # no shutdown: only what was written before each answer counts
    again = ServerProcess(home).start()
    try:
        assert passed_gate(signal_once(again.port, kept, offer("phone-kept", "Kept")))
        assert signal_once(again.port, kept, offer("intruder")).close_code == 4003  # the claim survived too
        assert signal_once(again.port, revoked, offer("phone-gone")).close_code == 4001
    finally:
        again.stop()
