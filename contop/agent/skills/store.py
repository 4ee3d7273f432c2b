"""Skills on disk: ``<state_dir>/skills/<name>/SKILL.md`` with ``workflows/*.yaml`` and ``scripts/*.{yaml,py}``.

Discovery reads only the frontmatter of each SKILL.md (progressive disclosure: the body is read by
``load_skill``). Names are validated before any path is built, so a name can never leave the skills folder.
Every file of a skill is read through ``read_skill_file``: regular files only, and never more than a limit.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contop.agent.skills.spec import (
    MAX_SKILL_BYTES,
    SkillError,
    SkillMeta,
    check_name,
    check_text,
    parse_skill_md,
    template,
)
from contop.core.childenv import child_env
from contop.core.text import storable_text
from contop.server.statedir import atomic_write

log = logging.getLogger(__name__)

SKILL_FILE = "SKILL.md"
# Tools of the agent itself that are not in the gate's catalogue; a skill tool may not take their names either.
AGENT_TOOLS = frozenset({"generate_plan"})
WORKFLOW_DIRS = ("workflows", "scripts")
# A script or workflow larger than this is refused unread: its text is parsed for every enable and every run.
MAX_SCRIPT_BYTES = 512 * 1024
# Parsing happens in a child process (see ``python_tool_names``); one that takes longer than this is given up.
PARSE_TIMEOUT_S = 10.0


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


def _kind(mode: int) -> str:
    """What a file that is not a regular file is, in a message's words."""
    kinds = (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a named pipe (fifo)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((what for test, what in kinds if test(mode)), "not a regular file")


def file_label(path: Path) -> str:
    """``scripts/tools.py``: a file of a skill named as its author sees it, for messages."""
    return path.name if path.name == SKILL_FILE else f"{path.parent.name}/{path.name}"


def _open_regular(path: Path) -> tuple[int, os.stat_result]:
    """An open descriptor of ``path`` and its ``fstat``; ``SkillError`` (422) when it is not a regular file.

    A fifo, a device or a symlink to one would block a read forever (holding a worker thread, and the server's
    shutdown) or never end (``/dev/zero``). ``stat`` refuses those before anything is opened (opening some devices
    does something); the open is non-blocking and ``fstat`` checks again what was opened, in case the file was
    swapped in between. Symlinks are followed, as before: a skill may link to a script kept elsewhere.
    """
    label = file_label(path)
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            raise SkillError(f"{label} is {_kind(mode)}, not a regular file: skipped (it is never read)", 422)
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
        fd = os.open(path, flags)
    except OSError as exc:
        raise SkillError(f"{label} cannot be read: {exc.strerror or exc}", 422) from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SkillError(f"{label} is {_kind(info.st_mode)}, not a regular file: skipped (it is never read)", 422)
    except BaseException:
        os.close(fd)
        raise
    return fd, info


def _read_fd(fd: int, path: Path, limit: int, info: os.stat_result) -> bytes:
    """At most ``limit`` bytes of the open file ``fd``; ``SkillError`` (422) when it holds more. Only ``limit`` + 1
    bytes are ever read, so a huge (or sparse) file costs nothing."""
    too_large = SkillError(f"{file_label(path)} is larger than {limit // 1024} KB", 422)
    if info.st_size > limit:
        raise too_large
    chunks: list[bytes] = []
    left = limit + 1
    try:
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise SkillError(f"{file_label(path)} cannot be read: {exc.strerror or exc}", 422) from exc
    data = b"".join(chunks)
    if len(data) > limit:  # it grew after the fstat
        raise too_large
    return data


def read_skill_file(path: Path, limit: int = MAX_SCRIPT_BYTES) -> bytes:
    """The bytes of a skill's file; ``SkillError`` (422) naming the file when it is not a regular file, cannot be
    read, or is larger than ``limit``. Safe to call on any file a skill folder holds: it never blocks."""
    fd, info = _open_regular(path)
    try:
        return _read_fd(fd, path, limit, info)
    finally:
        os.close(fd)


def read_skill_text(path: Path, limit: int = MAX_SCRIPT_BYTES) -> str:
    """``read_skill_file`` decoded as UTF-8; text that is not UTF-8 is a ``SkillError`` (422) too."""
    data = read_skill_file(path, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SkillError(
            f"{file_label(path)} is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8", 422
        ) from exc


def _skill_text(folder: Path) -> str:
    """The SKILL.md of ``folder``; one that cannot be read, is too large or is not UTF-8 is a ``SkillError`` (422).
    Only ``MAX_SKILL_BYTES`` + 1 bytes are read: every listing reads every SKILL.md."""
    return read_skill_text(folder / SKILL_FILE, MAX_SKILL_BYTES)


# The program that lists a script's public top-level functions, run in a child process. ``ast.parse`` holds the GIL
# for as long as it runs, and some texts well under MAX_SCRIPT_BYTES take it seconds (one long f-string: 15 s for
# 512 KiB): in the server's own process that would stop its event loop, however the call is put in a thread.
_NAMES_PROGRAM = """
import ast, json, sys
data = sys.stdin.buffer.read()
try:
    tree = ast.parse(data.decode("utf-8"), filename=sys.argv[1])
except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
    answer = {"error": str(exc) or type(exc).__name__}
else:
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef)
    answer = {"names": [n.name for n in tree.body if isinstance(n, kinds) and not n.name.startswith("_")]}
sys.stdout.write(json.dumps(answer))
"""


class _NamesCache:
    """What parsing found in a script, by the script's identity on disk (path, device, inode, size, mtime).

    Every enable checks the tools of every enabled skill, and every ``load_skill`` lists them: the files rarely
    change, and parsing each one costs a process. Kept for the whole server (the stores are made per request) and
    bounded; an entry is only what a file's contents decide, so a stale one cannot outlive a change of the file.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[tuple[Any, ...], tuple[str, ...] | str] = OrderedDict()
        self._lock = threading.Lock()  # the stores run in worker threads

    def get(self, key: tuple[Any, ...]) -> tuple[str, ...] | str | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[Any, ...], value: tuple[str, ...] | str) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


_PARSED = _NamesCache(512)


def _parse_names(data: bytes, path: Path) -> tuple[str, ...] | str:
    """The public top-level functions of the script ``data``, or why it cannot be parsed (a message)."""
    label = file_label(path)
    try:
        done = subprocess.run(  # our own program and interpreter: the script is only data on its stdin
            [sys.executable, "-I", "-S", "-c", _NAMES_PROGRAM, str(path)],
            input=data,
            capture_output=True,
            timeout=PARSE_TIMEOUT_S,
            env=child_env(os.environ),
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise SkillError(
            f"{label}: cannot be parsed: parsing took longer than {PARSE_TIMEOUT_S:g} s; simplify the script", 422
        ) from exc
    except OSError as exc:
        raise SkillError(f"{label}: cannot be parsed: the parser did not start: {exc}", 422) from exc
    try:
        answer = json.loads(done.stdout)
        if "names" in answer:
            return tuple(str(n) for n in answer["names"])
        return str(answer["error"])
    except (ValueError, TypeError, KeyError):  # the parser itself failed (killed, out of memory): not cached
        raise SkillError(f"{label}: cannot be parsed: the parser ended with exit code {done.returncode}", 422) from None


def python_tool_names(path: Path) -> list[str]:
    """Public top-level functions of a skill script, found by parsing (the script is not run).

    ``SkillError`` (422) naming the file when it is not a regular file, is larger than ``MAX_SCRIPT_BYTES`` or
    cannot be parsed. A file unchanged since it was last parsed is not parsed again.
    """
    fd, info = _open_regular(path)
    try:
        key = (str(path), info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
        found = _PARSED.get(key)
        if found is None:
            found = _parse_names(_read_fd(fd, path, MAX_SCRIPT_BYTES, info), path)
            _PARSED.put(key, found)
    finally:
        os.close(fd)
    if isinstance(found, str):
        raise SkillError(f"{file_label(path)}: cannot be parsed: {found}", 422)
    return list(found)


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
                content = read_skill_text(path)
            except SkillError as exc:  # a fifo, a device, a huge file: listed, and the listing says why
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
