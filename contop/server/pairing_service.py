"""Pairing as the rest of the server sees it: tokens and devices together, persisted in ``tokens.json``."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from contop.core.clock import utcnow
from contop.server.devices import ConnectionPath, Device, DeviceEventType, DeviceRegistry
from contop.server.pairing import ConnectionType, PairingToken, TokenStore
from contop.server.statedir import LatestWriter

log = logging.getLogger(__name__)

RevokeHook = Callable[[str], Awaitable[None]]
FILE_VERSION = 1
PERSIST_TIMEOUT_S = 30.0  # what a route waits for the disk at most


class PairingService:
    def __init__(self, tokens_path: Path, clock: Callable[[], datetime] = utcnow) -> None:
        self._path = tokens_path
        self._clock = clock
        self.tokens = TokenStore(clock)
        self.devices = DeviceRegistry(clock)
        self._revoke_hooks: list[RevokeHook] = []
        self._secret_listeners: list[Callable[[str], None]] = []
        self._last_issued: str | None = None
        self._writer = LatestWriter(tokens_path)

    # -- persistence -------------------------------------------------------------------------------------

    def load(self) -> int:
        """Restore permanent tokens and their devices. A corrupt file is kept as a backup and we start empty."""
        try:
            raw = self._path.read_bytes()
        except FileNotFoundError:
            return 0
        try:
            data = json.loads(raw)
            tokens = [PairingToken.from_json(t) for t in data["tokens"]]
            devices = [Device.from_json(d) for d in data.get("devices", [])]
        except (ValueError, KeyError, TypeError) as exc:
            backup = self._path.with_name(f"{self._path.name}.corrupt-{self._clock().strftime('%Y%m%dT%H%M%S%fZ')}")
            os.replace(self._path, backup)
            os.chmod(backup, 0o600)  # pairing tokens: as secret as the file it was
            log.error(
                "pairing file %s is corrupt (%s: %s); kept it as %s and started with no paired devices",
                self._path,
                type(exc).__name__,
                exc,
                backup,
            )
            return 0
        kept = self.tokens.restore(tokens)
        holders = {t.device_id for t in self.tokens.permanent() if t.device_id}
        self.devices.restore([d for d in devices if d.device_id in holders])
        for tok in self.tokens.all():
            self._announce_secret(tok.token)
        if kept != len(tokens):
            self.save()
        return kept

    def save(self) -> None:
        """Hand the current tokens and devices to the file's writer thread: the loop does not wait for the disk.
        What must be on disk before the caller goes on (a permanent code, a claim, a revocation) then awaits
        ``persisted``."""
        permanent = self.tokens.permanent()
        holders = {t.device_id for t in permanent if t.device_id}
        data = {
            "version": FILE_VERSION,
            "tokens": [t.to_json() for t in permanent],
            "devices": [d.to_json() for d in self.devices.all() if d.device_id in holders],
        }
        self._writer.submit((json.dumps(data, indent=2) + "\n").encode("utf-8"))

    async def persisted(self, timeout: float = PERSIST_TIMEOUT_S) -> None:  # noqa: ASYNC109 (a disk, not a peer)
        """Wait until what has been saved so far is on disk; raises ``OSError`` when that write failed and
        ``TimeoutError`` when the disk has not answered in ``timeout`` seconds."""
        await self._writer.wait(None, timeout)

    # -- hooks -------------------------------------------------------------------------------------------

    def on_revoke(self, hook: RevokeHook) -> None:
        """``hook(device_id)`` runs when a device loses its pairing (revoke or replacement); it closes sessions."""
        self._revoke_hooks.append(hook)

    def on_new_secret(self, listener: Callable[[str], None]) -> None:
        """Told every token value as it is created, so log redaction can hide it."""
        self._secret_listeners.append(listener)

    def _announce_secret(self, token: str) -> None:
        for listener in self._secret_listeners:
            listener(token)

    # -- operations --------------------------------------------------------------------------------------

    def issue(self, connection_type: ConnectionType, device_id: str | None = None) -> PairingToken:
        tok = self.tokens.issue(connection_type, device_id)
        self._announce_secret(tok.token)
        self._last_issued = tok.token
        if device_id is not None:
            replaced = self.tokens.bind_new(tok)
            # The name stays what the phone last reported (a new device is named by its id until it connects).
            device = self.devices.upsert(
                device_id, device_name="", connection_type=connection_type, expires_at=tok.expires_at
            )
            if replaced:
                self.devices.record(DeviceEventType.TOKEN_REPLACED, device, "a new pairing code was issued")
        if connection_type == "permanent":
            self.save()
        return tok

    def claim(
        self,
        token: str,
        *,
        device_id: str,
        device_name: str,
        connection_type: ConnectionType | None = None,
    ) -> tuple[PairingToken, Device]:
        """First device to present ``token`` owns it; raises ``TokenRefused`` otherwise.

        ``connection_type='temp'`` downgrades a permanent token's session to temporary (never the reverse).
        """
        tok, replaced = self.tokens.claim(token, device_id)
        kind: ConnectionType = "temp" if connection_type == "temp" else tok.connection_type
        known = self.devices.get(device_id)
        device = self.devices.upsert(
            device_id,
            device_name=device_name,
            connection_type=kind,
            expires_at=tok.expires_at,
            paired_at=None if known else tok.created_at,
        )
        if replaced:
            self.devices.record(DeviceEventType.TOKEN_REPLACED, device, "paired again with a new code")
        if tok.connection_type == "permanent" or replaced:
            self.save()
        return tok, device

    def mark_connected(self, device_id: str, connected: bool, path: ConnectionPath | None = None) -> None:
        device = self.devices.set_connected(device_id, connected, path)
        if device is not None and device.connection_type == "permanent":
            self.save()

    def seen(self, device_id: str) -> None:
        """Activity of a connected phone: kept in memory only (a pointer stream must not rewrite tokens.json); the
        save of its disconnect, at the latest, puts it on disk."""
        self.devices.seen(device_id)

    async def revoke_device(self, device_id: str) -> bool:
        gone = self.tokens.revoke_device(device_id)
        device = self.devices.remove(device_id)
        if not gone and device is None:
            return False
        if device is not None:
            self.devices.record(DeviceEventType.REVOKED, device)
        self.save()
        try:
            await self.persisted()  # a revoked token must not come back with a restart
        finally:
            await self._run_revoke_hooks(device_id)  # its sessions close even when the disk refused the write
        return True

    async def revoke_token(self, token: str) -> bool:
        tok = self.tokens.revoke_token(token)
        if tok is None:
            return False
        if tok.device_id is not None:
            await self.revoke_device(tok.device_id)
        else:
            self.save()
            await self.persisted()
        return True

    async def expire(self) -> list[str]:
        """Drop the codes that ran out; a phone still connected with one is disconnected, as a revoked one is (a
        4-hour guest code ends the guest's session). Returns those devices."""
        gone = self.tokens.purge_expired()
        # Judged from the state, not from what this purge dropped: any read of the tokens (the devices list, a
        # status) purges expired ones too, between two checks.
        ended = [d for d in self.devices.all() if d.connected and self.tokens.for_device(d.device_id) is None]
        for device in ended:
            self.devices.record(DeviceEventType.EXPIRED, device, "its pairing code expired")
        if gone or ended:
            self.save()
        for device in ended:
            await self._run_revoke_hooks(device.device_id)
        return [device.device_id for device in ended]

    async def _run_revoke_hooks(self, device_id: str) -> None:
        for hook in list(self._revoke_hooks):
            try:
                await hook(device_id)
            except Exception:
                log.exception("closing the sessions of a revoked device failed")

    def list_devices(self) -> list[Device]:
        """Paired devices; a device whose token expired while it was offline is dropped."""
        valid = {t.device_id for t in self.tokens.all() if t.device_id}
        stale = [d for d in self.devices.all() if d.device_id not in valid and not d.connected]
        for device in stale:
            self.devices.remove(device.device_id)
        if stale:
            self.save()
        return self.devices.all()

    def status(self, device_id: str | None = None) -> dict[str, Any]:
        tok = self.tokens.for_device(device_id) if device_id else self._current_qr_token()
        if tok is None:
            return {"status": "none", "expires_at": None, "connection_type": None, "claimed": False}
        return {
            "status": "active",
            "expires_at": tok.to_json()["expires_at"],
            "connection_type": tok.connection_type,
            "claimed": tok.device_id is not None,
            "device_id": tok.device_id,
        }

    def current(self) -> PairingToken | None:
        """The token of the QR code issued last, while it is still valid (claimed or not); after a restart, the
        newest code no phone has claimed yet."""
        tokens = self.tokens.all()
        if self._last_issued is not None:
            last = next((t for t in tokens if t.token == self._last_issued), None)
            if last is not None:
                return last
        unclaimed = [t for t in tokens if t.device_id is None]
        return max(unclaimed, key=lambda t: t.created_at, default=None)

    async def revoke_unclaimed(self) -> int:
        """Revoke every code no phone has claimed (earlier QR codes shown, or printed by ``contop pair``)."""
        unclaimed = [t.token for t in self.tokens.all() if t.device_id is None]
        for token in unclaimed:
            self.tokens.revoke_token(token)
        if unclaimed:
            self.save()
            await self.persisted()
        return len(unclaimed)

    def _current_qr_token(self) -> PairingToken | None:
        return self.current()
