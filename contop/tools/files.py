"""File tools: read a text file by lines, edit it by exact search-and-replace, find files by glob and content.

Text is UTF-8, UTF-16 or UTF-32 with a byte-order mark, or a legacy single-byte encoding (see textcodec).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import io
import os
import re
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from contop.core.errors import ToolError
from contop.core.pathres import expand_path
from contop.security.paths import decision_resolver, policy_for
from contop.tools.context import ToolContext
from contop.tools.textcodec import DECIDE_BYTES, SURROGATE, TextEncoding, iter_lines, sniff

MAX_READ_BYTES = 1024 * 1024  # text returned by one read_file call
MAX_LINE_CHARS = 2000  # longer lines are cut so one minified line cannot flood the model
MAX_EDIT_BYTES = DECIDE_BYTES  # an edited file's encoding is decided on all of it, as read_file decides it
MAX_SEARCH_FILE_BYTES = 5 * 1024 * 1024  # files larger than this are not searched for text
MAX_FIND_RESULTS = 1000
FIND_TIME_LIMIT_S = 10.0
FIND_MAX_ENTRIES = 200_000
# Directories that are almost never what the user is looking for; searched only when the pattern names them.
NOISY_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", ".mypy_cache", ".tox"})
# Kernel files that hand out each byte once, by the folder the kernel serves them in: reading /proc/kmsg takes the
# messages from the system logger and a trace pipe its events from the tracer, and both wait while there are none.
# They look like empty regular files, so nothing else tells them apart.
DRAINING_FILES = (
    ("/proc", frozenset({"kmsg"})),
    ("/sys/kernel/tracing", frozenset({"trace_pipe", "trace_pipe_raw"})),
    ("/sys/kernel/debug/tracing", frozenset({"trace_pipe", "trace_pipe_raw"})),
)


def tool_result(stdout: str, started: float, **extra: Any) -> dict[str, Any]:
    """The success shape every tool of this family returns (errors are raised as ToolError)."""
    return {
        "status": "success",
        "stdout": stdout,
        "stderr": "",
        "exit_code": 0,
        "duration_ms": int((time.monotonic() - started) * 1000),
        **extra,
    }


def resolve(ctx: ToolContext, raw: str) -> str:
    """The absolute path a tool opens for ``raw``: the same resolution the security gate judged."""
    if not raw or not raw.strip():
        raise ToolError("A file path is required.")
    if "\x00" in raw:
        raise ToolError(f"The path {raw!r} contains a NUL character (\\0), which no file name can hold.")
    return expand_path(raw, cwd=ctx.cwd, home=ctx.home, windows=os.name == "nt")


def protected_paths(ctx: ToolContext) -> Callable[[str], bool]:
    """Whether an absolute path is or lies in a restricted location (the state directory, ~/.ssh, ~/.aws, the
    user's restricted paths), by the gate's own policy and following symlinks as it does.

    The gate judges the folder a walking tool starts from, not every entry below it: a walk from an ancestor of
    the state directory would otherwise list and read ``admin.token``. Such a tool checks each folder before
    entering it and each file before listing, reading or changing it.
    """
    policy = policy_for(ctx.home, str(ctx.state_dir), ctx.restricted_paths, os.name == "nt", ctx.cwd)
    resolve = decision_resolver()
    return lambda path: policy.restricted(path, ctx.cwd, resolve) is not None


def check_regular_file(path: str) -> os.stat_result:
    """stat() of an existing regular file, or a ToolError saying what is wrong with the path."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ToolError(f"File not found: {path}") from None
    except PermissionError:
        raise ToolError(f"Permission denied: {path}") from None
    except OSError as exc:
        raise ToolError(f"Cannot access {path}: {exc.strerror or exc}") from exc
    if stat.S_ISDIR(st.st_mode):
        raise ToolError(f"{path} is a directory, not a file (use find_files to list its contents).")
    if not stat.S_ISREG(st.st_mode):
        raise ToolError(f"{path} is not a regular file.")
    refuse_draining(path, st)
    return st


def drains_when_read(path: str, st: os.stat_result) -> bool:
    """Whether reading the regular file ``path`` (its stat ``st``) would take its content away from the system: one
    of DRAINING_FILES, told by its name and by the file system it is on (that of the folder they live in)."""
    if st.st_size != 0 or not stat.S_ISREG(st.st_mode):
        return False
    name = os.path.basename(os.path.realpath(path))
    for folder, names in DRAINING_FILES:
        if name in names:
            with contextlib.suppress(OSError):
                if os.stat(folder).st_dev == st.st_dev:
                    return True
    return False


def refuse_draining(path: str, st: os.stat_result) -> None:
    """A ToolError for a file drains_when_read() names, before a byte of it is read."""
    if drains_when_read(path, st):
        raise ToolError(
            f"{path} is a kernel stream, not a file: reading it takes each message away from the system (the logger "
            "or tracer that should get it) and waits while there is none, so it was not read. For kernel messages "
            "run 'dmesg' or 'journalctl -k'; for a trace, read the 'trace' file beside it."
        )


def open_regular(path: str) -> tuple[BinaryIO, os.stat_result]:
    """``path`` opened for reading, with the stat of what was opened: a regular file, never anything that could
    make the read wait.

    The open does not wait (O_NONBLOCK: a FIFO put in the file's place since it was checked opens at once, and is
    then refused), and neither do reads of kernel files that honour the flag; on a regular file it changes nothing.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise ToolError(f"File not found: {path}") from None
    except PermissionError:
        raise ToolError(f"Permission denied: {path}") from None
    except OSError as exc:
        raise ToolError(f"Cannot open {path}: {exc.strerror or exc}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ToolError(f"{path} is not a regular file.")
        refuse_draining(path, st)
        return os.fdopen(fd, "rb"), st
    except BaseException:
        os.close(fd)
        raise


def read_at_most(f: BinaryIO, limit: int, path: str) -> bytes:
    """Up to ``limit`` bytes from the start of ``f`` (opened by open_regular). A kernel file that has nothing to
    give yet ends the read rather than making it wait; if it had nothing at all, a ToolError says so."""
    data: bytes | None
    try:
        data = f.read(limit)
    except BlockingIOError:
        data = None
    except PermissionError:
        raise ToolError(f"Permission denied: {path}") from None
    except OSError as exc:
        raise ToolError(f"Cannot read {path}: {exc.strerror or exc}") from exc
    if data is None:
        raise ToolError(f"{path} has nothing to read now: it is a kernel stream that waits for data, not a file.")
    return data


class _FileLocks:
    """One lock per file, for the tools that read a file, change it and write it back.

    The agent makes parallel tool calls: two edits of one file, each reading the old content and atomically
    replacing the whole file, would both succeed while the second silently drops the first. The locks are
    process-wide (every session shares the file system) and live only while someone holds or waits for them.
    They are taken in the worker thread that does the I/O, so a caller cancelled while its thread still writes
    keeps the file locked until that write is over.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[Hashable, tuple[threading.Lock, int]] = {}

    @contextlib.contextmanager
    def hold(self, path: str) -> Iterator[str]:
        """Hold the lock of the file ``path`` names (symlinks followed); yields that real path.

        Two locks: the real path's, which serialises everyone using that name (even while the file is being made,
        or replaced by a rename that gives it a new inode), then the inode's, which serialises the names of a file
        with hard links. The path's is always taken first, so two callers never wait on each other in a circle.
        """
        real = os.path.realpath(path)
        self._take(real)
        inode: Hashable | None = None
        try:
            while True:
                inode = file_identity(real)
                if inode is None:  # not made yet: no other name can reach it
                    break
                self._take(inode)
                if file_identity(real) == inode:
                    break
                # Replaced while we waited, by an edit through another name that dropped its last other link.
                self._give_back(inode)
                inode = None
            yield real
        finally:
            if inode is not None:
                self._give_back(inode)
            self._give_back(real)

    def _take(self, key: Hashable) -> None:
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        lock.acquire()

    def _give_back(self, key: Hashable) -> None:
        with self._guard:
            lock, users = self._locks[key]
            lock.release()
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


def file_identity(path: str) -> tuple[int, int] | None:
    """What identifies the file at ``path`` whatever its name: its device and inode; None when there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


_file_locks = _FileLocks()


def locked_file(path: str) -> contextlib.AbstractContextManager[str]:
    """Serialise read-modify-write of one file across threads; yields its real path (call from a worker thread)."""
    return _file_locks.hold(path)


def check_writable(path: str, st: os.stat_result) -> None:
    """Refuse to replace an existing file its owner marked read-only or that this process may not write.

    Replacing goes through a rename in the folder, which would succeed anyway (and give the file to us); an
    editor would refuse or warn. Root may write anything, so a file with no write bit at all is refused too.
    """
    if os.access(path, os.W_OK) and stat.S_IMODE(st.st_mode) & 0o222:
        return
    mode = f"mode {stat.S_IMODE(st.st_mode):04o}"
    if stat.S_IMODE(st.st_mode) & 0o222 == 0:
        raise ToolError(
            f"Permission denied: {path} is read-only ({mode}); it was left unchanged. Make it writable first if "
            "it really should change."
        )
    raise ToolError(
        f"Permission denied: {path} is read-only for this user ({mode}, owned by {_owner_name(st.st_uid)}); it was "
        "left unchanged."
    )


def _owner_name(uid: int) -> str:
    with contextlib.suppress(ImportError, KeyError):
        import pwd

        return pwd.getpwuid(uid).pw_name
    return f"uid {uid}"


# --------------------------------------------------------------------------------------------------- read_file


async def read_file(ctx: ToolContext, file_path: str, offset: int = 0, limit: int = 200) -> dict[str, Any]:
    """Read a text file with line numbers, ``limit`` lines starting after ``offset`` lines (0-based)."""
    started = time.monotonic()
    if offset < 0:
        raise ToolError("offset must be 0 or more (it is the number of lines to skip).")
    if limit < 1:
        raise ToolError("limit must be at least 1 line.")
    path = resolve(ctx, file_path)
    text = await asyncio.to_thread(_read_lines, path, offset, limit)
    return tool_result(text, started)


def _read_lines(path: str, offset: int, limit: int) -> str:
    check_regular_file(path)
    opened, st = open_regular(path)
    with opened as f:
        # The encoding is decided on as much of the file as edit_file and find_files decide it on, so all three read
        # it alike (a file may turn out not to be UTF-8 only near its end).
        head = read_at_most(f, DECIDE_BYTES, path)
        # A kernel file reports no size, and reading it twice might not give the same text: what was read is it.
        pseudo = st.st_size == 0
        whole = len(head) < DECIDE_BYTES or (not pseudo and len(head) >= st.st_size)
        encoding = sniff(head, whole=whole)
        if encoding is None:
            raise ToolError(
                f"{path} looks like a binary file, not text; read_file only shows text "
                "(use read_pdf, read_image or read_excel for documents)."
            )
        source: BinaryIO = io.BytesIO(head) if pseudo else f
        source.seek(0)
        try:
            text = _format_lines(source, offset, limit, encoding)
        except OSError as exc:
            raise ToolError(f"Cannot read {path}: {exc.strerror or exc}") from exc
    notes = [encoding.note()] if encoding.note() else []
    if pseudo and not whole:
        notes.append(f"(this file reports no size; only its first {human_size(DECIDE_BYTES)} were read)")
    return "\n".join([*notes, text])


def _format_lines(f: Any, offset: int, limit: int, encoding: TextEncoding) -> str:
    out: list[str] = []
    size = 0
    number = 0
    more = False
    cut_by_size = False
    for raw in iter_lines(f, encoding, MAX_LINE_CHARS + 1):
        number += 1
        if number <= offset:
            continue
        if len(out) >= limit:
            more = True
            break
        line = raw.rstrip("\r\n")
        if len(line) > MAX_LINE_CHARS:
            line = line[:MAX_LINE_CHARS] + f" … [line cut at {MAX_LINE_CHARS} characters]"
        entry = f"{number:>6}\t{line}"
        if size + len(entry) + 1 > MAX_READ_BYTES and out:
            more = cut_by_size = True
            break
        out.append(entry)
        size += len(entry) + 1
    if number == 0:
        return "(empty file)"
    if not out:
        return f"(offset {offset} is past the end of the file, which has {number} lines)"
    text = "\n".join(out)
    if more:
        last = offset + len(out)
        reason = "output size limit reached; " if cut_by_size else ""
        text += f"\n[{reason}showing lines {offset + 1}-{last}; more lines follow, call again with offset={last}]"
    return text


# --------------------------------------------------------------------------------------------------- edit_file


async def edit_file(
    ctx: ToolContext, file_path: str, old_string: str, new_string: str, replace_all: bool = False
) -> dict[str, Any]:
    """Replace ``old_string`` by ``new_string``; it must occur exactly once unless ``replace_all``."""
    started = time.monotonic()
    if old_string == "":
        raise ToolError("old_string is empty; give the exact text to replace.")
    if old_string == new_string:
        raise ToolError("old_string and new_string are identical; there is nothing to change.")
    if SURROGATE.search(old_string) or SURROGATE.search(new_string):
        # Half of a UTF-16 pair is no character; written through it would become a stray byte in the file.
        raise ToolError("old_string or new_string holds an unpaired surrogate (\\ud800-\\udfff), which is not text.")
    path = resolve(ctx, file_path)
    count, encoding = await asyncio.to_thread(_edit, path, old_string, new_string, replace_all)
    what = f"{count} occurrences" if count > 1 else "1 occurrence"
    if not encoding.is_utf8:
        kept = f" (written back in its encoding, {encoding.label})"
    elif encoding.stray:
        kept = f" (its {encoding.stray} byte(s) that are not valid UTF-8 were written back unchanged)"
    else:
        kept = ""
    return tool_result(f"Edit applied successfully: replaced {what} in {path}{kept}", started)


def _edit(path: str, old: str, new: str, replace_all: bool) -> tuple[int, TextEncoding]:
    # Write through a symlink to its target, as an editor does, instead of replacing the link by a file.
    with locked_file(path) as target:
        return _edit_locked(path, target, old, new, replace_all)


def _edit_locked(path: str, target: str, old: str, new: str, replace_all: bool) -> tuple[int, TextEncoding]:
    st = check_regular_file(target)
    check_writable(path, st)
    if st.st_size > MAX_EDIT_BYTES:
        raise ToolError(
            f"{path} is too large to edit ({human_size(st.st_size)}; the limit is {human_size(MAX_EDIT_BYTES)})."
        )
    opened, _ = open_regular(target)
    with opened as f:
        data = read_at_most(f, MAX_EDIT_BYTES + 1, path)
    if len(data) > MAX_EDIT_BYTES:  # a kernel file, which reports no size
        raise ToolError(f"{path} is too large to edit (more than {human_size(MAX_EDIT_BYTES)}).")
    encoding = sniff(data, whole=True)
    if encoding is None:
        raise ToolError(f"{path} looks like a binary file; edit_file only edits text files.")
    try:
        content = encoding.decode(data)
    except UnicodeDecodeError:
        raise ToolError(f"{path} is not valid {encoding.label} text; edit_file cannot change it safely.") from None
    count = content.count(old)
    if count == 0 and "\r\n" in content and "\n" in old and "\r\n" not in old:
        # The model usually writes '\n'; match a file with Windows line endings anyway. The new text gets the
        # file's endings too, whichever it was written with.
        old, new = old.replace("\n", "\r\n"), new.replace("\r\n", "\n").replace("\n", "\r\n")
        count = content.count(old)
        if count and old == new:
            raise ToolError(
                "old_string and new_string differ only in their line endings, and in this file, whose lines end in "
                f"\\r\\n, they are the same text; there is nothing to change, and {path} was left unchanged."
            )
    if count == 0:
        hint = ""
        if encoding.stray and "\ufffd" in old:
            hint = (
                f" The file's {encoding.stray} byte(s) that are not valid UTF-8 show as \ufffd in read_file but are "
                "not that character; leave them out of old_string."
            )
        raise ToolError(
            f"old_string was not found in {path}; it must match the file exactly, whitespace included.{hint}"
        )
    if count > 1 and not replace_all:
        raise ToolError(
            f"old_string occurs {count} times in {path}; include more surrounding text to make it unique, "
            "or set replace_all=true to replace every occurrence."
        )
    updated = content.replace(old, new) if replace_all else content.replace(old, new, 1)
    try:
        encoded = encoding.encode(updated)
    except UnicodeEncodeError as exc:
        raise ToolError(
            f"{path} is {encoding.label} text, which cannot hold {exc.object[exc.start : exc.end]!r} from "
            "new_string; the file was left unchanged."
        ) from None
    atomic_write(target, encoded, like=st)
    return count, encoding


def atomic_write(path: str, data: bytes, *, like: os.stat_result | None = None) -> None:
    """Replace ``path`` with ``data`` all at once: temp file in the same directory, fsync, rename.

    ``like`` is the stat of the file being replaced: its permission bits (and owner, when we may) are kept.
    On any failure the original file is untouched and the temp file is removed.

    A file with other hard links, or in a folder we may not create files in, is rewritten in place instead (as
    editors do): a rename would leave the other names on the old content, or cannot happen at all.
    """
    directory = os.path.dirname(path) or "."
    if like is not None and like.st_nlink > 1:
        _rewrite_in_place(path, data)
        return
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    except PermissionError:
        if like is not None:
            _rewrite_in_place(path, data)
            return
        raise ToolError(f"Permission denied: cannot write in {directory}") from None
    except OSError as exc:
        raise ToolError(f"Cannot write in {directory}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if like is not None:
            _copy_owner_and_mode(tmp, like)
        else:
            os.chmod(tmp, new_file_mode())  # mkstemp makes 0600; a new file gets the usual umask-based mode
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise ToolError(f"Could not write {path}: {exc.strerror or exc}; the file was left unchanged.") from exc
        raise
    _fsync_dir(directory)


def _rewrite_in_place(path: str, data: bytes) -> None:
    """Overwrite the existing file ``path`` with ``data`` through its own inode.

    The space is reserved first, so a full disk fails before a byte changes; should a write fail all the same, the
    old content is put back."""
    try:
        fd = os.open(path, os.O_RDWR)
    except PermissionError:
        raise ToolError(f"Permission denied: {path}") from None
    except OSError as exc:
        raise ToolError(f"Could not write {path}: {exc.strerror or exc}; the file was left unchanged.") from exc
    with os.fdopen(fd, "r+b") as f:
        old = f.read()
        try:
            if len(data) > len(old) and hasattr(os, "posix_fallocate"):
                os.posix_fallocate(fd, 0, len(data))
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # no preallocation on this file system
                raise ToolError(f"Could not write {path}: {exc.strerror or exc}; the file was left unchanged.") from exc
        try:
            f.seek(0)
            f.write(data)
            f.truncate()
            f.flush()
            os.fsync(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                f.seek(0)
                f.write(old)
                f.truncate()
                f.flush()
            raise ToolError(f"Could not write {path}: {exc.strerror or exc}; its old content was put back.") from exc


def new_file_mode() -> int:
    """The mode ``open()`` would give a new file: 0666 minus the process umask."""
    mask: int | None = None
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("Umask:"):
                mask = int(line.split()[1], 8)
                break
    if mask is None:  # no /proc: read the umask by setting it (briefly) and restoring it
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


def _copy_owner_and_mode(path: str, like: os.stat_result) -> None:
    if hasattr(os, "chown"):
        st = os.stat(path)
        if (st.st_uid, st.st_gid) != (like.st_uid, like.st_gid):
            # Only root can give a file away; for anyone else the new file simply stays theirs.
            with contextlib.suppress(OSError):
                os.chown(path, like.st_uid, like.st_gid)
    os.chmod(path, stat.S_IMODE(like.st_mode))


def _fsync_dir(directory: str) -> None:
    if os.name == "nt":
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# -------------------------------------------------------------------------------------------------- find_files


async def find_files(
    ctx: ToolContext,
    pattern: str,
    search_text: str | None = None,
    path: str | None = None,
    max_results: int = 50,
) -> dict[str, Any]:
    """Find files whose path matches the glob ``pattern`` under ``path`` (default: the working directory).

    A pattern without '/' matches file names at any depth (``*.py``); with '/' it matches the path relative to
    the search root (``src/**/*.ts``). With ``search_text`` only files containing that text are listed.
    """
    started = time.monotonic()
    if not pattern or not pattern.strip():
        raise ToolError("pattern is required, for example '*.py' or 'src/**/*.ts'.")
    if max_results < 1:
        raise ToolError("max_results must be at least 1.")
    max_results = min(max_results, MAX_FIND_RESULTS)
    root, rel_pattern = _split_root(ctx, pattern.strip(), path)
    search = _Search(
        root=root,
        protected=protected_paths(ctx),
        matcher=compile_glob(rel_pattern, ignore_case=os.name == "nt"),
        pattern=rel_pattern,
        text=search_text or None,
        max_results=max_results,
        deadline=time.monotonic() + FIND_TIME_LIMIT_S,
    )
    await asyncio.to_thread(search.run)
    return tool_result(search.report(pattern), started, skipped_protected=search.skipped_protected)


def _split_root(ctx: ToolContext, pattern: str, path: str | None) -> tuple[str, str]:
    """Search root (``path`` or the working directory) and the pattern relative to it.

    The pattern may not carry its own root ('/etc/*', '~/x', '../*'): the security gate judges ``path``, so the
    search never leaves it.
    """
    windows = os.name == "nt"
    if windows:
        pattern = pattern.replace("\\", "/")
    if pattern.startswith(("/", "~")) or (windows and re.match(r"^[A-Za-z]:", pattern) is not None):
        raise ToolError(
            f"pattern '{pattern}' is an absolute path; put the folder in 'path' and keep the pattern relative "
            "(for example path='/var/log', pattern='*.log')."
        )
    while pattern.startswith("./"):
        pattern = pattern[2:]
    if ".." in pattern.split("/"):
        raise ToolError(f"pattern '{pattern}' goes up with '..'; put the folder to search in 'path' instead.")
    root = resolve(ctx, path) if path else resolve(ctx, ".")
    return root, pattern


def compile_glob(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """Translate a glob with ``**`` into a regex over '/'-separated relative paths; a ToolError names what is
    wrong with a malformed pattern in the pattern's own terms."""
    original = pattern
    if "/" not in pattern:
        pattern = "**/" + pattern
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            start = i + 2 if pattern[i + 1 : i + 2] in ("!", "^") else i + 1
            if pattern[start : start + 1] == "]":  # a ']' first in the set is one of its characters
                start += 1
            end = pattern.find("]", start)
            if end == -1:
                out.append(re.escape(c))
                i += 1
            else:
                out.append(_glob_class(pattern[i + 1 : end], original))
                i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    try:
        return re.compile("".join(out) + r"\Z", re.IGNORECASE if ignore_case else 0)
    except re.error as exc:  # its message and position describe the regex, not what the user wrote
        raise ToolError(f"Invalid pattern '{original}': {exc.msg}.") from None


def _glob_class(body: str, pattern: str) -> str:
    """The regex of a glob character set ``[body]``: ``[!a-z]`` negates; every other character is literal."""
    negate = body[:1] in ("!", "^")
    chars = body[1:] if negate else body
    i = 0
    while i < len(chars):
        if i + 2 < len(chars) and chars[i + 1] == "-":
            if chars[i] > chars[i + 2]:
                span = chars[i : i + 3]
                raise ToolError(
                    f"Invalid pattern '{pattern}': the character range '{span}' in '[{body}]' goes backwards; "
                    f"write it low to high, as '{chars[i + 2]}-{chars[i]}'."
                )
            i += 3
        else:
            i += 1
    # Escape what the regex engine would read as an escape, a nested set or a set operation ('&&', '~~', '||').
    escaped = re.sub(r"([\\\[&~|])", r"\\\1", chars)
    return "[" + ("^" if negate else "") + escaped + "]"


@dataclass
class _Search:
    root: str
    protected: Callable[[str], bool]
    matcher: re.Pattern[str]
    pattern: str
    text: str | None
    max_results: int
    deadline: float
    hits: list[str] = field(default_factory=list)
    more: bool = False
    timed_out: bool = False
    scanned: int = 0
    skipped_dirs: int = 0
    skipped_protected: int = 0
    # Files whose names match but whose text was not searched, and why.
    unsearched_large: int = 0
    unsearched_links: int = 0
    unsearched_unreadable: int = 0

    def run(self) -> None:
        try:
            st = os.stat(self.root)
        except OSError:
            raise ToolError(f"Directory not found: {self.root}") from None
        if not stat.S_ISDIR(st.st_mode):
            raise ToolError(f"{self.root} is not a directory; give a folder to search in as path.")
        if self.protected(self.root):
            self.skipped_protected += 1
            return
        self._walk(self.root)

    def _walk(self, top: str) -> None:
        # Depth-first, in name order, without recursion (deep trees) and without entering symlinked folders:
        # that rules out loops and keeps the search inside the folder the gate approved.
        stack: list[tuple[str, str]] = [(top, "")]
        while stack and not self._stop():
            directory, rel = stack.pop()
            try:
                with os.scandir(directory) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError:
                self.skipped_dirs += 1
                continue
            subdirs: list[tuple[str, str]] = []
            for entry in entries:
                if self._stop():
                    return
                self.scanned += 1
                rel_path = f"{rel}{entry.name}"
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                    is_file = not is_dir and entry.is_file()
                except OSError:
                    continue
                if is_dir:
                    if entry.name in NOISY_DIRS and entry.name not in self.pattern:
                        continue
                    if self.protected(entry.path):
                        self.skipped_protected += 1
                    else:
                        subdirs.append((entry.path, rel_path + "/"))
                elif is_file and self.matcher.match(rel_path):
                    if self.protected(entry.path):
                        self.skipped_protected += 1
                        continue
                    hit = self._hit(entry)
                    if hit is None:
                        continue
                    if len(self.hits) >= self.max_results:
                        self.more = True
                        return
                    self.hits.append(hit)
            stack.extend(reversed(subdirs))

    def _stop(self) -> bool:
        if self.more or self.timed_out:
            return True
        if self.scanned >= FIND_MAX_ENTRIES or time.monotonic() > self.deadline:
            self.timed_out = True
            return True
        return False

    def _hit(self, entry: os.DirEntry[str]) -> str | None:
        """The line to list for a matching file, or None when it lacks the searched text.

        A symlinked file is listed by name but never read: its target may lie outside the approved folder.
        """
        if self.text is None:
            return entry.path
        if entry.is_symlink():
            self.unsearched_links += 1
            return None
        found = self._first_match(entry.path, self.text)
        return None if found is None else f"{entry.path}:{found[0]}: {found[1]}"

    def _first_match(self, path: str, needle: str) -> tuple[int, str] | None:
        try:
            if os.stat(path).st_size > MAX_SEARCH_FILE_BYTES:
                self.unsearched_large += 1
                return None
            opened, _ = open_regular(path)
            with opened as f:
                data = read_at_most(f, MAX_SEARCH_FILE_BYTES + 1, path)
        except (OSError, ToolError):
            self.unsearched_unreadable += 1
            return None
        if len(data) > MAX_SEARCH_FILE_BYTES:  # a kernel file, which reports no size
            self.unsearched_large += 1
            return None
        encoding = sniff(data, whole=True)
        if encoding is None:  # binary: there is no text to search
            return None
        content = encoding.decode(data, errors="replace")
        index = content.find(needle)
        if index < 0:
            return None
        line_no = content.count("\n", 0, index) + 1
        start = content.rfind("\n", 0, index) + 1
        end = content.find("\n", index)
        line = content[start : end if end >= 0 else len(content)].strip()
        return line_no, line[:200]

    def report(self, pattern: str) -> str:
        what = f"files matching '{pattern}'" + (f" containing '{self.text}'" if self.text else "")
        if not self.hits:
            text = f"No {what} in {self.root}"
        else:
            text = f"Found {len(self.hits)} {what} in {self.root}:\n" + "\n".join(self.hits)
        notes: list[str] = []
        if self.more:
            notes.append(f"showing the first {self.max_results}; more exist, narrow the pattern or raise max_results")
        if self.timed_out:
            notes.append("the search stopped early (time or size limit); results may be incomplete")
        if self.skipped_dirs:
            notes.append(f"{self.skipped_dirs} unreadable folder(s) skipped")
        unsearched = [
            f"{count} {why}"
            for count, why in (
                (self.unsearched_large, f"larger than {human_size(MAX_SEARCH_FILE_BYTES)}"),
                (self.unsearched_links, "symlinked (their targets may lie outside the folder searched)"),
                (self.unsearched_unreadable, "unreadable"),
            )
            if count
        ]
        if unsearched:
            notes.append("file(s) with matching names whose text was not searched: " + ", ".join(unsearched))
        if self.skipped_protected:
            notes.append(
                f"{self.skipped_protected} protected file(s) or folder(s) skipped: restricted locations (the state "
                "directory, ~/.ssh, your restricted paths…) are never listed or read"
            )
        if notes:
            text += "\n[" + "; ".join(notes) + "]"
        return text


def human_size(size: float) -> str:
    """1536 -> '1.5 KB'."""
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


TOOLS: dict[str, Callable[..., Any]] = {
    "read_file": read_file,
    "edit_file": edit_file,
    "find_files": find_files,
}
