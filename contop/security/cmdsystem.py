"""Command rules for the system: processes and power, services and scheduled jobs, firewalls and logs, packages,
git (its settings and aliases that run commands), databases (sqlite3's dot commands), containers, clusters and
clouds. ``commands`` dispatches to them.
"""

from __future__ import annotations

import base64
import binascii
import re
import shlex

from contop.security.cmdbase import (
    SECURITY_SERVICES,
    SUSPICIOUS_PAYLOAD,
    CopyLine,
    Invocation,
    Rule,
    downloads_into,
    has_flag,
    is_dry_run,
    landing_files,
    long_option,
    nested,
    normalise,
    option_values,
    plain_program,
    runs_given_command,
    script_text,
    split_opts,
    split_words,
    stdin_text,
    writes_file,
    writes_into_folder,
    writes_whole_tree,
)
from contop.security.cmdtools import SENDS_A_FILE, plain_ssh, reads_tree, sends_away
from contop.security.findings import BLOCK, CONFIRM
from contop.security.keywords import Keywords
from contop.security.paths import Place
from contop.security.state import State

# ------------------------------------------------------------------------------------------- processes, power


def _ps(inv: Invocation, st: State) -> None:
    """BSD-style ``ps e`` / ``ps eww`` prints every program's environment, the server's API keys included."""
    if any(not a.startswith("-") and "e" in a and a.isalpha() for a in inv.args):
        st.add(BLOCK, "shows other programs' environment variables, where API keys are kept", inv.text)


def _kill(inv: Invocation, st: State) -> None:
    if inv.args and inv.args[0] in ("-l", "-L", "--list"):
        return
    st.add(CONFIRM, "stops running programs", inv.text)


def _swapoff(inv: Invocation, st: State) -> None:
    if inv.args:  # alone it only prints its usage
        st.add(CONFIRM, "turns off swap space, which can make the computer run out of memory", inv.text)


# ip's options that take a value (it takes any unambiguous start of a name: '-n' is -netns, '-b' -batch).
_IP_VALUED = re.compile(r"-(n|ne|net|netn|netns|b|ba|bat|batc|batch|f|fa|fam|fami|famil|family|l|lo|loo|loop|loops|"
                        r"rc|rcv|rcvb|rcvbu|rcvbuf)")  # fmt: skip
_IP_READS = ("show", "list", "lst", "get", "help", "monitor", "identify", "pids")


def _ip(inv: Invocation, st: State) -> None:
    """``ip link set eth0 down``, ``ip route del default``: network settings changed; ``ip addr``, ``ip r get X``
    only read. ``ip netns exec NS cmd`` and ``ip vrf exec NAME cmd`` run cmd, judged as a command."""
    args = inv.args
    i = 0
    while i < len(args) and args[i].startswith("-"):
        option = "-" + args[i].lstrip("-")
        if option.startswith("-b") and _IP_VALUED.fullmatch(option):
            st.add(CONFIRM, "changes network settings from a batch file (ip -batch)", inv.text)
        i += 2 if _IP_VALUED.fullmatch(option) else 1
    words = args[i:]
    if len(words) < 2:
        return
    obj, verb = words[0].lower(), words[1].lower()
    if (obj.startswith("mo") and "monitor".startswith(obj)) or "help".startswith(obj):  # 'ip m' is maddress
        return
    if obj in ("netns", "vrf") and verb == "exec":
        from contop.security.posix import judge_words

        if len(words) > 3:
            judge_words(words[3:], st, inv.text)
        return
    if verb == "s" and "link".startswith(obj):  # 'ip link s' is set; elsewhere 's' is show
        verb = "set"
    if not any(read.startswith(verb) for read in _IP_READS):
        st.add(CONFIRM, f"changes network settings (ip {obj} {verb})", inv.text)


def _ifconfig(inv: Invocation, st: State) -> None:
    """``ifconfig eth0 down``: anything after the interface changes it; ``ifdown``, ``ifup`` always do."""
    operands = [a for a in inv.args if not a.startswith("-")]
    if inv.name != "ifconfig" or len(operands) > 1:
        st.add(CONFIRM, "changes network settings", inv.text)


def _power(inv: Invocation, st: State) -> None:
    if inv.name == "init" and not any(a in ("0", "6", "1", "s", "S") for a in inv.args):
        return
    st.add(CONFIRM, "shuts down, restarts or logs off the computer", inv.text)


_SERVICE_CHANGES = frozenset(
    "stop disable mask kill restart try-restart reload-or-restart reset-failed unmask enable start reload link edit "
    "set-property revert preset".split()
)


def _systemctl(inv: Invocation, st: State) -> None:
    _, operands = split_opts(inv.args)
    if not operands:
        return
    action = operands[0].lower()
    units = operands[1:]
    if action in ("poweroff", "reboot", "halt", "suspend", "hibernate", "hybrid-sleep", "kexec", "rescue",
                  "emergency", "isolate", "soft-reboot"):  # fmt: skip
        st.add(CONFIRM, "shuts down, restarts or suspends the computer", inv.text)
    elif action in _SERVICE_CHANGES:
        if action in ("stop", "disable", "mask", "kill") and any(SECURITY_SERVICES.match(u) for u in units):
            st.add(BLOCK, "turns off a security or logging service", inv.text)
        if action in ("enable", "link") and SUSPICIOUS_PAYLOAD.search(st.source):
            st.add(BLOCK, "installs a downloaded program as a service", inv.text)
        st.add(CONFIRM, f"changes system services ({action})", inv.text)


def _service(inv: Invocation, st: State) -> None:
    _, operands = split_opts(inv.args)
    if len(operands) >= 2 and operands[1].lower() not in ("status",):
        if operands[1].lower() == "stop" and SECURITY_SERVICES.match(operands[0]):
            st.add(BLOCK, "turns off a security or logging service", inv.text)
        st.add(CONFIRM, "stops or restarts a system service", inv.text)


def _launchctl(inv: Invocation, st: State) -> None:
    if inv.args and inv.args[0].lower() in ("load", "bootstrap", "submit", "enable"):
        if SUSPICIOUS_PAYLOAD.search(st.source):
            st.add(BLOCK, "installs a downloaded program to start automatically", inv.text)
        st.add(CONFIRM, "changes what runs automatically", inv.text)
    elif inv.args and inv.args[0].lower() in ("unload", "bootout", "remove", "kill", "stop", "disable"):
        st.add(CONFIRM, "stops a system service", inv.text)


def _crontab(inv: Invocation, st: State) -> None:
    opts, _operands = split_opts(inv.args)
    if opts and all(o in ("-l", "-u") for o in opts) and "-l" in opts:
        return
    if "-r" in opts:
        st.add(CONFIRM, "removes all scheduled jobs", inv.text)
        return
    if SUSPICIOUS_PAYLOAD.search(st.source):
        st.add(BLOCK, "schedules a downloaded or hidden program to run repeatedly", inv.text)
    st.add(CONFIRM, "changes scheduled jobs", inv.text)


def _at(inv: Invocation, st: State) -> None:
    if (inv.args and inv.args[0] in ("-l", "-q")) or inv.name == "atq":
        return
    if SUSPICIOUS_PAYLOAD.search(st.source):
        st.add(BLOCK, "schedules a downloaded or hidden program", inv.text)
    st.add(CONFIRM, "schedules a command to run later", inv.text)


