"""Rate limit of failed signaling authentications per client address (CONTRACTS.md §4)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

SHORT_WINDOW = 60.0
SHORT_LIMIT = 6  # failures within a minute → refused for a minute
SHORT_BAN = 60.0
LONG_WINDOW = 3600.0
LONG_LIMIT = 30  # failures within an hour → locked out for an hour
LONG_BAN = 3600.0
MAX_TRACKED = 10_000


@dataclass
class _Record:
    failures: deque[float] = field(default_factory=deque)
    banned_until: float = 0.0


class AuthRateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._records: dict[str, _Record] = {}

    def retry_after(self, address: str) -> float:
        """Seconds this address must wait before trying again; 0 when it may try now."""
        record = self._records.get(address)
        if record is None:
            return 0.0
        return max(0.0, record.banned_until - self._clock())

    def record_failure(self, address: str) -> None:
        now = self._clock()
        record = self._records.get(address)
        if record is None:
            if len(self._records) >= MAX_TRACKED:
                self._evict(now)
            record = self._records[address] = _Record()
        record.failures.append(now)
        while record.failures and record.failures[0] <= now - LONG_WINDOW:
            record.failures.popleft()
        recent = sum(1 for t in record.failures if t > now - SHORT_WINDOW)
        if len(record.failures) >= LONG_LIMIT:
            record.banned_until = max(record.banned_until, now + LONG_BAN)
        elif recent >= SHORT_LIMIT:
            record.banned_until = max(record.banned_until, now + SHORT_BAN)

    def _evict(self, now: float) -> None:
        for address in [a for a, r in self._records.items() if r.banned_until <= now]:
            del self._records[address]
