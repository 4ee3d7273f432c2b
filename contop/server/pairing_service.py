"""Pairing as the rest of the server sees it: tokens and devices together, persisted in ``tokens.json``."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from contop.core.clock import utcnow
from contop.core.errors import StateDirError
from contop.server import statedir
from contop.server.devices import ConnectionPath, Device, DeviceEventType, DeviceRegistry
from contop.server.pairing import ConnectionType, PairingToken, TokenStore
from contop.server.statedir import LatestWriter, not_saved

log = logging.getLogger(__name__)

RevokeHook = Callable[[str, str], Awaitable[None]]
FILE_VERSION = 1
PERSIST_TIMEOUT_S = 30.0  # what a route waits for the disk at most
CODES = ""  # in ``_unsaved_revocations``: codes no phone had claimed (no device id is empty)

Entry = TypeVar("Entry")


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
        # Device ids (and CODES) revoked in memory whose revocation the disk refused so far: saved again with the
        # next wait for the disk (``persisted``).
        self._unsaved_revocations: set[str] = set()
        # Changes that wait for the disk (a new code, a revocation) one at a time: the undo of one the disk refused
        # must not bring back what another did meanwhile (a revocation made while a re-pair was being saved).
        self._changing = asyncio.Lock()
        self._unsaved_code: str | None = None  # a new code waiting for the disk: no QR shows it yet

    # -- persistence -------------------------------------------------------------------------------------

    def load(self) -> int:
        """Restore permanent tokens and their devices. An entry that is not valid is dropped and the rest kept (with
        a copy of the file as it was); a file that is not valid as a whole is kept as a backup and we start empty.
        ``StateDirError`` when the file cannot be read at all: starting without the phones it holds would lose them.
        """
        try:
            raw = self._path.read_bytes()
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise StateDirError(_unreadable(self._path, exc)) from exc
        try:
            data = json.loads(raw)
            if not isinstance(data, dict) or not isinstance(data.get("tokens"), list):
                raise ValueError('no "tokens" list')
        except RecursionError:
            self._set_aside("nested too deeply")
            return 0
        except ValueError as exc:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
            self._set_aside(f"{type(exc).__name__}: {exc}")
            return 0
        tokens, bad_tokens = self._valid(data["tokens"], "pairing code", PairingToken.from_json)
        devices, bad_devices = self._valid(data.get("devices", []), "device", Device.from_json)
        dropped = bad_tokens + bad_devices
        if dropped:
            self._keep_copy(raw)
        kept = self.tokens.restore(tokens)
        holders = {t.device_id for t in self.tokens.permanent() if t.device_id}
        self.devices.restore([d for d in devices if d.device_id in holders])
        for tok in self.tokens.all():
            self._announce_secret(tok.token)
        if dropped or kept != len(tokens):
            self.save()
        return kept

    def _valid(self, entries: Any, kind: str, parse: Callable[[dict[str, Any]], Entry]) -> tuple[list[Entry], int]:
        """The entries that parse, and how many did not; each of those is logged (by position and device, never
        its token)."""
        if not isinstance(entries, list):
            log.error("pairing file %s: the %ss are not a list; dropped them", self._path, kind)
            return [], 1
        valid = []
        for number, entry in enumerate(entries, 1):
            try:
                valid.append(parse(entry))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                device = entry.get("device_id") if isinstance(entry, dict) else None
                problem = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
                log.error(
                    "pairing file %s: dropped %s #%d (device %s), which is not valid: %s",
                    self._path,
                    kind,
                    number,
                    repr(device)[:140] if isinstance(device, str) else "unknown",
                    problem[:200],
                )
        return valid, len(entries) - len(valid)

    def _keep_copy(self, raw: bytes) -> None:
        """The file as it was, beside the one rewritten without what was dropped: nothing is lost for good."""
        copy = self._corrupt_path()
        try:
            statedir.atomic_write(copy, raw)
        except OSError as exc:
            log.error("could not keep a copy of %s as %s: %s", self._path, copy, exc)
            return
        log.warning("kept %s as it was in %s; restored the valid entries", self._path, copy)

    def _set_aside(self, problem: str) -> None:
        backup = self._corrupt_path()
        try:
            os.replace(self._path, backup)
            os.chmod(backup, 0o600)  # pairing tokens: as secret as the file it was
        except OSError as exc:
            raise StateDirError(
                f"pairing file {self._path} is corrupt ({problem}) and could not be moved aside ({exc.strerror or exc})"
                f". Move it away by hand (the server then starts with no paired phones) and start again"
            ) from exc
        log.error(
            "pairing file %s is corrupt (%s); kept it as %s and started with no paired devices",
            self._path,
            problem,
            backup,
        )

    def _corrupt_path(self) -> Path:
        return self._path.with_name(f"{self._path.name}.corrupt-{self._clock().strftime('%Y%m%dT%H%M%S%fZ')}")

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
        """Wait until what has been saved so far is on disk (a revocation the disk refused before is saved again
        first); raises ``OSError`` when that write failed and ``TimeoutError`` when the disk has not answered in
        ``timeout`` seconds."""
        retried = set(self._unsaved_revocations)
        if retried:
            self.save()
        await self._writer.wait(None, timeout)
        self._unsaved_revocations -= retried

    def revocation_unsaved(self, device_id: str) -> bool:
        """Whether ``device_id`` was revoked but the disk refused to save it: a restart would pair it again."""
        return device_id in self._unsaved_revocations

    # -- hooks -------------------------------------------------------------------------------------------

    def on_revoke(self, hook: RevokeHook) -> None:
        """``hook(device_id, reason)`` runs when a device loses its pairing (revoke, replacement or expiry); it closes
        sessions, saying ``reason`` to the phone."""
        self._revoke_hooks.append(hook)

    def on_new_secret(self, listener: Callable[[str], None]) -> None:
        """Told every token value as it is created, so log redaction can hide it."""
        self._secret_listeners.append(listener)

    def _announce_secret(self, token: str) -> None:
        for listener in self._secret_listeners:
            listener(token)

    # -- operations --------------------------------------------------------------------------------------

    def issue(self, connection_type: ConnectionType, device_id: str | None = None) -> PairingToken:
        """A new code, saved in the background (``issue_saved`` waits for the disk)."""
        tok, replaced = self._issue(connection_type, device_id)
        self._record_replaced(device_id, replaced)
        if connection_type == "permanent" or replaced:
            self.save()
        return tok

    async def issue_saved(
        self, connection_type: ConnectionType, device_id: str | None = None, *, new: bool = False
    ) -> PairingToken:
        """``issue``, with what a restart must find on disk before it returns: a permanent code, and the end of the
        codes a device paired again held. When the disk refuses, nothing changed (a device keeps its old code)
        and ``StateDirError`` says why.

        ``new``: the unclaimed codes of this type are revoked first, so a permanent code is a new one rather than
        the one handed out again (a code that was seen or photographed can be replaced); paired phones keep theirs.
        """
        async with self._changing:
            undo, known = self._undo_issue(device_id)
            dropped = self._drop_unclaimed(connection_type) if new and device_id is None else []
            tok, replaced = self._issue(connection_type, device_id, show=False)
            if (connection_type == "permanent" and tok.token not in known) or replaced or dropped:
                self.save()
                self._unsaved_code = tok.token if tok.token not in known else None
                try:
                    await self.persisted()
                except OSError as exc:  # TimeoutError included
                    undo(tok, [*replaced, *dropped])
                    kept = f" ({device_id!r} keeps the code it had)" if replaced else ""
                    raise StateDirError(f"no new pairing code{kept}: {not_saved(self._path, exc)}") from exc
                finally:
                    self._unsaved_code = None
            self._last_issued = tok.token  # only now the QR may show it: before, it could still be undone
            self._record_replaced(device_id, replaced)
            return tok

    def _drop_unclaimed(self, connection_type: ConnectionType) -> list[PairingToken]:
        gone = [t for t in self.tokens.all() if t.connection_type == connection_type and t.device_id is None]
        for tok in gone:
            self.tokens.revoke_token(tok.token)
        return gone

    def _undo_issue(self, device_id: str | None) -> tuple[Callable[[PairingToken, list[PairingToken]], None], set[str]]:
        """What ``_issue(..., device_id)`` is about to change: a function that puts it back, and the codes that
        exist already (an unclaimed permanent code is handed out again, not created)."""
        known = set(self.tokens.secrets())
        last = self._last_issued
        device = self.devices.get(device_id) if device_id is not None else None
        before = dataclasses.replace(device) if device is not None else None

        def undo(tok: PairingToken, replaced: list[PairingToken]) -> None:
            if tok.token not in known:
                self.tokens.revoke_token(tok.token)
            self.tokens.put_back(replaced)
            live = self.devices.get(device_id) if device_id is not None else None
            if before is None and live is not None:
                self.devices.remove(live.device_id)
            elif before is not None and live is not None:  # only what ``upsert`` changed: it may have connected since
                live.device_name, live.connection_type, live.expires_at = (
                    before.device_name,
                    before.connection_type,
                    before.expires_at,
                )
            self._last_issued = last
            self.save()  # a write that only timed out may land yet: the one after it matches memory again

        return undo, known

    def _issue(
        self, connection_type: ConnectionType, device_id: str | None, *, show: bool = True
    ) -> tuple[PairingToken, list[PairingToken]]:
        tok = self.tokens.issue(connection_type, device_id)
        self._announce_secret(tok.token)
        if show:
            self._last_issued = tok.token
        if device_id is None:
            return tok, []
        replaced = self.tokens.bind_new(tok)
        # The name stays what the phone last reported (a new device is named by its id until it connects).
        self.devices.upsert(device_id, device_name="", connection_type=connection_type, expires_at=tok.expires_at)
        return tok, replaced

    def _record_replaced(self, device_id: str | None, replaced: list[PairingToken]) -> None:
        device = self.devices.get(device_id) if device_id is not None else None
        if replaced and device is not None:
            self.devices.record(DeviceEventType.TOKEN_REPLACED, device, "a new pairing code was issued")

    def claim(
        self,
        token: str,
        *,
        device_id: str,
        device_name: str,
        connection_type: ConnectionType | None = None,
    ) -> tuple[PairingToken, Device]:
        """First device to present ``token`` owns it; raises ``TokenRefused`` otherwise. The device counts as paired
        from the moment it claims a code no device held (not from when the code was made: a QR can wait for days).

        ``connection_type='temp'`` downgrades a permanent token to temporary (never the reverse): it ends 4 hours
        from now at the latest and leaves ``tokens.json``, so a restart forgets it, as any temporary pairing.
        """
        first = self.tokens.validate(token).device_id is None
        tok, replaced = self.tokens.claim(token, device_id)
        downgraded = connection_type == "temp" and tok.connection_type == "permanent"
        if downgraded:
            tok = self.tokens.make_temporary(token)
        device = self.devices.upsert(
            device_id,
            device_name=device_name,
            connection_type=tok.connection_type,
            expires_at=tok.expires_at,
            paired_at=self._clock() if first else None,
        )
        if replaced:
            self.devices.record(DeviceEventType.TOKEN_REPLACED, device, "paired again with a new code")
        if tok.connection_type == "permanent" or replaced or downgraded:
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
        """Revoke the codes of ``device_id`` and disconnect it; False when it is not paired. Asking again for a
        device whose revocation the disk refused saves it again. ``StateDirError`` when the disk refuses."""
        dropped = False
        try:
            async with self._changing:
                found = self._drop_device(device_id)
                if not found and device_id not in self._unsaved_revocations:
                    return False
                dropped = True
                await self._save_revocation(
                    {device_id}, f"device {device_id!r} is disconnected and refused", "let it connect again"
                )
        finally:
            if dropped:
                await self._run_revoke_hooks(device_id)  # its sessions close even when the disk refused the write
        return True

    async def revoke_current(self) -> bool:
        """Revoke the code of the QR issued last (claimed: its phone too) and every earlier code nobody has used:
        a code the API reports as gone must not still pair a phone. ``StateDirError`` when the disk refuses."""
        holder: str | None = None
        try:
            async with self._changing:
                tok = self.current()
                holder = tok.device_id if tok is not None else None
                revoked: set[str] = set()
                if holder is not None and self._drop_device(holder):
                    revoked.add(holder)
                unclaimed = [t.token for t in self.tokens.all() if t.device_id is None]
                for token in unclaimed:
                    self.tokens.revoke_token(token)
                if unclaimed or CODES in self._unsaved_revocations:
                    revoked.add(CODES)
                if not revoked:
                    return False
                await self._save_revocation(revoked, "the pairing codes are refused", "make them valid again")
        finally:
            if holder is not None:
                await self._run_revoke_hooks(holder)
        return True

    def _drop_device(self, device_id: str) -> bool:
        gone = self.tokens.revoke_device(device_id)
        device = self.devices.remove(device_id)
        if device is not None:
            self.devices.record(DeviceEventType.REVOKED, device)
        return bool(gone) or device is not None

    async def _save_revocation(self, revoked: set[str], done: str, undone: str) -> None:
        """Put revocations on disk. One the disk refuses is not undone: the phone is refused and disconnected now,
        which is what the owner of a lost phone needs first; the error says plainly that it is not saved and that
        a restart would bring the phone back. Every later save of the file carries it, and asking again (or the
        server's stop) retries it."""
        self._unsaved_revocations |= revoked
        try:
            await self.persisted()
        except OSError as exc:  # TimeoutError included
            raise StateDirError(
                f"{done}, but the revocation is not saved: {not_saved(self._path, exc)}. Until it is saved, a "
                f"restart of the server would {undone}"
            ) from exc

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
            await self._run_revoke_hooks(device.device_id, "pairing code expired")
        return [device.device_id for device in ended]

    async def _run_revoke_hooks(self, device_id: str, reason: str = "pairing revoked") -> None:
        for hook in list(self._revoke_hooks):
            try:
                await hook(device_id, reason)
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
        unclaimed = [t for t in tokens if t.device_id is None and t.token != self._unsaved_code]
        return max(unclaimed, key=lambda t: t.created_at, default=None)

    def _current_qr_token(self) -> PairingToken | None:
        return self.current()


def _unreadable(path: Path, exc: OSError) -> str:
    if path.is_dir():
        problem = "it is a folder, but it must be a file. Move it away"
    elif isinstance(exc, PermissionError):
        problem = "permission denied. Make it readable and writable by the user that runs contop"
    else:
        problem = f"{exc.strerror or exc}. Repair or move it away"
    return (
        f"cannot read the pairing file {path}: {problem} (without it the server starts with no paired phones), "
        "then start again"
    )
