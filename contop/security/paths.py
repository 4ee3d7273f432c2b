"""Path policy: restricted and secret locations, and what kind of place a path argument names.

Paths are resolved with ``contop.core.pathres`` exactly as the tools resolve them. The gate looks at the file
system only to follow symlinks (``Walk``, the same answers as ``os.path.realpath``, and a listing of the folder
where a glob or a tree read starts, for the links in it) and to find other servers' state directories; each
decision gets its own resolver from ``decision_resolver()``, which tests can replace or turn off with
``use_resolver`` (off: nothing is looked at).
"""

from __future__ import annotations

import errno
import fnmatch
import glob
import itertools
import ntpath
import os
import posixpath
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, cast
from urllib.parse import unquote

from contop.core.pathres import expand_path

Resolver = Callable[[str], str]


def _unnormalised(path: str) -> bool:
    """Relative, or with an empty, ``.`` or ``..`` component, or a trailing separator: not for the fast walk."""
    return (
        not path.startswith("/")
        or "//" in path
        or "/./" in path
        or "/../" in path
        or path.endswith(("/.", "/.."))
        or (path.endswith("/") and path != "/")
    )


class Walk:
    """``os.path.realpath`` for the paths of one decision, remembering every folder on the way.

    A path with no folder remembered yet is resolved by the kernel where it can (``_first``). A command's paths
    mostly share their folders (the working directory, above all), so each later path usually costs one
    ``readlink`` of its last component: it fails with EINVAL for an existing name that is not a link and ENOENT
    for a missing one, and below a missing name nothing can be a link, so the rest is appended as written.
    A link, or any other error (no permission, a file used as a folder, a loop), goes to ``os.path.realpath``,
    so the answer is always the same as its. The memory lasts one decision only: the file system can change
    between two commands, and a stale answer could hide a link made meanwhile. For the same reason it also keeps,
    for this decision only, the links listed in each folder and the policy's answers about paths: a line naming
    the same folder a thousand times lists it once.
    """

    __slots__ = ("answers", "known", "listings")

    def __init__(self) -> None:
        self.known: dict[str, tuple[str, bool]] = {}  # path as written -> (real path, exists)
        self.listings: dict[str, list[str] | None] = {}  # folder -> names of the links in it (None: unreadable)
        self.answers: dict[tuple[object, ...], str | None] = {}  # a policy question -> its answer

    def __call__(self, path: str) -> str:
        if path.startswith(("/proc/", "/dev/")) or _unnormalised(path):
            mine = _through_process(path)
            if mine is not None:
                return mine
        if _unnormalised(path):
            return os.path.realpath(path)
        if path == "/":
            return "/"
        known = self.known
        pos, real, exists = 0, "", True  # start at the root unless a folder on the way is remembered
        probe = path
        while known:
            hit = known.get(probe)
            if hit is not None:
                pos = len(probe)
                real, exists = hit
                break
            cut = probe.rfind("/")
            if cut <= 0:
                break
            probe = probe[:cut]
        if pos == 0 and _KERNEL_NAMES:
            first = self._first(path)
            if first is not None:
                return first
        end = len(path)
        while pos < end:
            nxt = path.find("/", pos + 1)
            if nxt < 0:
                nxt = end
            here = path[:nxt]
            if exists:
                try:
                    os.readlink(here)
                except OSError as exc:
                    if exc.errno == errno.EINVAL:
                        real += path[pos:nxt]
                    elif exc.errno == errno.ENOENT:
                        real += path[pos:nxt]
                        exists = False
                    else:
                        return os.path.realpath(path)
                else:  # a link: let realpath follow it; a dangling or looping one ends the walk there
                    mine = _through_process(path)
                    if mine is not None:
                        return mine
                    if not os.access(here, os.F_OK):
                        return os.path.realpath(path)
                    # the root is kept as "" like at the start: a link to '/' followed by 'etc' must give
                    # '/etc', not '//etc', which no protected prefix matches
                    real = os.path.realpath(here).rstrip("/")
            else:
                real += path[pos:nxt]
            known[here] = (real, exists)
            pos = nxt
        return real or "/"

    def _first(self, path: str) -> str | None:
        """A path with no folder remembered (the working directory, first), resolved by the kernel: the longest
        existing part opened with ``O_PATH`` and named back through ``/proc/self/fd``, a few system calls whatever
        its depth. None when nothing but the root exists (the walk does that)."""
        head, tail = path, ""
        while not os.access(head, os.F_OK):  # no exception to build for a missing name, unlike readlink
            cut = head.rfind("/")
            if cut <= 0:
                return None
            tail = head[cut:] + tail
            head = head[:cut]
        try:
            fd = os.open(head, _O_PATH | os.O_CLOEXEC)
        except OSError:
            return os.path.realpath(path)  # removed or made unreadable meanwhile
        try:
            real = os.readlink(f"{_PROC_FD}{fd}")
            if tail and os.access(tail.split("/", 2)[1], os.F_OK, dir_fd=fd, follow_symlinks=False):
                return os.path.realpath(path)  # the first missing name exists without following: a dangling link
        except OSError:
            return os.path.realpath(path)
        finally:
            os.close(fd)
        if not real.startswith("/"):
            return os.path.realpath(path)
        real = real.rstrip("/")
        if real != head.rstrip("/"):  # a link on the way, which may lead into the gate's own folders
            mine = _through_process(path)
            if mine is not None:
                return mine
        known = self.known
        known[head] = (real, True)
        cut = len(head)
        while cut < len(path):  # the missing names below it, for the paths that follow
            cut = path.find("/", cut + 1)
            if cut < 0:
                cut = len(path)
            known[path[:cut]] = (real + path[len(head) : cut], False)
        return (real + tail) or "/"


# The places whose links lead where the process following them is (its folder, its root, its open files): the
# gate's own realpath would find the gate's, not those of the shell that runs the command.
_PROCESS_PLACE = re.compile(r"^/(?:proc/[^/]+(?:/task/[^/]+)?/(?:cwd|root|fd|map_files)|dev/fd|dev/std(?:in|out|err))$")


def _through_process(path: str) -> str | None:
    """``path`` from the first place on its way, once the links before it are followed, that belongs to the
    process following it (``/tmp/pc/.ssh/id_rsa`` with ``pc -> /proc/self/cwd`` is ``/proc/self/cwd/.ssh/id_rsa``,
    which the path checks judge as such); None when it reaches none."""
    todo = path.split("/")[::-1]
    real, hops = "", 0
    while todo:
        name = todo.pop()
        if name in ("", "."):
            continue
        if name == "..":
            real = real[: real.rfind("/")]
            continue
        here = real + "/" + name
        if _PROCESS_PLACE.match(here):
            return "/".join([here, *todo[::-1]])
        try:
            target = os.readlink(here)
        except OSError:
            real = here
            continue
        hops += 1
        if hops > 40:  # a loop: realpath ends it as it does
            return None
        if target.startswith("/"):
            real = ""
        todo.extend(target.split("/")[::-1])
    return None