# ------------------------------------------------------------------------------------------- defence evasion


def _firewall(inv: Invocation, st: State) -> None:
    lowered = [a.lower() for a in inv.args]
    joined = " ".join(lowered)
    name = inv.name
    if name == "ufw":
        if "disable" in lowered or "reset" in lowered:
            st.add(BLOCK, "turns off the firewall", inv.text)
        elif lowered and lowered[0] not in ("status", "show", "app", "version", "--version", "help"):
            st.add(CONFIRM, "changes firewall rules", inv.text)
    elif name in ("iptables", "ip6tables", "iptables-legacy", "nft", "firewall-cmd"):
        if re.search(r"(^| )(-f|--flush|-x|flush ruleset|--panic-off)( |$)|-p (input|forward|output) accept", joined):
            st.add(BLOCK, "turns off the firewall", inv.text)
        elif not re.search(r"(^| )(-l|--list|-s|--list-rules|list|--state|--list-all)( |$)", joined):
            st.add(CONFIRM, "changes firewall rules", inv.text)
    elif name == "setenforce" and lowered and lowered[0] in ("0", "permissive"):
        st.add(BLOCK, "turns off SELinux", inv.text)
    elif name == "auditctl" and re.search(r"(^| )(-d|-e 0)( |$)|^-d", joined):
        st.add(BLOCK, "turns off system auditing", inv.text)
    elif (name == "csrutil" and "disable" in lowered) or (name == "spctl" and "--master-disable" in lowered):
        st.add(BLOCK, "turns off operating system protection", inv.text)
    elif name in ("aa-disable", "aa-teardown"):
        st.add(BLOCK, "turns off AppArmor", inv.text)


def _history(inv: Invocation, st: State) -> None:
    if any(a in ("-c", "-cw", "-wc") or a.startswith("-d") for a in inv.args):
        st.add(BLOCK, "erases shell history", inv.text)


def _journalctl(inv: Invocation, st: State) -> None:
    if any(a.startswith(("--vacuum", "--rotate", "--flush")) for a in inv.args):
        st.add(BLOCK, "erases system logs", inv.text)


def _unset(inv: Invocation, st: State) -> None:
    if any(a.upper() in ("HISTFILE", "HISTSIZE", "HISTFILESIZE") for a in inv.args):
        st.add(BLOCK, "turns off shell history", inv.text)


# ------------------------------------------------------------------------------------------- packages, vcs


_PKG_REMOVE = {
    "apt": ("remove", "purge", "autoremove", "autopurge"),
    "apt-get": ("remove", "purge", "autoremove", "autopurge"),
    "aptitude": ("remove", "purge"),
    "dpkg": ("-r", "-p", "--remove", "--purge", "-P"),
    "dnf": ("remove", "erase", "autoremove"),
    "yum": ("remove", "erase", "autoremove"),
    "zypper": ("remove", "rm"),
    "apk": ("del",),
    "pacman": ("-R", "-Rs", "-Rns", "-Rn", "-Rsc", "-Rdd", "--remove"),
    "brew": ("uninstall", "remove", "rm", "untap", "autoremove", "cleanup"),
    "pip": ("uninstall",),
    "pipx": ("uninstall", "uninstall-all"),
    "uv": ("remove",),
    "poetry": ("remove",),
    "npm": ("uninstall", "un", "remove", "rm", "r", "unlink", "prune"),
    "pnpm": ("remove", "rm", "uninstall", "un", "prune"),
    "yarn": ("remove",),
    "gem": ("uninstall", "cleanup"),
    "cargo": ("uninstall",),
    "conda": ("remove", "uninstall"),
    "snap": ("remove",),
    "flatpak": ("uninstall", "remove"),
    "winget": ("uninstall", "remove"),
    "choco": ("uninstall",),
    "scoop": ("uninstall",),
    "port": ("uninstall",),
    "rpm": ("-e", "--erase"),
}


def _package(inv: Invocation, st: State) -> None:
    verbs = _PKG_REMOVE[inv.name]
    if is_dry_run(inv.args) or ("-s" in inv.args and inv.name.startswith("apt")):
        return
    for arg in inv.args:
        if arg in verbs or (inv.name == "pacman" and re.match(r"^-R[a-z]*$", arg)):
            st.add(CONFIRM, "removes installed software", inv.text)
            return
        if inv.name == "conda" and arg == "env" and "remove" in inv.args:
            st.add(CONFIRM, "removes a conda environment", inv.text)
            return


GIT_SETTINGS_RUN = "runs a command given in git's settings"
_GIT_COMMAND_KEYS = re.compile(
    r"core\.(editor|pager|sshcommand|gitproxy|askpass|alternaterefscommand|fsmonitor|hookspath)|sequence\.editor|"
    r"pager\..+|alias\..+|credential\.(.+\.)?helper|diff\.external|diff\..+\.(command|textconv)|merge\..+\.driver|"
    r"filter\..+\.(clean|smudge|process)|gpg\.(.+\.)?program|gpg\.ssh\.defaultkeycommand|"
    r"sendemail\.(.+\.)?(sendmailcmd|smtpserver|tocmd|cccmd|headercmd)|uploadpack\.packobjectshook|"
    r"remote\..+\.(uploadpack|receivepack)|include\.path|includeif\..+\.path|init\.templatedir|submodule\..+\.update|"
    r"(difftool|mergetool|man|browser)\..+\.(cmd|path)|web\.browser|interactive\.difffilter|trailer\..+\.(command|cmd)|"
    r"protocol\.(ext\.)?allow|url\..*ext::.*\.(push)?insteadof|instaweb\.httpd"
)
_GIT_BOOLEANS = frozenset({"", "true", "false", "yes", "no", "on", "off", "1", "0"})
_CREDENTIAL_HELPERS = re.compile(
    r"((store|cache|osxkeychain|manager|manager-core|libsecret|wincred|gnome-keyring|netrc)( --[a-z-]+(=\S+)?)*)?"
)


def _git_setting_runs(key: str, value: str | None) -> bool:
    """Whether git, given ``key=value`` (``value`` None when unknown), runs a command of the setting's choosing."""
    key = key.lower()
    if not _GIT_COMMAND_KEYS.fullmatch(key):
        return False
    if value is None:
        return True
    value = value.strip()
    if key.startswith(("alias.", "submodule.")):
        return value.startswith("!")  # an alias of other git commands, a checkout or a rebase
    if key.startswith("protocol."):
        return value.lower() in ("always", "user")  # the ext:: transport runs any command
    if key in ("core.pager", "core.editor", "sequence.editor") or key.startswith("pager."):
        return not (value.lower() in _GIT_BOOLEANS or plain_program(value))
    if key == "core.fsmonitor":
        return value.lower() not in _GIT_BOOLEANS  # true: git's own monitor
    if key.startswith("credential."):
        return not _CREDENTIAL_HELPERS.fullmatch(value)
    if key.startswith("gpg.") and key.endswith("program"):
        return normalise(value.split()[0]) not in ("gpg", "gpg2", "gpgsm", "ssh-keygen") if value else False
    return value not in ("", "/dev/null")


