"""What one program invocation does, judged from its name and arguments (shared by all three shells).

Each rule looks at an ``Invocation`` whose prefixes (sudo, env, xargs…) are already stripped, and records
findings on the ``State``. Programs without a rule are ordinary (safe) unless their arguments touch a
restricted path, which the caller checks.

The rules are in ``cmdbase`` (files), ``cmdsystem`` (system, packages, git, data, containers), ``cmdtools``
(network, archives, editors, debuggers) and ``cmdmount`` (mounts); here are the variables set on the command line,
which can make any program run other code, and the dispatch.
"""

from __future__ import annotations

import re
import shlex

from contop.security import cmdbase, cmdfetch, cmdmount, cmdsystem, cmdtools
from contop.security.cmdbase import (
    HELP_FLAGS,
    Invocation,
    Rule,
    long_option,
    normalise,
    own_command,
    plain_program,
    split_words,
)
from contop.security.cmdsystem import GIT_SETTINGS_RUN, git_setting
from contop.security.cmdtools import plain_ssh
from contop.security.findings import CONFIRM
from contop.security.state import State

# ------------------------------------------------------------------------------------------- variables on the line

# Set before a command, each makes a program run code the line chooses: a startup file, a library, an option.
RUNS_OTHER_CODE = frozenset({"BASH_ENV", "ENV", "ZDOTDIR", "PROMPT_COMMAND", "LESSOPEN", "LESSCLOSE", "GIT_SSH",
                             "GIT_PROXY_COMMAND", "GIT_ASKPASS", "SSH_ASKPASS", "SUDO_ASKPASS", "GIT_EXTERNAL_DIFF",
                             "GIT_EXEC_PATH", "GIT_TEMPLATE_DIR", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG",
                             "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT",
                             "DYLD_INSERT_LIBRARIES", "DYLD_LIBRARY_PATH", "PYTHONSTARTUP", "PERL5OPT", "PERL5DB",
                             "RUBYOPT", "NODE_OPTIONS", "BROWSER"})  # fmt: skip
# Those that name a pager, an editor or ssh: harmless while they name a plain one ('GIT_PAGER=cat git log').
NAMES_A_PROGRAM = frozenset({"PAGER", "GIT_PAGER", "MANPAGER", "SYSTEMD_PAGER", "EDITOR", "VISUAL", "GIT_EDITOR",
                             "GIT_SEQUENCE_EDITOR", "SUDO_EDITOR"})  # fmt: skip
_NAMES_SSH = frozenset({"GIT_SSH_COMMAND", "RSYNC_RSH"})
_CODE_VARIABLE = re.compile(
    r"\b(?:" + "|".join(sorted(RUNS_OTHER_CODE | NAMES_A_PROGRAM | _NAMES_SSH)) + r"|GIT_CONFIG_KEY_\d+)="
)
_ASSIGNED = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", re.DOTALL)


def line_variables(inv: Invocation, st: State) -> None:
    """``PAGER='sh -c …' git log``, ``env LESSOPEN='|…' less f``, ``export BASH_ENV=…; bash x.sh``: a variable
    set on the line that makes the program run other code; and ``env -S'…'``, whose text is a command line."""
    assigned = {k: v for k, v in st.vars.items() if k in RUNS_OTHER_CODE or k in NAMES_A_PROGRAM or k in _NAMES_SSH}
    text = inv.text
    if not st.windows and (("=" in text and _CODE_VARIABLE.search(text)) or _ENV_SPLIT_HINT.search(text)):
        cmd = own_command(text)
        if cmd is not None:
            assigned.update((name, st.substitute(value)) for name, value in cmd.assigns)
            prefix = _prefix_words(cmd.words)
            for word in prefix:
                match = _ASSIGNED.fullmatch(word)
                if match is not None:
                    assigned[match.group(1)] = st.substitute(match.group(2))
            _env_split_string(cmd.words, len(prefix), st)
    for name, value in assigned.items():
        if name.startswith("GIT_CONFIG_KEY_"):
            git_setting(value, assigned.get("GIT_CONFIG_VALUE_" + name[15:]), inv, st, GIT_SETTINGS_RUN)
            continue
        if name in NAMES_A_PROGRAM:
            risky = not plain_program(value)
        elif name in _NAMES_SSH:
            risky = not plain_ssh(value, inv, st)
        elif name == "ENV":  # a file an interactive sh reads first; 'ENV=production' names none
            risky = any(c in value for c in "/$`")
        elif name in RUNS_OTHER_CODE:
            risky = value.strip() not in ("", "/dev/null")
        else:
            continue
        if risky:
            st.add(CONFIRM, f"sets a variable that makes the program run other code: {name}", text)


def _prefix_words(words: list[str]) -> list[str]:
    """The words before the program that ``words`` runs (``sudo``, ``env A=b -i``…), and the program's own first
    word when it is ``env`` itself (``env -S'…'`` alone)."""
    from contop.security.posix import strip_prefixes

    wrapped, _ = strip_prefixes(words)
    cut = len(words) - len(wrapped)
    if cut < 0 or words[cut:] != wrapped:  # strip_prefixes split an 'env -S' string: every word may matter
        return words
    return words[: cut + 1] if wrapped and normalise(wrapped[0]) == "env" else words[:cut]


_ENV_SPLIT = re.compile(r"-[iv0]*S(.*)", re.DOTALL)
_ENV_SPLIT_HINT = re.compile(r"-[iv0]*S|--sp")


def _env_split_string(words: list[str], prefix: int, st: State) -> None:
    """``env -S'sh -c' 'rm -rf ~'``, ``env -iS"…"``, ``env --split-string=…``: env splits the string into the
    command it runs (quotes kept together), followed by the words after it; that command is judged."""
    for i in range(min(prefix, len(words))):
        if normalise(words[i]) != "env":
            continue
        j = i + 1
        while j < len(words):
            word = words[j]
            attached = _ENV_SPLIT.fullmatch(word)
            long = long_option(word, (("--split-string", "--sp"),)) == "--split-string"
            if attached is not None or long:
                if attached is not None and attached.group(1):
                    string, rest = attached.group(1), words[j + 1 :]
                elif long and "=" in word:
                    string, rest = word.split("=", 1)[1], words[j + 1 :]
                else:
                    string, rest = (words[j + 1] if j + 1 < len(words) else ""), words[j + 2 :]
                command = ["env", *split_words(string), *rest]
                st.check_depth()
                st.depth += 1
                try:
                    from contop.security.posix import judge_words

                    judge_words(command, st, shlex.join(command))
                finally:
                    st.depth -= 1
                return
            if word in ("-u", "-C", "--unset", "--chdir"):
                j += 2
            elif word.startswith("-") or _ASSIGNED.fullmatch(word):
                j += 1
            else:
                break


RULES: dict[str, Rule] = {**cmdbase.RULES, **cmdsystem.RULES, **cmdtools.RULES, **cmdmount.RULES}


def judge(inv: Invocation, st: State) -> None:
    line_variables(inv, st)  # before the help flags: 'PAGER=… git --help' runs the pager
    rule = RULES.get(inv.name)
    if rule is not None and not any(a in HELP_FLAGS for a in inv.args):
        rule(inv, st)
    fetch = cmdfetch.RULES.get(inv.name)
    if fetch is not None:  # whatever the help flags: 'npx pkg --help' fetches pkg and runs it
        fetch(inv, st)
