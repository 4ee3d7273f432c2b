"""Skills on disk: ``<state_dir>/skills/<name>/SKILL.md`` with ``workflows/*.yaml`` and ``scripts/*.{yaml,py}``.

Discovery reads only the frontmatter of each SKILL.md (progressive disclosure: the body is read by
``load_skill``). Names are validated before any path is built, so a name can never leave the skills folder.
"""

from __future__ import annotations

import ast
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contop.agent.skills.spec import SkillError, SkillMeta, check_name, check_text, parse_skill_md, template
from contop.core.text import storable_text
from contop.server.statedir import atomic_write

log = logging.getLogger(__name__)

SKILL_FILE = "SKILL.md"
# Tools of the agent itself that are not in the gate's catalogue; a skill tool may not take their names either.
AGENT_TOOLS = frozenset({"generate_plan"})
WORKFLOW_DIRS = ("workflows", "scripts")


@dataclass(frozen=True, slots=True)
class SkillInfo:
    """One skill folder: its metadata, or why it is invalid."""

    name: str
    path: Path
    meta: SkillMeta | None
    error: str = ""
    has_scripts: bool = False

    def as_dict(self, enabled: bool) -> dict[str, Any]:
        meta = self.meta
        out: dict[str, Any] = {
            "name": self.name,
            "description": meta.description if meta else "",
            "version": meta.version if meta else "",
            "skill_type": meta.skill_type if meta else "",
            "enabled": enabled,
            "has_scripts": self.has_scripts,
        }
        if self.error:
            out["error"] = self.error
        return out


def copy_private(source: Path, destination: Path) -> None:
    """Copy a skill folder owner-only (folders 0700, files 0600), as the state directory is, whatever the source's
    modes (the package's files are world-readable)."""
    shutil.copytree(source, destination, copy_function=shutil.copyfile)
    for folder, _dirs, files in os.walk(destination):
        os.chmod(folder, 0o700)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o600)


def _skill_text(folder: Path) -> str:
    """The SKILL.md of ``folder``; one that cannot be read or is not UTF-8 is a ``SkillError`` (422)."""
    try:
        return (folder / SKILL_FILE).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SkillError(
            f"{SKILL_FILE} is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8", 422
        ) from exc
    except OSError as exc:
        raise SkillError(f"{SKILL_FILE} cannot be read: {exc.strerror or exc}", 422) from exc