def git_setting(spec: str, value: str | None, inv: Invocation, st: State, reason: str) -> None:
    """One setting given to git (``-c key=value``, ``git config key value``, GIT_CONFIG_KEY_0): a command it
    names asks first and is judged as a command; a folder of hooks or a file of settings is checked as a path."""
    key = spec.lower()
    if key == "core.sshcommand" and value is not None and plain_ssh(value, inv, st):
        return
    if not _git_setting_runs(key, value):
        return
    st.add(CONFIRM, reason, inv.text)
    if not value or key.startswith(("protocol.", "url.")):
        return
    if key.endswith(("path", "templatedir")):
        st.check_paths([value], inv.text)
    else:
        nested(value.strip().lstrip("!"), st)


def _git_options(args: list[str], inv: Invocation, st: State) -> int:
    """git's own options before its subcommand (``-c key=value``, ``--config-env=key=VAR``, ``--exec-path=…``);
    returns where the subcommand is."""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        opt = args[i]
        value = args[i + 1] if i + 1 < len(args) else ""
        if opt == "-c" or opt.startswith("--config-env"):
            spec = opt.split("=", 1)[1] if "=" in opt else value
            key, eq, setting = spec.partition("=")
            if opt == "-c":
                git_setting(key, setting if eq else "true", inv, st, GIT_SETTINGS_RUN)
            else:
                git_setting(key, None, inv, st, GIT_SETTINGS_RUN)  # the value is in a variable
        elif opt.startswith("--exec-path="):
            st.add(CONFIRM, "runs git's own programs from another folder", inv.text)
        valued = ("-C", "-c", "--git-dir", "--work-tree", "--namespace", "--config-env", "--super-prefix",
                  "--list-cmds", "--attr-source")  # fmt: skip
        i += 2 if opt in valued else 1
    return i


_GIT_CONFIG_OTHER_MODES = ("--get", "--unset", "--remove-section", "--rename-section", "--list", "--edit")


def _git_config(rest: list[str], inv: Invocation, st: State) -> None:
    """``git config [--global] key value`` and ``git config set key value`` keep a setting for later commands."""
    operands: list[str] = []
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg.startswith(_GIT_CONFIG_OTHER_MODES) or arg in ("-l", "-e"):
            return  # reads, removes or opens the settings in an editor
        if arg in ("-f", "--file", "--blob", "--type", "--default", "--comment", "--value", "-t"):
            i += 2
            continue
        if not arg.startswith("-"):
            operands.append(arg)
        i += 1
    if operands[:1] == ["set"]:
        operands = operands[1:]
    elif operands[:1] and operands[0] in ("get", "list", "unset", "remove-section", "rename-section", "edit"):
        return
    if len(operands) >= 2:
        git_setting(operands[0], operands[1], inv, st, "changes which programs git runs")


_GIT_OWN_PROGRAM = re.compile(r"(\S*/)?git[- ](upload-pack|receive-pack|upload-archive)")


def _git_runs(sub: str, rest: list[str], inv: Invocation, st: State) -> None:
    """Commands that a subcommand's options give git to run: ``rebase --exec``, ``bisect run``, ``submodule
    foreach``, ``difftool -x``, ``grep -O<cmd>``, ``clone --upload-pack``, ``clone -c``…"""
    from contop.security.posix import judge_words

    if sub == "rebase":
        for command in option_values(rest, "-x", "--exec"):
            nested(command, st)
    elif sub in ("difftool", "mergetool"):
        for command in option_values(rest, "-x", "--extcmd"):
            nested(command, st)
    elif sub == "bisect" and rest[:1] == ["run"] and rest[1:]:
        judge_words(rest[1:], st, inv.text)
    elif sub == "submodule" and "foreach" in rest:
        words = rest[rest.index("foreach") + 1 :]
        while words and words[0].startswith("-"):
            words = words[1:]
        nested(" ".join(words), st)
    elif sub == "grep":
        for arg in rest:
            if (arg.startswith("-O") and len(arg) > 2) or arg.startswith("--open-files-in-pager="):
                command = arg[2:] if arg.startswith("-O") else arg.split("=", 1)[1]
                if not plain_program(command):
                    runs_given_command(command, "git's", inv, st)
    if sub in ("clone", "fetch", "pull", "push", "ls-remote", "archive"):
        short = "-u" if sub == "clone" else ""
        for command in option_values(rest, short, "--upload-pack", "--receive-pack", "--exec"):
            if not _GIT_OWN_PROGRAM.fullmatch(command.strip()):
                runs_given_command(command, "git's", inv, st)
    if sub == "clone":
        for spec in option_values(rest, "-c", "--config"):
            key, _, value = spec.partition("=")
            git_setting(key, value, inv, st, GIT_SETTINGS_RUN)
        for template in option_values(rest, "", "--template"):
            if template.strip() not in ("", "/dev/null"):
                st.add(CONFIRM, "runs the hooks of a template folder given in git's options", inv.text)


def _git(inv: Invocation, st: State) -> None:
    args = inv.args
    i = _git_options(args, inv, st)
    if i >= len(args):
        return
    sub, rest = args[i], args[i + 1 :]
    _git_runs(sub, rest, inv, st)
    if sub == "grep":
        _git_grep(args[:i], rest, inv, st)
    opts, operands = split_opts(rest)
    _git_sends(sub, args[:i], opts, operands, inv, st)
    dry = is_dry_run(rest) or has_flag(opts, "n" if sub == "clean" else "", "--dry-run")
    if sub == "reset" and ("--hard" in opts or "--merge" in opts or "--keep" in opts):
        st.add(CONFIRM, "throws away uncommitted changes (git reset --hard)", inv.text)
    elif sub == "clean" and not dry and has_flag(opts, "fdxX", "--force"):
        st.add(CONFIRM, "deletes untracked files (git clean)", inv.text)
    elif sub == "push" and not dry:
        if has_flag(opts, "fd", "--force", "--force-with-lease", "--delete", "--mirror", "--prune") or any(
            o.startswith("+") or o.startswith(":") for o in operands
        ):
            st.add(CONFIRM, "rewrites or deletes history on the remote (force push)", inv.text)
    elif sub == "branch" and has_flag(opts, "D", "--delete") and ("-D" in opts or "--force" in opts or "-f" in opts):
        st.add(CONFIRM, "deletes a branch that may not be merged", inv.text)
    elif sub == "branch" and has_flag(opts, "dD", "--delete"):
        st.add(CONFIRM, "deletes a branch", inv.text)
    elif sub == "stash" and operands and operands[0] in ("drop", "clear"):
        st.add(CONFIRM, "throws away stashed changes", inv.text)
    elif sub == "checkout" and ("-f" in opts or "--force" in opts or "--" in rest or "." in operands):
        st.add(CONFIRM, "throws away uncommitted changes (checkout)", inv.text)
    elif sub == "restore" and not ("--staged" in opts and "--worktree" not in opts and "-W" not in opts):
        st.add(CONFIRM, "throws away uncommitted changes (restore)", inv.text)
    elif sub == "switch" and has_flag(opts, "f", "--discard-changes", "--force"):
        st.add(CONFIRM, "throws away uncommitted changes (switch)", inv.text)
    elif sub == "rm" and not dry and "--cached" not in opts:
        st.add(CONFIRM, "deletes files (git rm)", inv.text)
    elif sub in ("filter-branch", "filter-repo") or (sub == "reflog" and operands[:1] in (["expire"], ["delete"])):
        st.add(CONFIRM, "rewrites repository history", inv.text)
    elif sub == "gc" and any(o.startswith("--prune") for o in opts):
        st.add(CONFIRM, "permanently removes unreachable commits", inv.text)
    elif sub in ("update-ref", "tag", "worktree", "remote") and has_flag(
        opts, "d" if sub != "worktree" else "", "--delete"
    ):
        st.add(CONFIRM, f"deletes git references ({sub})", inv.text)
    elif sub == "worktree" and operands[:1] in (["remove"], ["prune"]):
        st.add(CONFIRM, "deletes a git worktree", inv.text)
    elif sub == "config":
        _git_config(rest, inv, st)


