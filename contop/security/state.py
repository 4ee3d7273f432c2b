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
    Policy,
    Resolver,
    decision_resolver,
    is_state_dir,
    looks_like_path,
    path_candidates,
    policy_for,
    too_many_file_urls,
)

MAX_NESTING = 8
_KNOWN = frozenset({"HOME", "USERPROFILE", "PWD"})
_UNSET_BEFORE_SEP = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?(?=[/\\])")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_DEFAULTED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*):?[-=]([^{}$]*)\}")  # ${X:-d} ${X-d} ${X:=d} ${X=d}


class Blocked(Exception):
    """Raised by ``State.add`` at the first block: nothing found later can change the verdict or its reason."""


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
    seen: list[tuple[str, list[str]]] = field(default_factory=list)  # every program run, for the user's lists
    depth: int = 0
    resolve: Resolver | None = None  # follows symlinks, remembering folders for this one decision
    bare_names: dict[str, bool] = field(default_factory=dict)  # cwd -> whether bare names there are judged

    @classmethod
    def start(cls, ctx: GateContext, source: str, *, windows: bool | None = None) -> State:
        win = ctx.windows_paths or ctx.platform != "posix" if windows is None else windows
        policy = policy_for(ctx.home, ctx.state_dir, ctx.restricted_paths, win, ctx.cwd)
        st = cls(
            ctx=ctx, policy=policy, windows=win, cwd=ctx.cwd or ctx.home, source=source, resolve=decision_resolver()
        )
        if ctx.state_dir and not win:
            st.vars["CONTOP_HOME"] = ctx.state_dir  # the agent's shell does not get it, but judge it as if it did
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
        (``${X:-~/.ssh}``) stands for an unset variable, and ``$HOME`` for one the line did not set."""
        if "$" not in word:
            return word
        if "${" in word:
            word = _DEFAULTED.sub(self._defaulted, word)
        if not self.vars:
            return word
        return _VAR.sub(lambda m: self.vars.get(m.group(1) or m.group(2), m.group(0)), word)

    def _defaulted(self, match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in self.vars:
            return self.vars[name]
        return f"${{{name}}}" if name in _KNOWN else default

    def check_paths(self, words: list[str] | tuple[str, ...], text: str) -> None:
        """Block (ending the classification) when any argument names a restricted path."""
        for word in words:
            if self._names_in_cwd(word):  # 'cd /proc/$PPID; cat env*', 'cd /etc; cat shadow'
                word = "./" + word
            if len(word) > 96 and too_many_file_urls(word):
                self.add(CONFIRM, f"has more than {MAX_FILE_URLS} file: URLs in one argument to judge", text)
            for candidate in path_candidates(word):
                hit = self.policy.restricted(candidate, self.cwd, self.resolve)
                if hit is not None:
                    self.add(BLOCK, f"touches a protected location {hit}", text)

    def _names_in_cwd(self, word: str) -> bool:
        """Whether a bare word (no separator, not an option) is judged as a name in the working directory: only
        where a protected entry lies directly in it."""
        if not word or word[0] == "-" or looks_like_path(word) or ":" in word or "=" in word:
            return False
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

    def place(self, word: str) -> int:
        """The kind of place a target names; an unknown variable before '/' counts as empty (``$DIR/`` → ``/``)."""
        level = self.policy.place(word, self.cwd)
        if "$" in word:
            emptied = _UNSET_BEFORE_SEP.sub(_empty_unless_known, word)
            if emptied and emptied != word:
                level = max(level, self.policy.place(emptied, self.cwd))
        return level


def _empty_unless_known(match: re.Match[str]) -> str:
    return match.group(0) if match.group(1) in _KNOWN else ""
