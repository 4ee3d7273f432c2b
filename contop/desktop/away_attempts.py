"""The lock screen's wrong-PIN count and the end of its lockout, kept by the overlay in a small file (0600) of its own.

The overlay writes it on every wrong PIN, so that neither a restarted overlay nor a server that was down while the
PINs were typed gives whoever is at the desk fresh attempts. Pure apart from the file: the clocks are passed in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from contop.desktop.away_pin import AttemptLimiter
from contop.server.statedir import atomic_write

ATTEMPTS_FILE = "away-attempts.json"  # in the server's state directory, next to away-overlay.json


@dataclass(frozen=True)
class Attempts:
    failures: int = 0
    locked_until: float = 0.0  # wall clock (time.time()): the monotonic clock of one process means nothing to the next

    def dumps(self) -> bytes:
        return json.dumps({"failed_attempts": self.failures, "locked_until": self.locked_until}).encode()

    @classmethod
    def loads(cls, data: bytes) -> Attempts | None:
        """The attempts in ``data``, or None when it is not such a file (torn, foreign)."""
        try:
            raw = json.loads(data)
            failures, locked_until = int(raw["failed_attempts"]), float(raw["locked_until"])
        except (ValueError, KeyError, TypeError):
            return None
        if failures < 0 or locked_until != locked_until:  # NaN
            return None
        return cls(failures, locked_until)


def read_attempts(path: Path) -> Attempts | None:
    """The attempts saved at ``path``; None when there is no such file or it cannot be read."""
    try:
        return Attempts.loads(path.read_bytes())
    except OSError:
        return None


def write_attempts(path: Path, attempts: Attempts) -> None:
    """Replace the file at once, 0600 (``atomic_write``): a reader sees the old count or the new."""
    atomic_write(path, attempts.dumps())


def saved_state(limiter: AttemptLimiter, now_mono: float, now_wall: float) -> Attempts:
    """What to write for ``limiter`` now."""
    remaining = limiter.remaining(now_mono)
    return Attempts(limiter.failures, now_wall + remaining if remaining else 0.0)


def restore(
    limiter: AttemptLimiter, saved: Attempts | None, *, failed_attempts: int, now_mono: float, now_wall: float
) -> None:
    """Bring ``limiter`` up to all that is known: the largest count, and the latest end of a lockout.

    ``failed_attempts`` is the server's count. A count known without the end of its lockout (no file) starts that
    lockout afresh; a saved end is trusted for at most the lockout its count gives (a clock set back must not lock
    the desk for longer).
    """
    saved = saved or Attempts()
    count = max(limiter.failures, failed_attempts, saved.failures)
    if saved.failures == count:
        remaining = min(max(0.0, saved.locked_until - now_wall), limiter.delay_for(count))
    elif count > limiter.failures:
        remaining = limiter.delay_for(count)
    else:
        remaining = 0.0
    limiter.failures = count
    limiter.locked_until = max(limiter.locked_until, now_mono + remaining)