def _git_sends(
    sub: str, git_options: list[str], opts: list[str], operands: list[str], inv: Invocation, st: State
) -> None:
    """What git sends or reads beyond a project: ``git diff --no-index A B`` reads two whole trees; ``git
    send-email`` mails files; ``git add`` and ``git push`` in a work tree that is the home folder (``git -C ~``,
    ``--work-tree=~``, or after ``cd ~; git init``) put what it holds, the protected folders too, in commits
    that can leave this computer."""
    if sub == "diff" and "--no-index" in opts:
        reads_tree(operands or ["."], inv, st, hidden=True)
    elif sub == "send-email":
        sends_away(operands, inv, st)
    elif sub in ("add", "stage", "push", "commit") and (sub != "commit" or has_flag(opts, "a", "--all")):
        tree = st.cwd
        for k, opt in enumerate(git_options):
            value = git_options[k + 1] if k + 1 < len(git_options) else ""
            if opt == "-C" and value:
                tree = st.policy.expand(value, tree)
            elif opt.startswith("--work-tree"):
                tree = st.policy.expand(opt.split("=", 1)[1] if "=" in opt else value, tree)
        if st.place(tree) >= Place.HOME:
            st.add(CONFIRM, f"puts the whole of {tree} in a git repository that can be sent away (git {sub})", inv.text)


# git grep's short options that take a value (the rest of the word, else the next one; -O only the rest of its
# word) and its long ones whose value may be the next word. git takes any unambiguous start of a long option.
_GIT_GREP_VALUED = "efABCmO"
_GIT_GREP_LONG = (("--no-index", "--no-ind"), ("--index", "--ind"), ("--max-depth", "--max-d"),
                  ("--max-count", "--max-c"), ("--threads", "--th"), ("--context", "--co"),
                  ("--after-context", "--af"), ("--before-context", "--be"))  # fmt: skip
_GIT_GREP_LONG_VALUED = frozenset({"--max-depth", "--max-count", "--threads", "--context", "--after-context",
                                   "--before-context"})  # fmt: skip


def _git_grep(git_options: list[str], rest: list[str], inv: Invocation, st: State) -> None:
    """``git grep --no-index PATTERN DIR`` searches the folders it is given (the current one when none is) as
    ``grep -r`` does, files outside any repository included: one holding a protected folder asks. So does git's
    ``grep.fallbackToNoIndex`` setting, which makes it do so outside a repository. Without them git reads only
    what the repository tracks and refuses a path outside it."""
    pattern_given = False
    settings = [value.lower().partition("=") for value in option_values(git_options, "-c")]
    no_index = any(k == "grep.fallbacktonoindex" and (not eq or v in _GIT_TRUE) for k, eq, v in settings)
    operands: list[str] = []
    i = 0
    while i < len(rest):
        arg = rest[i]
        i += 1
        if arg == "--":
            operands += rest[i:]
            break
        if arg.startswith("--"):
            name = long_option(arg, _GIT_GREP_LONG)
            no_index = name == "--no-index" or (no_index and name != "--index")  # the last of the two counts
            i += name in _GIT_GREP_LONG_VALUED and "=" not in arg
        elif arg.startswith("-") and len(arg) > 1:
            for k, letter in enumerate(arg[1:], 1):
                if letter in _GIT_GREP_VALUED:
                    pattern_given = pattern_given or letter in "ef"
                    i += k == len(arg) - 1 and letter != "O"  # the value is the next word
                    break
        else:
            operands.append(arg)
    if not no_index:
        return
    folder = ""
    for value in option_values(git_options, "-C"):  # 'git -C ~ grep …': each -C is relative to the one before
        folder = value if value.startswith(("/", "~")) or not folder else folder.rstrip("/") + "/" + value
    roots = [
        root if not folder or root.startswith(("/", "~")) else folder.rstrip("/") + "/" + root
        for root in (operands if pattern_given else operands[1:]) or ["."]
    ]
    reads_tree(roots, inv, st, hidden=True)


_GIT_TRUE = frozenset({"", "true", "yes", "on", "1"})


# ------------------------------------------------------------------------------------------- data, containers, cloud

_SQL_DESTROY = Keywords(
    r"\b(drop\s+(table|database|schema|index|view|user|role|collection)|truncate\s+(table\s+)?\w|"
    r"delete\s+from\s+[\w.\"`\[\]]+\s*(;|$|\))|update\s+[\w.\"`\[\]]+\s+set\s+[^;]*?(;|$)(?<!where)|"
    r"alter\s+table\s+\S+\s+drop|flushall|flushdb|dropdatabase\s*\(|\.drop\s*\(|deletemany\s*\(\s*\{\s*\}|"
    r"remove\s*\(\s*\{\s*\}\s*\))",
    re.IGNORECASE,
)
_SQL_WHERE = re.compile(r"\bwhere\b", re.IGNORECASE)


def sql_is_destructive(text: str) -> bool:
    for match in _SQL_DESTROY.finditer(text):
        statement = match.group(0).lower()
        if statement.startswith(("update", "delete")):
            tail = text[match.start() :].split(";", 1)[0]
            if _SQL_WHERE.search(tail):
                continue
        return True
    return False


def _database(inv: Invocation, st: State) -> None:
    if inv.name in ("sqlite3", "duckdb"):
        _sqlite(inv, st)
    elif inv.name in ("psql", "mysql", "mariadb"):
        _client_shell_escape(inv, st)
    if inv.name in ("dropdb", "dropuser"):
        st.add(CONFIRM, "deletes a database", inv.text)
        return
    if inv.name == "mysqladmin" and any(a.lower() in ("drop", "shutdown") for a in inv.args):
        st.add(CONFIRM, "deletes a database or stops the server", inv.text)
        return
    if inv.name == "redis-cli" and any(a.lower() in ("flushall", "flushdb", "shutdown") for a in inv.args):
        st.add(CONFIRM, "erases the Redis database", inv.text)
        return
    if sql_is_destructive(" ".join(inv.args)):
        st.add(CONFIRM, "deletes or bulk-changes database data", inv.text)


_SQLITE_VALUED = frozenset({"-cmd", "-init", "-separator", "-newline", "-nullvalue", "-vfs", "-maxsize", "-mmap",
                            "-escape", "-lookaside", "-pagecache", "-heap"})  # fmt: skip
# sqlite3 dot-commands that run, load, read or write something (any abbreviation names them, as sqlite3 reads it).
_SQLITE_DOTS = ("shell", "system", "output", "once", "read", "import", "load", "save", "backup", "restore", "open",
                "log", "trace", "iotrace")  # fmt: skip