def _links_in(folder: str, resolve: object) -> list[str] | None:
    """The names of the symbolic links directly in ``folder`` (None: it cannot be listed), listed once per
    decision when ``resolve`` is that decision's ``Walk``."""
    listings = resolve.listings if isinstance(resolve, Walk) else None
    if listings is not None and folder in listings:
        return listings[folder]
    try:
        with os.scandir(folder) as entries:
            found: list[str] | None = [e.name for e in entries if e.is_symlink()]
    except (OSError, ValueError):
        found = None
    if listings is not None:
        listings[folder] = found
    return found


# A '..' component: the kernel applies it after following the link before it, so it cannot be folded as text.
_DOTDOT = re.compile(r"(?:^|/)\.\.(?:/|$)")
MAX_FOLDER_LINKS = 1024  # links in one folder followed when judging a read of the whole folder; more: ask


_O_PATH = getattr(os, "O_PATH", 0)
_PROC_FD = "/proc/self/fd/"
_KERNEL_NAMES = sys.platform.startswith("linux") and bool(_O_PATH) and os.path.isdir(_PROC_FD)


_NATIVE = object()  # no test override: resolve symlinks for real
_FRESH: Final = object()  # no resolver given: make one for this question alone
_override: object = _NATIVE


def decision_resolver() -> Resolver | None:
    """The symlink resolver for one decision: a fresh ``Walk`` on POSIX systems, ``os.path.realpath`` elsewhere,
    or what a test put in place with ``use_resolver`` (None: no resolution)."""
    if _override is _NATIVE:
        return Walk() if os.name == "posix" else os.path.realpath
    return cast("Resolver | None", _override)


@contextmanager
def use_resolver(resolver: Resolver | None) -> Iterator[None]:
    """Replace the symlink resolver for the duration of the block (``None`` turns symlink resolution off)."""
    global _override
    previous = _override
    _override = resolver
    try:
        yield
    finally:
        _override = previous


# Secrets the gate always protects, whatever the user's restricted list says (relative to the home directory).
_HOME_SECRETS = (
    ".ssh", ".gnupg", ".aws", ".azure", ".config/gcloud", ".kube/config", ".docker/config.json", ".netrc",
    ".git-credentials", ".pgpass", ".password-store", ".local/share/keyrings", ".mozilla/firefox",
    ".npmrc", ".pypirc", ".config/gh/hosts.yml", ".cargo/credentials", ".cargo/credentials.toml",
    ".config/google-chrome", ".config/chromium", ".config/BraveSoftware", "Library/Keychains",
    ".claude/.credentials.json", ".claude.json", ".codex/auth.json", ".gemini/oauth_creds.json",
    ".config/rclone/rclone.conf", ".config/github-copilot", ".bash_history", ".zsh_history", ".python_history",
    ".psql_history", ".mysql_history", ".sqlite_history", ".node_repl_history",
    "Library/Application Support/Google/Chrome", "Library/Application Support/Firefox/Profiles",
    "AppData/Local/Google/Chrome/User Data", "AppData/Local/Microsoft/Edge/User Data",
    "AppData/Roaming/Mozilla/Firefox/Profiles", "AppData/Roaming/Microsoft/Credentials",
    "AppData/Local/Microsoft/Credentials", "AppData/Roaming/Microsoft/Protect",
)  # fmt: skip
_ABS_SECRETS = (
    "/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/sudoers.d", "/etc/ssl/private", "/etc/ssh/ssh_host_rsa_key",
    "/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_ecdsa_key", "/root",
    "/proc/self/environ", "/var/db/sudo", "/private/etc/master.passwd",
    "C:\\Windows\\System32\\config\\SAM", "C:\\Windows\\System32\\config\\SYSTEM",
    "C:\\Windows\\System32\\config\\SECURITY",
)  # fmt: skip

_GLOB = re.compile(r"[*?\[]")
# In a POSIX shell, an extglob form too ('@(.ssh)', '!(x)': bash with 'shopt -s extglob'). Not in PowerShell,
# where '@(...)' is an array.
_POSIX_GLOB = re.compile(r"[*?\[]|[@+!]\(")
_EXTGLOB = re.compile(r"[@*+?!]\(")
_EXTGLOB_GROUP = re.compile(r"[@*+?!]\([^()]*\)")  # one with no other inside
# A bracket expression holding a POSIX class, equivalence class or collating symbol ('[[:alpha:]]'), which
# fnmatch does not know: judged as '?', any one character.
_CLASS_BRACKET = re.compile(r"\[[!^]?\]?(?:\[([:=.]).*?\1\]|[^\]])*\]")
_PROC_ENVIRON = re.compile(r"^/proc/[^/]+(/task/[^/]+)?/environ$")
# A program's memory (the server's holds its API keys), and the files a program sees, reached through its /proc
# folder: judged from here, /proc/self would be the server and /proc/$$ nothing at all.
_PROC_THROUGH = re.compile(r"^/proc/[^/]*(/task/[^/]+)?/(mem$|(cwd|root)/+[^/])")
_PS_ENV = re.compile(r"\$\{?env:([A-Za-z_][A-Za-z0-9_()]*)\}?", re.IGNORECASE)
_PS_PROVIDER = re.compile(r"^(?:Microsoft\.PowerShell\.Core\\)?FileSystem::", re.IGNORECASE)
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
DEVICE = re.compile(
    r"^/dev/(?:sd[a-z]|hd[a-z]|vd[a-z]|xvd[a-z]|nvme\d|mmcblk\d|disk\d|rdisk\d|md\d|dm-\d|mapper/|loop\d|"
    r"mem$|kmem$|port$|root$)|^\\\\\.\\physicaldrive|^\\\\\.\\[a-z]:",
    re.IGNORECASE,
)

