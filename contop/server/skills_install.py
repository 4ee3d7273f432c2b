"""Copies the built-in skills shipped in the package into the state directory, without overwriting edits."""

from __future__ import annotations

import logging
import shutil
from importlib import resources
from pathlib import Path

log = logging.getLogger(__name__)


def builtin_skills_dir() -> Path | None:
    folder = Path(str(resources.files("contop.agent"))) / "builtin_skills"
    return folder if folder.is_dir() else None


def install_builtin_skills(target: Path, source: Path | None = None) -> list[str]:
    """Copy each ``<name>/`` with a ``SKILL.md`` from ``source`` that ``target`` lacks; returns what was added."""
    source = source if source is not None else builtin_skills_dir()
    if source is None:
        return []
    added = []
    for skill in sorted(p for p in source.iterdir() if (p / "SKILL.md").is_file()):
        destination = target / skill.name
        if destination.exists():
            continue
        shutil.copytree(skill, destination)
        added.append(skill.name)
    if added:
        log.info("installed built-in skills: %s", ", ".join(added))
    return added