_SQLITE_FILE_FUNCTION = re.compile(r"\b(readfile|writefile|lsdir)\s*\(\s*(?:'((?:[^']|'')*)'|\"([^\"]*)\")", re.I)
_SQLITE_EDIT = re.compile(r"\bedit\s*\(", re.I)
_SQLITE_FILE_SQL = re.compile(
    r"\b(attach(?:\s+database)?|vacuum(?:\s+\w+)?\s+into|copy\b[^;]*?\bto)\s+(?:'((?:[^']|'')*)'|\"([^\"]*)\")",
    re.I,
)
_SQL_LITERAL = re.compile(r"'((?:[^']|'')*)'")


def _sqlite(inv: Invocation, st: State) -> None:
    """The sqlite3 shell (and duckdb's) runs each argument after the database (and -cmd's, and its input) as SQL
    or as a dot-command: ``.shell`` and ``.system`` run a command, ``.output FILE`` writes a file, ``.read FILE``
    reads one; -safe turns all of that off."""
    args = inv.args
    texts: list[str] = []
    database_seen = False
    duckdb = inv.name == "duckdb"  # the same shell, with '-c SQL' and '-s SQL' to run one command
    i = 0
    while i < len(args):
        arg = args[i]
        option = arg[1:] if arg.startswith("--") else arg
        following = args[i + 1] if i + 1 < len(args) else ""
        if option == "-safe":
            return
        if option == "-cmd" or (duckdb and option in ("-c", "-s")):
            texts.append(following)
        elif option == "-init":
            init = script_text(following, st)
            if init is None:
                st.add(CONFIRM, "runs sqlite3 commands whose text cannot be known in advance", inv.text)
            else:
                texts += init.splitlines()
        if option in _SQLITE_VALUED or (duckdb and option in ("-c", "-s")):
            i += 2
            continue
        if not arg.startswith("-"):
            if database_seen:
                texts.append(arg)
            database_seen = True
        i += 1
    stdin = stdin_text(inv, st)
    texts += stdin.splitlines() if stdin else []
    for text in texts:
        sqlite_text(text, inv, st)


def sqlite_text(text: str, inv: Invocation, st: State, depth: int = 0) -> None:
    """One argument or input line for the sqlite3 shell: a dot-command, or SQL whose functions may read or write
    files (readfile, writefile), run an editor (edit) or load a library (load_extension)."""
    if not text.startswith("."):
        _sqlite_sql(text, inv, st)
        return
    words = split_words(text[1:].replace("\n", " "))
    if not words:
        return
    given, rest = words[0].lower(), words[1:]
    names = {full for full in _SQLITE_DOTS if full.startswith(given)}
    files = [w for w in rest if not w.startswith("-")]
    if names & {"shell", "system"}:
        st.add(CONFIRM, "runs a shell command from sqlite3", inv.text)
        nested(" ".join(rest), st)
    if "load" in names:
        st.add(CONFIRM, "loads a library into sqlite3", inv.text)
    target = files[0] if files else ""
    if target.startswith("|") and names & {"output", "once", "read", "import", "log", "trace", "iotrace"}:
        st.add(CONFIRM, "runs a shell command from sqlite3", inv.text)
        nested(" ".join([target[1:], *files[1:]]), st)
        return
    if names & {"output", "once", "save", "backup", "log", "trace", "iotrace"} and files:
        target = files[-1] if names & {"save", "backup"} else target
        if target not in ("stdout", "stderr", "off"):
            writes_file(target, False, inv, st)
    if names & {"read", "import", "restore", "open", "load"} and files:
        st.check_paths(files, inv.text)
    if "read" in names and files and depth < 4:
        script = script_text(files[0], st)
        if script is None:
            st.add(CONFIRM, "runs sqlite3 commands whose text cannot be known in advance", inv.text)
        for line in (script or "").splitlines():
            sqlite_text(line, inv, st, depth + 1)


def _sqlite_sql(sql: str, inv: Invocation, st: State) -> None:
    lowered = sql.lower()
    if _SQLITE_EDIT.search(sql):
        st.add(CONFIRM, "runs an editor or another program from sqlite3", inv.text)
    if "load_extension" in lowered:
        st.add(CONFIRM, "loads a library into sqlite3", inv.text)
    for match in _SQLITE_FILE_FUNCTION.finditer(sql):
        path = (match.group(2) or "").replace("''", "'") or match.group(3) or ""
        if match.group(1).lower() == "writefile":
            writes_file(path, False, inv, st)
        else:
            st.check_paths([path], inv.text)
    for match in _SQLITE_FILE_SQL.finditer(sql):
        path = (match.group(2) or "").replace("''", "'") or match.group(3) or ""
        st.check_paths([path], inv.text)
        if match.group(1).lower().startswith(("vacuum", "copy")):
            writes_file(path, False, inv, st)
    # duckdb reads any file a string names (read_text('…'), read_csv('…'), FROM '…'): each literal is a path
    st.check_paths(
        [m.group(1).replace("''", "'") for m in _SQL_LITERAL.finditer(sql) if len(m.group(1)) < 300], inv.text
    )
    _sql_file_arguments(sql, inv, st)
    _sql_extensions(sql, inv, st)


# The SQL functions of duckdb and sqlite3 that read the file (or the files a glob matches) their first argument
# names (sqlite3's own glob() only compares text).
_SQL_READERS = re.compile(
    r"\b(read_\w+|sniff_csv|parquet_\w+|iceberg_\w+|delta_scan|glob|readfile|lsdir)\s*\(", re.IGNORECASE
)
_SQL_MAX_READERS = 64
_SQL_TOKEN = re.compile(r"\s*('(?:[^']|'')*'|\|\||::|[(),\[\]]|[A-Za-z_][\w.]*|\d+|\S)")


def _sql_file_arguments(sql: str, inv: Invocation, st: State) -> None:
    """The file a reading function is given, when the SQL builds its name (``read_text('~/.ss'||'h/id_rsa')``,
    ``concat(…)``, ``getenv('HOME')||…``, ``reverse('…')``, ``chr(126)||…``, ``from_base64('…')``): the pieces
    are put together as duckdb does and the name judged as a path; one built from parts known only when it runs
    asks. duckdb's globs match hidden names too, so a glob is judged as one with dotglob set."""
    duckdb = inv.name == "duckdb"
    for count, match in enumerate(_SQL_READERS.finditer(sql)):
        if count == _SQL_MAX_READERS:
            st.add(CONFIRM, f"reads files with more than {_SQL_MAX_READERS} SQL functions to judge", inv.text)
            return
        if match.group(1).lower() == "glob" and not duckdb:
            continue
        tokens = _sql_tokens(sql, match.end())
        if tokens is None:
            st.add(CONFIRM, "reads a file whose name the SQL builds in a way the gate does not follow", inv.text)
            continue
        parser = _SqlValue(tokens, st)
        names = parser.expression()
        if names is None or (parser.at < len(tokens) and tokens[parser.at] not in (",", ")")):
            st.add(CONFIRM, "reads a file whose name is only known when the SQL runs", inv.text)
            continue
        saved = st.dotglob
        st.dotglob = st.dotglob or duckdb
        try:
            st.check_paths([n for n in names if n], inv.text)
        finally:
            st.dotglob = saved