# Top-level system trees: removing, moving or recursively re-owning any of these breaks the machine.
_POSIX_SYSTEM_TREES = frozenset(
    "/bin /boot /dev /etc /home /lib /lib32 /lib64 /libx32 /opt /proc /root /run /sbin /srv /sys /usr /var "
    "/usr/bin /usr/sbin /usr/lib /usr/lib64 /usr/share /usr/local /usr/include /var/lib /var/log /var/spool "
    "/System /Library /Applications /Users /private /private/etc /private/var /Volumes /snap /nix".split()
)
# Trees whose every file is the operating system itself (or its logs): touching anything inside is serious.
_POSIX_CRITICAL = (
    "/bin", "/boot", "/etc", "/lib", "/lib32", "/lib64", "/sbin", "/usr/bin", "/usr/sbin", "/usr/lib",
    "/usr/lib64", "/usr/libexec", "/var/log", "/var/lib/dpkg", "/var/lib/rpm", "/System", "/private/etc",
    "/proc", "/sys", "/dev",
)  # fmt: skip
_WIN_SYSTEM_TREES = frozenset(
    s.casefold()
    for s in (
        "C:\\Windows", "C:\\Users", "C:\\Program Files", "C:\\Program Files (x86)", "C:\\ProgramData",
        "C:\\Windows\\System32", "C:\\Windows\\SysWOW64", "C:\\Boot", "C:\\Recovery",
    )
)  # fmt: skip
_WIN_CRITICAL = ("C:\\Windows", "C:\\Boot", "C:\\Recovery", "C:\\Program Files", "C:\\Program Files (x86)")


class Place:
    """What kind of place a path names (ordered from harmless to catastrophic)."""

    ORDINARY: Final = 0
    SYSTEM_FILE: Final = 1  # inside a tree of operating system files
    HOME: Final = 2  # the home directory itself, an ancestor of it, or everything in it
    SYSTEM_TREE: Final = 3  # a top-level system tree or a drive root
    DEVICE: Final = 4  # a raw disk or memory device


