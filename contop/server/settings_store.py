"""Reads and writes ``settings.json``: defaults on first start, hot reload on mtime change, corrupt files set aside."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from contop.core.clock import utcnow
from contop.core.settings import Settings, default_settings, describe_validation_error, validate_settings
from contop.server.statedir import atomic_write

log = logging.getLogger(__name__)

Listener = Callable[[Settings, Settings], None]


class SettingsStore:
    """The one owner of ``settings.json``.

    ``get()`` is cheap (one ``stat``) and picks up edits made by hand or by another process.
    """

    def __init__(self, path: Path, *, state_dir_display: str, env: Mapping[str, str] | None = None) -> None:
        self._path = path
        self._state_dir_display = state_dir_display
        self._env = dict(env or {})
        self._settings = default_settings(state_dir_display)
        self._stamp: tuple[int, int] | None = None
        self._listeners: list[Listener] = []

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
        self._reload()
        return self._settings

    def get(self) -> Settings:
        stamp = self._current_stamp()
        if stamp != self._stamp:
            self._reload()
        return self._settings

    def effective_api_key(self, key: str) -> str:
        return self.get().effective_api_key(key, self._env)

    def replace(self, data: dict[str, Any]) -> Settings:
        """Validate and save a whole settings object (raises ``ValidationError``/``TypeError`` untouched)."""
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
        atomic_write(self._path, payload.encode("utf-8"))
        self._stamp = self._current_stamp()
        self._swap(settings)

    def _swap(self, settings: Settings) -> None:
        old, self._settings = self._settings, settings
        if old != settings:
            for listener in list(self._listeners):
                try:
                    listener(old, settings)
                except Exception:
                    log.exception("settings listener failed")

    def _reload(self) -> None:
        stamp = self._current_stamp()
        if stamp is None:
            log.warning("settings file %s disappeared; writing defaults", self._path)
            self._write(self.defaults())
            return
        try:
            raw = self._path.read_bytes()
            settings = validate_settings(json.loads(raw))
        except (ValueError, TypeError) as exc:
            # ValidationError is a ValueError; json.JSONDecodeError too.
            if isinstance(exc, ValidationError):
                problem = describe_validation_error(exc)
            else:
                problem = str(exc)
            self._set_aside(problem)
            return
        except OSError as exc:
            log.error("cannot read settings file %s: %s; keeping the settings in use", self._path, exc)
            self._stamp = stamp
            return
        self._stamp = stamp
        if self._path.stat().st_mode & 0o077:
            os.chmod(self._path, 0o600)
        self._swap(settings)

    def _set_aside(self, problem: str) -> None:
        aside = self._path.with_name(f"{self._path.name}.corrupt-{utcnow().strftime('%Y%m%dT%H%M%S%fZ')}")
        try:
            os.replace(self._path, aside)
            os.chmod(aside, 0o600)  # it may hold API keys, and a hand-edited file may have been readable by all
        except OSError as exc:
            log.error("settings file %s is invalid (%s) and cannot be moved aside: %s", self._path, problem, exc)
            return
        log.error("settings file %s is invalid (%s); moved it to %s and using defaults", self._path, problem, aside)
        self._write(self.defaults())