def _sql_tokens(sql: str, start: int) -> list[str] | None:
    """The tokens of a function's arguments, from just after its '(' to its matching ')' (None: none is found
    within a bounded length)."""
    tokens: list[str] = []
    level = 0
    at = start
    while at < len(sql) and len(tokens) < 400:
        match = _SQL_TOKEN.match(sql, at)
        if match is None:
            break
        token = match.group(1)
        at = match.end()
        if token in ("(", "["):
            level += 1
        elif token in (")", "]"):
            level -= 1
            if level < 0:
                tokens.append(token)
                return tokens
        tokens.append(token)
    return None


class _SqlValue:
    """The text values of one SQL expression made of string literals, ``||``, lists and the string functions
    that spell a name out of other text; None for any part known only when the SQL runs (a column, another
    function, an unset variable)."""

    def __init__(self, tokens: list[str], st: State) -> None:
        self.tokens = tokens
        self.at = 0
        self.st = st

    def _peek(self) -> str:
        return self.tokens[self.at] if self.at < len(self.tokens) else ""

    def _take(self, token: str) -> bool:
        if self._peek().lower() == token:
            self.at += 1
            return True
        return False

    def expression(self) -> list[str] | None:
        values = self._cast()
        while values is not None and self._take("||"):
            right = self._cast()
            if right is None:
                return None
            values = [a + b for a in values for b in right][:16]
        return values

    def _cast(self) -> list[str] | None:
        values = self._primary()
        while self._take("::"):
            self.at += 1  # the type: the text stays the same
            self._take("[")
            self._take("]")
        return values

    def _arguments(self) -> list[list[str] | None]:
        found: list[list[str] | None] = []
        if self._take(")"):
            return found
        while True:
            found.append(self.expression())
            if found[-1] is None or not self._take(","):
                break
        return found if self._take(")") else [None]

    def _primary(self) -> list[str] | None:
        word = self._peek()
        self.at += 1
        if word.startswith("'"):
            return [word[1:-1].replace("''", "'")]
        if word.isdigit():
            return [word]
        if word == "(":
            inner = self.expression()
            return inner if self._take(")") else None
        if word == "[":
            items: list[str] = []
            while not self._take("]"):
                item = self.expression()
                if item is None:
                    return None
                items += item
                self._take(",")
            return items
        name = word.lower()
        if name == "cast" and self._take("("):
            inner = self.expression()
            while self._peek() not in (")", ""):
                self.at += 1  # 'AS VARCHAR'
            return inner if self._take(")") else None
        if not self._take("("):
            return None  # a column, a parameter
        arguments = self._arguments()
        if any(a is None for a in arguments):
            return None
        texts = [a[0] if a else "" for a in arguments if a is not None]
        return _sql_function(name, texts, self.st)


def _sql_function(name: str, texts: list[str], st: State) -> list[str] | None:
    """What one of the string functions gives for known text (None for any other function)."""
    if name in ("concat", "string_concat"):
        return ["".join(texts)]
    if name == "concat_ws" and texts:
        return [texts[0].join(texts[1:])]
    if name == "getenv" and len(texts) == 1:
        known = {"HOME": "~", "USERPROFILE": "~", "PWD": "."}
        value = st.vars.get(texts[0], known.get(texts[0]))
        return None if value is None else [value]
    if name == "replace" and len(texts) == 3:
        return [texts[0].replace(texts[1], texts[2])]
    if len(texts) != 1:
        return None
    text = texts[0]
    if name in ("decode", "encode", "to_varchar"):  # blob and text casts: the same characters
        return [text]
    if name == "reverse":
        return [text[::-1]]
    if name in ("lower", "lcase"):
        return [text.lower()]
    if name in ("upper", "ucase"):
        return [text.upper()]
    if name in ("trim", "ltrim", "rtrim"):
        return [text.strip() if name == "trim" else text.lstrip() if name == "ltrim" else text.rstrip()]
    if name == "chr" and text.isdigit() and int(text) < 0x110000:
        return [chr(int(text))]
    try:
        if name == "from_base64":
            return [base64.b64decode(text, validate=True).decode("utf-8")]
        if name in ("unhex", "from_hex"):
            return [bytes.fromhex(text).decode("utf-8")]
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return None
    return None


# duckdb's 'INSTALL x FROM 'https://…'', 'INSTALL 'https://…/x.duckdb_extension'', 'LOAD 'https://…'' and a
# repository set by 'SET custom_extension_repository': a library fetched from that address and loaded into duckdb.
_SQL_EXTENSION_FROM = re.compile(
    r"\b(?:install\s+(?:\"?\w+\"?\s+from\s+)?|load\s+|\w*extension_repository\s*(?:=|\bto\b)?\s*)['\"]([^'\"]*)",
    re.IGNORECASE,
)


def _sql_extensions(sql: str, inv: Invocation, st: State) -> None:
    from contop.security.cmdfetch import FROM_AN_ADDRESS, from_address

    for match in _SQL_EXTENSION_FROM.finditer(sql):
        if from_address(match.group(1)):
            st.add(BLOCK, FROM_AN_ADDRESS, inv.text)


_CLIENT_SHELL_ESCAPE = re.compile(r"\\!|\\[ogw]\s*\||\\copy\b.*\bprogram\b|^\s*system\s", re.IGNORECASE | re.MULTILINE)


def _client_shell_escape(inv: Invocation, st: State) -> None:
    """psql's ``\\!``, ``\\o |cmd`` and ``\\copy … program``, mysql's ``\\!`` and ``system``: a shell command run
    from the database client, in its arguments or its input."""
    stdin = stdin_text(inv, st) or ""
    if any(_CLIENT_SHELL_ESCAPE.search(text) for text in (*inv.args, stdin)):
        st.add(CONFIRM, "runs a shell command from the database client", inv.text)


def _docker(inv: Invocation, st: State) -> None:
    _opts, operands = split_opts(inv.args)
    words = [o.lower() for o in operands[:3]]
    text = " ".join(inv.args)
    if re.search(r"(-v|--volume|--mount)[ =]+(type=bind,\s*)?(source=)?/(:|,|\s|$)", text) or (
        "--privileged" in text and ("--pid=host" in text or "-v /:" in text)
    ):
        st.add(BLOCK, "gives a container write access to the host's root file system", inv.text)
    for source in _mount_sources(inv.args):
        hit = st.restricted(source)
        if hit is not None:
            st.add(BLOCK, f"gives a container the protected {hit}", inv.text)
        inside = st.restricted_inside(source)
        if inside is not None:
            st.add(CONFIRM, f"gives a container {source}, which holds the protected {inside}", inv.text)
    if "--privileged" in inv.args or any(
        a.startswith(("--cap-add=all", "--cap-add=sys_admin")) for a in text.lower().split()
    ):
        st.add(CONFIRM, "runs a container with full access to this computer (--privileged)", inv.text)
    if words[:1] == ["cp"] or words[:2] == ["container", "cp"]:
        _into_container(operands, inv, st)
    destroy = {"rm", "rmi", "prune", "kill", "stop", "down", "restart", "pause", "rename", "leave", "remove"}
    if words and (words[0] in destroy or any(w in destroy for w in words[1:3])):
        if not ("ls" in words or "ps" in words):
            st.add(CONFIRM, f"stops or removes containers or their data ({inv.name} {' '.join(words[:2])})", inv.text)
    if words[:2] in (["compose", "down"], ["system", "prune"], ["volume", "prune"], ["volume", "rm"]):
        st.add(CONFIRM, "removes containers and their data", inv.text)


