"""Copies the built-in skills shipped in the package into the state directory, without overwriting edits.

Each built-in is installed once: ``skills/.builtin-installed.json`` lists the ones already installed, so one the
user deleted (a user edit like any) stays deleted, while a built-in that a later version adds is still installed.
"""

from __future__ import annotations

import json
import logging
from importlib import resources
from pathlib import Path

from contop.agent.skills.store import copy_private
from contop.server.statedir import atomic_write

log = logging.getLogger(__name__)

RECORD_NAME = ".builtin-installed.json"  # a dot file: skill discovery skips it


def builtin_skills_dir() -> Path | None:
    folder = Path(str(resources.files("contop.agent"))) / "builtin_skills"
    return folder if folder.is_dir() else None


def install_builtin_skills(target: Path, source: Path | None = None) -> list[str]:
    """Copy each ``<name>/`` with a ``SKILL.md`` from ``source`` into ``target`` unless it was installed before or
    ``target`` has a folder of that name; returns what was added.

    What was installed is recorded in ``target/.builtin-installed.json``. A home from before the record: the
    built-ins it has count as installed. A record that cannot be read: every built-in counts as installed, so none
    the user deleted comes back (nor, this once, one a newer version adds), and the record is written anew.
    """
    source = source if source is not None else builtin_skills_dir()
    if source is None:
        return []
    builtins = sorted(p for p in source.iterdir() if (p / "SKILL.md").is_file())
    record = target / RECORD_NAME
    try:
        before = _read_record(record)
    except ValueError as exc:
        log.warning("%s is unreadable (%s); every built-in skill counts as installed and it is rewritten", record, exc)
        installed = {skill.name for skill in builtins}
        before = None  # written anew
    else:
        installed = set(before) if before is not None else set()
    added = []
    for skill in builtins:
        if skill.name in installed:
            continue  # installed once already: if it is gone, the user removed it
        destination = target / skill.name
        installed.add(skill.name)
        if destination.exists():
            continue  # the user's own folder of that name (or a home from before the record): never overwritten
        copy_private(skill, destination)
        added.append(skill.name)
    if added:
        log.info("installed built-in skills: %s", ", ".join(added))
    if installed != before:
        target.mkdir(parents=True, exist_ok=True)
        atomic_write(record, (json.dumps(sorted(installed), indent=1) + "\n").encode())
    return added


def _read_record(path: Path) -> set[str] | None:
    """The names in the record; ``None`` when there is none; ``ValueError`` saying why when it cannot be used."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ValueError(exc.strerror or str(exc)) from exc
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if not isinstance(data, list) or not all(isinstance(name, str) for name in data):
        raise ValueError("not a list of names")
    return set(data)