@dataclass(frozen=True, slots=True)
class Policy:
    """Restricted roots, expanded once per context."""

    windows: bool
    home: str
    roots: tuple[tuple[str, str, tuple[str, ...]], ...]  # (display, normalised key, components)
    prefixes: tuple[str, ...]  # every root key followed by a separator, for one C-level startswith()

    def restricted(self, raw: str, cwd: str, resolve: Resolver | None, *, dotglob: bool = False) -> str | None:
        """The restricted entry ``raw`` is or lies inside (as written by the user), or None. ``resolve`` follows
        symlinks (``decision_resolver()``; None to judge the path as written). ``dotglob``: the command may have
        let wildcards match a leading dot (``shopt -s dotglob``, any ``GLOBIGNORE``), which only the caller can
        tell from the command line; otherwise ``~/*`` names no hidden entry such as ``~/.ssh``."""
        if not raw or ("://" in raw and _URL.match(raw)):
            return None
        answers = resolve.answers if isinstance(resolve, Walk) else None
        if answers is None:
            return self._restricted(raw, cwd, resolve, dotglob)
        key = ("restricted", id(self), raw, cwd, dotglob)  # the policy lives as long as the decision, at least
        if key in answers:
            return answers[key]
        hit = answers[key] = self._restricted(raw, cwd, resolve, dotglob)
        return hit

    def _restricted(self, raw: str, cwd: str, resolve: Resolver | None, dotglob: bool) -> str | None:
        path = self.expand(raw, cwd)
        candidates = [path]
        if "%" in raw or "$" in raw:
            # the tools only expand HOME/USERPROFILE; judge their reading of the path too
            plain = _expand(raw, cwd, self.home, self.windows, False)
            if plain != path:
                candidates.append(plain)
        if resolve is not None and self.windows == (os.name == "nt"):
            candidates += self._through_links(path, resolve, dotglob)
            if not self.windows:
                candidates += self._dots_after_links(raw, cwd, resolve, dotglob)
        if not self.windows and _PROC_THROUGH.match(raw):  # before '..' is folded: /proc/self/cwd/../.ssh
            candidates.append(raw)
        for candidate in candidates:
            if not self.windows and (_PROC_ENVIRON.match(candidate) or _proc_environ_glob(candidate)):
                return "/proc/*/environ"  # any program's environment: the server's holds its API keys
            if not self.windows and _PROC_THROUGH.match(candidate):
                return "/proc/*/mem, /proc/*/cwd/… and /proc/*/root/… (a program's memory and files)"
            hit = self._root_of(candidate, dotglob)
            if hit is not None:
                return hit
        if resolve is not None:  # judging for real: the disk may be looked at
            for candidate in candidates:
                other = other_state_dir(candidate, self.windows)
                if other is not None:
                    return other
        return None

    def _root_of(self, path: str, dotglob: bool) -> str | None:
        """The restricted entry ``path`` is or lies inside, or for a glob one it can name, or None."""
        sep = "\\" if self.windows else "/"
        key = (path.casefold() if self.windows else path).rstrip(sep) + sep
        # roots are stored normalised (and case-folded on Windows), so a prefix test is component-wise
        if key.startswith(self.prefixes):
            return next(d for d, root, _ in self.roots if key.startswith(root.rstrip(sep) + sep))
        if not self._glob(path) and not (self.windows and "~" in path and _SHORT_NAME_IN.search(path)):
            return None
        comps = _components(path, self.windows)
        literal = _first_glob(comps, self.windows)
        head = comps[:literal]
        for display, _, root_comps in self.roots:
            # the components before the first glob must match exactly; only then try the patterns
            if root_comps[:literal] == head and self._meets(comps[literal:], root_comps[literal:], dotglob)[1]:
                return display
        return None

    def _glob(self, text: str) -> re.Match[str] | None:
        return (_GLOB if self.windows else _POSIX_GLOB).search(text)

    def _meets(self, patterns: tuple[str, ...], names: tuple[str, ...], dotglob: bool) -> tuple[bool, bool]:
        return _glob_meets(patterns, names, dotglob, not self.windows)

    def _through_links(self, path: str, resolve: Resolver, dotglob: bool) -> list[str]:
        """What ``path`` names once symlinks are followed, when that differs from ``path``. A glob is not resolved
        as a whole: the folders before its first pattern are (``sl/*`` with ``sl -> ~/.ssh`` is ``~/.ssh/*``), and
        each link in the last of them that the first pattern can match is followed too (``cat h*/.ssh/id_rsa``
        with ``hh -> ~``). Links that later patterns match are not looked for: that would list whole trees."""
        found = self._glob(path)
        if found is None:
            try:
                real = resolve(path)
            except (OSError, ValueError):
                return []
            return [real] if real != path else []
        sep = "\\" if self.windows else "/"
        cut = path.rfind(sep, 0, found.start())
        head = path[:cut] if cut > 0 and not path[:cut].endswith(":") else path[: cut + 1]  # keep '/' and 'C:\\'
        first, _, rest = path[cut + 1 :].partition(sep)
        out: list[str] = []
        try:
            real_head = resolve(head).rstrip(sep)
            if real_head != head.rstrip(sep):
                out.append(real_head + sep + path[cut + 1 :])
            listed = _links_in(real_head + sep, resolve) or []
            links = [name for name in listed if _component_matches(first, name, dotglob, not self.windows)]
            for name in links:
                real = resolve(real_head + sep + name)
                out.append(real.rstrip(sep) + sep + rest if rest else real)
        except (OSError, ValueError):
            pass  # a folder that does not exist (or cannot be read) holds no link the glob could match
        return out

    def _dots_after_links(self, raw: str, cwd: str, resolve: Resolver, dotglob: bool) -> list[str]:
        """What a POSIX path with a ``..`` component names for the kernel, which follows a link before the ``..``
        after it (``sl/../.ssh`` with ``sl -> ~/.ssh`` is ``~/.ssh``), as ``os.path.realpath`` does; ``expand``
        folds ``..`` as text, as the tools do. Only the part before the first ``..`` or pattern is expanded; a
        pattern is followed through each link it matches (``s*/../.ssh``). Empty when there is no ``..``."""
        text = raw.strip().strip("\"'")
        if _DOTDOT.search(text) is None:
            return []
        comps = text.split("/")
        cut = next(i for i, c in enumerate(comps) if c == ".." or self._glob(c))
        head = "/".join(comps[:cut]) or ("/" if text.startswith("/") else ".")
        out: list[str] = []
        self._follow_dots(self.expand(head, cwd), comps[cut:], resolve, dotglob, out)
        return out

    def _follow_dots(self, folder: str, rest: list[str], resolve: Resolver, dotglob: bool, out: list[str]) -> None:
        """The real paths ``folder/rest`` names, into ``out``: each pattern in ``rest`` both as text (a name that
        is no link: the ``..`` after it comes back) and as each link it matches. At most ``MAX_FOLDER_LINKS``."""
        glob_at = next((i for i, c in enumerate(rest) if self._glob(c)), len(rest))
        try:
            real = resolve(folder.rstrip("/") + "/" + "/".join(rest[:glob_at])).rstrip("/")
            if glob_at == len(rest):
                out.append(real or "/")
                return
            out.append(resolve(real + "/" + "/".join(rest[glob_at:])))
        except (OSError, ValueError):
            return
        for name in _links_in(real + "/", resolve) or []:
            if len(out) >= MAX_FOLDER_LINKS:
                return
            if _component_matches(rest[glob_at], name, dotglob, True):
                self._follow_dots(real + "/" + name, rest[glob_at + 1 :], resolve, dotglob, out)

    def expand(self, raw: str, cwd: str) -> str:
        return _expand(raw, cwd, self.home, self.windows)

    def holds_protected(self, folder: str, disk: bool) -> bool:
        """Whether a protected entry lies directly in ``folder`` (``/etc``, ``/proc/1``, another server's state
        directory when ``disk``): only there can a bare name such as ``shadow``, ``environ`` or ``admin.tok*``
        reach one, so only there are bare names judged as paths."""
        folders = [folder]
        if disk and self.windows == (os.name == "nt"):
            # the folder the shell went to through a link ('cd e' with e -> /etc) is where the names are looked up
            try:
                real = os.path.realpath(folder)
            except (OSError, ValueError):
                real = folder
            if real != folder:
                folders.append(real)
        for here in folders:
            comps = _components(here, self.windows)
            if any(root[:-1] == comps for _, _, root in self.roots):
                return True
            if not self.windows and comps[:1] == ("proc",) and len(comps) in (2, 4):
                return True
        return disk and any(other_state_dir(os.path.join(f, "admin.token"), self.windows) for f in folders)

    def restricted_inside(
        self,
        raw: str,
        cwd: str,
        resolve: Resolver | object | None = _FRESH,
        *,
        dotglob: bool = False,
        hidden: bool = True,
    ) -> str | None:
        """A restricted entry lying inside the folder ``raw`` (``~`` holds ``~/.ssh``), or None: what a command
        reading that whole tree would read too. ``resolve`` follows symlinks (None: judge the path as written;
        not given: a fresh ``decision_resolver()``): a folder that is a link to a restricted place, or to a folder
        holding one, counts as that place, and so does a folder with such a link directly in it (``grep -R``,
        ``zip -r`` and ``rsync -L`` follow it). Links deeper in the tree are not looked for. ``dotglob`` as for
        ``restricted()``. ``hidden=False``: the reader skips hidden names in the tree (rg and ag by default), so
        an entry reached only through one (``~/.ssh`` from ``~``) is not read."""
        if not raw or ("://" in raw and _URL.match(raw)):
            return None
        path = self.expand(raw, cwd)
        hit = self._holds(path, dotglob, hidden)
        walk = decision_resolver() if resolve is _FRESH else cast("Resolver | None", resolve)
        if hit is not None or walk is None or self.windows != (os.name == "nt"):
            return hit
        answers = walk.answers if isinstance(walk, Walk) else None
        if answers is None:
            return self._inside_through_links(raw, path, cwd, walk, dotglob, hidden)
        key = ("inside", id(self), raw, cwd, dotglob, hidden)  # the policy lives as long as the decision, at least
        if key in answers:
            return answers[key]
        hit = answers[key] = self._inside_through_links(raw, path, cwd, walk, dotglob, hidden)
        return hit

    def _inside_through_links(
        self, raw: str, path: str, cwd: str, walk: Resolver, dotglob: bool, hidden: bool
    ) -> str | None:
        """``restricted_inside`` once links are followed: the folder itself, then the links directly in it (at
        most ``MAX_FOLDER_LINKS``: past that, the read is taken as reaching a protected place, for the user to
        decide, rather than spending seconds on one folder)."""
        reals = self._through_links(path, walk, dotglob)
        if not self.windows:  # first: the folder the kernel reads for 'link/..'
            reals = self._dots_after_links(raw, cwd, walk, dotglob) + reals
        for real in reals:
            hit = self._holds(real, dotglob, hidden) or self._root_of(real, dotglob)
            if hit is not None:
                return hit
        if self._glob(path):
            return None
        sep = "\\" if self.windows else "/"
        folder = (reals[0] if reals else path).rstrip(sep) + sep
        links = _links_in(folder, walk)
        if links and not hidden:
            links = [name for name in links if not name.startswith(".")]
        if not links:
            return None
        if len(links) > MAX_FOLDER_LINKS:
            return f"places behind more links than the gate follows ({len(links)} in {folder.rstrip(sep) or sep})"
        try:
            for name in links:
                real = walk(folder + name)
                hit = self._holds(real, dotglob, hidden) or self._root_of(real, dotglob)
                if hit is not None:
                    return hit
        except (OSError, ValueError):
            return None
        return None

    def _holds(self, path: str, dotglob: bool, hidden: bool = True) -> str | None:
        """A restricted entry that ``path`` is or lies above, or for a glob one it can name, lie above or lie in
        (``~/*`` holds ``~/.ssh``): judged as written, without following links. ``hidden=False``: not one that
        only a hidden name below ``path`` leads to."""
        comps = _components(path, self.windows)
        literal = _first_glob(comps, self.windows)
        for display, _, root_comps in self.roots:
            if len(root_comps) < literal or root_comps[:literal] != comps[:literal]:
                continue
            if literal < len(comps):  # a glob: '~/*' reads what '~' holds (but for hidden names, unless dotglob)
                if len(root_comps) == literal:
                    continue  # the folder the glob lists (a restricted path itself: judged by restricted())
                if not any(self._meets(comps[literal:], root_comps[literal:], dotglob)):
                    continue
            elif not hidden and any(c.startswith(".") for c in root_comps[literal:]):
                continue
            return display
        return None

    def place(self, raw: str, cwd: str) -> int:
        """Classify the place a path argument names (globs count as the folder they expand in)."""
        path = self.expand(raw, cwd)
        if DEVICE.match(raw.strip("\"'")) or DEVICE.match(path):
            return Place.DEVICE
        glob = self._glob(path)
        base = path
        if glob:
            # '/*', '~/*', 'C:\*': the glob empties the folder it sits in.
            cut = path[: glob.start()]
            sep = "\\" if self.windows else "/"
            base = cut[: cut.rfind(sep) + 1] or sep
            base = base.rstrip(sep) or sep
            if self.windows and re.fullmatch(r"[A-Za-z]:", base):
                base += "\\"
        return self._place_of(base)

    def _place_of(self, path: str) -> int:
        if self.windows:
            folded = path.rstrip("\\").casefold()
            home = self.home.rstrip("\\").casefold()
            if "~" in folded:
                folded = _long_names(folded, home)
            if len(folded) <= 2 and (folded.endswith(":") or not folded):
                return Place.SYSTEM_TREE
            if folded in _WIN_SYSTEM_TREES:
                return Place.SYSTEM_TREE
            if (home + "\\").startswith(folded + "\\"):
                return Place.HOME
            if (folded + "\\").startswith(_WIN_CRITICAL_PREFIXES):
                return Place.SYSTEM_FILE
            return Place.ORDINARY
        if path == "/" or path in _POSIX_SYSTEM_TREES:
            return Place.SYSTEM_TREE
        if (self.home.rstrip("/") + "/").startswith(path.rstrip("/") + "/"):
            return Place.HOME
        if (path + "/").startswith(_POSIX_CRITICAL_PREFIXES):
            return Place.SYSTEM_FILE
        return Place.ORDINARY