_CONTAINER_PATH = re.compile(r"^[\w.@/-]+:")  # 'container:/x', 'namespace/pod:/x'


def _into_container(operands: list[str], inv: Invocation, st: State) -> None:
    """``docker cp SRC CONTAINER:/x``, ``kubectl cp SRC POD:/x``: a file or folder of this computer copied into a
    container, which may be another computer's: asked as sending it is, the home folder blocked."""
    if len(operands) < 3:
        return
    source, dest = operands[-2], operands[-1]
    local = not _CONTAINER_PATH.match(source) or (st.windows and _DRIVE.match(source) is not None)
    if local and _CONTAINER_PATH.match(dest) and not (st.windows and _DRIVE.match(dest)):
        sends_away([source], inv, st)


def _mount_sources(args: list[str]) -> list[str]:
    """The host paths of ``-v SRC:DST``, ``--volume=SRC:DST`` and ``--mount type=bind,source=SRC,…``."""
    sources: list[str] = []
    for i, arg in enumerate(args):
        value = None
        if arg in ("-v", "--volume", "--mount") and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(("--volume=", "--mount=")):
            value = arg.split("=", 1)[1]
        elif arg.startswith("-v") and len(arg) > 2:
            value = arg[2:]
        if not value:
            continue
        if arg.startswith("--mount") or "source=" in value or "src=" in value:
            match = re.search(r"(?:^|,)(?:source|src)=([^,]+)", value)
            if match:
                sources.append(match.group(1))
        elif value[:1] in "/~.$":  # a named volume has no path
            sources.append(value.split(":", 1)[0])
    return sources


def _kubectl(inv: Invocation, st: State) -> None:
    _, operands = split_opts(inv.args)
    if is_dry_run(inv.args) or not operands:
        return
    verb = operands[0].lower()
    if verb == "cp":
        _into_container(operands, inv, st)
    if verb in ("delete", "apply", "replace", "patch", "scale", "drain", "cordon", "uncordon", "edit", "create",
                "set", "taint", "label", "annotate", "autoscale", "expose", "run"):  # fmt: skip
        st.add(CONFIRM, f"changes the cluster ({inv.name} {verb})", inv.text)
    elif verb == "rollout" and operands[1:2] and operands[1].lower() in ("restart", "undo", "pause", "resume"):
        st.add(CONFIRM, f"changes the cluster ({inv.name} rollout)", inv.text)


def _helm(inv: Invocation, st: State) -> None:
    _, operands = split_opts(inv.args)
    if (
        operands
        and operands[0] in ("install", "upgrade", "uninstall", "delete", "rollback", "del")
        and not is_dry_run(inv.args)
    ):
        st.add(CONFIRM, f"changes the cluster (helm {operands[0]})", inv.text)


def _terraform(inv: Invocation, st: State) -> None:
    _, operands = split_opts(inv.args)
    verb = operands[0] if operands else ""
    if verb == "destroy" or (verb == "apply" and not is_dry_run(inv.args)) or "-destroy" in inv.args:
        st.add(CONFIRM, f"changes real infrastructure ({inv.name} {verb})", inv.text)
    elif verb in ("import", "taint", "untaint", "up", "refresh") or operands[:2] == ["state", "rm"]:
        st.add(CONFIRM, f"changes infrastructure state ({inv.name} {verb})", inv.text)


_CLOUD_DESTROY = re.compile(
    r"^(del$|delete|remove|rm|rb|terminate|stop|destroy|purge|deregister|disable|detach|revoke|reset|restart|reboot|"
    r"put-bucket-policy|put-bucket-acl|update|set-iam-policy|add-iam-policy-binding)",
    re.IGNORECASE,
)


def _cloud(inv: Invocation, st: State) -> None:
    _, operands = split_opts(inv.args)
    if is_dry_run(inv.args):
        return
    sent = _cloud_copy(inv, operands, st) + _cloud_sends(inv, operands, st)
    if any(st.place(o) == Place.HOME for o in sent) or (
        any(st.place(o) == Place.HOME for o in operands) and any(_HOME_UPLOAD.match(o) for o in operands)
    ):
        st.add(BLOCK, "uploads your home directory to another machine", inv.text)
    for word in operands[1:4] if inv.name not in ("gsutil", "s3cmd") else operands[:1]:
        if _CLOUD_DESTROY.match(word) or word.endswith(("-delete", "-remove")) or "delete" in word.split("-"):
            st.add(CONFIRM, f"deletes or changes cloud resources ({inv.name} {' '.join(operands[:3])})", inv.text)
            return


_FILE_ARGUMENT = re.compile(r"^(?:--[\w-]+=)?(fileb?)://(.+)", re.IGNORECASE)  # aws's 'file://x', 'fileb://x'
_DATA_FILE = ("--data-file", "--secret-file", "--body-file")  # gcloud secrets create / versions add


def _cloud_sends(inv: Invocation, operands: list[str], st: State) -> list[str]:
    """Files a cloud command sends beyond ``_cloud_copy``'s copies: aws's ``file://`` and ``fileb://`` arguments
    (relative ones too, judged as the files they name), gcloud's ``--data-file``, ``gcloud compute scp`` to a
    machine, ``rclone serve`` (a folder shared with the network). Returns the local files sent."""
    sent: list[str] = []
    if inv.name == "aws":
        sent = [m.group(2) for m in map(_FILE_ARGUMENT.match, inv.args) if m is not None]
    elif inv.name == "gcloud":
        sent = option_values(inv.args, "", *_DATA_FILE)
        lowered = [o.lower() for o in operands[:5]]
        if "compute" in lowered and "scp" in lowered:  # 'gcloud [beta] compute [tpus tpu-vm] scp FILE… VM:'
            paths = operands[lowered.index("scp") + 1 :]
            if paths and _GCLOUD_REMOTE.match(paths[-1]):
                sent += [p for p in paths[:-1] if not _GCLOUD_REMOTE.match(p)]
        if "ssh" in lowered or "scp" in lowered:
            _gcloud_ssh_flags(inv, st)
    elif inv.name == "rclone" and operands[:1] == ["serve"]:
        from contop.security.embedded import shares_folder

        bind = next((v for v in option_values(inv.args, "", "--addr") if v), "")
        host = bind.rsplit(":", 1)[0].strip("[]") if ":" in bind else bind
        for folder in operands[2:]:
            if not _cloud_place(folder, st) and folder != bind:
                shares_folder(folder, host, st, inv.text)
    if sent:
        sends_away(sent, inv, st)
    return sent


def _gcloud_ssh_flags(inv: Invocation, st: State) -> None:
    """``gcloud compute ssh --ssh-flag="-o ProxyCommand=…"`` and the words after ``--`` go to ssh (gcloud splits
    a flag's text at blanks): judged as ssh's own options, a ``-o`` with the rest of its text as its value."""
    given: list[str] = []
    for flag in option_values(inv.args, "", "--ssh-flag", "--scp-flag"):
        text = flag.strip()
        given += ["-o", text[2:].strip()] if text.startswith("-o") else split_words(text)
    if "--" in inv.args:
        given += inv.args[inv.args.index("--") + 1 :]
    if given:
        plain_ssh(shlex.join(["ssh", *given]), inv, st)


