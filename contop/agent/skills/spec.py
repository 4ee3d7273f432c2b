"""SKILL.md: YAML frontmatter (name, description, version, skill_type, tools…) then the instructions. Pure."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import yaml

from contop.core.errors import ContopError

SkillType = Literal["prompt", "workflow", "python", "mixed"]
SKILL_TYPES: tuple[str, ...] = get_args(SkillType)
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
MAX_DESCRIPTION = 1024
MAX_SKILL_BYTES = 256 * 1024


class SkillError(ContopError):
    """A skill is missing, malformed or cannot be used; ``status`` is the HTTP status it maps to."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class SkillMeta:
    name: str
    description: str
    version: str = "1.0.0"
    skill_type: SkillType = "prompt"
    tools: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def check_name(name: str) -> str:
    """A skill name is lowercase letters, digits and hyphens (no dots, slashes or '..'): safe as a folder name."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise SkillError(f"invalid skill name {str(name)[:70]!r}: use lowercase letters, digits and hyphens", 400)
    return name


def _unencodable_at(text: str) -> int | None:
    """Index of the first character that UTF-8 cannot store (a lone surrogate), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


UNENCODABLE = (
    'contains a character that cannot be stored as UTF-8 (a lone surrogate, e.g. from a YAML escape such as "\\uD800"):'
    " remove or replace it"
)


def unencodable_in(value: Any, where: str = "") -> str | None:
    """Where, in parsed YAML, a string (key or value) holds a character UTF-8 cannot store, ASCII-quoted for a
    message ('tools[1]', 'a key of extra'); None if nowhere.

    YAML escapes such as ``"\\uD800"`` produce lone surrogates from a plain ASCII file; such a string cannot be
    sent as JSON nor kept in the agent's history, so the skill is refused as a whole. The walk uses a stack of its
    own rather than recursion, and visits each container once: however deep or shared the data, it ends.
    """
    pending: list[tuple[Any, str]] = [(value, where)]
    seen: set[int] = set()
    while pending:
        item, at = pending.pop()
        if isinstance(item, str):
            if _unencodable_at(item) is not None:
                return ascii(at) if at else "a value"
            continue
        if not isinstance(item, (dict, list, tuple, set, frozenset)) or id(item) in seen:
            continue
        seen.add(id(item))
        children: list[tuple[Any, str]] = []
        if isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and _unencodable_at(key) is not None:
                    return f"a key of {at!a}" if at else "a key"
                children.append((child, f"{at}.{key}" if at else str(key)))
        else:
            children.extend((child, f"{at}[{index}]") for index, child in enumerate(item))
        pending.extend(reversed(children))  # depth first, in document order: the first bad string is named
    return None


class _AliasFound(yaml.composer.ComposerError):
    """An alias (``*name``) in a skill file: refused before it can make a cycle or expand exponentially."""


