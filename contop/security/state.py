"""The state of one classification: context, findings, and what earlier parts of the command line did."""

from __future__ import annotations

import ntpath
import os
import posixpath
import re
from dataclasses import dataclass, field

from contop.security.decision import GateContext
from contop.security.findings import BLOCK, CONFIRM, Findings
from contop.security.paths import (
    MAX_FILE_URLS,
    Place,
    Policy,
    Resolver,
    component_matches,
    decision_resolver,
    is_state_dir,
    looks_like_path,
    path_candidates,
    policy_for,
    too_many_file_urls,
)

MAX_NESTING = 8
# A variable's value past MAX_VALUE is not known (a few doublings of 'x=$x$x' reach gigabytes), and one decision
# puts at most MAX_SUBSTITUTED characters of values into words; past either, the expansion stays as written.
MAX_VALUE = 64 * 1024
MAX_SUBSTITUTED = 8 * 1024 * 1024
# A working folder longer than PATH_MAX or deeper than MAX_DEPTH is not followed: judging each new one costs its
# length, and 'cd a; ' thousands of times would make that quadratic.
MAX_FOLDER = 4096
MAX_DEPTH = 256
UNKNOWN_FOLDER = "/(a folder only known when the command runs)"
_KNOWN = frozenset({"HOME", "USERPROFILE", "PWD"})
_UNSET_BEFORE_SEP = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?(?=[/\\])")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_DEFAULTED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*):?([-=])([^{}$]*)\}")  # ${X:-d} ${X-d} ${X:=d} ${X=d}
_FOLDER_REFS = ("~+", "~-", "$PWD", "${PWD}", "$OLDPWD", "${OLDPWD}")  # left as written: not known
# '~/x', '~+', '~-/x', 'a=~/x' (bash), and the directory stack's entries: '~1' and '~+1' (as 'dirs +1' counts),
# '~-0' (as 'dirs -0' counts, from the bottom). More digits than an index may have: not matched, so unknown.
_TILDE = re.compile(r"(?:[A-Za-z_][A-Za-z0-9_]*=)?~([+-]?)([0-9]{0,9})(?=/|$)")
_STACK_REF = re.compile(r"~[+-]?[0-9]")
MAX_LINKS = 40  # links followed for one path, as many as Linux follows
MAX_LANDINGS = 64  # places one path with patterns may lead to through the line's links; more: not known
LINK_SOMEWHERE = ""  # the key of State.links for a link the line makes in a folder only known when it runs
_THROUGH_UNKNOWN = "places behind a link this command makes to a folder only known when it runs"
_POSIX_PATTERN = re.compile(r"[*?\[]|[@+!]\(")
# '$TMPDIR/…' and '${TMPDIR}/…': the whole name, then a separator ('$TMPDIRX/…' is another variable).
_TMPDIR_REF = re.compile(r"\$(?:TMPDIR|\{TMPDIR\})/")
# What may change TMPDIR on the line, so that '$TMPDIR' is no longer the server's: the name written other than as
# an expansion ('unset TMPDIR', 'read TMPDIR', 'TMPDIR=/work cmd'), or a builtin that may set or unset a variable
# whose name is only known when it runs ('unset ${v}DIR').
_TMPDIR_MAY_CHANGE = re.compile(
    r"(?<![\w${])TMPDIR|(?<![\w./-])(?:unset|read|readarray|mapfile|getopts|declare|typeset|local|export|readonly|"
    r"eval|source)(?![\w./=-])|\bprintf\s+-v",
)


def folder_ref(word: str) -> bool:
    """Whether ``word`` starts with a name for the working folder, the previous one or an entry of the directory
    stack that ``State.substitute`` left as written because the line does not say which folder it is, or with
    what ``pwd`` prints there (``UNKNOWN_FOLDER``)."""
    return word.startswith(_FOLDER_REFS) or _STACK_REF.match(word) is not None or word.startswith(UNKNOWN_FOLDER)


