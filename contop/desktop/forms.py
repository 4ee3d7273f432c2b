"""Pure helpers of the settings form: list and PIN validation, building the PUT body, reading a 422 detail."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any


def validate_entries(entries: Iterable[str]) -> str | None:
    """Why a security list is invalid (empty entry, duplicate), or None."""
    seen: set[str] = set()
    for raw in entries:
        entry = raw.strip()
        if not entry:
            return "entries must not be empty"
        if entry in seen:
            return f"duplicate entry: {entry}"
        seen.add(entry)
    return None


def validate_pins(pin: str, emergency: str) -> dict[str, str]:
    """Errors by field (``pin``, ``emergency_pin``); empty when both are acceptable."""
    errors: dict[str, str] = {}
    if not re.fullmatch(r"\d{4,12}", pin):
        errors["pin"] = "the PIN is 4 to 12 digits"
    if not re.fullmatch(r"\d{6,12}", emergency):
        errors["emergency_pin"] = "the emergency PIN is 6 to 12 digits"
    elif emergency == pin:
        errors["emergency_pin"] = "the emergency PIN must differ from the PIN"
    return errors


def merged_settings(snapshot: Mapping[str, Any], edits: Mapping[str, Any]) -> dict[str, Any]:
    """The full object to PUT: the last GET result with the form's values set; dotted keys reach nested objects.

    Starting from the server's own object keeps every key the form does not know about.
    """
    result = copy.deepcopy(dict(snapshot))
    for dotted, value in edits.items():
        target = result
        *parents, leaf = dotted.split(".")
        for part in parents:
            child = target.get(part)
            if not isinstance(child, dict):
                child = {}
                target[part] = child
            target = child
        target[leaf] = value
    return result


def field_errors(detail: str, known_fields: Iterable[str]) -> tuple[dict[str, str], str]:
    """Split a 422 detail into errors for the form's fields and a remainder for the general message.

    The server's detail names fields as ``a.b.c: message; d: message`` or ``missing required keys: a, b``; a
    field matches the longest known name that is a prefix of it (``restricted_paths.3`` → ``restricted_paths``).
    """
    known = sorted(known_fields, key=len, reverse=True)
    found: dict[str, str] = {}
    rest: list[str] = []

    def owner(path: str) -> str | None:
        return next((k for k in known if path == k or path.startswith(k + ".")), None)

    if detail.startswith("missing required keys:"):
        for key in detail.split(":", 1)[1].split(","):
            key = key.strip()
            match = owner(key)
            if match:
                found[match] = "required"
            else:
                rest.append(f"{key}: required")
        return found, "; ".join(rest)
    for part in detail.split("; "):
        path, sep, message = part.partition(": ")
        match = owner(path.strip()) if sep else None
        if match:
            found.setdefault(match, message)
        else:
            rest.append(part)
    return found, "; ".join(rest)


SKILL_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


def skill_template(name: str) -> str:
    return f"---\nname: {name}\ndescription: What this skill does and when to use it.\n---\n\n# {name}\n\nSteps…\n"


def front_matter(text: str) -> dict[str, str]:
    """The ``key: value`` lines of SKILL.md's leading ``---`` block (empty when there is none)."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    fields: dict[str, str] = {}
    for line in lines[1:]:
        if line.strip() == "---":
            return fields
        key, sep, value = line.partition(":")
        if sep and not key.startswith((" ", "\t")):
            fields[key.strip()] = value.strip().strip("'\"")
    return {}


def validate_skill(name: str, text: str) -> str | None:
    """Why a skill cannot be saved (bad name, SKILL.md without front matter naming it and describing it)."""
    if not SKILL_NAME.fullmatch(name):
        return "the name is lowercase letters, digits and dashes (at most 64)"
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return "SKILL.md must start with a '---' front matter block"
    if not any(line.strip() == "---" for line in lines[1:]):
        return "the front matter block is not closed with '---'"
    fields = front_matter(text)
    if fields.get("name") != name:
        return f"the front matter must contain 'name: {name}'"
    if not fields.get("description"):
        return "the front matter must contain a 'description:'"
    return None