class _NoAliasLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses aliases.

    Skill files have no use for them, and an alias is what lets 400 bytes expand into millions of nodes ("billion
    laughs") or refer to itself, which every later walk of the data would follow forever.
    """

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _AliasFound(None, None, f"*{event.anchor}", event.start_mark)
        return super().compose_node(parent, index)


def load_yaml(text: str, document: str, first_line: int = 1) -> Any:
    """``text`` parsed as YAML without aliases; ``SkillError`` (422) names ``document`` ('SKILL.md', 'workflow x')
    and the problem: invalid YAML, an alias, or nesting deeper than the parser can follow. ``first_line`` is the
    line of ``document`` that ``text`` starts on."""
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except _AliasFound as exc:
        line = (exc.problem_mark.line if exc.problem_mark else 0) + first_line
        raise SkillError(
            f"YAML aliases (*name) are not allowed in {document}: {exc.problem} on line {line}; "
            "write the value out in full",
            422,
        ) from None
    except yaml.YAMLError as exc:
        if isinstance(exc, yaml.MarkedYAMLError):  # its marks count lines of ``text``: make them lines of the file
            marks = {id(mark): mark for mark in (exc.context_mark, exc.problem_mark) if mark is not None}
            for mark in marks.values():
                mark.line += first_line - 1
        raise SkillError(f"{document}: not valid YAML: {exc}", 422) from exc
    except RecursionError:
        raise SkillError(f"{document}: the YAML is nested too deeply", 422) from None


def _kind(value: Any) -> str:
    """What YAML made of an unquoted value, in the words of a SKILL.md author."""
    if isinstance(value, bool):
        return f"a yes/no value ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return f"a date ({value.isoformat()})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def check_text(text: str, what: str) -> None:
    """``SkillError`` (422) when ``text`` holds a character that cannot be stored as UTF-8 (a lone surrogate)."""
    at = _unencodable_at(text)
    if at is not None:
        line = text.count("\n", 0, at) + 1
        raise SkillError(
            f"{what} contains a character that cannot be stored as UTF-8 ({text[at]!a}, a lone surrogate) "
            f"on line {line}: remove or replace it",
            422,
        )


def split_frontmatter(text: str) -> tuple[dict[str, Any], str]:
    """(frontmatter mapping, body). ``SkillError`` (422) when the frontmatter is missing or not a YAML mapping."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise SkillError("SKILL.md must start with a '---' line opening the YAML frontmatter", 422)
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            head = "".join(lines[1:index])
            body = "".join(lines[index + 1 :])
            break
    else:
        raise SkillError("the YAML frontmatter of SKILL.md is not closed by a '---' line", 422)
    data = load_yaml(head, "SKILL.md", first_line=2) if head.strip() else {}
    if not isinstance(data, dict):
        raise SkillError("the frontmatter must be a YAML mapping (key: value lines)", 422)
    bad = unencodable_in(data, "")
    if bad is not None:
        raise SkillError(f"frontmatter: {bad} {UNENCODABLE}", 422)
    return data, body


def parse_meta(data: dict[str, Any], *, expected_name: str | None = None) -> SkillMeta:
    """Validate the frontmatter mapping; ``SkillError`` (422) names the first problem."""
    name = data.get("name")
    if name is None or name == "":
        raise SkillError("frontmatter: 'name' is required", 422)
    if not isinstance(name, str):
        raise SkillError(
            f"frontmatter: 'name' must be text (lowercase letters, digits and hyphens), not {_kind(name)}: "
            f'write it in quotes, e.g. name: "{expected_name or "my-skill"}"',
            422,
        )
    if not NAME_RE.fullmatch(name):
        raise SkillError(f"frontmatter: name {name[:70]!r} must be lowercase letters, digits and hyphens", 422)
    if expected_name is not None and name != expected_name:
        raise SkillError(f"frontmatter: name {name!r} must match the skill's folder {expected_name!r}", 422)
    description = data.get("description")
    if description is None or (isinstance(description, str) and not description.strip()):
        raise SkillError("frontmatter: 'description' is required", 422)
    if not isinstance(description, str):
        raise SkillError(
            f"frontmatter: 'description' must be text, not {_kind(description)}: write it in quotes, "
            'e.g. description: "Helps with ..."',
            422,
        )
    if len(description) > MAX_DESCRIPTION:
        raise SkillError(f"frontmatter: description is longer than {MAX_DESCRIPTION} characters", 422)
    version = data.get("version", "1.0.0")
    if isinstance(version, (int, float)):
        version = str(version)
    if not isinstance(version, str):
        raise SkillError("frontmatter: 'version' must be a string such as 1.0.0", 422)
    skill_type = data.get("skill_type", data.get("type", "prompt"))
    if skill_type not in SKILL_TYPES:
        raise SkillError(f"frontmatter: skill_type must be one of {', '.join(SKILL_TYPES)}", 422)
    tools = data.get("tools", [])
    if tools is None:
        tools = []
    if not isinstance(tools, list) or not all(isinstance(t, str) and t for t in tools):
        raise SkillError("frontmatter: 'tools' must be a list of tool names", 422)
    known = {"name", "description", "version", "skill_type", "type", "tools"}
    return SkillMeta(
        name=name,
        description=description.strip(),
        version=version,
        skill_type=skill_type,
        tools=tuple(tools),
        extra={k: v for k, v in data.items() if k not in known},
    )


def parse_skill_md(text: str, *, expected_name: str | None = None) -> tuple[SkillMeta, str]:
    check_text(text, "SKILL.md")
    if len(text.encode("utf-8")) > MAX_SKILL_BYTES:
        raise SkillError(f"SKILL.md is larger than {MAX_SKILL_BYTES // 1024} KB", 422)
    data, body = split_frontmatter(text)
    return parse_meta(data, expected_name=expected_name), body


def template(name: str, description: str) -> str:
    """The SKILL.md a new skill starts with."""
    description = " ".join(description.split())
    return (
        "---\n"
        + yaml.safe_dump(
            {"name": name, "description": description, "version": "1.0.0", "skill_type": "prompt"},
            sort_keys=False,
            allow_unicode=True,
        )
        + "---\n\n"
        f"# {name}\n\n"
        "## When to use\n\nDescribe the tasks this skill helps with.\n\n"
        "## Instructions\n\nWrite the steps the agent should follow, the commands to prefer and the pitfalls.\n"
    )
