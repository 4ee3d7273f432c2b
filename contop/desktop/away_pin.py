"""PIN checking for the Away Mode lock screen: bcrypt verification and the growing delay after wrong attempts.

Pure apart from bcrypt: the clock is passed in, so the limiter is tested without sleeping.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import bcrypt

UnlockedBy = Literal["pin", "emergency_pin"]

MAX_DIGITS = 12


@dataclass(frozen=True)
class PinHashes:
    pin_hash: str = ""
    emergency_pin_hash: str = ""

    @property
    def any(self) -> bool:
        return bool(self.pin_hash or self.emergency_pin_hash)


def load_hashes(path: Path) -> PinHashes:
    """Read the hashes from ``settings.json`` (its ``away_mode`` section) or from a bare ``{"pin_hash": …}`` file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a JSON object")
    section = data.get("away_mode", data)
    if not isinstance(section, dict):
        raise ValueError(f"{path}: away_mode is not an object")
    return PinHashes(str(section.get("pin_hash") or ""), str(section.get("emergency_pin_hash") or ""))


def _matches(entered: str, hashed: str) -> bool:
    if not hashed:
        return False
    try:
        return bcrypt.checkpw(entered.encode("ascii"), hashed.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return False  # a malformed hash in settings unlocks nothing


def check_pin(entered: str, hashes: PinHashes) -> UnlockedBy | None:
    """Which PIN ``entered`` is, if any. Both hashes are always checked so timing does not tell them apart."""
    if not entered.isdigit() or len(entered) > MAX_DIGITS:
        return None
    is_pin = _matches(entered, hashes.pin_hash)
    is_emergency = _matches(entered, hashes.emergency_pin_hash)
    if is_pin:
        return "pin"
    if is_emergency:
        return "emergency_pin"
    return None


@dataclass
class AttemptLimiter:
    """After ``free_attempts`` wrong PINs in a row, each further wrong PIN locks entry for a doubling delay."""

    free_attempts: int = 5
    base_delay: float = 30.0
    max_delay: float = 15 * 60.0
    failures: int = 0
    locked_until: float = 0.0

    def remaining(self, now: float) -> float:
        """Seconds until PIN entry is accepted again (0 when it is)."""
        return max(0.0, self.locked_until - now)

    def record_failure(self, now: float) -> float:
        """Count a wrong PIN; returns the lockout it starts (0 while attempts are still free)."""
        self.failures += 1
        delay = self.delay_for(self.failures)
        if delay:
            self.locked_until = now + delay
        return delay

    def delay_for(self, failures: int) -> float:
        """The lockout that the ``failures``-th wrong PIN in a row starts (0 while attempts are still free)."""
        if failures < self.free_attempts:
            return 0.0
        return min(self.max_delay, self.base_delay * 2 ** min(failures - self.free_attempts, 64))

    def attempts_before_delay(self) -> int:
        return max(0, self.free_attempts - self.failures)

    def reset(self) -> None:
        self.failures = 0
        self.locked_until = 0.0
