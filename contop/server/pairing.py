"""Pairing tokens: issue, claim by one device, replace on re-pair, revoke, expire. Pure logic over a clock."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from contop.core.clock import iso, parse_iso, utcnow
from contop.core.errors import PairingError

ConnectionType = Literal["permanent", "temp"]
CONNECTION_TYPES: tuple[ConnectionType, ...] = ("permanent", "temp")
TOKEN_TTL: dict[ConnectionType, timedelta] = {"permanent": timedelta(days=30), "temp": timedelta(hours=4)}
# An unclaimed permanent code is handed out again (the QR on screen stays the same) only while it is younger than
# this: the phone keeps the code's expiry from the QR, so a month-old code would pair a new phone for a few days.
REUSE_UNCLAIMED_FOR = timedelta(days=1)


# What a device id may be, wherever one arrives (the offer, the admin API): the admin API must be able to name
# every device the offer let in, to revoke it.
DEVICE_ID_PATTERN = r"^[A-Za-z0-9._:\-]{1,128}$"


class AuthFailure(StrEnum):
    """Why a token was refused; each maps to a signaling close code (CONTRACTS.md §5)."""

    INVALID = "invalid"  # 4001: unknown, expired or revoked
    CLAIMED = "claimed"  # 4003: claimed by another device


class TokenRefused(PairingError):
    def __init__(self, failure: AuthFailure, message: str) -> None:
        super().__init__(message)
        self.failure = failure


@dataclass(frozen=True, slots=True)
class PairingToken:
    token: str
    connection_type: ConnectionType
    created_at: datetime
    expires_at: datetime
    device_id: str | None = None  # None until a device claims it (or when issued for a known device)

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    def to_json(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "connection_type": self.connection_type,
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
            "device_id": self.device_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PairingToken:
        kind = data["connection_type"]
        if kind not in CONNECTION_TYPES:
            raise ValueError(f"unknown connection_type {kind!r}")
        token = data["token"]
        if not isinstance(token, str) or len(token) < 32:
            raise ValueError("token too short")
        device_id = data.get("device_id")
        if device_id is not None and not isinstance(device_id, str):
            raise ValueError("device_id must be a string")
        return cls(
            token=token,
            connection_type=kind,
            created_at=parse_iso(data["created_at"]),
            expires_at=parse_iso(data["expires_at"]),
            device_id=device_id,
        )


def new_token_value() -> str:
    """256 bits of randomness, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


class TokenStore:
    """All live tokens. Permanent ones are persisted by the caller (``permanent()``), temporary ones never."""

    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self._clock = clock
        self._tokens: dict[str, PairingToken] = {}

    def restore(self, tokens: Iterable[PairingToken]) -> int:
        """Load persisted permanent tokens, dropping expired ones; returns how many were kept."""
        now = self._clock()
        kept = 0
        for tok in tokens:
            if tok.connection_type == "permanent" and not tok.expired(now):
                self._tokens[tok.token] = tok
                kept += 1
        return kept

    def permanent(self) -> list[PairingToken]:
        self.purge_expired()
        return [t for t in self._tokens.values() if t.connection_type == "permanent"]

    def all(self) -> list[PairingToken]:
        self.purge_expired()
        return list(self._tokens.values())

    def secrets(self) -> list[str]:
        return list(self._tokens)

    def purge_expired(self) -> list[PairingToken]:
        now = self._clock()
        gone = [t for t in self._tokens.values() if t.expired(now)]
        for tok in gone:
            del self._tokens[tok.token]
        return gone

    def unclaimed(self, connection_type: ConnectionType) -> PairingToken | None:
        """The newest valid token of this type that no device holds yet (what the QR on screen shows)."""
        candidates = [t for t in self.all() if t.connection_type == connection_type and t.device_id is None]
        return max(candidates, key=lambda t: t.created_at, default=None)

    def for_device(self, device_id: str) -> PairingToken | None:
        held = [t for t in self.all() if t.device_id == device_id]
        return max(held, key=lambda t: t.created_at, default=None)

    def issue(self, connection_type: ConnectionType, device_id: str | None = None) -> PairingToken:
        """A new token. A permanent token for no particular device is handed out again while one is unclaimed and
        fresh (``REUSE_UNCLAIMED_FOR``); an older one stays valid until its own expiry (a QR already shown or
        printed still pairs), but the next QR shows a new one."""
        now = self._clock()
        if connection_type == "permanent" and device_id is None:
            current = self.unclaimed("permanent")
            if current is not None and now - current.created_at < REUSE_UNCLAIMED_FOR:
                return current
        tok = PairingToken(
            token=new_token_value(),
            connection_type=connection_type,
            created_at=now,
            expires_at=now + TOKEN_TTL[connection_type],
            device_id=device_id,
        )
        self._tokens[tok.token] = tok
        return tok

    def validate(self, token: str) -> PairingToken:
        tok = self._tokens.get(token) if token else None
        if tok is None:
            # An expired token is forgotten at once (and not restored at start), so it lands here too.
            raise TokenRefused(AuthFailure.INVALID, "unknown, expired or revoked pairing token; scan a new QR code")
        if tok.expired(self._clock()):
            del self._tokens[token]
            raise TokenRefused(AuthFailure.INVALID, "pairing token expired; scan a new QR code")
        return tok

    def claim(self, token: str, device_id: str) -> tuple[PairingToken, list[PairingToken]]:
        """Bind ``token`` to ``device_id`` (first device wins). Returns the token and the device's older tokens,
        which are revoked (the device paired again)."""
        tok = self.validate(token)
        if tok.device_id is not None and tok.device_id != device_id:
            raise TokenRefused(AuthFailure.CLAIMED, "this pairing token belongs to another device")
        if tok.device_id is None:
            tok = replace(tok, device_id=device_id)
            self._tokens[token] = tok
        replaced = [t for t in self._tokens.values() if t.device_id == device_id and t.token != token]
        for old in replaced:
            del self._tokens[old.token]
        return tok, replaced

    def make_temporary(self, token: str) -> PairingToken:
        """Downgrade a valid token to temporary, as its phone asked: it then ends 4 hours from now at the latest
        (never later than it would have) and, no longer permanent, is left out of what is persisted."""
        tok = self.validate(token)
        if tok.connection_type == "temp":
            return tok
        tok = replace(tok, connection_type="temp", expires_at=min(tok.expires_at, self._clock() + TOKEN_TTL["temp"]))
        self._tokens[token] = tok
        return tok

    def bind_new(self, tok: PairingToken) -> list[PairingToken]:
        """After ``issue(..., device_id=X)``: drop X's other tokens (a re-pair replaces the old token)."""
        replaced = [t for t in self._tokens.values() if t.device_id == tok.device_id and t.token != tok.token]
        for old in replaced:
            del self._tokens[old.token]
        return replaced

    def put_back(self, tokens: Iterable[PairingToken]) -> None:
        """Undo a replacement the disk refused to save: the tokens it dropped are valid again (unless expired)."""
        now = self._clock()
        for tok in tokens:
            if not tok.expired(now):
                self._tokens[tok.token] = tok

    def revoke_token(self, token: str) -> PairingToken | None:
        return self._tokens.pop(token, None)

    def revoke_device(self, device_id: str) -> list[PairingToken]:
        gone = [t for t in self._tokens.values() if t.device_id == device_id]
        for tok in gone:
            del self._tokens[tok.token]
        return gone
