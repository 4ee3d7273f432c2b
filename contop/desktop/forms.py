"""Pure helpers of the settings form: field validation, what the user changed, building the PUT body, 422 details."""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit


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
    """Errors by field (``pin``, ``emergency_pin``); empty when both are acceptable. The emergency PIN is
    optional: empty leaves the current one as it is."""
    errors: dict[str, str] = {}
    if not re.fullmatch(r"\d{4,12}", pin):
        errors["pin"] = "the PIN is 4 to 12 digits"
    if emergency and not re.fullmatch(r"\d{6,12}", emergency):
        errors["emergency_pin"] = "the emergency PIN is 6 to 12 digits"
    elif emergency and emergency == pin:
        errors["emergency_pin"] = "the emergency PIN must differ from the PIN"
    return errors


def validate_base_url(url: str) -> str | None:
    """Why ``local_model_base_url`` cannot be used, or None; empty is fine (no local model server).

    The server stores any string, and a bad one only shows up as a failed agent run much later.
    """
    if not url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError when the port is not a number from 0 to 65535
    except ValueError:
        port = 0
    if port == 0:
        return "the port is not a number from 1 to 65535"
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        return "an http:// or https:// address, e.g. http://127.0.0.1:11434/v1 for Ollama"
    return None


def finite_float(text: Any) -> float | None:
    """The number in ``text``, or None when there is none: Python's float() also reads "inf", "nan" and "1e999"
    (infinite), which JSON cannot carry, so saving them would fail with a message about JSON, not the field."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_json_float(text: str) -> float:
    value = finite_float(text)
    if value is None:
        raise ValueError(f"{text} is too large for a JSON number")
    return value


def parse_ice_servers(text: str) -> tuple[list[Any], str | None]:
    """The ICE server list typed as JSON (empty text: none), and why it is unusable (None when fine).

    Only the shape is checked here; the server validates each entry and names the bad one.
    """
    if not text.strip():
        return [], None
    try:
        # NaN, Infinity and 1e999 are read by Python's json but cannot be written back as JSON.
        value = json.loads(text, parse_constant=_not_json, parse_float=_finite_json_float)
    except ValueError as exc:
        return [], f"not valid JSON: {exc}"
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        return [], 'a JSON list of objects, e.g. [{"urls": "stun:stun.l.google.com:19302"}]'
    return value, None


def typed_changes(changes: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The changed fields as settings.json holds them (the form keeps the frame rate and the ICE servers as
    text), and problems by field that the server would not catch or would name less clearly.

    Ranges are left to the server, whose message then appears under the field.
    """
    values = dict(changes)
    problems: dict[str, str] = {}
    if "local_model_base_url" in values:
        problem = validate_base_url(values["local_model_base_url"])
        if problem:
            problems["local_model_base_url"] = problem
    if "video_fps" in values:
        fps = finite_float(values["video_fps"])
        if fps is None:
            problems["video_fps"] = "a number of frames per second, e.g. 30 or 12.5"
        else:
            values["video_fps"] = fps
    if "ice_servers" in values:
        values["ice_servers"], problem = parse_ice_servers(values["ice_servers"])
        if problem:
            problems["ice_servers"] = problem
    return values, problems


def dotted_get(data: Mapping[str, Any], dotted: str) -> Any:
    """The value at ``a.b.c`` in nested objects, or None when a part is missing."""
    value: Any = data
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def changed_fields(loaded: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """The form's fields whose value differs from the one shown when the settings were loaded.

    Both sides are read back from the widgets, so a value the form cannot show exactly (a prompt with CRLF line
    ends, a list entry with spaces) counts as unchanged until the user edits it.
    """
    return {key: value for key, value in current.items() if key not in loaded or loaded[key] != value}


def conflicting_fields(loaded: Mapping[str, Any], server: Mapping[str, Any], changed: Mapping[str, Any]) -> list[str]:
    """Fields the user changed that someone else also changed, to another value, since the form was loaded (by
    hand in settings.json, a reset, another client): saving would silently replace their value."""
    return [
        key
        for key, value in changed.items()
        if dotted_get(server, key) != dotted_get(loaded, key) and dotted_get(server, key) != value
    ]


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

    The server's detail names fields as ``a.b.c: message; d: message`` or ``missing required keys: a, b``, or
    is one sentence that starts with a field's name (``execution_model 'x' is not valid: …``); a field matches
    the longest known name that is a prefix of it (``restricted_paths.3`` → ``restricted_paths``).
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
            continue
        # a sentence about one field: "execution_model 'x' is not valid: use …"
        first = part.split(" ", 1)[0]
        match = first if first in known and " " in part else None
        if match:
            found.setdefault(match, part)
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