_POSIX_CRITICAL_PREFIXES = tuple(c + "/" for c in _POSIX_CRITICAL)
_WIN_CRITICAL_PREFIXES = tuple(c.casefold() + "\\" for c in _WIN_CRITICAL)
_WIN_KNOWN_FOLDERS = tuple(sorted(_WIN_SYSTEM_TREES | {c.casefold() for c in _WIN_CRITICAL}, key=len, reverse=True))


def _long_names(folded: str, home: str) -> str:
    """A case-folded Windows path whose start is a system folder or the home folder written with 8.3 short names
    (``c:\\progra~1``), with that start written out (``c:\\program files``), so it is judged as that folder."""
    comps = folded.split("\\")
    for known in (home, *_WIN_KNOWN_FOLDERS):
        names = known.split("\\")
        if len(names) <= len(comps) and all(_short_name_matches(c, n) for c, n in zip(comps, names, strict=False)):
            return "\\".join((*names, *comps[len(names) :]))
    return folded


@lru_cache(maxsize=8192)
def _expand(raw: str, cwd: str, home: str, windows: bool, known_folders: bool = True) -> str:
    text = raw.strip().strip("\"'")
    if not windows:
        return expand_path(
            text, cwd=cwd, home=home, windows=False, env=_known_env(home, False) if known_folders else None
        )
    text = _PS_ENV.sub(lambda m: f"%{m.group(1)}%", text)
    text = _PS_PROVIDER.sub("", text)  # 'FileSystem::C:\\…' is 'C:\\…'
    if text[:1] in "\\/":
        text = _win32_root(text)
    path = expand_path(text, cwd=cwd, home=home, windows=True, env=_known_env(home, True) if known_folders else None)
    if path[:1] == "\\" and path[1:2] != "\\":
        # '\Users\u\.ssh' and '/Users/…' (also '%HOMEPATH%\…') name the root of the current drive, not a share
        path = (cwd[:2] if cwd[1:2] == ":" else "C:") + path
    return _win32_names(path) if _WIN32_QUIRK.search(path, 2) else path


# Prefixes that name a drive's files without Win32's normalisation (\\?\C:\…, \\.\C:\…, \??\C:\…) or through
# another route: the UNC form of one (\\?\UNC\host\share), a volume by its device or GUID (a shadow copy's
# \\?\GLOBALROOT\Device\HarddiskVolumeShadowCopy1\Windows\…), a drive's administrative share (\\host\c$\…).
_WIN_DRIVE_PREFIX = re.compile(r"^[\\/](?:[\\/][?.]|\?\?)[\\/]([A-Za-z]:)(?=[\\/]|$)")
_WIN_UNC_PREFIX = re.compile(r"^[\\/](?:[\\/][?.]|\?\?)[\\/]UNC(?=[\\/])", re.IGNORECASE)
_WIN_VOLUME_PREFIX = re.compile(
    r"^[\\/](?:[\\/][?.]|\?\?)[\\/](?:GLOBALROOT[\\/]+Device[\\/]+[^\\/]+|Volume\{[^}]*\})(?=[\\/]|$)", re.IGNORECASE
)
_WIN_ADMIN_SHARE = re.compile(r"^[\\/]{2}[^\\/]+[\\/]+([A-Za-z])\$(?=[\\/]|$)")
# What Win32 changes in a name after its root (the drive or share): a stream (``x::$DATA``, ``x:s``) and trailing
# dots and spaces, which it drops (``SAM.`` is ``SAM``). Looked for from the third character, past ``C:``.
_WIN32_QUIRK = re.compile(r":|[. ](?:\\|$)")


