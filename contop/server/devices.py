"""The device registry: paired phones, their connection state and a bounded list of device events."""

from __future__ import annotations

import json
import re
import unicodedata
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from contop.core.clock import iso, parse_iso, utcnow
from contop.server.pairing import ConnectionType

MAX_EVENTS = 500
_NUMBERED = re.compile(r" \(\d+\)$")  # the " (2)" that tells apart devices of one name


class DeviceEventType(StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    REVOKED = "revoked"
    TOKEN_REPLACED = "token_replaced"  # noqa: S105 (an event name, not a secret)
    EXPIRED = "expired"  # its pairing code ran out (a 4-hour guest code, or 30 days unused)


class ConnectionPath(StrEnum):
    LAN = "LAN"
    TAILSCALE = "Tailscale"
    TUNNEL = "Tunnel"
    LOOPBACK = "loopback"


@dataclass(slots=True)
class Device:
    device_id: str
    device_name: str
    connection_type: ConnectionType
    paired_at: datetime
    expires_at: datetime
    connected: bool = False
    connection_path: ConnectionPath | None = None
    last_location: dict[str, Any] | None = None
    last_seen: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "device_id": self.device_id,
            "device_name": self.device_name,
            "connection_type": self.connection_type,
            "connected": self.connected,
            "connection_path": self.connection_path.value if self.connection_path else None,
            "last_location": self.last_location,
            "last_seen": iso(self.last_seen) if self.last_seen else None,
            "paired_at": iso(self.paired_at),
            "expires_at": iso(self.expires_at),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Device:
        path = data.get("connection_path")
        location = data.get("last_location")
        return cls(
            device_id=str(data["device_id"]),
            device_name=shown_name(data.get("device_name")) or str(data["device_id"]),
            connection_type=data["connection_type"],
            paired_at=parse_iso(data["paired_at"]),
            expires_at=parse_iso(data["expires_at"]),
            connected=False,  # nothing is connected right after a restart
            connection_path=ConnectionPath(path) if path else None,
            last_location=location if isinstance(location, dict) else None,
            last_seen=parse_iso(data["last_seen"]) if data.get("last_seen") else None,
        )


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    type: DeviceEventType
    device_id: str
    device_name: str
    timestamp: datetime = field(default_factory=utcnow)
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["type"] = self.type.value
        data["timestamp"] = iso(self.timestamp)
        return data


MAX_NAME = 128
_ZWJ = "\u200d"  # joins emoji into one (a family): kept; every other format character goes


def shown_name(name: object) -> str:
    """A device's name as it may be shown anywhere (a terminal, the desktop app, another phone): what it sent,
    with control characters (escape sequences, line breaks) made spaces, format characters (bidi overrides,
    zero-width spaces) and lone surrogates dropped, white space runs made one space, at most ``MAX_NAME``
    characters; "" when nothing visible is left, and the caller then names the device by its id."""
    if not isinstance(name, str):
        return ""
    out = []
    for ch in name:
        kind = unicodedata.category(ch)
        if (kind == "Cf" and ch != _ZWJ) or kind == "Cs":  # a lone surrogate cannot even be sent as UTF-8
            continue
        out.append(" " if kind in ("Cc", "Zl", "Zp") or ch.isspace() else ch)
    text = " ".join("".join(out).split())[:MAX_NAME].strip()
    return text if text.replace(_ZWJ, "") else ""


MAX_LOCATION_BYTES = 1024
MAX_LOCATION_KEYS = 16


def _fits_location(location: object) -> bool:
    if not isinstance(location, dict) or len(location) > MAX_LOCATION_KEYS:
        return False
    if not all(isinstance(v, str | int | float | bool) or v is None for v in location.values()):
        return False
    return len(json.dumps(location, ensure_ascii=False).encode()) <= MAX_LOCATION_BYTES


def _numbered(name: str, n: int) -> str:
    """``name (n)``, the name cut so that the number fits in ``MAX_NAME`` (restored from disk, a longer one would
    lose its number)."""
    suffix = f" ({n})"
    return name[: MAX_NAME - len(suffix)].rstrip() + suffix


class DeviceRegistry:
    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self._clock = clock
        self._devices: dict[str, Device] = {}
        self._events: deque[DeviceEvent] = deque(maxlen=MAX_EVENTS)

    def restore(self, devices: list[Device]) -> None:
        for device in devices:
            self._devices[device.device_id] = device

    def get(self, device_id: str) -> Device | None:
        return self._devices.get(device_id)

    def all(self) -> list[Device]:
        return sorted(self._devices.values(), key=lambda d: d.paired_at)

    def upsert(
        self,
        device_id: str,
        *,
        device_name: str,
        connection_type: ConnectionType,
        expires_at: datetime,
        paired_at: datetime | None = None,
    ) -> Device:
        device = self._devices.get(device_id)
        device_name = shown_name(device_name)
        if device_name:
            device_name = self._distinct(device_id, device_name, device.device_name if device else None)
        if device is None:
            device = Device(
                device_id=device_id,
                device_name=device_name or device_id,
                connection_type=connection_type,
                paired_at=paired_at or self._clock(),
                expires_at=expires_at,
            )
            self._devices[device_id] = device
        else:
            device.device_name = device_name or device.device_name
            device.connection_type = connection_type
            device.expires_at = expires_at
            if paired_at is not None:
                device.paired_at = paired_at
        return device

    def _distinct(self, device_id: str, wanted: str, current: str | None) -> str:
        """``wanted``, or "wanted (2)", "(3)"… when another device already goes by it: two phones of one model both
        call themselves "Android · Chrome", and what names a device ("a task from …", the devices list) must say
        which. A device that reconnects keeps the number it was given."""
        taken = {d.device_name for d in self._devices.values() if d.device_id != device_id}
        if wanted not in taken:
            return wanted
        if current is not None and current not in taken and _NUMBERED.sub("", current) == wanted:
            return current
        n = 2
        while (numbered := _numbered(wanted, n)) in taken:
            n += 1
        return numbered

    def remove(self, device_id: str) -> Device | None:
        return self._devices.pop(device_id, None)

    def set_connected(self, device_id: str, connected: bool, path: ConnectionPath | None = None) -> Device | None:
        device = self._devices.get(device_id)
        if device is None:
            return None
        changed = device.connected != connected
        device.connected = connected
        device.last_seen = self._clock()
        if path is not None:
            device.connection_path = path
        if changed:
            kind = DeviceEventType.CONNECTED if connected else DeviceEventType.DISCONNECTED
            self.record(kind, device)
        return device

    def seen(self, device_id: str) -> None:
        device = self._devices.get(device_id)
        if device is not None:
            device.last_seen = self._clock()

    def set_location(self, device_id: str, location: dict[str, Any]) -> None:
        """Record where the phone says it is; ``ValueError`` for what is not a small flat object (the registry is
        written to disk at every connect and disconnect: a 200 KB "location" made each of those writes 200 KB)."""
        if not _fits_location(location):
            raise ValueError(
                f"location must be a flat JSON object of at most {MAX_LOCATION_KEYS} fields (city, country, "
                f"latitude…) and {MAX_LOCATION_BYTES} bytes"
            )
        device = self._devices.get(device_id)
        if device is not None:
            device.last_location = location
            device.last_seen = self._clock()

    def record(self, kind: DeviceEventType, device: Device, detail: str = "") -> DeviceEvent:
        now = self._clock()
        # Served with millisecond precision: store it that way so ?since=<a served timestamp> excludes that event.
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        event = DeviceEvent(kind, device.device_id, device.device_name, now, detail)
        self._events.append(event)
        return event

    def events(self, since: datetime | None = None) -> list[DeviceEvent]:
        if since is None:
            return list(self._events)
        return [e for e in self._events if e.timestamp > since]
