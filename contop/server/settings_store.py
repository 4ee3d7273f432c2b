"""Reads and writes ``settings.json``: defaults on first start, hot reload on mtime change, corrupt files set aside."""

from __future__ import annotations

import json
import logging
import os
import stat
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from contop.core.clock import utcnow
from contop.core.errors import StateDirError
from contop.core.settings import Settings, default_settings, describe_validation_error, validate_settings
from contop.server.statedir import atomic_write, not_saved

log = logging.getLogger(__name__)

Listener = Callable[[Settings, Settings], None]

# How long a file changed by hand must stay unusable (invalid, or gone) before it counts as broken: an editor that
# writes in place truncates it first, and a read in between sees it half-written.
SETTLE_S = 1.0


class SettingsStore:
    """The one owner of ``settings.json``.

    ``get()`` is cheap (one ``stat``) and picks up edits made by hand or by another process. An edit that leaves
    the file unusable keeps the settings in use until the file has stayed the same for ``SETTLE_S``: only then is it
    set aside (at start, at once: there is nothing else to use).
    """

    def __init__(self, path: Path, *, state_dir_display: str, env: Mapping[str, str] | None = None) -> None:
        self._path = path
        self._state_dir_display = state_dir_display
        self._env = dict(env or {})
        self._settings = default_settings(state_dir_display)
        self._stamp: tuple[int, int] | None = None
        self._listeners: list[Listener] = []
        # The file as last found unusable (its stamp, contents and when), while it may still be being written.
        self._unsettled: tuple[tuple[int, int] | None, bytes, float] | None = None

    @property
    def path(self) -> Path:
        return self._path

    def defaults(self) -> Settings:
        return default_settings(self._state_dir_display)

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(old, new)`` after every change, whether saved here or picked up from disk."""
        self._listeners.append(listener)

    def load(self) -> Settings:
        """First load at start: create the file with defaults when missing."""
        if not self._path.exists():
            log.info("no settings file at %s; writing defaults", self._path)
            self._write(self.defaults())
            return self._settings
        self._reload(at_start=True)
        return self._settings

    def get(self) -> Settings:
        stamp = self._current_stamp()
        if stamp != self._stamp or self._unsettled is not None:
            self._reload()
        return self._settings

    def effective_api_key(self, key: str) -> str:
        return self.get().effective_api_key(key, self._env)

    def replace(self, data: dict[str, Any]) -> Settings:
        """Validate and save a whole settings object (raises ``ValidationError``/``TypeError`` untouched, and
        ``StateDirError`` when the disk refuses it: then the settings in use stay as they were)."""
        settings = validate_settings(data)
        self._write(settings)
        return settings

    def update(self, **changes: Any) -> Settings:
        data = self.get().to_json_dict()
        data.update(changes)
        return self.replace(data)

    def reset(self) -> Settings:
        self._write(self.defaults())
        return self._settings

    # -- internals ---------------------------------------------------------------------------------------

    def _current_stamp(self) -> tuple[int, int] | None:
        try:
            st = self._path.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def _write(self, settings: Settings) -> None:
        # 0600: the file holds API keys.
        payload = json.dumps(settings.to_json_dict(), indent=2, ensure_ascii=False) + "\n"
        try:
            atomic_write(self._path, payload.encode("utf-8"))
        except OSError as exc:
            raise StateDirError(not_saved(self._path, exc)) from exc
        self._stamp = self._current_stamp()
        self._unsettled = None
        self._swap(settings)

    def _write_defaults(self) -> None:
        """After the file was found broken or gone: defaults, in memory at least when the disk refuses them."""
        try:
            self._write(self.defaults())
        except StateDirError as exc:
            log.error("%s; using the defaults without saving them", exc)
            self._stamp = self._current_stamp()
            self._unsettled = None
            self._swap(self.defaults())

    def _swap(self, settings: Settings) -> None:
        old, self._settings = self._settings, settings
        if old != settings:
            for listener in list(self._listeners):
                try:
                    listener(old, settings)
                except Exception:
                    log.exception("settings listener failed")

    def _reload(self, *, at_start: bool = False) -> None:
        stamp = self._current_stamp()
        if stamp is None:
            if self._settling(stamp, b""):
                return
            log.warning("settings file %s disappeared; writing defaults", self._path)
            self._write_defaults()
            return
        if _blocks_reading(self._path):  # a FIFO or a device: reading would wait for a writer, for ever
            self._set_aside("not a regular file")
            return
        try:
            raw = self._path.read_bytes()
        except OSError as exc:
            log.error("cannot read settings file %s: %s; keeping the settings in use", self._path, exc)
            self._stamp = stamp
            self._unsettled = None
            return
        try:
            settings = validate_settings(json.loads(raw))
        except ValidationError as exc:
            problem = describe_validation_error(exc)
        except RecursionError:
            problem = "nested too deeply"
        except (ValueError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
            problem = str(exc)
        else:
            self._stamp = stamp
            self._unsettled = None
            if self._path.stat().st_mode & 0o077:
                os.chmod(self._path, 0o600)
            self._swap(settings)
            return
        if at_start or not self._settling(stamp, raw):
            self._set_aside(problem)

    def _settling(self, stamp: tuple[int, int] | None, raw: bytes) -> bool:
        """Whether the file, unusable as it is, may still be being written: it has not stayed exactly so for
        ``SETTLE_S`` yet. Meanwhile the settings in use stay, and every ``get`` looks again."""
        now = time.monotonic()
        if self._unsettled is None or self._unsettled[:2] != (stamp, raw):
            log.debug("settings file %s is unusable for now; looking again in a moment", self._path)
            self._unsettled = (stamp, raw, now)
            return True
        return now - self._unsettled[2] < SETTLE_S

    def _set_aside(self, problem: str) -> None:
        self._unsettled = None
        aside = self._path.with_name(f"{self._path.name}.corrupt-{utcnow().strftime('%Y%m%dT%H%M%S%fZ')}")
        try:
            os.replace(self._path, aside)
            os.chmod(aside, 0o600)  # it may hold API keys, and a hand-edited file may have been readable by all
        except OSError as exc:
            log.error("settings file %s is invalid (%s) and cannot be moved aside: %s", self._path, problem, exc)
            self._stamp = self._current_stamp()
            return
        log.error("settings file %s is invalid (%s); moved it to %s and using defaults", self._path, problem, aside)
        self._write_defaults()


def _blocks_reading(path: Path) -> bool:
    """Whether ``path`` is neither a regular file nor a folder (a FIFO, a socket, a device): its read may not end."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False  # the read says what is wrong
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))