def _win32_root(text: str) -> str:
    """A path written with a device prefix or through a share, as the drive path it names. A volume named by its
    device or GUID is judged as the system drive, where the protected files are, and any computer's ``c$`` share
    as this computer's drive: the gate does not know the names this computer answers to."""
    if match := _WIN_DRIVE_PREFIX.match(text):
        return match.group(1) + (text[match.end() :] or "\\")
    if match := _WIN_UNC_PREFIX.match(text):
        text = "\\" + text[match.end() :]
    elif match := _WIN_VOLUME_PREFIX.match(text):
        return "C:" + (text[match.end() :] or "\\")
    if match := _WIN_ADMIN_SHARE.match(text):  # also '\\?\UNC\localhost\c$\…', made '\\localhost\c$\…' above
        return match.group(1) + ":" + (text[match.end() :] or "\\")
    return text


def _win32_names(path: str) -> str:
    """``path`` with each name after the root as Win32 opens it: without a stream (the file's data either way,
    or another stream of the same protected file) and without trailing dots and spaces. A name of dots alone
    (``...``) is kept, as Win32 keeps it."""
    head, sep, rest = path.partition("\\")
    if head == "" and rest.startswith("\\"):  # \\server\share\…: the share is part of the root
        server, _, tail = rest[1:].partition("\\")
        share, _, rest = tail.partition("\\")
        head, sep = "\\\\" + server + "\\" + share, "\\"
    names = []
    for name in rest.split("\\"):
        if ":" in name:
            name = name.split(":", 1)[0]
        trimmed = name.rstrip(". ")
        names.append(trimmed if trimmed.strip(".") else name)
    return head + sep + "\\".join(names)


@lru_cache(maxsize=16)
def _known_env(home: str, windows: bool) -> dict[str, str]:
    """Well-known folders that commands name through variables (judged as they are on a default install)."""
    if not windows:
        return {"XDG_CONFIG_HOME": home + "/.config", "XDG_DATA_HOME": home + "/.local/share"}
    return {
        "APPDATA": home + "\\AppData\\Roaming",
        "LOCALAPPDATA": home + "\\AppData\\Local",
        "TEMP": home + "\\AppData\\Local\\Temp",
        "TMP": home + "\\AppData\\Local\\Temp",
        "SYSTEMROOT": "C:\\Windows",
        "WINDIR": "C:\\Windows",
        "SYSTEMDRIVE": "C:",
        "PROGRAMFILES": "C:\\Program Files",
        "PROGRAMDATA": "C:\\ProgramData",
        "PUBLIC": "C:\\Users\\Public",
        # cmd's way to the home folder, %HOMEDRIVE%%HOMEPATH%, and the name in C:\Users\%USERNAME%
        "HOMEDRIVE": home[:2] if home[1:2] == ":" else "C:",
        "HOMEPATH": home[2:] if home[1:2] == ":" else home,
        "USERNAME": ntpath.basename(home.rstrip("\\/")),
    }


_SPECIAL_FOLDERS = {
    "userprofile": "", "applicationdata": "\\AppData\\Roaming", "localapplicationdata": "\\AppData\\Local",
    "mydocuments": "\\Documents", "personal": "\\Documents", "desktop": "\\Desktop", "desktopdirectory": "\\Desktop",
}  # fmt: skip
_SYSTEM_FOLDERS = {
    "windows": "C:\\Windows", "system": "C:\\Windows\\System32", "systemx86": "C:\\Windows\\SysWOW64",
    "programfiles": "C:\\Program Files", "commonapplicationdata": "C:\\ProgramData",
}  # fmt: skip


def special_folder(name: str, home: str) -> str | None:
    """The folder ``[Environment]::GetFolderPath(name)`` gives on a default install, or None when not known."""
    folded = name.casefold()
    if folded in _SPECIAL_FOLDERS:
        return home + _SPECIAL_FOLDERS[folded]
    return _SYSTEM_FOLDERS.get(folded)


def windows_folder(name: str, home: str) -> str | None:
    """The folder a Windows environment variable (``USERPROFILE``, ``APPDATA``…) names on a default install for
    the user whose home is ``home``, or None when it is not one the gate knows."""
    upper = name.upper()
    if upper in ("USERPROFILE", "HOME"):
        return home
    return _known_env(home, True).get(upper)


def _components(path: str, windows: bool) -> tuple[str, ...]:
    if windows:
        return tuple(c.casefold() for c in path.replace("/", "\\").split("\\") if c)
    return tuple(c for c in path.split("/") if c)


def _proc_environ_glob(path: str) -> bool:
    """Whether a glob can name a program's environment (``/proc/1234/env*``, ``/proc/[0-9]*/e*``): any pattern
    can match some process number, so only the other names must match."""
    if not _POSIX_GLOB.search(path):
        return False
    comps = _components(path, False)
    if len(comps) not in (3, 5) or not _component_matches(comps[0], "proc", False, True):
        return False
    if not _component_matches(comps[-1], "environ", False, True):
        return False
    return len(comps) == 3 or _component_matches(comps[2], "task", False, True)


def _first_glob(comps: tuple[str, ...], windows: bool) -> int:
    """The index of the first component holding a pattern (the length when none does); on Windows an 8.3 short
    name (``PROGRA~1``) is one: it stands for the long names it can abbreviate."""
    if windows:
        return next((i for i, c in enumerate(comps) if _GLOB.search(c) or _short_name(c)), len(comps))
    return next((i for i, c in enumerate(comps) if _POSIX_GLOB.search(c)), len(comps))


# An 8.3 short name as Windows makes it for a long one: up to six characters of it, '~' and a number, perhaps an
# extension of up to three (names are case-folded here). After four names with the same start, Windows makes the
# six from the first two characters and four hexadecimal digits of a hash (``US1F2A~1``).
_SHORT_NAME = re.compile(r"([^~.\\]{1,6})~[1-9][0-9]{0,5}(?:\.[^.\\]{0,3})?")
_SHORT_NAME_IN = re.compile(r"(?:^|[\\/])[^~.\\/]{1,6}~[1-9][0-9]{0,5}(?:\.[^.\\/]{0,3})?(?:[\\/]|$)")
_HASHED = re.compile(r"..[0-9a-f]{4}")
_NOT_IN_SHORT_NAMES = re.compile(r"[ .]")
_REPLACED_IN_SHORT_NAMES = re.compile(r"[+,;=\[\]]")


def _short_name(component: str) -> re.Match[str] | None:
    return _SHORT_NAME.fullmatch(component) if "~" in component else None


@lru_cache(maxsize=1024)
def _short_name_matches(short: str, name: str) -> bool:
    """Whether the case-folded 8.3 name ``short`` can be the short name of ``name``: Windows drops spaces and dots
    (a leading dot too: ``.ssh`` is ``SSH~1``) and writes ``_`` for characters 8.3 names cannot hold; the extension
    is not compared (it errs towards a match)."""
    match = _short_name(short)
    if match is None:
        return short == name
    base = match.group(1)
    squeezed = _REPLACED_IN_SHORT_NAMES.sub("_", _NOT_IN_SHORT_NAMES.sub("", name.casefold()))
    return squeezed.startswith(base) or (_HASHED.fullmatch(base) is not None and squeezed.startswith(base[:2]))