def python_tool_names(path: Path) -> list[str]:
    """Public top-level functions of a skill script, found by parsing (the script is not run)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, ValueError) as exc:
        raise SkillError(f"{path.name}: cannot be parsed: {exc}", 422) from exc
    return [
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_")
    ]


class SkillStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, name: str) -> Path:
        return self.root / check_name(name)

    # --- discovery ---------------------------------------------------------------------------------------------

    def discover(self) -> list[SkillInfo]:
        if not self.root.is_dir():
            return []
        found = []
        for folder in sorted(self.root.iterdir()):
            if not folder.is_dir() or folder.name.startswith("."):
                continue
            skill_md = folder / SKILL_FILE
            if not skill_md.is_file():
                continue
            found.append(self._info(folder))
        return found

    def _info(self, folder: Path) -> SkillInfo:
        try:
            scripts = bool(self.script_files(folder))
        except OSError:  # an unreadable scripts folder: the skill is still listed, and says so when it is used
            scripts = False
        try:
            check_name(folder.name)
            meta, _body = parse_skill_md(_skill_text(folder), expected_name=folder.name)
        except SkillError as exc:
            return SkillInfo(storable_text(folder.name), folder, None, error=str(exc), has_scripts=scripts)
        except Exception as exc:
            # A SKILL.md that trips a check in a way nobody foresaw is one broken skill: listed with its error, never
            # a failed listing nor a failed agent run (discovery runs for every run's system prompt).
            log.warning("skill %s could not be checked", storable_text(folder.name), exc_info=True)
            error = f"{SKILL_FILE} could not be checked: {type(exc).__name__}: {exc}"
            return SkillInfo(storable_text(folder.name), folder, None, error=storable_text(error), has_scripts=scripts)
        return SkillInfo(folder.name, folder, meta, has_scripts=scripts)

    def info(self, name: str) -> SkillInfo:
        folder = self.folder(name)
        if not (folder / SKILL_FILE).is_file():
            raise SkillError(f"no skill named {name!r}", 404)
        return self._info(folder)

    def valid(self, name: str) -> SkillMeta:
        info = self.info(name)
        if info.meta is None:
            raise SkillError(f"skill {name!r} is invalid: {info.error}", 422)
        return info.meta

    @staticmethod
    def script_files(folder: Path) -> list[Path]:
        files: list[Path] = []
        for sub in WORKFLOW_DIRS:
            directory = folder / sub
            if directory.is_dir():
                files.extend(p for p in sorted(directory.iterdir()) if p.suffix in (".yaml", ".yml", ".py"))
        # a name that is not UTF-8 could not be named in JSON nor in the agent's history: such a file is ignored
        return [p for p in files if storable_text(p.name) == p.name]

    def workflow_files(self, name: str) -> dict[str, Path]:
        return {p.stem: p for p in self.script_files(self.folder(name)) if p.suffix in (".yaml", ".yml")}

    def python_files(self, name: str) -> list[Path]:
        return [p for p in self.script_files(self.folder(name)) if p.suffix == ".py"]

    def python_tool_file(self, name: str, tool: str) -> Path:
        """The script of skill ``name`` that defines the python tool ``tool``; ``SkillError`` (404) otherwise, naming
        the tools there are.

        Only public functions written at the top level of a script are tools. A name a script merely imports (``from
        subprocess import check_output``) is not: the agent would call that library function with arguments of its
        own choosing, outside every check its commands go through.
        """
        found: list[str] = []
        broken: list[str] = []
        for path in self.python_files(name):
            try:
                names = python_tool_names(path)
            except SkillError as exc:
                broken.append(str(exc))
                continue
            if tool in names:
                return path
            found.extend(n for n in names if n not in found)
        have = f"its python tools are: {', '.join(found)}" if found else "it defines no python tools"
        raise SkillError(
            f"skill {name!r} has no python tool {tool!r}; {have}" + "".join(f"; {problem}" for problem in broken), 404
        )

    def tool_names(self, name: str) -> list[str]:
        """The python tools a skill provides: declared in ``tools`` and/or defined in ``scripts/*.py``."""
        meta = self.valid(name)
        names = list(meta.tools)
        for path in self.python_files(name):
            names.extend(n for n in python_tool_names(path) if n not in names)
        return names

    # --- content -----------------------------------------------------------------------------------------------

    def read(self, name: str) -> str:
        self.info(name)  # 404 when missing
        try:
            return _skill_text(self.folder(name))
        except SkillError as exc:
            raise SkillError(f"skill {name!r} is invalid: {exc}", exc.status) from exc

    def body(self, name: str) -> str:
        _meta, body = parse_skill_md(self.read(name), expected_name=name)
        return body

    def check_new(self, name: str, description: str) -> None:
        """``SkillError`` when ``create(name, description)`` would fail: a bad name or description, or a folder of
        that name already there (409)."""
        check_name(name)
        if not isinstance(description, str) or not description.strip():
            raise SkillError("a description is required", 422)
        check_text(description, "the description")
        if self.folder(name).exists():
            raise SkillError(f"a skill named {name!r} already exists", 409)

    def create(self, name: str, description: str) -> SkillInfo:
        """A new skill folder with the SKILL.md template. Callers first drop ``name`` from the enabled skills when it
        is still listed there (a skill deleted by hand): a new skill always starts disabled."""
        self.check_new(name, description)
        folder = self.folder(name)
        text = template(name, description)
        parse_skill_md(text, expected_name=name)  # our own template must be valid
        folder.mkdir(mode=0o700, parents=True)
        atomic_write(folder / SKILL_FILE, text.encode())  # 0600, and its temp file is swept at start
        log.info("created skill %s", name)
        return self._info(folder)

    def update(self, name: str, content: str) -> SkillInfo:
        self.info(name)  # 404 when missing
        parse_skill_md(content, expected_name=name)  # 422 when invalid; nothing written
        atomic_write(self.folder(name) / SKILL_FILE, content.encode())
        log.info("updated skill %s", name)
        return self._info(self.folder(name))

    def workflows(self, name: str) -> list[dict[str, str]]:
        self.info(name)
        out = []
        for path in self.script_files(self.folder(name)):
            try:
                content = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                content = f"(unreadable: {exc})"
            out.append({"name": path.stem, "filename": path.name, "content": content})
        return out

    # --- enabling ----------------------------------------------------------------------------------------------

    def conflicts(self, name: str, enabled: list[str], builtin_tools: frozenset[str]) -> list[str]:
        """Why ``name`` cannot be enabled next to ``enabled`` (empty when it can)."""
        problems = []
        mine = self.tool_names(name)
        for tool in mine:
            if tool in builtin_tools:
                problems.append(f"tool {tool!r} has the name of a built-in tool")
        for other in enabled:
            if other == name:
                continue
            try:
                theirs = set(self.tool_names(other))
            except SkillError:
                continue
            problems.extend(
                f"tool {tool!r} is also provided by enabled skill {other!r}" for tool in mine if tool in theirs
            )
        return problems

    def prompt_section(self, enabled: list[str]) -> str:
        """Metadata of the enabled, valid skills for the system prompt (bodies come with ``load_skill``)."""
        wanted = set(enabled)
        lines = []
        for info in self.discover():
            if info.name not in wanted or info.meta is None:
                continue
            meta = info.meta
            extra = ""
            if info.has_scripts:
                workflows = ", ".join(sorted(self.workflow_files(info.name)))
                extra = f" Workflows: {workflows}." if workflows else ""
            lines.append(f"- {meta.name} ({meta.skill_type}, v{meta.version}): {meta.description}{extra}")
        return "Enabled skills:\n" + "\n".join(lines) if lines else ""
