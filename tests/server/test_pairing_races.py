"""Pairing changes that wait for a slow or full disk, overlapping: the undo of a refused one must not bring back
what another did meanwhile, and no QR may show a code that can still be undone. A real ``PairingService`` and its
writer thread; only ``atomic_write`` is held up (a disk that stalls) or refused (a full one)."""

from __future__ import annotations

import asyncio
import errno
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contop.core.errors import StateDirError
from contop.server import statedir
from contop.server.pairing import TokenRefused
from contop.server.pairing_service import PairingService


class Disk:
    """``atomic_write`` held until ``release()``; then it writes, or refuses with ENOSPC when ``full``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, full: bool) -> None:
        self.gate = threading.Event()
        real = statedir.atomic_write

        def write(path: Path, data: bytes, **kwargs: Any) -> None:
            self.gate.wait(10)
            if full:
                raise OSError(errno.ENOSPC, "No space left on device")
            real(path, data, **kwargs)

        monkeypatch.setattr(statedir, "atomic_write", write)

    def release(self) -> None:
        self.gate.set()


def short_first_wait(svc: PairingService) -> None:
    """The first change started long before the next (30 s in real life): its wait for the disk ends first."""
    real, calls = svc.persisted, []

    async def persisted(timeout: float = 30.0) -> None:
        calls.append(1)
        await real(0.3 if len(calls) == 1 else 10)

    svc.persisted = persisted  # type: ignore[method-assign]


@pytest.fixture
def paired(tmp_path: Path) -> Iterator[tuple[PairingService, str]]:
    svc = PairingService(tmp_path / "tokens.json")
    old = svc.issue("permanent")
    svc.claim(old.token, device_id="X", device_name="lost phone")
    asyncio.run(svc.persisted())
    yield svc, old.token


@pytest.mark.parametrize("full", [False, True], ids=["slow disk", "full disk"])
def test_a_refused_re_pair_does_not_undo_a_revocation_made_meanwhile(
    paired: tuple[PairingService, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, full: bool
) -> None:
    svc, old = paired
    disk = Disk(monkeypatch, full=full)
    short_first_wait(svc)

    async def scenario() -> None:
        repair = asyncio.create_task(svc.issue_saved("permanent", "X"))  # the owner pairs X again...
        await asyncio.sleep(0.05)
        revoke = asyncio.create_task(svc.revoke_device("X"))  # ...then finds it was stolen
        with pytest.raises(StateDirError):
            await repair
        disk.release()
        if full:
            with pytest.raises(StateDirError):
                await revoke
        else:
            assert await revoke

    asyncio.run(scenario())
    with pytest.raises(TokenRefused):
        svc.claim(old, device_id="X", device_name="lost phone")
    if not full:
        svc._writer.flush()
        on_disk = json.loads((tmp_path / "tokens.json").read_text())
        assert all(t["token"] != old for t in on_disk["tokens"])


def test_no_qr_shows_a_code_still_waiting_for_the_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = PairingService(tmp_path / "tokens.json")
    disk = Disk(monkeypatch, full=True)

    async def scenario() -> None:
        issuing = asyncio.create_task(svc.issue_saved("permanent"))
        await asyncio.sleep(0.05)
        assert svc.current() is None  # a phone scanning it now would pair with a code about to be undone
        disk.release()
        with pytest.raises(StateDirError):
            await issuing

    asyncio.run(scenario())
    assert svc.current() is None and not svc.tokens.all()


def test_a_code_handed_out_twice_survives_the_first_request_s_undo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = PairingService(tmp_path / "tokens.json")
    disk = Disk(monkeypatch, full=False)
    short_first_wait(svc)

    async def scenario() -> str:
        first = asyncio.create_task(svc.issue_saved("permanent"))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(svc.issue_saved("permanent"))
        with pytest.raises(StateDirError):
            await first
        disk.release()
        return (await second).token

    token = asyncio.run(scenario())
    svc._writer.flush()
    assert any(t["token"] == token for t in json.loads((tmp_path / "tokens.json").read_text())["tokens"])
    svc.claim(token, device_id="P", device_name="phone")  # the code the second request showed pairs a phone