@lru_cache(maxsize=4096)
def _component_matches(pattern: str, name: str, dotglob: bool, extglob: bool) -> bool:
    """Whether one path component can name ``name`` whatever the command set the shell's glob options to:
    ``nocaseglob`` ignores case, each ``extglob`` form is judged as ``*`` (``@(.ssh)`` and ``!(x)`` match
    anything, ``notes+(1).txt`` only what ``notes*.txt`` does), and with ``dotglob`` (or any ``GLOBIGNORE``) a
    wildcard matches a leading dot, which it otherwise never does. A component without a pattern is matched
    exactly, as bash does even with ``nocaseglob``. ``extglob``: a POSIX shell's pattern (PowerShell has none); a
    Windows 8.3 short name matches the long names it can stand for."""
    if not extglob and "~" in pattern and _short_name(pattern):
        return _short_name_matches(pattern, name.casefold())
    if not (_POSIX_GLOB if extglob else _GLOB).search(pattern):
        return pattern == name
    if extglob and _EXTGLOB.search(pattern):
        count = 1
        while count:  # the innermost forms first: '@(a|+(b))'
            pattern, count = _EXTGLOB_GROUP.subn("*", pattern)
        # and no leading dot rule: bash matches the dot an extglob form names ('@(.ssh)') without dotglob
    elif not dotglob and name.startswith(".") and not pattern.startswith("."):
        return False
    if "[" in pattern:
        pattern = _CLASS_BRACKET.sub(_any_char, pattern).replace("[^", "[!")  # fnmatch negates with '!' only
    return fnmatch.fnmatchcase(name.casefold(), pattern.casefold())


def component_matches(pattern: str, name: str, dotglob: bool) -> bool:
    """Whether one component of a POSIX shell's path, a pattern or not, can name ``name`` (``_component_matches``)."""
    return _component_matches(pattern, name, dotglob, True)


def _any_char(match: re.Match[str]) -> str:
    return "?" if match.group(1) else match.group(0)


def _glob_meets(patterns: tuple[str, ...], names: tuple[str, ...], dotglob: bool, extglob: bool) -> tuple[bool, bool]:
    """Whether the glob components ``patterns`` can name the path of components ``names`` or a folder above it,
    and whether they can name it or something inside it. A ``**`` component stands for any number of folders,
    none included (bash's ``globstar``)."""
    end = len(patterns)
    states = _past_stars(patterns, {0})  # how many patterns can have been used up by the names seen so far
    above = end in states
    for name in names:
        following: set[int] = set()
        for i in states:
            if i < end and _component_matches(patterns[i], name, dotglob, extglob):
                following.add(i + 1)
                if patterns[i] == "**":  # and it may stand for more folders
                    following.add(i)
        states = _past_stars(patterns, following)
        if not states:
            return above, False
        above = above or end in states
    return above, bool(states)


def _past_stars(patterns: tuple[str, ...], states: set[int]) -> set[int]:
    """``states`` and the positions reached from them by letting each ``**`` that follows stand for nothing."""
    out = set(states)
    for i in states:
        while i < len(patterns) and patterns[i] == "**":
            i += 1
            out.add(i)
    return out


def policy_for(home: str, state_dir: str, restricted: tuple[str, ...], windows: bool, cwd: str) -> Policy:
    return _policy(home, state_dir, restricted, windows, _override)


@lru_cache(maxsize=64)
def _policy(home: str, state_dir: str, restricted: tuple[str, ...], windows: bool, override: object) -> Policy:
    resolver = decision_resolver()  # ``override`` keys the cache: a test's resolver makes its own policy
    sep = "\\" if windows else "/"
    entries: list[tuple[str, str]] = [(r, r) for r in restricted]
    if state_dir:
        entries.append((state_dir, state_dir))
    entries += [("~" + sep + s.replace("/", sep), "~/" + s) for s in _HOME_SECRETS if _home_secret_here(s, windows)]
    entries += [(s, s) for s in _ABS_SECRETS if (s[1:2] == ":") == windows]
    roots: list[tuple[str, str, tuple[str, ...]]] = []
    seen: set[str] = set()
    own_home = _norm_home(home, windows)
    for display, entry in entries:
        text = entry.strip()
        if not text or _other_platform(text, windows):
            continue
        if windows:
            text = _PS_ENV.sub(lambda m: f"%{m.group(1)}%", text)
        absolute = expand_path(text, cwd=home, home=home, windows=windows)
        # An entry that *is* the user's own home (``/root`` for the root user) protects someone else's home
        # in everyone else's case; applied to its owner it would forbid all their work. Their secrets inside it
        # (``~/.ssh``, credentials, the state directory) stay protected by the entries added above.
        if _same_path(absolute, own_home, windows):
            continue
        variants = [absolute]
        if resolver is not None and windows == (os.name == "nt"):
            try:
                variants.append(resolver(absolute))
            except (OSError, ValueError):
                pass
        for variant in variants:
            key = variant.casefold().rstrip("\\") if windows else variant.rstrip("/") or "/"
            if key in seen:
                continue
            seen.add(key)
            roots.append((display, key, _components(variant, windows)))
    sep = "\\" if windows else "/"
    prefixes = tuple(key.rstrip(sep) + sep for _, key, _ in roots)
    return Policy(windows=windows, home=_norm_home(home, windows), roots=tuple(roots), prefixes=prefixes)


def _home_secret_here(entry: str, windows: bool) -> bool:
    """Whether a home folder secret belongs to this kind of system: ``AppData`` is Windows', ``Library`` macOS'
    (elsewhere, a folder of that name is the user's own)."""
    if entry.startswith("AppData/"):
        return windows
    if entry.startswith("Library/"):
        return not windows and sys.platform == "darwin"
    return True


def _other_platform(entry: str, windows: bool) -> bool:
    """An entry written for the other kind of system (the defaults list both): ``C:\\Windows`` names nothing on
    Linux, where it would be read as a folder of that name in the current directory, and ``/etc/shadow`` nothing
    on Windows."""
    if windows:
        return entry.startswith("/")
    return bool(re.match(r"[A-Za-z]:[\\/]|\\\\", entry)) or ("\\" in entry and "/" not in entry)


def _same_path(a: str, b: str, windows: bool) -> bool:
    if windows:
        return a.casefold().rstrip("\\") == b.casefold().rstrip("\\")
    return (a.rstrip("/") or "/") == (b.rstrip("/") or "/")