_GCLOUD_REMOTE = re.compile(r"^(?:[\w.-]+@)?[\w.-]+:")
_HOME_UPLOAD = re.compile(r"^(s3|gs|az)://|^\w+:")
# The verbs that copy files between this computer and storage elsewhere (aws s3, gsutil, gcloud storage, rclone,
# s3cmd, azcopy), and those of them that copy one file unless told to recurse.
_CLOUD_COPIES = frozenset({"cp", "mv", "sync", "copy", "copyto", "move", "moveto", "rsync", "bisync", "put", "get",
                           "rcat"})  # fmt: skip
_CLOUD_ONE_FILE = frozenset({"cp", "mv", "copyto", "moveto", "put", "get"})
_CLOUD_UPLOAD = re.compile(r"upload(-[a-z]+)?")  # az storage blob upload, upload-batch; aws glacier upload-archive
_CLOUD_URL = re.compile(r"^(s3|gs|az|azure|r2|b2|https?)://", re.IGNORECASE)
_CLOUD_REMOTE = re.compile(r"^:?[\w.-]+(?:,[^:/]*)?:")  # rclone's 'remote:', ':s3:bucket', 'remote,opt=v:'
_DRIVE = re.compile(r"^[A-Za-z]:")


def _cloud_place(word: str, st: State) -> bool:
    """A bucket, a URL or an rclone remote (one letter long too, as rclone takes it; on Windows ``C:`` is a
    drive)."""
    if _CLOUD_URL.match(word):
        return True
    return _CLOUD_REMOTE.match(word) is not None and not (st.windows and _DRIVE.match(word) is not None)


def _cloud_copy(inv: Invocation, operands: list[str], st: State) -> list[str]:
    """``aws s3 cp a.txt s3://b/``, ``aws s3 cp ~/Documents s3://x --recursive``, ``rclone copy ~/Documents
    remote:``, ``s3cmd put``, ``az storage blob upload``, ``aws s3api put-object --body x``, ``rclone rcat`` and
    ``aws s3 cp - s3://…`` (what the command reads on its standard input): files sent to another computer, asked
    as ``scp x host:`` is; copied the other way, where files land is judged as a download's destination (``aws s3
    cp s3://x/run ~/.bashrc`` is blocked). Returns the local files and folders sent, where the line names them."""
    if inv.name == "aws" and any(v for v in option_values(inv.args, "", "--body")):
        st.add(CONFIRM, SENDS_A_FILE, inv.text)  # 's3api put-object --body FILE', 'glacier upload-archive'
        return [v for v in option_values(inv.args, "", "--body") if v]
    lowered = [w.lower() for w in operands[:5]]
    verb = next((k for k, w in enumerate(lowered) if w in _CLOUD_COPIES or _CLOUD_UPLOAD.fullmatch(w)), -1)
    if verb < 0:
        if inv.name == "aws" and "get-object" in lowered:
            _aws_get_object(inv, st)
        return []
    word = lowered[verb]
    recursive = word not in _CLOUD_ONE_FILE or any(a in ("--recursive", "-r", "-R") for a in inv.args)
    if word != "rcat" and _CLOUD_UPLOAD.fullmatch(word):  # 'az storage blob upload -f FILE': the file is an option
        st.add(CONFIRM, SENDS_A_FILE, inv.text)
        return option_values(inv.args, "-s", "--source", "-f", "--file")
    # The values of options such as '--profile prod' are among the operands: the remote places order the rest.
    paths = operands[verb + 1 :]
    remote = [k for k, p in enumerate(paths) if _cloud_place(p, st)]
    if not remote:
        return []
    local = [p for k, p in enumerate(paths[: remote[-1]]) if k not in remote]
    if local or word == "rcat":  # '-' and rcat: what it reads on standard input
        st.add(CONFIRM, SENDS_A_FILE, inv.text)
        return [p for p in local if p != "-"]
    if remote[-1] + 1 < len(paths) and paths[remote[-1] + 1] != "-":
        dest = paths[remote[-1] + 1]
        for target in landing_files(CopyLine([], paths, paths[: remote[-1] + 1], dest), st):
            downloads_into(target, inv, st)
        if recursive:
            writes_whole_tree(dest, inv, st)
            writes_into_folder(dest, inv, st, download=True)
    return []


# aws options that stand alone; every other one takes the next word as its value.
_AWS_FLAGS = frozenset({"--debug", "--no-verify-ssl", "--no-paginate", "--no-sign-request", "--no-cli-pager",
                        "--cli-auto-prompt", "--no-cli-auto-prompt"})  # fmt: skip


def _aws_get_object(inv: Invocation, st: State) -> None:
    """``aws s3api get-object --bucket b --key k OUTFILE`` saves the object as its last word that is no option's
    value: judged as a download's destination."""
    words: list[str] = []
    i = 0
    args = inv.args
    while i < len(args):
        arg = args[i]
        i += 1 if not arg.startswith("--") or "=" in arg or arg in _AWS_FLAGS else 2
        if not arg.startswith("--"):
            words.append(arg)
    if len(words) > 2 and words[-1] != "-":
        downloads_into(words[-1], inv, st)


RULES: dict[str, Rule] = {
    "kill": _kill, "killall": _kill, "killall5": _kill, "pkill": _kill, "xkill": _kill, "skill": _kill,
    "taskkill": _kill,
    "shutdown": _power, "reboot": _power, "halt": _power, "poweroff": _power, "init": _power, "telinit": _power,
    "logout": _power, "pmset": _power, "gnome-session-quit": _power, "loginctl": _power,
    "systemctl": _systemctl,
    "service": _service,
    "launchctl": _launchctl,
    "crontab": _crontab,
    "at": _at, "batch": _at,
    "ufw": _firewall, "iptables": _firewall, "ip6tables": _firewall, "iptables-legacy": _firewall, "nft": _firewall,
    "firewall-cmd": _firewall, "setenforce": _firewall, "auditctl": _firewall, "csrutil": _firewall,
    "spctl": _firewall, "aa-disable": _firewall, "aa-teardown": _firewall,
    "history": _history,
    "journalctl": _journalctl,
    "unset": _unset,
    "git": _git,
    "psql": _database, "mysql": _database, "mariadb": _database, "sqlite3": _database, "mongo": _database,
    "mongosh": _database, "redis-cli": _database, "duckdb": _database, "dropdb": _database, "dropuser": _database,
    "mysqladmin": _database,
    "sqlcmd": _database, "clickhouse-client": _database, "cqlsh": _database,
    "docker": _docker, "podman": _docker, "docker-compose": _docker, "nerdctl": _docker,
    "kubectl": _kubectl, "oc": _kubectl, "k": _kubectl,
    "helm": _helm,
    "terraform": _terraform, "tofu": _terraform, "pulumi": _terraform,
    "aws": _cloud, "gcloud": _cloud, "az": _cloud, "gsutil": _cloud, "doctl": _cloud, "rclone": _cloud,
    "ps": _ps,
    "swapoff": _swapoff,
    "ip": _ip, "ifconfig": _ifconfig, "ifdown": _ifconfig, "ifup": _ifconfig,
    "azcopy": _cloud, "s3cmd": _cloud,
    **dict.fromkeys((*_PKG_REMOVE, "pacman", "brew", "pip"), _package),
}  # fmt: skip
