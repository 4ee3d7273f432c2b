"""The lock screen's pure parts: PIN checking, the attempt limiter, the hash file, the pictures."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import bcrypt
import pytest

from contop.desktop.away_attempts import Attempts, read_attempts, restore, saved_state, write_attempts
from contop.desktop.away_pin import AttemptLimiter, PinHashes, check_pin, load_hashes
from contop.desktop.away_render import LockRenderer, view_at
from contop.desktop.overlay import distinct_monitors


@pytest.fixture(scope="module")
def hashes() -> PinHashes:
    return PinHashes(
        bcrypt.hashpw(b"1234", bcrypt.gensalt(10)).decode(), bcrypt.hashpw(b"987654", bcrypt.gensalt(10)).decode()
    )


def test_check_pin_tells_which_pin(hashes: PinHashes) -> None:
    assert check_pin("1234", hashes) == "pin"
    assert check_pin("987654", hashes) == "emergency_pin"
    assert check_pin("12345", hashes) is None
    assert check_pin("", hashes) is None
    assert check_pin("12a4", hashes) is None


def test_malformed_hash_unlocks_nothing() -> None:
    assert check_pin("1234", PinHashes("not-a-bcrypt-hash", "")) is None


def test_limiter_free_attempts_then_doubling_delay() -> None:
    limiter = AttemptLimiter(free_attempts=5, base_delay=30.0, max_delay=100.0)
    delays = [limiter.record_failure(now=0.0) for _ in range(8)]
    assert delays == [0, 0, 0, 0, 30, 60, 100, 100]
    assert limiter.remaining(now=40.0) == 60.0
    assert limiter.remaining(now=200.0) == 0.0
    limiter.reset()
    assert limiter.attempts_before_delay() == 5


def test_a_saved_lockout_ends_when_it_would_have_ended() -> None:
    limiter = AttemptLimiter(free_attempts=5, base_delay=30.0)
    # 5 wrong PINs, the lockout ending 12 s from now (wall clock 1000): a new process, its own monotonic clock.
    restore(limiter, Attempts(5, 1012.0), failed_attempts=0, now_mono=50.0, now_wall=1000.0)
    assert limiter.failures == 5 and limiter.remaining(50.0) == 12.0
    assert saved_state(limiter, 50.0, 1000.0) == Attempts(5, 1012.0)
    # Over already: the count stays, the lockout does not come back.
    fresh = AttemptLimiter(free_attempts=5, base_delay=30.0)
    restore(fresh, Attempts(5, 990.0), failed_attempts=5, now_mono=50.0, now_wall=1000.0)
    assert fresh.failures == 5 and fresh.remaining(50.0) == 0.0
    assert saved_state(fresh, 50.0, 1000.0) == Attempts(5, 0.0)


def test_restore_takes_the_most_that_is_known() -> None:
    limiter = AttemptLimiter(free_attempts=5, base_delay=30.0)
    # The server knows of 6, the file of none: the lockout of the 6th (60 s) starts afresh.
    restore(limiter, None, failed_attempts=6, now_mono=0.0, now_wall=1000.0)
    assert limiter.failures == 6 and limiter.remaining(0.0) == 60.0
    # A file with fewer, read later, takes nothing away.
    restore(limiter, Attempts(3, 0.0), failed_attempts=0, now_mono=10.0, now_wall=1010.0)
    assert limiter.failures == 6 and limiter.remaining(10.0) == 50.0
    # A clock set back an hour does not lock the desk for an hour: at most the lockout the count gives.
    clocked = AttemptLimiter(free_attempts=5, base_delay=30.0)
    restore(clocked, Attempts(5, 1000.0 + 3600), failed_attempts=0, now_mono=0.0, now_wall=1000.0)
    assert clocked.remaining(0.0) == 30.0
    assert AttemptLimiter().delay_for(10**6) == AttemptLimiter().max_delay  # no overflow on a silly count


def test_attempts_file_is_private_and_torn_files_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "away-attempts.json"
    assert read_attempts(path) is None
    write_attempts(path, Attempts(4, 1234.5))
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_attempts(path) == Attempts(4, 1234.5)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind
    for garbage in (b"", b"{", b"[]", b'{"failed_attempts": -1, "locked_until": 0}', b'{"failed_attempts": 2}'):
        path.write_bytes(garbage)
        assert read_attempts(path) is None


def test_load_hashes_from_settings_or_bare_file(tmp_path: Path) -> None:
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"version": 1, "away_mode": {"pin_hash": "a", "emergency_pin_hash": "b"}}))
    assert load_hashes(settings) == PinHashes("a", "b")
    bare = tmp_path / "hashes.json"
    bare.write_text(json.dumps({"pin_hash": "c"}))
    assert load_hashes(bare) == PinHashes("c", "")
    bare.write_text("[]")
    with pytest.raises(ValueError):
        load_hashes(bare)


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (1280, 800), (3840, 2160)])
def test_panel_fits_the_monitor(width: int, height: int) -> None:
    renderer = LockRenderer(width, height)
    assert renderer.background().size == (width, height)
    x, y, w, h = renderer.panel_box
    assert 0 <= x and x + w <= width and 0 <= y and y + h <= height
    first = renderer.panel(view_at(datetime(2026, 11, 21, 21, 4), digits=0))
    typed = renderer.panel(view_at(datetime(2026, 11, 21, 21, 4), digits=4, message="Wrong PIN", tone="error"))
    assert first.size == typed.size == (w, h)
    assert first.tobytes() != typed.tobytes()


def test_distinct_monitors() -> None:
    screen, left, right = (0, 0, 1920, 1080), (0, 0, 1280, 1080), (1280, 0, 640, 1080)
    assert distinct_monitors([screen, left, right]) == [left, right]
    assert distinct_monitors([left, left]) == [left]  # mirrored
    assert distinct_monitors([screen]) == [screen]
