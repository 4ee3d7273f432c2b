"""``device_control`` from the phone: keep the host awake (a persisted setting), wake the screen, lock the session.

Each request is answered with ``device_control_result`` (``ref_id`` = the request's id, ``status`` success or
error, ``message`` saying what was done or why not). On X11, "wake" resets the screen saver and forces DPMS on;
"lock_screen" tries, in order, logind (``loginctl lock-session``), the freedesktop ScreenSaver D-Bus ``Lock``, and
``xdg-screensaver lock``; the first that succeeds wins, and the message names it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
from typing import Any

from contop.core.messages import DeviceControlResult, DeviceControlResultPayload, Envelope, Error

log = logging.getLogger(__name__)

ACTIONS = ("keep_awake_on", "keep_awake_off", "wake", "lock_screen")
COMMAND_TIMEOUT_S = 5.0


class DeviceControlError(Exception):
    """The action is known but could not be carried out here; the message says why."""


def _x_wake(display: str | None) -> str:
    from Xlib import X
    from Xlib import display as xdisplay

    name = display or os.environ.get("DISPLAY")
    if not name:
        raise DeviceControlError("no display to wake (DISPLAY is not set)")
    try:
        d = xdisplay.Display(name)
    except Exception as exc:
        raise DeviceControlError(f"cannot open the display {name}: {exc}") from exc
    try:
        d.force_screen_saver(X.ScreenSaverReset)
        done = ["screen saver reset"]
        if d.has_extension("DPMS"):
            d.dpms_force_level(0)  # DPMSModeOn
            done.append("display power on")
        d.sync()
        return ", ".join(done)
    finally:
        d.close()


def _run(argv: list[str]) -> tuple[bool, str]:
    if shutil.which(argv[0]) is None:
        return False, f"{argv[0]} is not installed"
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{argv[0]}: {exc}"
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        return False, f"{' '.join(argv)} failed: {detail[-1] if detail else f'exit {proc.returncode}'}"
    return True, " ".join(argv)


def _dbus_lock() -> tuple[bool, str]:
    try:
        from jeepney import DBusAddress, new_method_call
        from jeepney.io.blocking import open_dbus_connection
    except ImportError:
        return False, "jeepney is not installed"
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return False, "no session bus (DBUS_SESSION_BUS_ADDRESS is not set)"
    try:
        with open_dbus_connection(bus="SESSION") as conn:
            address = DBusAddress(
                "/org/freedesktop/ScreenSaver",
                bus_name="org.freedesktop.ScreenSaver",
                interface="org.freedesktop.ScreenSaver",
            )
            reply = conn.send_and_get_reply(new_method_call(address, "Lock"), timeout=COMMAND_TIMEOUT_S)
            if reply.header.message_type.name == "error":
                return False, f"org.freedesktop.ScreenSaver.Lock refused: {reply.body}"
    except Exception as exc:
        return False, f"org.freedesktop.ScreenSaver.Lock: {exc}"
    return True, "org.freedesktop.ScreenSaver.Lock"


def lock_screen() -> str:
    """Lock the desktop session with the first mechanism that works; DeviceControlError listing every attempt."""
    attempts: list[str] = []
    if os.environ.get("XDG_SESSION_ID"):
        ok, what = _run(["loginctl", "lock-session"])
    else:
        ok, what = False, "loginctl lock-session: this process is not in a logind session (XDG_SESSION_ID unset)"
    if ok:
        return what
    attempts.append(what)
    for attempt in (_dbus_lock, lambda: _run(["xdg-screensaver", "lock"])):
        ok, what = attempt()
        if ok:
            return what
        attempts.append(what)
    raise DeviceControlError("could not lock the screen here: " + "; ".join(attempts))


class DeviceControlHandler:
    def __init__(self, state: Any, display: str | None = None) -> None:
        self._state = state
        self._display = display

    async def perform(self, action: str) -> str:
        if action in ("keep_awake_on", "keep_awake_off"):
            on = action == "keep_awake_on"
            # Persisted (the user's wish, kept even when it cannot be applied now); the settings listener
            # (contop.server.keepawake) applies a change to the desktop.
            await asyncio.to_thread(self._state.settings.update, keep_host_awake=on)
            # Applied again, a no-op when the listener did it: the setting may have been on already (no change, so
            # no listener call) while not in effect, and only the outcome tells the phone whether it holds.
            host = self._state.keep_awake
            outcome = await asyncio.to_thread(host.apply, on)
            if host.on != on:
                raise DeviceControlError(f"keep host awake is saved as on, but is not in effect here ({outcome})")
            return f"keep host awake is {'on' if on else 'off'}"
        if action == "wake":
            return await asyncio.to_thread(_x_wake, self._display)
        if action == "lock_screen":
            return await asyncio.to_thread(lock_screen)
        raise KeyError(action)

    async def __call__(self, session: Any, message: Envelope) -> None:
        action = str(getattr(message.payload, "action", ""))
        if action not in ACTIONS:
            session.send(
                Error.reply(
                    "invalid_payload",
                    f"unknown device_control action {action!r}; known: {', '.join(ACTIONS)}",
                    message.id,
                )
            )
            return
        try:
            detail = await self.perform(action)
            status = "success"
        except DeviceControlError as exc:
            detail, status = str(exc), "error"
        except Exception as exc:  # a desktop refusing must become an answer, not a dead request
            log.warning("device_control %s failed", action, exc_info=True)
            detail, status = f"{type(exc).__name__}: {exc}", "error"
        extra: dict[str, Any] = {"message": detail}
        if action.startswith("keep_awake"):
            extra["keep_host_awake"] = bool(self._state.settings.get().keep_host_awake)
        payload = DeviceControlResultPayload.model_validate(
            {"action": action, "status": status, "ref_id": message.id, **extra}
        )
        session.send(DeviceControlResult(payload=payload))


def install_device_control(state: Any, router: Any) -> DeviceControlHandler:
    handler = DeviceControlHandler(state)
    router.register("device_control", handler)
    return handler