def _norm_home(home: str, windows: bool) -> str:
    if windows:
        return ntpath.normpath(home.replace("/", "\\"))
    return posixpath.normpath(home) if home else "/"


_FILE_URL = re.compile(r"file:(?://(?:localhost|127\.0\.0\.1)?)?(/.*)", re.IGNORECASE)
_URL_GLOB = re.compile(r"\{[^{}]*\}")
_FILE_SCHEME = re.compile(r"file:", re.IGNORECASE)
_DRIVE_URL = re.compile(r"/[A-Za-z]:[/\\]")


MAX_FILE_URLS = 16  # 'file:' URLs judged in one argument


def too_many_file_urls(word: str) -> bool:
    return len(_FILE_SCHEME.findall(word)) > MAX_FILE_URLS


def file_url_path(word: str, start: int = 0) -> str | None:
    """The local path of the ``file:`` URL at ``start`` of ``word`` (percent-decoded; curl's ``{a,b}`` globs as
    ``*``), or None."""
    match = _FILE_URL.match(word, start)
    if match is None:
        return None
    path = unquote(match.group(1).split("?", 1)[0].split("#", 1)[0])
    if "{" in path:
        path = _URL_GLOB.sub("*", path)
    if _DRIVE_URL.match(path):  # file:///C:/Users/me/.ssh
        path = path[1:]
    return path


STATE_DIR_DEPTH = 4  # skills/<name>/scripts/<file>: what lies deeper in a state directory holds no secret
MAX_GLOB_FOLDERS = 64  # folders a glob in a path is expanded to when looking for another server's state
# The secret files of a Contop state directory, and how far below it each lies.
_STATE_SECRETS = {"admin.token": 0, "tokens.json": 0, "settings.json": 0, "key.pem": 1}


def other_state_dir(path: str, windows: bool) -> str | None:
    """The state directory of another Contop server that ``path`` lies in (or is), or whose secret it names
    (its admin token, pairing tokens, API keys or DTLS key; ``admin.tok*`` and ``dtls/*`` too), or None. Reads
    the disk: such a directory holds ``server.lock`` and ``admin.token``; a glob in the folders is expanded, at
    most ``MAX_GLOB_FOLDERS`` of them. Inside it, as in this server's own state directory (a restricted entry
    already), are also its skills, which go into that server's prompts, its settings and its logs."""
    module = ntpath if windows else posixpath
    inside = _state_dir_above(path, windows)
    if inside is not None:
        return f"the Contop state directory {inside}"
    name = module.basename(path)
    depths = {depth for secret, depth in _STATE_SECRETS.items() if _component_matches(name, secret, True, not windows)}
    for depth in sorted(depths):
        folder = module.dirname(path)
        for _ in range(depth):
            folder = module.dirname(folder)
        try:
            folders = list(itertools.islice(glob.iglob(folder), MAX_GLOB_FOLDERS)) if _GLOB.search(folder) else [folder]
            for found in folders:
                if os.path.isfile(module.join(found, "server.lock")) and os.path.isfile(
                    module.join(found, "admin.token")
                ):
                    return f"the Contop state directory {found}"
        except (OSError, ValueError):
            return None
    return None


STATE_DIR_TTL_S = 1.0  # how long a look at one folder is reused: the same folders come up call after call
_STATE_DIR_SEEN: dict[str, tuple[float, bool]] = {}
_STATE_DIR_SEEN_MAX = 4096


def is_state_dir(folder: str, windows: bool) -> bool:
    """Whether ``folder`` is a Contop server's state directory (it holds ``server.lock`` and ``admin.token``).
    The answer is reused for ``STATE_DIR_TTL_S``: two stat calls per folder and path made the gate 30% slower."""
    now = time.monotonic()
    seen = _STATE_DIR_SEEN.get(folder)
    if seen is not None and now - seen[0] < STATE_DIR_TTL_S:
        return seen[1]
    module = ntpath if windows else posixpath
    found = os.path.isfile(module.join(folder, "server.lock")) and os.path.isfile(module.join(folder, "admin.token"))
    if len(_STATE_DIR_SEEN) >= _STATE_DIR_SEEN_MAX:
        _STATE_DIR_SEEN.clear()
    _STATE_DIR_SEEN[folder] = (now, found)
    return found


def _state_dir_above(path: str, windows: bool) -> str | None:
    """The folder holding ``server.lock`` and ``admin.token`` that is ``path`` or one of its ``STATE_DIR_DEPTH``
    nearest parents, looked for from the last folder before a glob (what a glob matches below it is judged by the
    secret names). The bound keeps a path of a thousand components from costing a thousand looks at the disk."""
    module = ntpath if windows else posixpath
    folder = module.normpath(path)
    if not module.isabs(folder):
        return None
    comps = _components(folder, windows)
    globbed = next((i for i, c in enumerate(comps) if _GLOB.search(c)), len(comps))
    for _ in range(len(comps) - globbed):
        folder = module.dirname(folder)
    try:
        for _ in range(STATE_DIR_DEPTH + 1):
            if is_state_dir(folder, windows):
                return folder
            parent = module.dirname(folder)
            if parent == folder:
                return None
            folder = parent
    except (OSError, ValueError):
        return None
    return None


def looks_like_path(word: str) -> bool:
    """Whether an argument is worth checking as a path (not an option, not a URL, not plain text)."""
    if not word or word[0] == "-" or ("://" in word and _URL.match(word)) or len(word) > 4096:
        return False
    return (
        word[0] in "/~.$%\\" or "/" in word or "\\" in word or (len(word) >= 2 and word[1] == ":" and word[0].isalpha())
    )


def path_candidates(word: str) -> Iterator[str]:
    """The path-looking parts of one argument: itself, after ``=``, ``@`` or ``:`` (``--file=~/.aws/x``), and the
    file a ``file:`` URL names (``curl file:///root/.ssh/id_rsa`` reads it)."""
    if looks_like_path(word):
        yield word
    for count, match in enumerate(_FILE_SCHEME.finditer(word)):  # 'file:/etc/shadow', 'uri=file:///…'
        if count == MAX_FILE_URLS:  # each costs the rest of the word: State.check_paths asks about the rest
            break
        local = file_url_path(word, match.start())
        if local:
            yield local
    for sep in ("=", "@"):
        if sep in word:
            tail = word.split(sep, 1)[1]
            if looks_like_path(tail):
                yield tail
    if word.startswith("-") and len(word) > 2 and word[1] != "-" and looks_like_path(word[2:]):
        yield word[2:]  # -o/path, -f~/x
