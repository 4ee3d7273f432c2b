"""The lock screen's pure parts: PIN checking, the attempt limiter, the hash file, the pictures."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import bcrypt
import pytest

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