def unknown_value(name: str) -> str:
    """What a variable holds when its value is only known when the line runs (``read HOME``): its own
    expansion, which every rule judges as a value it cannot know (and ``~``, ``cd`` alone as unknown folders)."""
    return "${" + name + "}"


class Blocked(Exception):
    """Raised by ``State.add`` at the first block: nothing found later can change the verdict or its reason."""


class _TooLong(Exception):
    """Raised inside ``State.substitute`` when a word would grow past ``MAX_VALUE``."""


_GLOB_OPTIONS = re.compile(r"shopt|GLOBIGNORE|BASHOPTS|dotglob")
_EXTGLOB = re.compile(r"[@!+*?]\(")
_QUOTING = re.compile(r"[\"'\\]")
# 'shopt -s NAME…', 'bash -O NAME': a name the line builds ('shopt -s $o', '-O $'\x65xtglob'') may be extglob.
_OPTION_NAMES = re.compile(r"\bshopt\s+(?:[-+][a-z]+\s+)*([^;&|\n]*)|(?<!\S)[-+][A-Za-z]*O\s*(\S*)")


# Text bash runs a command from when it evaluates it, even from single quotes or a variable's value: an array
# subscript in arithmetic (`let 'a[$(cmd)]'`, `x='a[$(cmd)]'; echo $((x))`, `declare -i`, `printf -v`, `read`,
# `[[ … -eq … ]]`) and prompt expansion (`${x@P}`, PS1-4 with `set -x`). What the gate cannot see it judge asks.
_EVALUATED_LATER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\[[^\]]*(\$\(|`|<\()|@P\b|\bPS[0-4]\+?=[^;&|]*(\$\(|`)")


def _may_turn_on_extglob(source: str) -> bool:
    """Whether the line may turn extended globs on. Quotes and backslashes are read as bash reads them
    (``ext''glob`` is ``extglob``); an option name built from an expansion, or BASHOPTS set, may be it too."""
    plain = _QUOTING.sub("", source)
    if "extglob" in plain or "BASHOPTS" in plain:
        return True
    return any("$" in (m.group(1) or m.group(2) or "") or "`" in m.group(0) for m in _OPTION_NAMES.finditer(plain))


@dataclass(frozen=True, slots=True)
class Saved:
    """What ``State.save`` keeps: the working folder, the directory stack and the line's variables."""

    cwd: str
    cwd_known: bool
    dirs: tuple[str | None, ...]
    vars: dict[str, str]
    refs: dict[str, str | None]
    command_env: dict[str, str]


@dataclass(slots=True)
class State:
    """Shared by every part of one command line; ``cwd`` and ``vars`` follow ``cd`` and ``X=…`` as they run."""

    ctx: GateContext
    policy: Policy
    windows: bool
    cwd: str
    source: str
    found: Findings = field(default_factory=Findings)
    vars: dict[str, str] = field(default_factory=dict)
    downloads: set[str] = field(default_factory=set)
    env_dumps: set[str] = field(default_factory=set)  # files an environment dump was written to
    written: dict[str, str | None] = field(default_factory=dict)  # files this line writes: path -> text, if known
    # Links this line makes ('ln -s /work /tmp/w'): the link's path, its folder resolved -> what it holds (absolute,
    # or relative to its folder; None when only known as it runs). A later write through one lands where it leads.
    links: dict[str, str | None] = field(default_factory=dict)
    # Judged a second time with every link the line makes there from the start (see gate.classify_command).
    seeded: bool = False
    built: set[str] = field(default_factory=set)  # programs a compiler on this line writes ('gcc -o b'): not scripts
    seen: list[tuple[str, list[str]]] = field(default_factory=list)  # every program run, for the user's lists
    depth: int = 0
    resolve: Resolver | None = None  # follows symlinks, remembering folders for this one decision
    bare_names: dict[str, bool] = field(default_factory=dict)  # cwd -> whether bare names there are judged
    cwd_known: bool = True  # False after 'cd $(…)', 'cd -' with no earlier cd, 'popd' past what the line pushed
    dirs: list[str | None] = field(default_factory=list)  # pushd's stack below the working folder (None: unknown)
    command_env: dict[str, str] = field(default_factory=dict)  # 'HOME=/x cd': the command being judged's own
    substituted: int = 0  # characters of values put into words so far (bounded by MAX_SUBSTITUTED)
    # The line may let wildcards match a leading dot (``shopt -s dotglob``, any ``GLOBIGNORE``, shell options set
    # through ``BASHOPTS`` or ``bash -O``): its globs are then judged as reaching hidden folders. Read once.
    dotglob: bool = False
    # 'declare -n h=HOME': assigning h assigns HOME (None: a target not known, so it may be any variable)
    refs: dict[str, str | None] = field(default_factory=dict)
    # Set just before the text of 'eval' or 'source' is judged: it runs in this shell, so its 'cd' and its
    # variables outlast it. 'analyze_nested' reads it (and clears it) instead of undoing what the text changes.
    in_place: bool = False
    # The shell's folder moves where the gate does not follow (a DEBUG or ERR trap that changes it, a function or
    # alias standing for cd): from then on, to the end of the line, the working folder is not known.
    folder_lost: bool = False
    # The folders whose files the previous stage of the pipeline being judged lists by name ('find . |'), for a
    # program reading names on its input ('cpio -o'); None when that stage is not such a lister.
    piped_roots: list[str] | None = None
    # A file became the standard input of commands that name none of their own: a group's or a loop's
    # ('{ ssh h; } < f', 'while …; done < f') or the shell's ('exec < f'). Kept to the end of the line: stricter
    # than the shell, which gives it back when the group ends, never looser.
    stdin_file: bool = False

    @classmethod
    def start(cls, ctx: GateContext, source: str, *, windows: bool | None = None) -> State:
        win = ctx.windows_paths or ctx.platform != "posix" if windows is None else windows
        policy = policy_for(ctx.home, ctx.state_dir, ctx.restricted_paths, win, ctx.cwd)
        st = cls(
            ctx=ctx, policy=policy, windows=win, cwd=ctx.cwd or ctx.home, source=source, resolve=decision_resolver(),
            dotglob=_GLOB_OPTIONS.search(source) is not None,
        )  # fmt: skip
        if ctx.state_dir and not win:
            st.vars["CONTOP_HOME"] = ctx.state_dir  # the agent's shell does not get it, but judge it as if it did
        if not win and _EXTGLOB.search(source) and _may_turn_on_extglob(source):
            # The parser reads '@(…)' as a subshell, so the path it is part of never reaches the path checks.
            st.add(CONFIRM, "uses extended globs (shopt -s extglob), which the gate does not read", source[:200])
        if not win and _EVALUATED_LATER.search(source):
            st.add(CONFIRM, "holds a command in text bash evaluates later (an array subscript, a prompt)", source[:200])
        return st

    def add(self, level: int, what: str, text: str = "") -> None:
        """Record a finding; a block ends the classification at once (the first block's reason is the one shown)."""
        self.found.add(level, what, text)
        if level >= BLOCK:
            raise Blocked

    def check_depth(self) -> None:
        """Before one more level of nesting: a command nested deeper than ``MAX_NESTING`` is blocked (which, like
        every block, ends the classification)."""
        if self.depth >= MAX_NESTING:
            self.add(BLOCK, "nests commands too deeply to be judged safely")

    def substitute(self, word: str) -> str:
        """Replace variables assigned earlier on the same command line (``X=rm; $X -rf ~``); a default
        (``${X:-~/.ssh}``) stands for an unset variable, and ``$HOME`` for one the line did not set. ``~`` is the
        line's own HOME, ``~+``/``$PWD`` the working folder and ``~-``/``$OLDPWD`` the one before, when known.
        A word that would grow past ``MAX_VALUE`` stays as written, an expansion known only when it runs."""
        if "~" in word and (tilde := _TILDE.match(word)) is not None:
            word = self._tilde(tilde) + word[tilde.end() :]
        if "$" not in word:
            return word
        if self.substituted > MAX_SUBSTITUTED:
            return word  # asked about already (below)
        grown = len(word)

        def value(match: re.Match[str], text: str) -> str:
            nonlocal grown
            grown += len(text) - len(match.group(0))
            if grown > MAX_VALUE:
                raise _TooLong
            return text

        try:
            out = word
            if "${" in word:
                out = _DEFAULTED.sub(lambda m: value(m, self._defaulted(m)), out)
            out = _VAR.sub(lambda m: value(m, self._lookup(m.group(1) or m.group(2), m.group(0))), out)
        except _TooLong:
            self.add(CONFIRM, f"builds a value longer than {MAX_VALUE // 1024} KiB, too long to judge", self.source)
            return word
        if out != word:
            self.substituted += len(out)
            if self.substituted > MAX_SUBSTITUTED:
                self.add(CONFIRM, "expands more variables than can be judged", self.source)
                return word
        return out

    def _lookup(self, name: str, written: str) -> str:
        if self.refs and name in self.refs:  # one step only: bash refuses a chain that loops
            target = self.refs[name]
            if target is None:
                return written
            name = target
        if name in self.vars:
            return self.vars[name]
        if name == "PWD" and self.cwd_known:
            return self.cwd
        return written

    def _defaulted(self, match: re.Match[str]) -> str:
        name, assigns, default = match.group(1), match.group(2) == "=", match.group(3)
        if name in self.vars:
            return self.vars[name]
        if name in _KNOWN or name == "OLDPWD":
            return f"${{{name}}}"
        if assigns:  # ': ${CDPATH:=/}': the variable keeps the default for the rest of the line
            self.vars[name] = default
        return default

    def _tilde(self, match: re.Match[str]) -> str:
        """What bash puts for a leading tilde: the line's HOME when it set one, ``~+`` and ``~-`` the working
        folder and the previous one, ``~N``/``~+N``/``~-N`` an entry of the directory stack (left as written when
        not known, and then judged as unknown)."""
        head = match.group(0)[: match.start(1) - match.start(0) - 1]  # 'a=' before '~'
        kind, digits = match.group(1), match.group(2)
        folder: str | None
        if digits:
            stack = [self.here(), *self.dirs]
            index = int(digits) if kind != "-" else len(stack) - 1 - int(digits)
            folder = stack[index] if 0 <= index < len(stack) else None
        elif kind == "":
            folder = self.vars.get("HOME")
        elif kind == "+":
            folder = self.vars.get("PWD", self.cwd if self.cwd_known else None)
        else:
            folder = self.vars.get("OLDPWD")
        return match.group(0) if folder is None else head + folder

    def assign(self, name: str, value: str | None) -> None:
        """Set one of the line's variables (None: to a value only known when it runs), through a name
        reference (``declare -n``) to its target; through one whose target is not known, any variable may have
        changed, so every one the folder depends on, and every one the line set, becomes unknown."""
        target = self.refs.get(name, name) if self.refs else name
        if target is None:
            for each in {*self.vars, "HOME", "CDPATH", "OLDPWD"}:
                self.vars[each] = unknown_value(each)
            return
        self.vars[target] = unknown_value(target) if value is None else value

    def lookup_env(self, name: str) -> str | None:
        """A variable as the command being judged sees it: its own ``NAME=…`` prefix, else the line's."""
        return self.command_env.get(name, self.vars.get(name))

    # ------------------------------------------------------------------------------------ the working folder

    def enter(self, folder: str | None, known: bool = True) -> None:
        """``cd`` to ``folder``; OLDPWD follows, as in bash. ``known=False`` for a folder named by an expansion or
        a pattern (``/proc/$PPID``), kept for the rules that judge names in such folders; None for one with no
        name at all (``cd -`` with no earlier ``cd``)."""
        if self.cwd_known:
            self.vars["OLDPWD"] = self.cwd
        else:
            self.vars.pop("OLDPWD", None)
        self.vars.pop("PWD", None)
        if folder is None or self.folder_lost or len(folder) > MAX_FOLDER or folder.count("/") > MAX_DEPTH:
            self.cwd, self.cwd_known = UNKNOWN_FOLDER, False
        else:
            self.cwd, self.cwd_known = folder, known

    def lose_folder(self) -> None:
        """The folder moves out of the gate's sight for the rest of the line (see ``folder_lost``)."""
        self.folder_lost = True
        self.enter(None)

    def here(self) -> str | None:
        """The working folder, or None when it is not known."""
        return self.cwd if self.cwd_known else None

    def save(self) -> Saved:
        """What a subshell or nested command may change and its end undoes (``(cd /)``, ``x=$(cd /)``,
        ``bash -c 'cd /'``): the folder, the directory stack and the variables."""
        refs = dict(self.refs) if self.refs else {}
        return Saved(self.cwd, self.cwd_known, tuple(self.dirs), dict(self.vars), refs, dict(self.command_env))

    def restore(self, saved: Saved) -> None:
        self.vars, self.refs = dict(saved.vars), dict(saved.refs) if saved.refs else {}
        self.cwd, self.cwd_known, self.dirs = saved.cwd, saved.cwd_known, list(saved.dirs)
        if self.folder_lost:  # stricter than a subshell runs, never looser
            self.cwd, self.cwd_known = UNKNOWN_FOLDER, False
        self.command_env = dict(saved.command_env)

    def check_paths(
        self, words: list[str] | tuple[str, ...], text: str, *, moving: bool = False, writes: bool = False
    ) -> None:
        """Block (ending the classification) when any argument names a restricted path, as written or through
        the links on its way; ask when one lies in a folder known only when the command runs, unless ``moving``
        (``cd``'s own folder: what is later named in it is what gets judged), or goes through a link to a place
        not known, unless ``writes`` (the write is judged after, and says so itself)."""
        for word in words:
            if self._names_in_cwd(word):  # 'cd /proc/$PPID; cat env*', 'cd /etc; cat shadow'
                word = "./" + word
            if len(word) > 96 and too_many_file_urls(word):
                self.add(CONFIRM, f"has more than {MAX_FILE_URLS} file: URLs in one argument to judge", text)
            for candidate in path_candidates(word):
                if not moving and self.in_unknown_folder(candidate):
                    self.add(CONFIRM, "names a path in a folder only known when it runs", text)
                hit = self.policy.restricted(candidate, self.cwd, self.resolve, dotglob=self.dotglob)
                if hit is not None:
                    self.add(BLOCK, f"touches a protected location {hit}", text)
                if self.links:  # 'ln -s ~ /tmp/s; cat /tmp/s/.ssh/id_rsa': the links on disk were followed above
                    self._check_through_links(candidate, text, writes)

    def _check_through_links(self, candidate: str, text: str, writes: bool) -> None:
        """Block when a path leads to a restricted one through the links the line made; ask when it may lead
        somewhere not known (a write asks when it is judged)."""
        landed = self.through_links(candidate)
        if landed is None:
            if not writes:
                self.add(
                    CONFIRM, "names a path through a link this command makes to a place only known when it runs", text
                )
            return
        for real in landed:
            hit = self.policy.restricted(real, "/", self.resolve, dotglob=self.dotglob)
            if hit is not None:
                self.add(BLOCK, f"touches a protected location {hit} (through a link this command makes)", text)

    def restricted(self, word: str) -> str | None:
        """``Policy.restricted`` for a path argument, also where it leads through the links the line made."""
        hit = self.policy.restricted(word, self.cwd, self.resolve, dotglob=self.dotglob)
        if hit is not None or not self.links:
            return hit
        for real in self.through_links(word) or ():
            hit = self.policy.restricted(real, "/", self.resolve, dotglob=self.dotglob)
            if hit is not None:
                return hit
        return None

    def restricted_inside(self, root: str, *, dotglob: bool = False, hidden: bool = True) -> str | None:
        """``Policy.restricted_inside`` for a tree a command reads or writes whole, also where the tree leads
        through the links the line made (``ln -s ~ /tmp/h; tar czhf h.tgz /tmp/h``) and through those the line
        made inside it (``ln -s ~ /tmp/d/h; zip -r d.zip /tmp/d``), as the links on disk directly in it count."""
        hit = self.policy.restricted_inside(root, self.cwd, self.resolve, dotglob=dotglob, hidden=hidden)
        if hit is not None or not self.links or self.windows:
            return hit
        landed = self.through_links(root)
        if landed is None:
            return _THROUGH_UNKNOWN
        for real in [self.policy.expand(root, self.cwd), *landed]:
            hit = self.policy.restricted_inside(real, "/", self.resolve, dotglob=dotglob, hidden=hidden)
            if hit is not None:
                return hit
            start = real.rstrip("/") + "/"
            for key in self.links:
                if not key.startswith(start) or (not hidden and "/." in key[len(start) - 1 :]):
                    continue
                inner = self.landings(key)
                if inner is None:
                    return _THROUGH_UNKNOWN
                for place in inner:
                    hit = self.policy.restricted(place, "/", self.resolve, dotglob=dotglob)
                    hit = hit or self.policy.restricted_inside(place, "/", self.resolve, dotglob=dotglob, hidden=hidden)
                    if hit is not None:
                        return hit
        return None

    def in_unknown_folder(self, path: str) -> bool:
        """Whether ``path`` lies in a folder known only when the command runs: relative after ``cd $(…)``, or
        under ``~-`` / ``~+`` / ``~1`` / ``$PWD`` that ``substitute`` could not put in."""
        if self.windows or not path:
            return False
        if folder_ref(path):
            return True
        return not self.cwd_known and not path.startswith(("/", "~", "$"))

    def _names_in_cwd(self, word: str) -> bool:
        """Whether a bare word (no separator, not an option) is judged as a name in the working directory: only
        where a protected entry lies directly in it."""
        if not word or word[0] == "-" or looks_like_path(word) or ":" in word or "=" in word:
            return False
        if self.links and LINK_SOMEWHERE not in self.links and not self.windows:  # 'ln -s /etc /tmp/e; cd /tmp/e'
            landed = self.through_links(self.cwd)  # None: a link on the way leads somewhere not known
            if landed is None or any(self.policy.holds_protected(real, self.resolve is not None) for real in landed):
                return True
        here = self.bare_names.get(self.cwd)
        if here is None:
            here = self.bare_names[self.cwd] = self.policy.holds_protected(self.cwd, self.resolve is not None)
        if here or self.resolve is None:
            return here
        # judging for real: 'cd /tmp; cp settings.json other-home' writes into another server's state directory,
        # and 'cd proj && cat x' reads what the link x points to (~/.ssh/id_rsa)
        try:
            path = (ntpath if self.windows else posixpath).join(self.cwd, word)
            return os.path.islink(path) or is_state_dir(path, self.windows)
        except (OSError, ValueError):
            return False

    def place(self, word: str, *, entry: bool = False) -> int:
        """The kind of place a target names; an unknown variable before '/' counts as empty (``$DIR/`` → ``/``).
        Where it leads through links counts too (``ln -s / /tmp/r; rm -rf /tmp/r/*`` empties the root); with
        ``entry``, a link it names is the link, not its target (``rm``, ``mv`` and ``ln`` change the link)."""
        level = self.policy.place(word, self.cwd)
        if "$" in word:
            emptied = _UNSET_BEFORE_SEP.sub(_empty_unless_known, word)
            if emptied and emptied != word:
                level = max(level, self.policy.place(emptied, self.cwd))
        if level < Place.DEVICE and not self.windows and (self.links or self.resolve is not None):
            for real in self.through_links(word, entry=entry) or ():
                level = max(level, self.policy.place(real, "/"))
        return level

    # ------------------------------------------------------------------------------------ where paths lead

    def through_links(self, word: str, *, entry: bool = False) -> list[str] | None:
        """The places a POSIX path argument leads to through links that differ from the path as written: those
        the line made before (``ln -s ~ /tmp/s; cat /tmp/s/.ssh/id_rsa`` reads ``~/.ssh/id_rsa``) and, when the
        decision may look at the disk, those on it. ``entry``: a link the path itself names is the link (what
        ``rm``, ``mv`` or ``ln -f`` change), unless written with a trailing separator. None when it may lead
        somewhere not known (``lands_at``); empty on Windows, for an empty word and for a word with an expansion
        not known (judged as such elsewhere)."""
        text = self.with_tmpdir(word.strip().strip("\"'"))
        if self.windows or not text or "$" in text or folder_ref(text):
            return []
        full = self.unfolded(text)
        folder, _, name = full.rpartition("/")
        if entry and not text.endswith("/") and name not in ("", ".", ".."):
            landed = self.landings(folder or "/")
            if landed is not None:
                landed = [real.rstrip("/") + "/" + name for real in landed]
        else:
            landed = self.landings(full)
        if landed is None:
            return None
        written = self.policy.expand(text, self.cwd)
        return [real for real in dict.fromkeys(landed) if real != written]

    def named_temp(self, target: str) -> tuple[str, str] | None:
        """The temporary folder a POSIX write names, and the target with its variable put in: ``/tmp/…``, or
        ``$TMPDIR/…`` when that is known (``server_tmpdir``). None otherwise: a folder not known is not temporary."""
        if target.startswith("/tmp/"):  # noqa: S108 - a judgement about paths, not a temp file
            return "/tmp", target  # noqa: S108
        ref = _TMPDIR_REF.match(target)
        tmpdir = self.server_tmpdir() if ref is not None else None
        if ref is None or tmpdir is None:
            return None
        return tmpdir, tmpdir + "/" + target[ref.end() :]

    def server_tmpdir(self) -> str | None:
        """What ``$TMPDIR`` holds on this line: the server's own TMPDIR (``GateContext.tmpdir``), which the agent's
        shell inherits, when it is an absolute path other than the root, the line's own commands use it (a nested
        shell may run with another environment: ``sudo``, ``env -i``; a tool's path names no variable) and nothing
        on the line may change it. None when it is not known."""
        value = self.ctx.tmpdir.rstrip("/")
        if not value.startswith("/") or self.depth != 1 or _TMPDIR_MAY_CHANGE.search(_QUOTING.sub("", self.source)):
            return None
        return value

    def temp_base(self) -> str | None:
        """Where ``mktemp`` makes what it makes on this line: ``$TMPDIR`` as ``server_tmpdir`` knows it, or /tmp
        when the server has no TMPDIR and nothing on the line may set one; None when that is not known."""
        if self.ctx.tmpdir:
            return self.server_tmpdir()
        if self.depth != 1 or _TMPDIR_MAY_CHANGE.search(_QUOTING.sub("", self.source)):
            return None
        return "/tmp"  # noqa: S108 - where mktemp puts its folders, judged, not used

    def with_tmpdir(self, target: str) -> str:
        """``target`` with a known ``$TMPDIR`` put in, so it is judged as the path it is; else as written."""
        if self.windows or _TMPDIR_REF.match(target) is None:
            return target
        named = self.named_temp(target)
        return target if named is None else named[1]

    def unfolded(self, target: str) -> str:
        """The absolute path a POSIX ``target`` names, its ``..`` kept for ``lands_at`` to apply after the links
        before it, as the kernel does (``expand`` folds them as text, as the tools do)."""
        parts = target.split("/")
        cut = next((i for i, part in enumerate(parts) if part == ".."), None)
        if cut is None:
            return self.policy.expand(target, self.cwd)
        head = "/".join(parts[:cut]) or ("/" if target.startswith("/") else ".")
        return self.policy.expand(head, self.cwd).rstrip("/") + "/" + "/".join(parts[cut:])

    def lands_at(self, path: str) -> str | None:
        """The one place the absolute POSIX ``path`` leads to (``landings``); None when that is not known, or when
        a pattern in it may lead to more than one."""
        landed = self.landings(path)
        return landed[0] if landed is not None and len(landed) == 1 else None

    def landings(self, path: str) -> list[str] | None:
        """Where the absolute POSIX ``path`` may lead once its links are followed as the kernel follows them, each
        before the ``..`` after it: those the line made before (``links``) and, when the decision may look at the
        disk, those on it. A pattern leads both to what it names as written and through each link of the line it
        may match (``cat /tmp/?/.ssh/id_rsa`` after ``ln -s ~ /tmp/s``). None when one leads somewhere not known
        (``ln -s $X /tmp/w``), past ``MAX_LINKS`` or to more than ``MAX_LANDINGS`` places, or when the line made a
        link in a folder not known (``ln -s /work $D``), which any path may go through."""
        resolve = self.resolve if os.name == "posix" else None
        links = self.links
        if LINK_SOMEWHERE in links:
            return None
        if not links:
            if resolve is None:
                return [posixpath.normpath(path)]
            try:
                return [resolve(path)]
            except (OSError, ValueError):
                return None
        found: list[str] = []
        walks: list[tuple[str, list[str], int]] = [("", path.split("/")[::-1], 0)]
        while walks:
            real, todo, hops = walks.pop()
            while todo:
                name = todo.pop()
                if name in ("", "."):
                    continue
                if name == "..":
                    real = real[: real.rfind("/")]
                    continue
                here = real + "/" + name
                held: str | None
                if here in links:
                    held = links[here]
                elif _POSIX_PATTERN.search(name):
                    # the names it may match that lead through a link of the line, each walked on its own; the
                    # pattern itself stays for the other names, which the path checks match as patterns
                    walks += [(real, [*todo, other], hops) for other in self._linked_names(real, name)]
                    if len(walks) + len(found) > MAX_LANDINGS:
                        return None
                    real = here
                    continue
                elif resolve is not None:
                    try:
                        held = resolve(here)
                    except (OSError, ValueError):
                        return None
                    if held.rstrip("/") == here:
                        real = here
                        continue
                    # a link on disk: where it leads is walked again, for a link the line makes there ('a -> /tmp/p')
                else:
                    real = here
                    continue
                hops += 1
                if held is None or hops > MAX_LINKS:
                    return None
                if held.startswith("/"):
                    real = ""
                todo.extend(held.split("/")[::-1])
            found.append(real or "/")
        return found

    def _linked_names(self, folder: str, pattern: str) -> list[str]:
        """The names in ``folder`` that ``pattern`` may match and that lead to a link the line made: the link's
        own name, or a folder it lies under."""
        start = folder + "/"
        names = {key[len(start) :].split("/", 1)[0] for key in self.links if key.startswith(start)}
        return sorted(n for n in names if n and component_matches(pattern, n, self.dotglob))


def _empty_unless_known(match: re.Match[str]) -> str:
    return match.group(0) if match.group(1) in _KNOWN else ""
