"""Classification of POSIX shell command lines: prefixes, wrappers, pipelines, substitutions, redirections.

The parse comes from ``shellparse``; what each program does is judged in ``commands``; interpreter
one-liners in ``embedded``. This module follows the data: what a pipeline feeds into a shell, what a
substitution produces, which files a download created and whether they are then run.
"""

from __future__ import annotations

import itertools
import os
import posixpath
import re

from contop.security import cmdbase, cmdsystem, cmdtools, commands, embedded, payload, scripts
from contop.security.cmdbase import ENV_SOURCES, FETCHERS, INTERPRETERS, NET_SENDERS, SHELLS, Invocation, normalise
from contop.security.findings import BLOCK, CONFIRM
from contop.security.paths import Place
from contop.security.shellparse import Cmd, Script, matching_end, parse
from contop.security.state import MAX_VALUE, State, folder_ref, unknown_value

# Names and bodies are bounded so that the search stays linear on long inputs.
FORK_BOMB = re.compile(r"([\w:.\-]{1,64})\s*\(\)\s*\{[^}]{0,200}?\1\s*\|\s*\1\s*&|%0\s*\|\s*%0|fork\s+while\s+fork")


def is_fork_bomb(text: str) -> bool:
    """``FORK_BOMB`` found in ``text``. Each alternative needs ``()``, ``%0`` or ``fork``; looking for those first
    spares the search, which backtracks over every long word (12 µs on a 40-character base64 payload)."""
    return ("()" in text or "%0" in text or "fork" in text) and FORK_BOMB.search(text) is not None


class _Fetched:
    """What a pipeline stage produces when it reads from the network."""


FETCHED = _Fetched()
Produced = str | _Fetched | None

# prefix → options that take a value
_PREFIXES: dict[str, frozenset[str]] = {
    "sudo": frozenset({"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-T", "--user", "--group"}),
    "doas": frozenset({"-u", "-C"}),
    "env": frozenset({"-u", "-C", "--unset", "--chdir"}),
    "nohup": frozenset(),
    "nice": frozenset({"-n", "--adjustment"}),
    "ionice": frozenset({"-c", "-n", "-p", "-t"}),
    "time": frozenset({"-f", "-o"}),
    "command": frozenset(),
    "builtin": frozenset(),
    "exec": frozenset({"-a"}),
    "stdbuf": frozenset({"-i", "-o", "-e"}),
    "setsid": frozenset(),
    "unbuffer": frozenset(),
    "chronic": frozenset(),
    "caffeinate": frozenset({"-t", "-w"}),
    "busybox": frozenset(),
    "torsocks": frozenset(),
    "proxychains": frozenset({"-f"}),
    "proxychains4": frozenset({"-f"}),
    "fakeroot": frozenset(),
    "strace": frozenset({"-o", "-e", "-p", "-s"}),
    "ltrace": frozenset({"-o", "-e", "-p"}),
    "runuser": frozenset({"-u", "-g", "--user"}),
    "pkexec": frozenset({"--user"}),
    "gksudo": frozenset({"-u"}),
    "flock": frozenset({"-w", "-E"}),
    "timeout": frozenset({"-s", "-k", "--signal", "--kill-after"}),
    "xargs": frozenset(
        {
            "-I",
            "-i",
            "-n",
            "-P",
            "-L",
            "-l",
            "-s",
            "-d",
            "-E",
            "-e",
            "-a",
            "--max-args",
            "--max-procs",
            "--delimiter",
            "--arg-file",
            "--replace",
        }
    ),
    "chroot": frozenset({"--userspec", "--groups"}),
    # namespaces, services, schedulers, resource limits: each runs the command that follows its options
    "unshare": frozenset({"-S", "-G", "-R", "-w", "--setuid", "--setgid", "--root", "--wd", "--map-user",
                          "--map-group", "--propagation", "--map-users", "--map-groups"}),
    "nsenter": frozenset({"-t", "-S", "-G", "-r", "-w", "--target", "--setuid", "--setgid"}),
    "systemd-run": frozenset({"-u", "-p", "-E", "-M", "-H", "--unit", "--property", "--setenv", "--uid", "--gid",
                              "--nice", "--machine", "--host", "--slice", "--description", "--working-directory",
                              "--on-active", "--on-boot", "--on-startup", "--on-unit-active", "--on-unit-inactive",
                              "--on-calendar", "--timer-property", "--path-property", "--socket-property",
                              "--service-type"}),
    "firejail": frozenset(),
    "chrt": frozenset(),
    "taskset": frozenset(),
    "setpriv": frozenset({"--reuid", "--regid", "--ruid", "--rgid", "--euid", "--egid", "--groups", "--inh-caps",
                          "--ambient-caps", "--bounding-set", "--securebits", "--pdeathsig", "--selinux-label",
                          "--apparmor-profile"}),
    "cgexec": frozenset({"-g"}),
    "dbus-launch": frozenset({"--config-file"}),
    "dbus-run-session": frozenset({"--config-file", "--dbus-daemon"}),
    "xvfb-run": frozenset({"-n", "-s", "-e", "-f", "-p", "-w", "--server-num", "--server-args", "--error-file",
                           "--auth-file", "--xauth-protocol", "--wait"}),
    "valgrind": frozenset(),
    "numactl": frozenset({"-N", "-m", "-C", "-p", "-i", "-P"}),
    "prlimit": frozenset({"-p", "--pid"}),
    "eatmydata": frozenset(),
    "nocache": frozenset(),
    "catchsegv": frozenset(),
    "faketime": frozenset(),
    "trickle": frozenset({"-d", "-u", "-w", "-t", "-l", "-n"}),
}  # fmt: skip
_POSITIONAL = {"timeout": 1, "flock": 1, "chroot": 1, "chrt": 1, "taskset": 1, "faketime": 1}  # before the command
_DATA_COMMANDS = frozenset({"echo", "printf", ":", "true", "false", "test", "[", "[[", "expr", "let", "read"})
_DECODERS = frozenset({"base64", "base32", "xxd", "rev", "openssl", "basenc"})
_HAS_DRY_RUN = frozenset({"kubectl", "terraform", "helm", "rsync", "git", "apt", "apt-get", "npm", "pip", "aws"})
_EXECUTORS = SHELLS | INTERPRETERS | {"eval", "source", ".", "exec", "su", "watch", "xargs"}
_LISTERS = frozenset({"ls", "du", "stat", "dir", "tree"})
_GLOB_CHARS = re.compile(r"[*?\[]")
_FILTERS = frozenset({"tee", "cat", "head", "tail", "sed", "awk", "tr", "grep", "sort", "uniq", "cut", "dos2unix"})


def analyze(source: str, st: State) -> None:
    """Classify a POSIX command line, recording findings on ``st``."""
    st.check_depth()
    if is_fork_bomb(source):
        st.add(BLOCK, "starts a fork bomb that freezes the computer", source)
    script = parse(source)
    if _FOLDER_FUNCTION.search(source):  # 'cd() { builtin cd ~; }': every later 'cd x' runs that instead
        st.lose_folder()  # the parser keeps no trace of the name, so the whole line is judged so (stricter)
    if script.too_deep:
        st.add(BLOCK, "nests commands too deeply to be judged safely", source)
    st.depth += 1
    try:
        walk(script, st)
    finally:
        st.depth -= 1


def analyze_nested(source: str, st: State) -> None:
    """Classify text that runs inside another command (bash -c, eval, a decoded payload). What the command that
    runs it was given in its environment (``HOME=/x bash -c …``) is a variable of the text; what the text
    changes (its folder, its variables) ends with it, unless it runs in this shell (``eval``, ``source``: see
    ``State.in_place``)."""
    if st.in_place:
        st.in_place = False
        _analyze_here(source, st)
        return
    saved = st.save()
    st.vars.update(st.command_env)
    st.command_env = {}
    try:
        analyze(source, st)
    finally:
        st.restore(saved)


def _analyze_here(source: str, st: State) -> None:
    """Classify text that runs in this shell (``eval 'cd /etc'``, ``. ./env.sh``): its folder and variables stay
    for the rest of the line, but for those the command's own environment gave it (``HOME=/x eval cd``)."""
    given = st.command_env
    before = {name: st.vars.get(name) for name in given}
    st.vars.update(given)
    st.command_env = {}
    try:
        analyze(source, st)
    finally:
        st.command_env = given
        for name, value in before.items():
            if value is None:
                st.vars.pop(name, None)
            else:
                st.vars[name] = value


def _in_this_shell(source: str, st: State, here: bool) -> None:
    """``analyze_nested`` for the text of ``eval`` or a sourced script: in place when the shell itself runs it
    (``here``), in a shell of its own when a wrapper does (``sudo eval …`` runs no builtin)."""
    st.in_place = here
    try:
        analyze_nested(source, st)
    finally:
        st.in_place = False


def walk(script: Script, st: State) -> None:
    for pipeline in script.pipelines:
        _pipeline(pipeline, st)


def _pipeline(pipeline: list[Cmd], st: State) -> None:
    names: list[str] = []
    if not st.stdin_file and any(_gives_stdin_file(cmd, st) for cmd in pipeline):
        st.stdin_file = True
    for index, cmd in enumerate(pipeline):
        if len(pipeline) > 1:  # each stage runs in a subshell: 'cd / | true' leaves the folder as it was
            saved = st.save()
            st.piped_roots = _names_listed(pipeline[index - 1], st) if index else None
            try:
                names.append(_stage(cmd, st))
            finally:
                st.piped_roots = None
            st.restore(saved)
        else:
            names.append(_stage(cmd, st))
        if index and _reads_stdin_as_code(cmd, st):
            _feed(pipeline[:index], cmd, st)
        elif index and names[-1] in _DB_CLIENTS:
            fed = produce_script(Script(pipelines=[pipeline[:index]]), st)
            if isinstance(fed, str) and cmdsystem.sql_is_destructive(fed):
                st.add(CONFIRM, "deletes or bulk-changes database data", cmd.text)
            if isinstance(fed, str) and names[-1] in ("sqlite3", "duckdb"):  # 'echo .shell id | sqlite3 db'
                for line in fed.splitlines():
                    cmdsystem.sqlite_text(line.strip(), Invocation(names[-1], [], cmd.text), st)
        _xargs(pipeline[:index], cmd, st)
        _parallel(pipeline[:index], cmd, st)
        _program_text_read(pipeline[:index], cmd, st)
    if len(pipeline) > 1:
        _pipeline_flows(pipeline, names, st)
        _found_then_read(pipeline, st)
        if any(n in FETCHERS for n in names):
            for cmd, name in zip(pipeline, names, strict=True):
                if name == "tee":  # 'curl … | tee a.sh': a.sh is a download
                    st.downloads.update(_file_name(w) for w in cmd.words[1:] if not w.startswith("-"))


def _found_then_read(pipeline: list[Cmd], st: State) -> None:
    """``find ~ -type f | xargs cat``: what find lists under a folder holding a protected one is read by xargs."""
    roots: list[str] = []
    for cmd in pipeline:
        words = expand_words(cmd.words, st)
        if not words:
            continue
        name = normalise(words[0])
        listed = _listed_roots(words)
        if listed is not None:
            roots += listed
        elif roots and (name == "xargs" or name in _PARALLELS):
            wrapped, _ = strip_prefixes(words)
            if name in _PARALLELS:
                wrapped = _parallel_line(name, wrapped[1:])[0] or ["sh"]  # no command: each name runs as one
            if wrapped and normalise(wrapped[0]) not in cmdbase.METADATA_READERS:
                cmdbase.reads_whole_tree(roots, cmdbase.Invocation(name, words[1:], cmd.text), st)


_PRINTS_OTHER_TEXT = frozenset({"-exec", "-execdir", "-ok", "-okdir", "-printf", "-fprintf", "-fprint", "-fls",
                                "-ls", "-fprint0"})  # fmt: skip


def _names_listed(cmd: Cmd, st: State) -> list[str] | None:
    """The folders a pipeline stage lists the files of, one name a line and nothing else (``find . -name '*.py'``,
    ``git ls-files``), or None: a find that runs commands or formats its output can print any name."""
    if cmd.group is not None or cmd.redirects:
        return None
    words = expand_words(cmd.words, st)
    if not words or any(w in _PRINTS_OTHER_TEXT for w in words):
        return None
    return _listed_roots(words)


def _listed_roots(words: list[str]) -> list[str] | None:
    """The folder whose files a command lists (``find ~ -name x``: ``~``; ``git ls-files``: this one), or None."""
    name = normalise(words[0])
    if name == "find":
        return [w for w in words[1:] if not w.startswith(("-", "(", "!"))][:1] or ["."]
    if name == "git" and words[1:2] == ["ls-files"]:
        return ["."]
    return None


def _stage(cmd: Cmd, st: State) -> str:
    """Judge one stage; returns its program name (for pipeline-level rules)."""
    if cmd.group is not None:
        st.check_depth()
        st.depth += 1
        around = st.save() if cmd.subshell else None  # '(cd /tmp); cat x', 'cd /tmp &': x is read here
        walk(cmd.group, st)
        if around is not None:
            st.restore(around)
        st.depth -= 1
    for sub in cmd.subs:
        st.check_depth()
        st.depth += 1
        saved = st.save()  # 'x=$(cd /; ls)' runs in a subshell: the folder and the variables stay
        walk(sub, st)
        st.restore(saved)
        st.depth -= 1
    raw = list(cmd.words)
    appends: list[tuple[str, str]] = []
    while raw and (append := _APPEND.match(raw[0])) is not None:  # 'x+=dow': the parser leaves it a word
        appends.append((append.group(1), raw.pop(0)[append.end() :]))
    words = expand_words(raw, st)
    env: dict[str, str] = {}
    for name, value in cmd.assigns:
        value = st.substitute(_known_outputs(value, st))
        _assignment(name, value, cmd.text, st)
        if not words:
            st.assign(name, value)
        else:
            env[name] = value  # 'HOME=/etc cd', 'CDPATH=/x cd y': seen by this command only
    for name, value in appends:
        _append(name, st.substitute(value), env if words else None, cmd.text, st)
    _substituted_paths(cmd, st)
    _redirects(cmd, st)
    if cmd.group is not None or not words:
        return ""
    outer = st.command_env
    st.command_env = {**outer, **env}
    try:
        return _program_stage(words, cmd, st)
    finally:
        st.command_env = outer


def _program_stage(words: list[str], cmd: Cmd, st: State) -> str:
    """The rest of ``_stage`` for a stage that runs a program (``words``, expanded)."""
    if words[0].startswith(("$(", "`")):
        _dynamic_command(words, cmd, st)
        return ""
    if "IFS" in st.vars and cmd.words and "$" in cmd.words[0]:
        st.add(CONFIRM, "runs a command built from variables after changing how the shell splits words", cmd.text)
    name = judge_words(words, st, cmd.text, in_shell=True)
    _moves_unseen(name, words[1:], st)
    _stage_files(name, words, cmd, st)
    if name in ("make", "gmake"):
        _make_from_stdin(words[1:], cmd, st)
    if name in _EXECUTORS and any(produce_script(s, st) is FETCHED for s in cmd.subs):
        st.add(BLOCK, "runs code downloaded from the network", cmd.text)
    if name in cmdbase.NET_SENDERS and any(_env_source_script(s) for s in cmd.subs):
        st.add(BLOCK, "sends your environment variables to another machine", cmd.text)
    if _reads_stdin_as_code(cmd, st):
        body = next((t for op, t in cmd.redirects if op in ("<<", "<<<")), None)
        if body is not None:
            _execute_text(body, cmd, st, encoded=False)
        _stdin_scripts(cmd, st)
    return name


_FOLDER_FUNCTION = re.compile(r"\bfunction\s+(?:cd|pushd|popd)\b|(?<![\w.-])(?:cd|pushd|popd)\s*\(\s*\)")
_TRAPS_BEFORE_COMMANDS = frozenset({"DEBUG", "ERR", "SIGERR"})  # run before (or after) the next commands
_TRAPS_ON_RETURN = frozenset({"RETURN", "SIGRETURN"})  # run each time a function or a sourced script ends
# A line that defines a function or sources a script, where a RETURN trap can run ('f() {', 'function f', '. x').
_RETURNS = re.compile(r"[\w.-]\s*\(\s*\)|\bfunction\s|(?:^|[\s;&|({])(?:source|\.)\s")


def _moves_unseen(name: str, args: list[str], st: State) -> None:
    """``trap 'cd ~' DEBUG``, ``alias go='cd ~'``, ``alias cd=…``: the folder changes where the line does not say
    so (before each command, or where the alias is used), so from here on it is not known; so does a RETURN trap
    on a line that defines a function or sources a script, which runs it when they end (the gate does not follow
    function calls). A trap on EXIT, or on a signal, is not followed either way: it runs at the end, or when
    something else happens."""
    if (
        name == "trap"
        and args
        and any(
            a.upper() in _TRAPS_BEFORE_COMMANDS or (a.upper() in _TRAPS_ON_RETURN and _RETURNS.search(st.source))
            for a in args[1:]
        )
    ):
        action = args[0] if args[0] != "--" else (args[1] if len(args) > 1 else "")
        if _may_move(parse(action).pipelines) or not action.strip():
            st.lose_folder()
    elif name == "alias":
        for arg in args:
            alias, _, value = arg.partition("=")
            if value and (alias in _FOLDER_COMMANDS or _may_move(parse(value).pipelines)):
                st.lose_folder()


def _stdin_scripts(cmd: Cmd, st: State) -> None:
    """``bash < s.sh``, ``sh -s arg 0< s.sh``, ``python3 < job.py``: the file on standard input is the script,
    judged as ``bash s.sh`` judges it (a descriptor other than 0 is read as one too: stricter, never looser)."""
    words, _ = strip_prefixes([st.substitute(w) for w in cmd.words])
    if not words:
        return
    name = normalise(words[0])
    language = name if name in INTERPRETERS else "sh" if name in SHELLS or name in ("source", ".") else None
    if language is None:
        return
    for op, target in cmd.redirects:
        if op in ("<", "<>") and not target.startswith("&"):
            scripts.run_file(st.substitute(target), st, cmd.text, language=language)


_RAW_SENDERS = frozenset({"nc", "ncat", "netcat", "socat", "telnet"})
_MAILERS = frozenset({"mail", "mailx", "sendmail", "mutt", "msmtp"})
_CURL_STDIN_VALUE = re.compile(r"^@-$|=[@<]-(;|$)")  # -d @-, -F f=@-
# ssh and the programs run as ssh is (a host, then a remote command reading this computer's input), and those whose
# 'ssh' subcommand is ssh underneath.
_SSH_LIKE = frozenset({"ssh", "autossh", "mosh"})
_SSH_VERB = frozenset({"az", "vagrant", "fly", "flyctl"})
# Global options given before the subcommand whose value may be the next word ('kubectl -n prod exec -i …', 'az
# --subscription S ssh vm'): that word is the value, not the subcommand. '--opt=value' carries its own.
_GLOBAL_VALUED = {
    "kubectl": frozenset({
        "-n", "--namespace", "--context", "--kubeconfig", "-s", "--server", "--cluster", "--user", "--token", "--as",
        "--as-group", "--as-uid", "--request-timeout", "--certificate-authority", "--client-certificate",
        "--client-key", "--cache-dir", "-v", "--v", "--username", "--password", "--tls-server-name", "--log-dir",
        "--log-file", "--log-file-max-size", "--log-flush-frequency", "--log-backtrace-at", "--vmodule",
        "--stderrthreshold", "--profile", "--profile-output", "--config",
    }),
    "az": frozenset({"--subscription", "-o", "--output", "--query"}),
    "fly": frozenset({"-t", "--access-token", "-a", "--app", "-c", "--config"}),
    "vagrant": frozenset(),
}  # fmt: skip
_GLOBAL_VALUED.update(oc=_GLOBAL_VALUED["kubectl"], k=_GLOBAL_VALUED["kubectl"], flyctl=_GLOBAL_VALUED["fly"])
# Their global options known to take no value: the word after one is the subcommand.
_GLOBAL_FLAGS = frozenset({
    "-h", "--help", "--insecure-skip-tls-verify", "--match-server-version", "--warnings-as-errors",
    "--disable-compression", "--alsologtostderr", "--logtostderr", "--add-dir-header", "--one-output",
    "--skip-headers", "--skip-log-headers", "--debug", "--verbose", "--only-show-errors", "--machine-readable",
    "--color", "--no-color", "--timestamp", "--debug-timestamp", "--no-tty",
})  # fmt: skip


def _after_options(args: list[str], valued: frozenset[str]) -> list[str]:
    """The words from the first operand on (the command a wrapper runs), skipping ``valued`` options' values."""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 2 if args[i] in valued else 1
    return args[i:]


def _subcommands(args: list[str], valued: frozenset[str]) -> set[str]:
    """The words that may be a CLI's subcommand: the first operand once the values of ``valued`` global options
    are skipped. After an option not known to take no value, that operand may be its value instead, so the
    operand after it may be the subcommand too (stricter than the CLI reads it, never looser)."""
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "--":
        i += 2 if args[i] in valued else 1
    if i >= len(args) or args[i] == "--":
        return set()
    before = args[i - 1] if i else ""
    found = {args[i]}
    if before.startswith("-") and "=" not in before and before not in valued and before not in _GLOBAL_FLAGS:
        found |= _subcommands(args[i + 1 :], valued)
    return found


# The values kubectl's boolean flags read as false (Go's strconv.ParseBool); any other value is true, or refused.
_GO_FALSE = frozenset({"0", "f", "F", "false", "FALSE", "False"})
_KUBE_SHORT = re.compile(r"-[a-zA-Z]*i[a-zA-Z]*")


def _kube_stdin(arg: str) -> bool:
    """Whether one of kubectl's own words turns its --stdin flag on: ``--stdin`` or ``-i`` (alone or among other
    letters: ``-ti``), with no value or one that is not false (``--stdin=TRUE``, ``-i=1``). A value kubectl
    refuses stops the command, so counting it as true is stricter, never looser; in ``-it=false`` the value
    is the last letter's."""
    name, eq, value = arg.partition("=")
    if name == "--stdin":
        return not eq or value not in _GO_FALSE
    if _KUBE_SHORT.fullmatch(name) is None:
        return False
    return not eq or "i" in name[1:-1] or value not in _GO_FALSE


def _sends_stdin(name: str, args: list[str]) -> bool:
    """Whether the program sends what it reads on standard input to another computer (``nc host``, ``ssh host
    cmd`` and the tools that run ssh or a remote command for it, ``kubectl exec -i``, ``mail to``, ``curl -T -``,
    ``curl -d @-``, ``wget --post-file=-``)."""
    if name in _RAW_SENDERS or name in _MAILERS:
        return True
    if name in _SSH_LIKE:
        return any(not a.startswith("-") for a in args)  # a host: its remote command reads our stdin
    if name == "sshpass":  # 'sshpass -p pw ssh host': the password given, the ssh after it runs
        command = _after_options(args, frozenset({"-p", "-f", "-d", "-P"}))
        return bool(command) and _sends_stdin(normalise(command[0]), command[1:])
    if name == "gcloud":  # 'gcloud compute ssh VM [--command …]', 'gcloud cloud-shell ssh': ssh underneath
        return "ssh" in args and any(a in ("compute", "cloud-shell", "tpu-vm", "workstations") for a in args)
    if name in _SSH_VERB:  # 'az ssh vm', 'vagrant ssh -c cmd', 'fly ssh console': ssh underneath
        return "ssh" in _subcommands(args, _GLOBAL_VALUED[name])
    if name in ("kubectl", "oc", "k"):  # 'kubectl exec -i pod -- cmd': the pod's command reads our stdin
        own = args[: args.index("--")] if "--" in args else args
        verbs = _subcommands(own, _GLOBAL_VALUED[name])
        return "rsh" in verbs or (bool(verbs & {"exec", "attach", "run"}) and any(map(_kube_stdin, own)))
    if name == "curl":
        for i, arg in enumerate(args):
            value = args[i + 1] if i + 1 < len(args) else ""
            if (arg in ("-T", "--upload-file") and value == "-") or arg == "-T-":
                return True
            if arg.startswith("-") and _CURL_STDIN_VALUE.search(value if arg in _CURL_DATA else arg[2:]):
                return arg in _CURL_DATA or arg[:2] in ("-d", "-F")
    if name == "wget":
        return any(
            a in ("--post-file=-", "--body-file=-") or (a in ("--post-file", "--body-file") and b == "-")
            for a, b in zip(args, [*args[1:], ""], strict=True)
        )
    return False


def _file_on_stdin(cmd: Cmd) -> bool:
    """Whether the command's own redirections make a file (not a device, not another descriptor) its input."""
    return any(op in ("<", "<>") and not t.startswith(("/dev/", "&")) for op, t in cmd.redirects)


def _gives_stdin_file(cmd: Cmd, st: State) -> bool:
    """A stage whose file input reaches other commands: the redirections of a group or a loop (the parsers give
    them their own wordless stage) and ``exec < f``, which makes the file the shell's input from then on."""
    if not _file_on_stdin(cmd):
        return False
    words = [st.substitute(w) for w in cmd.words]
    return not words or words == ["exec"]


def _stdin_sent(cmd: Cmd, st: State) -> None:
    """A program that sends its standard input to another computer: ``nc host 9000 < notes.txt``, ``{ ssh h; }
    < notes.txt``, ``exec < notes.txt; ssh h``, and a here-string or here-document filled from a command
    (``ssh h <<< "$(cat notes.txt)"``), judged as the same command piped in (``cat notes.txt | ssh h``)."""
    if _file_on_stdin(cmd):
        st.add(CONFIRM, "sends a file from this computer to another one", cmd.text)
        return
    here = [body for op, body in cmd.redirects if op in ("<<", "<<<")]
    if not here and not any(op.startswith("<") for op, _ in cmd.redirects) and st.stdin_file:
        st.add(CONFIRM, "sends a file from this computer to another one", cmd.text)
        return
    if not any("$(" in body or "`" in body for body in here):
        return
    for sub in cmd.subs:
        for inner in sub.commands():
            words, _ = strip_prefixes([st.substitute(w) for w in inner.words])
            files = cmdbase.split_opts(words[1:])[1] if words else []
            if (not words and _file_on_stdin(inner)) or (
                words and normalise(words[0]) in cmdbase.ARCHIVERS and any(f != "-" for f in files)
            ):  # '$(cat notes.txt)', '$(< notes.txt)'
                st.add(CONFIRM, "sends a file from this computer to another one", cmd.text)
                return
        if not isinstance(produce_script(sub, st), str):
            st.add(CONFIRM, "sends what another command outputs to another computer", cmd.text)
            return


_CURL_DATA = frozenset({"-d", "--data", "--data-binary", "--data-ascii", "--data-raw", "--json", "-F", "--form"})
_DB_CLIENTS = frozenset({"psql", "mysql", "mariadb", "sqlite3", "duckdb", "mongo", "mongosh", "sqlcmd", "redis-cli",
                         "cqlsh"})  # fmt: skip


def _stage_files(name: str, words: list[str], cmd: Cmd, st: State) -> None:
    """Files written by a download or an environment dump, and SQL fed to a database client."""
    outputs = [t for op, t in cmd.redirects if op in (">", ">>", ">|", "&>")]
    if name in FETCHERS:
        st.downloads.update(_file_name(t) for t in outputs)
    elif _is_env_source(name, words[1:]):
        st.env_dumps.update(_file_name(t) for t in outputs)
    if st.env_dumps and name in NET_SENDERS:
        for word in words[1:]:
            if any(dump and dump in word for dump in st.env_dumps):
                st.add(BLOCK, "sends your environment variables to another machine", cmd.text)
    if _sends_stdin(name, words[1:]):
        _stdin_sent(cmd, st)
    if name in _DB_CLIENTS:
        for op, body in cmd.redirects:
            if op in ("<<", "<<<") and cmdsystem.sql_is_destructive(body):
                st.add(CONFIRM, "deletes or bulk-changes database data", cmd.text)


def expand_words(raw: list[str], st: State) -> list[str]:
    """The words with the line's own variables put in, split as the shell splits an unquoted expansion: on IFS,
    its default blanks or what the line set it to (``IFS=,; c=rm,-rf,~; $c``). A quoted expansion is split too:
    judged stricter than it runs, never looser. ``~``, ``$PWD`` and ``$OLDPWD`` follow the line's HOME and
    ``cd``s."""
    if not st.vars and not any("$" in word or "~" in word for word in raw):
        return raw
    blanks = " \t\n" + st.vars.get("IFS", "")
    out: list[str] = []
    for word in raw:
        value = st.substitute(word)
        if value != word and any(c in value for c in blanks):
            out.extend(piece for piece in re.split(f"[{re.escape(blanks)}]+", value) if piece)
        else:
            out.append(value)
    return out


_SUBSTITUTION_START = re.compile(r"\$\(|`")


def _known_outputs(value: str, st: State) -> str:
    """An assignment's value with each command substitution whose output is known put in: ``x=$(pwd)`` holds
    the folder the line is in at that moment, not the one it is in when ``$x`` is used. The others stay as
    written (judged where they are used, as before)."""
    if "$(" not in value and "`" not in value:
        return value
    out: list[str] = []
    done = 0
    while (found := _SUBSTITUTION_START.search(value, done)) is not None:
        start = found.start()
        if value.startswith("$((", start):  # arithmetic
            out.append(value[done : start + 3])
            done = start + 3
            continue
        closer, inner = (")", start + 2) if value[start] == "$" else ("`", start + 1)
        end = matching_end(value, inner, closer)
        if end >= len(value):
            break
        produced = produce_script(parse(value[inner:end]), st)
        out.append(value[done:start])
        out.append(produced.rstrip("\n") if isinstance(produced, str) else value[start : end + 1])
        done = end + 1
    out.append(value[done:])
    return "".join(out)


def _substituted_paths(cmd: Cmd, st: State) -> None:
    """``cat $(echo ~/.ssh/id_rsa)``: what a substitution prints, when it can be known, is checked as a path."""
    for sub in cmd.subs:
        produced = produce_script(sub, st)
        if isinstance(produced, str) and produced.strip():
            st.check_paths(produced.split(), cmd.text)


def _make_from_stdin(args: list[str], cmd: Cmd, st: State) -> None:
    """``make -f - <<< 'all: …'``: the recipe lines of a makefile given on the command line are commands."""
    files = [args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-f", "--file", "--makefile")]
    files += [a[2:] for a in args if a.startswith("-f") and len(a) > 2]
    files += [a.split("=", 1)[1] for a in args if a.startswith(("--file=", "--makefile="))]
    if not any(f in ("-", "/dev/stdin", "/proc/self/fd/0", "/dev/fd/0") for f in files):
        return
    body = next((t for op, t in cmd.redirects if op in ("<<", "<<<")), None)
    if body is None:
        st.add(CONFIRM, "runs a makefile piped in from another command", cmd.text)
        return
    if "\n" not in body:  # $'all:\n\trm …' as written
        body = body.replace("\\n", "\n").replace("\\t", "\t")
    for line in body.splitlines():
        if line.startswith("\t"):
            analyze_nested(line.strip().lstrip("@-+"), st)


_APPEND = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\+=")


def _append(name: str, value: str, env: dict[str, str] | None, text: str, st: State) -> None:
    """``x+=dow`` appends to a plain variable (into ``env`` for a prefix of a command). A variable whose value the
    line does not know stays unknown; one that grows past ``MAX_VALUE`` becomes unknown and asks."""
    before = env.get(name, st.vars.get(name)) if env is not None else st.vars.get(name)
    if before is None and name == "HOME":
        before = st.ctx.home
    target = env if env is not None else st.vars
    if before is None:
        target.pop(name, None)
        _assignment(name, "$" + name + value, text, st)  # '$x/…': the rest is judged as a path in an unknown folder
        return
    joined = before + value
    if len(joined) > MAX_VALUE:
        target.pop(name, None)
        st.add(CONFIRM, f"builds a value longer than {MAX_VALUE // 1024} KiB, too long to judge", text)
        return
    _assignment(name, joined, text, st)
    target[name] = joined


def _assignment(name: str, value: str, text: str, st: State) -> None:
    upper = name.upper()
    if (upper == "HISTFILE" and value in ("", "/dev/null")) or (upper in ("HISTSIZE", "HISTFILESIZE") and value == "0"):
        st.add(BLOCK, "turns off shell history", text)
    if upper in ("LD_PRELOAD", "DYLD_INSERT_LIBRARIES") and value:
        st.add(CONFIRM, "injects a library into programs", text)
    st.check_paths([value], text)


def _redirects(cmd: Cmd, st: State) -> None:
    inv = Invocation(normalise(cmd.words[0]) if cmd.words else "", [], cmd.text)
    for op, target in cmd.redirects:
        if op in ("<<", "<<<"):
            continue
        target = st.substitute(target)
        if cmdbase.NET_DEVICE.match(target):
            st.add(BLOCK, "opens a raw network connection from the shell (reverse shell)", cmd.text)
            continue
        writes = op in (">", ">|", "&>", ">&", ">>", "&>>")
        st.check_paths([target], cmd.text, writes=writes)  # a write asks about a link to a place not known itself
        if op in ("<", "<>"):
            cmdbase.reads_raw_device(target, inv, st)
        if op in (">", ">|", "&>", ">&") and not target.startswith("&") and not target.isdigit():
            known = _known_written(target, st)
            cmdbase.judge_write_target(target, False, inv, st)
            _remember_written(target, cmd, st, append=False, known=known)
        elif op in (">>", "&>>"):
            known = _known_written(target, st)
            cmdbase.judge_write_target(target, True, inv, st)
            _remember_written(target, cmd, st, append=True, known=known)


def _known_written(target: str, st: State) -> bool:
    """Whether the line wrote ``target`` before this redirection (judging the write marks it written)."""
    return st.policy.expand(target, st.cwd) in st.written


def _remember_written(target: str, cmd: Cmd, st: State, *, append: bool, known: bool) -> None:
    """What this line writes into ``target`` (``echo … > a.sh``, ``cat > a.sh <<EOF``), for running it later;
    ``known``: whether the line wrote it before this redirection."""
    if st.windows:
        return
    full = st.policy.expand(target, st.cwd)
    if not known:
        st.written.pop(full, None)
    text: str | None = None
    if cmd.group is None and cmd.words and normalise(cmd.words[0]) in ("echo", "printf", "cat"):
        produced = produce_script(Script(pipelines=[[cmd]]), st)
        text = produced + "\n" if isinstance(produced, str) else None
    if append:
        before = st.written.get(full, "")
        text = before + text if before is not None and text is not None else None
    if text is not None and len(text) > scripts.MAX_SCRIPT_BYTES:
        text = None  # as a script too long to read: running it asks ('echo $x >> a' thousands of times)
    st.written[full] = text
    for real in st.through_links(target) or ():  # the file a link leads to holds it: appended to, not known
        st.written[real] = None if append else text


_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=.*")  # VAR=value, as a prefix word


def strip_prefixes(words: list[str]) -> tuple[list[str], bool]:
    """Drop sudo/env/nohup/xargs…; returns the wrapped command's words and whether xargs fed it."""
    via_xargs = False
    i = 0
    while i < len(words):
        name = normalise(words[i])
        options = _PREFIXES.get(name)
        if name == "coproc" and i + 1 < len(words):
            # 'coproc CMD', 'coproc { CMD; }', 'coproc NAME { CMD; }': CMD runs (a NAME comes only before a group)
            i += 2 if words[i + 1] in ("{", "(") else 3 if words[i + 2 : i + 3] in (["{"], ["("]) else 1
            continue
        if options is None:
            if (name.endswith("sudo") and name != "visudo") or ("=" in words[i] and _ASSIGNMENT.fullmatch(words[i])):
                i += 1  # 'VAR=x' after env, odd sudo spellings
                continue
            break
        if name == "command" and i + 1 < len(words) and words[i + 1] in ("-v", "-V"):
            return [], False
        if name == "xargs":
            via_xargs = True
        prefix_at = i
        if name == "env" and i + 2 < len(words) and words[i + 1] in ("-S", "--split-string"):
            return cmdbase.split_words(words[i + 2]) + words[i + 3 :], via_xargs  # quotes kept, as env -S does
        i += 1
        positional = _POSITIONAL.get(name, 0)
        while i < len(words):
            word = words[i]
            if word == "--":
                i += 1
                break
            if word.startswith("-") and len(word) > 1:
                i += 2 if word.split("=", 1)[0] in options and "=" not in word else 1
            elif "=" in word and name in ("env", "sudo", "doas"):
                i += 1
            elif positional:
                positional -= 1
                i += 1
            else:
                break
        if i >= len(words) and name in ("env", "xargs", "time", "nohup", "sudo", "busybox"):
            return words[prefix_at:], via_xargs
    return words[i:], via_xargs


# Prefixes that still run a builtin in the shell itself: 'command cd /x' moves, 'env cd /x' or 'sudo cd /x' run a
# program (or nothing) in a process of its own and leave the shell's folder and variables as they were.
_SHELL_PREFIXES = frozenset({"command", "builtin"})


def judge_words(words: list[str], st: State, text: str, *, in_shell: bool = False) -> str:
    """Judge one program invocation given as words (also used for find -exec and native commands of cmd/PS).
    ``in_shell``: the words are a command of the shell line itself, so a builtin among them (``cd``, ``read``,
    ``eval``) changes the shell; from anywhere else (``find -exec``, ``xargs``) they run as a program."""
    wrapped, via_xargs = strip_prefixes(words)
    prefix = words[: len(words) - len(wrapped)]
    _privileged_prefixes(prefix, st, text)
    here = in_shell and all(w in _SHELL_PREFIXES or w.startswith("-") for w in prefix)
    env = dict(w.split("=", 1) for w in prefix if "=" in w and _ASSIGNMENT.fullmatch(w))  # 'env HOME=/x bash …'
    if not env:
        return _judge_program(wrapped, via_xargs, st, text, here=here)
    outer = st.command_env
    st.command_env = {**outer, **env}
    try:
        return _judge_program(wrapped, via_xargs, st, text, here=here)
    finally:
        st.command_env = outer


# What the shell runs itself, never looked up on PATH.
_BUILTINS = frozenset({"cd", "echo", "printf", "export", "set", "unset", "read", "pwd", "test", "[", "true", "false",
                       ":", "eval", "source", ".", "type", "hash", "alias", "unalias", "local", "declare", "typeset",
                       "readonly", "return", "exit", "shift", "trap", "wait", "jobs", "ulimit", "umask", "getopts",
                       "let", "shopt", "history", "builtin", "pushd", "popd", "dirs", "exec", "command"})  # fmt: skip
# Folders of the system's own programs: one put on PATH ('PATH=/usr/local/go/bin:$PATH') runs installed programs.
_SYSTEM_PROGRAMS = re.compile(r"/(usr/(local/)?)?s?bin|/usr/(local/)?(go|lib/go[\w.-]*)/bin|/opt/homebrew/s?bin|"
                              r"/snap/bin|/usr/games|/usr/libexec")  # fmt: skip


def _looked_up_on_line_path(name: str, st: State, text: str) -> None:
    """A program named without a folder, where this line set PATH (``PATH=./bin:$PATH cmd``, ``export
    PATH=…; cmd``): the shell looks it up in the folders put before the inherited ``$PATH`` first. One of the
    folder holding a file of that name runs that file, judged as running it by its path (``./bin/cmd``,
    ``~/.cargo/bin/cargo``); a folder known only when it runs asks. Folders put after ``$PATH`` are searched only
    for names the system lacks: only the project's are looked into."""
    value = st.command_env.get("PATH", st.vars.get("PATH"))
    if value is None:
        return
    project = [posixpath.normpath(f) for f in (st.ctx.cwd, st.here()) if f and "$" not in f]
    inherited = False
    for entry in value.split(":"):
        if entry in ("$PATH", "${PATH}"):
            inherited = True
            continue
        folder = (
            posixpath.normpath(st.policy.expand(entry or ".", st.cwd))
            if st.cwd_known or entry[:1] in ("/", "~")
            else ""
        )
        if _SYSTEM_PROGRAMS.fullmatch(folder.rstrip("/")):
            continue
        if not folder or "$" in folder or "`" in folder:
            if not inherited:
                st.add(CONFIRM, f"runs {name} from a folder put on PATH that is only known when it runs", text)
                return
            continue
        inside = any(folder == root or folder.startswith(root.rstrip("/") + "/") for root in project)
        if inherited and not inside:
            continue
        program = posixpath.join(folder, name)
        if program in st.written or (st.resolve is not None and os.path.isfile(program)):
            scripts.run_file(program, st, text)  # as if named by its path: ~/.cargo/bin/cargo is not judged anew
            return
        if st.resolve is None and not inherited:  # the disk is not asked: judged as if the folder held it
            scripts.run_file(program, st, text)
            return


def _judge_program(words: list[str], via_xargs: bool, st: State, text: str, *, here: bool = False) -> str:
    """``judge_words`` once the prefixes are dropped; ``here``: a builtin among them changes this shell."""
    if not words:
        return ""
    first = words[0]
    name = normalise(first)
    args = words[1:]
    here = here and "/" not in first  # '/usr/bin/cd /tmp' is a program: the shell stays where it is
    if st.seeded and name in cmdbase.LINK_MAKERS:
        # the links it makes itself are not there before it runs: 'ln -s /usr/lib /tmp/l' makes no /usr/lib/lib
        hidden = cmdbase.own_links(Invocation(name, args, text), st)
        st.seeded = False
        try:
            return _judge_program(words, via_xargs, st, text, here=here)
        finally:
            st.seeded = True
            for key, held in hidden.items():
                st.links.setdefault(key, held)
    if "$" in first and not first.startswith("$("):
        st.add(CONFIRM, "runs a program whose name is only known at run time", text)
    inv = Invocation(name, args, text, via_xargs)
    if not any(a in cmdbase.HELP_FLAGS for a in args) and not (name in _HAS_DRY_RUN and cmdbase.is_dry_run(args)):
        st.seen.append((name, args))
    if name not in _DATA_COMMANDS:
        checked = cmdtools.without_exclusions(args, zip_style=name == "zip")  # '--exclude=.ssh' keeps out
        if name in _LISTERS:  # 'du -sh ~/.*' sizes folders: a pattern that might name ~/.ssh reads nothing in it
            checked = [a for a in checked if not _GLOB_CHARS.search(a)]
        st.check_paths(checked, text, moving=name in _FOLDER_COMMANDS)
    _downloaded_run(first, args, name, text, st)
    _unknown_file_args(name, args, st, text)
    if cmdbase.DEVICE_HINT.search(st.source):  # any program but a lister given a disk reads it ('gzip -c /dev/sda')
        operands = [args[i] for i in _file_operands(name, args)] if name in _PATTERN_FIRST else args
        cmdbase.given_raw_device(operands, inv, st, text_too=False)
        if name in INTERPRETERS or name in ("awk", "gawk", "mawk", "nawk"):  # 'open("/dev/sda")' in its code
            cmdbase.given_raw_device(args, inv, st)
    if "/" in first and name not in SHELLS and name not in INTERPRETERS:
        scripts.run_file(first, st, text)  # ./cleanup.sh
    elif first and "/" not in first and first not in _BUILTINS and not st.windows:
        _looked_up_on_line_path(first, st, text)
    if name in SHELLS:
        _shell(inv, st)
    elif name in ("eval", "source", "."):
        if name == "eval":
            _in_this_shell(" ".join(args), st, here)
        elif args:
            st.in_place = here  # what the script does to the folder and the variables stays (see _in_this_shell)
            try:
                if not _process_substitution(args[0], name, st, text):
                    scripts.run_file(args[0], st, text, language="sh")
            finally:
                st.in_place = False
    elif name == "alias":
        for arg in args:
            if "=" in arg:
                analyze_nested(arg.split("=", 1)[1], st)  # what the alias will run
    elif name == "script":
        code = scripts.option_value(args, "c", "--command")
        if code is not None:
            analyze_nested(code, st)
    elif name in scripts.EDITORS:
        scripts.editor_commands(args, st, text)
    elif name in ("tmux", "screen"):
        scripts.multiplexer(name, args, st, text)
    elif name in ("su", "sg") and "-c" in args:
        code = args[args.index("-c") + 1] if args.index("-c") + 1 < len(args) else ""
        analyze_nested(code, st)
    elif name == "watch":
        rest = list(args)
        while rest and rest[0].startswith("-"):
            rest = rest[2:] if rest[0] in ("-n", "--interval", "-q", "--equexit") else rest[1:]
        analyze_nested(" ".join(rest), st)
    elif name in INTERPRETERS or name in ("awk", "gawk", "mawk", "nawk"):
        script = (embedded.program_parts(name, args)[1] or "") if name in INTERPRETERS else ""
        if name not in INTERPRETERS or not _process_substitution(script, name, st, text):
            embedded.judge_interpreter(inv, st)
    elif name in ("powershell", "pwsh"):
        from contop.security import powershell

        powershell.judge_host_invocation(args, st, text)
    elif name == "cmd":
        from contop.security import cmdshell

        cmdshell.judge_cmd_invocation(args, st, text)
    elif name in _FOLDER_COMMANDS and not st.windows:
        if here:
            _change_folder(name, args, st, text)
    elif name in _DECLARERS:
        _declare(name, args, st, text, here)
    elif name in _VARIABLE_READERS and here:
        _read_into(name, args, st)
    elif name == "unset" and "-f" not in args and here:
        for arg in args:
            st.vars.pop(arg, None)  # 'unset HOME': '~' is the user's home again
    elif name == "set" and here and not st.windows:
        _shell_options(args, st)
    scripts.record_build(name, args, st)
    if name in ("curl", "wget", "aria2c", "fetch", "http"):
        _record_download(inv, st)
    elif name in ("certutil", "mshta", "bitsadmin", "regsvr32", "rundll32"):
        from contop.security import cmdshell

        cmdshell.judge_lolbin(inv, st)
    commands.judge(inv, st)
    return name


_FOLDER_COMMANDS = frozenset({"cd", "pushd", "popd", "dirs"})
_DECLARERS = frozenset({"export", "declare", "typeset", "readonly", "local"})
_VARIABLE_READERS = frozenset({"read", "printf", "mapfile", "readarray"})
_READ_VALUED = "adinNptu"  # read's options that take a value ('-a NAME' names an array it sets)
_MAPFILE_VALUED = "dnOsuCc"


def _declare(name: str, args: list[str], st: State, text: str, here: bool) -> None:
    """``export X=1``, ``declare -n h=HOME`` (a name reference: assigning h assigns HOME). Only a builtin of this
    shell sets anything; the values are judged as paths either way."""
    flags = [a for a in args if a.startswith("-") and "=" not in a]
    reference = name in ("declare", "typeset", "local") and any("n" in f[1:] for f in flags if f != "--")
    for arg in args:
        named = "=" in arg and _ASSIGNMENT.fullmatch(arg)
        key, _, value = arg.partition("=")
        if named:
            _assignment(key, value, text, st)
        if not here:
            continue
        if reference and not arg.startswith("-"):
            st.refs[key] = value if named and _NAME.fullmatch(value) else None  # no target yet: any one
        elif named:
            st.assign(key, value)


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _read_into(name: str, args: list[str], st: State) -> None:
    """``read HOME``, ``printf -v HOME /etc``, ``mapfile HOME``: the variables these builtins set hold what only
    the running shell knows (as ``read p <<< x; cat $p`` asks), never what they held before: ``cd`` alone, ``~``
    and CDPATH then lead to a folder only known when the line runs."""
    if name == "printf":
        if args[:1] == ["-v"] and len(args) > 1:
            st.assign(args[1], None)
        elif args[:1] and args[0].startswith("-v") and len(args[0]) > 2:
            st.assign(args[0][2:], None)
        return
    valued = _READ_VALUED if name == "read" else _MAPFILE_VALUED
    names: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--" or not arg.startswith("-") or arg == "-":
            names += args[i + 1 :] if arg == "--" else args[i:]
            break
        for j, flag in enumerate(arg[1:], start=1):
            if flag in valued:  # its value is the rest of the word, or the next word
                value = arg[j + 1 :]
                if not value:
                    i += 1
                    value = args[i] if i < len(args) else ""
                if flag == "a" and name == "read":
                    names.append(value)
                elif flag == "C" and name != "read":  # 'mapfile -C CMD': CMD runs every -c lines read
                    analyze_nested(value, st)
                break
        i += 1
    if name != "read":
        names = names[-1:] or ["MAPFILE"]  # the array of the lines read
    for each in names or ["REPLY"]:
        st.assign(each, None)


_STACK_INDEX = re.compile(r"[+-][0-9]+")


def _change_folder(name: str, args: list[str], st: State, text: str) -> None:
    """``cd``, ``pushd``, ``popd`` and ``dirs -c`` as bash runs them: ``cd -`` goes back to OLDPWD, ``popd`` to
    what ``pushd`` left, ``cd`` alone to HOME. A folder that cannot be known before the command runs (``cd
    $(…)``, ``cd -`` with no earlier ``cd``) leaves the working folder unknown: what is then named relative to it
    asks. A cd that fails (a folder that does not exist) is taken as done."""
    flags: list[str] = []
    operands: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            operands += args[i + 1 :]
            break
        if arg.startswith("-") and arg != "-" and not (name != "cd" and _STACK_INDEX.fullmatch(arg)):
            flags.append(arg)
        else:
            operands.append(arg)
    if name == "dirs":
        if "-c" in flags:
            st.dirs.clear()
        return
    physical = _physical(flags, st)
    if name == "cd":
        if len(operands) > 1:
            st.enter(None)  # bash refuses, zsh replaces one part of the path by another: not followed
        elif not operands:
            home = st.lookup_env("HOME")
            if home is None:
                st.enter(*_folder(st.ctx.home, st, text, physical) if physical is not False else (st.ctx.home, True))
            elif home:
                st.enter(*_folder(home, st, text, physical))
            else:
                st.enter(None)
        elif operands[0] == "-":
            previous = _previous_folder(st)
            st.enter(*_folder(previous, st, text, physical) if previous and physical is not False else (previous, True))
        else:
            st.enter(*_folder(operands[0], st, text, physical))
        return
    stack: list[str | None] = [st.here(), *st.dirs]
    keep = "-n" in flags
    operand = operands[0] if operands else None
    if name == "pushd":
        if operand is None:  # the top two swap
            if len(stack) < 2:
                return  # 'no other directory': nothing changes
            stack[0], stack[1] = stack[1], stack[0]
        elif _STACK_INDEX.fullmatch(operand):  # the stack rotates to bring that entry to the top
            index = _stack_index(operand, len(stack))
            if index is None:
                return
            stack = stack[index:] + stack[:index]
        else:
            folder, known = (_previous_folder(st), True) if operand == "-" else _folder(operand, st, text, physical)
            if keep:
                st.dirs.insert(0, folder if known else None)
            else:
                st.dirs.insert(0, st.here())
                st.enter(folder, known=known)  # '/proc/$PPID' stays a pattern
            return
        if keep and (operand is None or _STACK_INDEX.fullmatch(operand)):
            st.dirs = [None] * len(st.dirs)  # rotated below a folder that stays: not followed
            return
    else:
        index = _stack_index(operand, len(stack)) if operand and _STACK_INDEX.fullmatch(operand) else 1 if keep else 0
        if index is None or len(stack) < 2:
            return  # popd with nothing pushed: 'directory stack empty', nothing changes
        del stack[index]
        if keep and index == 0:
            st.dirs = [None] * len(stack[1:])  # the folder stays, the stack below it is not followed
            return
        keep = index > 0  # an entry below the top goes: no cd
    st.dirs = stack[1:]
    if not keep:
        st.enter(stack[0])


_PHYSICAL = " physical"  # among the line's variables, which subshells undo: 'on', or unknown ('set -o $o')


def _physical(flags: list[str], st: State) -> bool | None:
    """Whether ``cd``/``pushd`` resolve the links on the way before each ``..`` (bash's ``-P``, or ``set -P`` /
    ``set -o physical`` earlier on the line; the last of ``-L``/``-P`` wins); None when that is not known."""
    mode = st.vars.get(_PHYSICAL)
    chosen: bool | None = False if mode is None else True if mode == "on" else None
    for flag in flags:
        for letter in flag[1:]:
            if letter in "LP":
                chosen = letter == "P"
    return chosen


def _shell_options(args: list[str], st: State) -> None:
    """``set -P``, ``set -o physical`` (``+P``, ``+o physical`` undo them): the mode later ``cd``s follow. An
    option name known only when it runs (``set -o $o``) may be that one."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-", "--") or arg[:1] not in ("-", "+"):
            return
        names: list[str] = []
        if "o" in arg[1:]:  # '-o NAME', '-eo NAME'
            i += 1
            names = [args[i]] if i < len(args) else []
        for changed in ["P"] * ("P" in arg[1:]) + names:
            if changed in ("P", "physical"):
                if arg[0] == "-":
                    st.vars[_PHYSICAL] = "on"
                else:
                    st.vars.pop(_PHYSICAL, None)
            elif "$" in changed or "`" in changed:
                st.vars[_PHYSICAL] = unknown_value(_PHYSICAL)
        i += 1


def _previous_folder(st: State) -> str | None:
    """Where ``cd -`` goes: OLDPWD, when the line says what it is."""
    old = st.vars.get("OLDPWD")
    return None if old is None or "$" in old or "`" in old else old


def _stack_index(operand: str, size: int) -> int | None:
    """Which entry of the directory stack (the working folder first) ``+N`` or ``-N`` names, if any."""
    count = int(operand[1:])
    index = count if operand[0] == "+" else size - 1 - count
    return index if 0 <= index < size else None


def _folder(word: str, st: State, text: str, physical: bool | None = False) -> tuple[str | None, bool]:
    """The folder a ``cd`` operand names and whether it is known before the command runs: not for an expansion
    left as written or a glob (``/proc/$PPID``, kept as a pattern), a path relative to an unknown folder, or a
    name CDPATH puts in a place the disk cannot tell now (each place is checked as a path). ``physical``
    (``cd -P``; None: not known) resolves links before ``..``: ``cd -P /tmp/e/..`` with ``e -> /etc`` is ``/``."""
    if word.startswith(("$(", "`")) and "$(" not in word[2:] and "`" not in word[1:-1]:
        closer = ")" if word.startswith("$(") else "`"
        start = 2 if closer == ")" else 1
        if matching_end(word, start, closer) == len(word) - 1:
            produced = produce_script(parse(word[start:-1]), st)  # 'cd $(echo /srv)'
            if isinstance(produced, str) and produced.strip() and "\n" not in produced.strip():
                word = produced.strip()
            elif (fresh := _fresh_folder(word[start:-1], st)) is not None:
                return fresh, True
    if not word or folder_ref(word):
        return None, False
    folder = st.policy.expand(word, st.cwd)
    relative = not word.startswith(("/", "~"))
    if (relative and not st.cwd_known) or any(c in word for c in "$`*?["):
        return folder, False
    named = word
    cdpath = st.lookup_env("CDPATH")
    if cdpath and relative and not word.startswith(("./", "../")) and word not in (".", ".."):
        if any(c in cdpath for c in "$`*?["):
            return folder, False
        # bash looks in each CDPATH entry first, then here: 'CDPATH=/srv cd secret' may land in /srv/secret
        entries = [posixpath.join(entry or ".", word) for entry in cdpath.split(":")]
        places = {st.policy.expand(entry, st.cwd) for entry in entries}
        st.check_paths(sorted(places), text, moving=True)
        if places - {folder}:
            chosen = _cdpath_choice([*entries, word], st)
            if chosen is None:
                return folder, False
            named, folder = chosen, st.policy.expand(chosen, st.cwd)
    if physical is not False:
        real = st.lands_at(st.unfolded(named))
        if real is None or (physical is None and real != folder):
            return folder, False
        folder = real
    return folder, True


def _cdpath_choice(candidates: list[str], st: State) -> str | None:
    """Where ``cd NAME`` goes with CDPATH set: the first of ``candidates`` (each CDPATH entry joined with NAME,
    then NAME here) that is a folder, as bash picks it. None when the disk cannot say now: the decision may not
    look at it, a link the line makes leads somewhere not known, none is a folder yet, or one before the folder
    found is missing (the line may make it before the ``cd`` runs)."""
    if st.resolve is None:
        return None
    for i, candidate in enumerate(candidates):
        real = st.lands_at(st.unfolded(candidate))
        if real is None:
            return None
        if os.path.isdir(real):
            return candidate if i == 0 else None
    return None


_MKTEMP_FLAGS = frozenset({"-d", "--directory", "-q", "--quiet", "-dq", "-qd"})


def _fresh_folder(script: str, st: State) -> str | None:
    """The folder ``mktemp -d`` makes (``cd "$(mktemp -d)"``): a new, empty one in the temporary folder, when the
    line says where that is; its random name is written as mktemp's template. None for any other command."""
    words = script.split()
    if len(words) < 2 or words[0] != "mktemp" or any(c in script for c in "$`'\"\\;&|<>(){}"):
        return None
    template, directory = "tmp.XXXXXXXXXX", False
    rest = words[1:]
    while rest:
        word = rest.pop(0)
        if word in ("-t", "-dt", "-qt", "-dqt", "-qdt") and rest and "/" not in rest[0]:
            template = rest.pop(0)  # '-t NAME.XXXX': in $TMPDIR, whatever folder it is run from
            directory = directory or "d" in word
        elif word in _MKTEMP_FLAGS:
            directory = directory or "d" in word
        else:
            return None  # a template relative to the working folder, '-p DIR', '-u' (no folder made): not followed
    base = st.temp_base()
    return base + "/" + template if directory and base is not None else None


def _privileged_prefixes(prefix: list[str], st: State, text: str) -> None:
    """``sudo -i …``, ``pkexec …``: the prefixes strip_prefixes dropped that switch to another user; and
    ``strace -p PID``, a prefix that attaches to another running program instead."""
    for i, word in enumerate(prefix):
        name = normalise(word)
        if name in ("strace", "ltrace"):
            commands.judge(Invocation(name, prefix[i + 1 :], text), st)
            continue
        if name not in ("sudo", "doas", "pkexec"):
            continue
        options, opts, j = _PREFIXES[name], [], i + 1
        while j < len(prefix) and prefix[j].startswith("-"):
            opts.append(prefix[j])
            j += 2 if prefix[j] in options else 1
        commands.judge(Invocation(name, opts, text), st)


# Programs that read, print or send the files named in their arguments, and their options whose value is a count.
_FILE_READERS = frozenset({"cat", "tac", "nl", "less", "more", "head", "tail", "cp", "base64", "base32", "basenc",
                           "xxd", "od", "hexdump", "strings", "tar", "zip", "gzip", "bzip2", "xz", "scp", "rsync",
                           "nc", "ncat", "netcat", "socat", "sort", "uniq", "cut", "paste", "diff", "comm", "join",
                           "fold", "fmt", "rev", "column", "pr", "iconv", "expand", "unexpand", *FETCHERS})  # fmt: skip
_COUNT_OPTIONS = frozenset({"-n", "-c", "--lines", "--bytes"})
# Readers of a disk's raw bytes: those above, searchers, and cmd's 'type' and 'more' (judged through here).
_RAW_READERS = _FILE_READERS | {"grep", "egrep", "fgrep", "rg", "pv", "hd", "zstd", "lz4", "type", "more",
                                "findstr", "certutil", "fc", "comp", "dcfldd", "dc3dd", "ddrescue"}  # fmt: skip
# Readers whose first operand is a pattern or a program, unless one of the first options gives it; the second
# set holds their options that take a value (``grep -m 5``), so that the value is not taken for an operand.
_GREP_VALUES = frozenset({"-e", "--regexp", "-f", "--file", "-m", "--max-count", "-A", "-B", "-C", "--context",
                          "--after-context", "--before-context", "-d", "--directories", "-D", "--devices",
                          "--label"})  # fmt: skip
_PATTERN_FIRST: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "grep": (frozenset({"-e", "--regexp", "-f", "--file"}), _GREP_VALUES),
    "rg": (
        frozenset({"-e", "--regexp", "-f", "--file"}),
        _GREP_VALUES | {"-g", "--glob", "-t", "--type", "-T", "--type-not", "-M", "--max-columns", "-r", "--replace"},
    ),
    "sed": (frozenset({"-e", "--expression", "-f", "--file"}), frozenset({"-e", "--expression", "-f", "--file", "-l"})),
    "awk": (
        frozenset({"-f", "--file", "-e", "--source", "-E", "--exec"}),
        frozenset(
            {
                "-f",
                "--file",
                "-F",
                "--field-separator",
                "-v",
                "--assign",
                "-e",
                "--source",
                "-E",
                "--exec",
                "-i",
                "--include",
                "-l",
                "--load",
                "-W",
                "-Z",
                "--locale",
            }
        ),
    ),
    "jq": (frozenset({"-f", "--from-file"}), frozenset({"-f", "--from-file", "--indent", "--arg", "--argjson"})),
}
for _alias, _same in (("egrep", "grep"), ("fgrep", "grep"), ("gawk", "awk"), ("mawk", "awk"), ("nawk", "awk")):
    _PATTERN_FIRST[_alias] = _PATTERN_FIRST[_same]
# A variable the line did not set (the home and working folders aside), or an expansion with an operator:
# what it gives is only known when the command runs.
_UNRESOLVED = re.compile(r"\$(?!\(|(?:HOME|USERPROFILE|PWD)\b|\{(?:HOME|USERPROFILE|PWD)\})[{A-Za-z_!#@*0-9?$-]")
_XARGS_INPUT = "$(xargs)"  # stands for what xargs reads when it cannot be known: a substitution that prints it


def _file_operands(name: str, args: list[str]) -> list[int]:
    """The positions in ``args`` that name files for a reader: every one but the values of count options and, for
    grep, sed, awk and the like, the pattern or program and the values of their options."""
    if name not in _PATTERN_FIRST:
        return [i for i in range(len(args)) if not (i and args[i - 1] in _COUNT_OPTIONS)]
    giving, valued = _PATTERN_FIRST[name]
    operands: list[int] = []
    pattern_given = options_end = False
    i = 0
    while i < len(args):
        arg = args[i]
        if not options_end and arg == "--":
            options_end = True
        elif not options_end and arg.startswith("-") and len(arg) > 1:
            option = arg.split("=", 1)[0] if arg.startswith("--") else arg[:2]
            pattern_given = pattern_given or option in giving
            if option in valued and arg == option:
                i += 2 if option not in ("--arg", "--argjson") else 3
                continue
        elif not pattern_given:
            pattern_given = True  # the pattern or program itself
        else:
            operands.append(i)
        i += 1
    return operands


def _unknown_file_args(name: str, args: list[str], st: State, text: str) -> None:
    """``cat $(…)``: a reader given a name that a substitution prints reads whatever that turns out to be. A known
    output is checked as paths; an unknown one asks (``echo $(date)`` and ``ls $(pwd)`` read no file)."""
    if name not in _FILE_READERS and name not in _PATTERN_FIRST:
        return
    for i in _file_operands(name, args):
        arg = args[i]
        if not st.cwd_known and _names_relative(name, arg):  # 'cd $(…); cat key.txt'
            st.add(CONFIRM, f"{name} reads or sends a file in a folder only known when it runs", text)
            return
        if _UNRESOLVED.search(arg):  # '${x//X/h}', '${a[1]}', '$p' read from somewhere: a name known only then
            st.add(CONFIRM, f"{name} reads or sends a file whose name is only known when it runs", text)
            return
        if not arg.startswith(("$(", "`")) or arg.startswith("$(("):
            continue
        if name in FETCHERS and i and args[i - 1].startswith("-"):
            continue  # curl's -d/-H values are data ('-T $(…)' is an upload, asked about anyway)
        closer = ")" if arg.startswith("$(") else "`"
        start = 2 if closer == ")" else 1
        end = matching_end(arg, start, closer)
        produced = None if arg == _XARGS_INPUT else produce_script(parse(arg[start:end]), st)
        if isinstance(produced, str) and produced.strip():
            st.check_paths((produced.strip() + arg[end + 1 :]).split(), text)
        else:
            st.add(CONFIRM, f"{name} reads or sends a file whose name is only known when it runs", text)
            return


def _names_relative(name: str, arg: str) -> bool:
    """Whether a reader's operand is a file named relative to the working folder (a bare name too), not an
    option, an expansion or a network address."""
    if name in FETCHERS or name in _RAW_SENDERS or not arg or "://" in arg:
        return False
    return not arg.startswith(("/", "~", "$", "`", "-")) or folder_ref(arg)


def _process_substitution(word: str, name: str, st: State, text: str) -> bool:
    """``bash <(echo …)``: what a process substitution prints is the script the program runs; judged as
    ``… | bash`` is. False when ``word`` is not one."""
    if not (word.startswith("<(") and word.endswith(")")):
        return False
    produced, encoded = _produce_stages(parse(word[2:-1]).pipelines[-1:][0] if word[2:-1].strip() else [], st)
    if isinstance(produced, _Fetched):
        st.add(BLOCK, "runs code downloaded from the network", text)
    elif isinstance(produced, str):
        if name in INTERPRETERS:
            embedded.judge_code(name, produced, st, text)
        else:
            analyze_nested(produced, st)
        if encoded:
            st.add(CONFIRM, "runs an encoded payload", text)
    else:
        st.add(CONFIRM, "runs a script that another command generates", text)
    return True


def _xargs(before: list[Cmd], cmd: Cmd, st: State) -> None:
    """``echo … | xargs CMD``: the words piped in are CMD's arguments; a shell whose script comes from there
    runs text that is judged when known and asked about when not (``… | xargs -0 sh -c``)."""
    words = expand_words(cmd.words, st)
    wrapped, via_xargs = strip_prefixes(words)
    if not via_xargs or not wrapped or normalise(wrapped[0]) == "xargs":
        return
    at = next(i for i, w in enumerate(words) if normalise(w) == "xargs")
    opts = words[at + 1 : len(words) - len(wrapped)]
    if before:
        produced, _ = _produce_stages(before, st)
    else:
        produced = next((t for op, t in cmd.redirects if op in ("<<", "<<<")), None)
    if isinstance(produced, str):
        replace = _xargs_option(opts, ("-I", "--replace"), "-i", "{}")
        if "-0" in opts or "--null" in opts:
            items = produced.split("\0")
        elif replace or _xargs_option(opts, ("-L", "-l"), "", "") is not None:
            items = produced.splitlines()
        else:
            items = produced.split()
        items = [i for i in items if i][:_XARGS_ITEMS]
        if replace:
            for item in items:
                judge_words([w.replace(replace, item) for w in wrapped], st, cmd.text)
        elif items:
            judge_words(wrapped + items, st, cmd.text)
        return
    name = normalise(wrapped[0])
    replace = _xargs_option(opts, ("-I", "--replace"), "-i", "{}")
    if (name in SHELLS or name in INTERPRETERS) and (
        (
            _script_from_input(shell_options_removed(wrapped[1:]))
            if name in SHELLS
            else _program_from_input(name, wrapped[1:])
        )
        or (replace and any(replace in w for w in wrapped[1:]))
    ):  # '… | xargs -I{} sh -c "{}"': the input is put into the script (a file named 'x;rm -rf ~' runs)
        if isinstance(produced, _Fetched):
            st.add(BLOCK, "runs code downloaded from the network", cmd.text)
        st.add(CONFIRM, "runs commands that xargs reads from another command's output", cmd.text)
    elif not any(_listed_roots(c.words) is not None for c in before if c.words):  # judged by _found_then_read
        # 'ls | xargs cat' reads the files an unknown output names, as 'cat $(ls)' does
        args = [w.replace(replace, _XARGS_INPUT) for w in wrapped[1:]] if replace else [*wrapped[1:], _XARGS_INPUT]
        _unknown_file_args(name, args, st, cmd.text)
    if not isinstance(produced, str) and name in cmdbase.LINK_MAKERS and (rule := commands.RULES.get(name)):
        # 'ls -d ~ | xargs -I{} ln -s {} /tmp/h': a link to (or named after) what the input says, which is not
        # known: the paths through it ask
        args = [w.replace(replace, _XARGS_INPUT) for w in wrapped[1:]] if replace else [*wrapped[1:], _XARGS_INPUT]
        rule(Invocation(name, args, cmd.text, True), st)


_XARGS_ITEMS = 64  # words piped into xargs that are judged


def _xargs_option(opts: list[str], names: tuple[str, ...], bare: str, default: str) -> str | None:
    """The value of an xargs option (``-I {}``, ``-I{}``, ``--replace=x``; ``bare`` alone means ``default``)."""
    for i, opt in enumerate(opts):
        if bare and opt == bare:
            return default
        for name in names:
            if opt == name:
                return opts[i + 1] if i + 1 < len(opts) else default
            if opt.startswith(name) and len(opt) > len(name):
                return opt[len(name) :].lstrip("=")
    return None


def _script_from_input(args: list[str]) -> bool:
    """A shell or interpreter whose script (``-c``'s text, or the file it runs) is not among ``args``."""
    for i, arg in enumerate(args):
        if not arg.startswith("-"):
            return False
        if arg in ("-c", "-e", "-E") or (not arg.startswith("--") and "c" in arg[1:]):
            return not any(not a.startswith("-") for a in args[i + 1 :])
    return True


def _program_from_input(name: str, args: list[str]) -> bool:
    """An interpreter given no program text and no script file: what xargs appends becomes one of them."""
    codes, script = embedded.program_parts(name, args)
    return not any(codes) and script is None


# A shell's options that take the next word as their value (`bash -o posix -c …`, `bash -O dotglob script.sh`):
# that word is neither the script nor its file.
_SHELL_VALUED = frozenset({"--rcfile", "--init-file"})


def shell_options_removed(args: list[str]) -> list[str]:
    """``args`` without the values of a shell's options that take one (``-o NAME``, ``+O NAME``, ``-eo NAME``)."""
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        out.append(arg)
        if arg in _SHELL_VALUED or (len(arg) > 1 and arg[0] in "-+" and arg[1] != "-" and arg[-1] in "oO"):
            skip = True
    return out


def _shell(inv: Invocation, st: State) -> None:
    args = shell_options_removed(inv.args)
    for i, arg in enumerate(args):
        if arg.startswith("-") and not arg.startswith("--") and "c" in arg[1:] and "=" not in arg:
            code = next((a for a in args[i + 1 :] if not a.startswith("-")), "")
            analyze_nested(code, st)
            return
        if not arg.startswith("-") and not arg.startswith("+"):
            if not _process_substitution(arg, inv.name, st, inv.text):
                scripts.run_file(arg, st, inv.text, language="sh")  # a download was judged by _downloaded_run
            return


def _downloaded_run(first: str, args: list[str], name: str, text: str, st: State) -> None:
    """Running a file that an earlier part of the same line downloaded."""
    if not st.downloads:
        return
    candidates = [first]
    if name in SHELLS or name in INTERPRETERS or name in ("source", ".", "chmod", "start-process", "msiexec", "start"):
        candidates += [a for a in args if not a.startswith("-")]
    downloaded = {normalise(d) for d in st.downloads}
    for candidate in candidates:
        base = normalise(candidate)
        if base and base in downloaded and name != "chmod":
            st.add(BLOCK, "runs a program it just downloaded", text)
            return


_URL_START = re.compile(r"[a-z]+://", re.IGNORECASE)
_CURL_OUTPUT = re.compile(r"-[a-zA-Z]*o")
_CURL_REMOTE_NAME = re.compile(r"-[a-zA-Z]*O[a-zA-Z]*")
_SEPARATORS = re.compile(r"[/\\]")


def _file_name(path: str) -> str:
    """The last part of a path, whichever separator it uses."""
    return _SEPARATORS.split(path)[-1]


def _record_download(inv: Invocation, st: State) -> None:
    name, args = inv.name, inv.args
    url = next((a for a in args if _URL_START.match(a)), "")
    url_name = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] if url else ""
    outputs: list[str] = []
    for i, arg in enumerate(args):
        value = args[i + 1] if i + 1 < len(args) else ""
        if arg in ("-o", "--output", "--output-document") or (name == "wget" and arg == "-O"):
            if value and value != "-":
                outputs.append(value)
        elif arg.startswith(("--output=", "--output-document=")):
            outputs.append(arg.split("=", 1)[1])
        elif name == "curl" and _CURL_OUTPUT.fullmatch(arg) and value:
            outputs.append(value)
        elif arg.startswith("-o") and len(arg) > 2 and name == "curl":
            outputs.append(arg[2:])
        elif (name == "curl" and (arg == "--remote-name" or _CURL_REMOTE_NAME.fullmatch(arg))) or (
            name == "wget" and arg.startswith("-")
        ):
            if url_name:
                st.downloads.add(url_name)
    if name == "wget" and url_name and not any(a.startswith(("-O", "-qO", "--output")) for a in args):
        st.downloads.add(url_name)
    for output in outputs:
        st.downloads.add(_file_name(output))
        # 'curl -o ~/.bashrc'; over an existing source or configuration file it asks, as '>' does, but only when
        # the disk shows the file exists: a download's own name is no sign that it replaces one.
        cmdbase.judge_write_target(output, False, inv, st, guess_existing=st.resolve is not None)


def _dynamic_command(words: list[str], cmd: Cmd, st: State) -> None:
    """``$(echo cm0= | base64 -d) -rf ~``: the program is whatever the substitution prints."""
    first = words[0]
    inner = first[2:-1] if first.startswith("$(") else first.strip("`")
    produced = produce_script(parse(inner), st)
    if produced is FETCHED:
        st.add(BLOCK, "runs code downloaded from the network", cmd.text)
    elif isinstance(produced, str):
        _in_this_shell(" ".join([produced.strip(), *words[1:]]), st, True)  # '$(echo cd) /etc' moves this shell
        st.add(CONFIRM, "runs a command assembled at run time", cmd.text)
    else:
        st.add(CONFIRM, "runs a command assembled at run time", cmd.text)


# ---------------------------------------------------------------------------------------------- data flow


def _reads_stdin_as_code(cmd: Cmd, st: State) -> bool:
    """A shell or interpreter with no script argument executes what arrives on its standard input."""
    words, _ = strip_prefixes([st.substitute(w) for w in cmd.words])
    if not words:
        return False
    name = normalise(words[0])
    args = words[1:]
    if words[0].startswith("$"):
        return True  # '| $SHELL': an unknown program may well be a shell
    if name in ("source", "."):
        return bool(args) and args[0] in ("/dev/stdin", "-", "/proc/self/fd/0")
    if name not in SHELLS and name not in INTERPRETERS:
        return False
    if name in INTERPRETERS:
        codes, script = embedded.program_parts(name, args)
        return not codes and script is None
    args = shell_options_removed(args)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-", "-s") or arg == "/dev/stdin":
            return True
        if arg.startswith("-"):
            if "c" in arg[1:] and not arg.startswith("--"):
                return False
            i += 1
            continue
        return False
    return True


def _feed(before: list[Cmd], executor: Cmd, st: State) -> None:
    produced, encoded = _produce_stages(before, st)
    if isinstance(produced, _Fetched):
        st.add(BLOCK, "runs code downloaded from the network", executor.text)
    elif isinstance(produced, str):
        _execute_text(produced, executor, st, encoded=encoded)
    else:
        st.add(CONFIRM, "feeds generated text to a shell or interpreter", executor.text)


def _execute_text(text: str, executor: Cmd, st: State, *, encoded: bool) -> None:
    words, _ = strip_prefixes([st.substitute(w) for w in executor.words])
    name = normalise(words[0]) if words else "sh"
    if name in INTERPRETERS:
        embedded.judge_code(name, text, st, executor.text)
    else:
        analyze_nested(text, st)
    if encoded:
        st.add(CONFIRM, "runs an encoded payload", executor.text)


def _produce_stages(stages: list[Cmd], st: State) -> tuple[Produced, bool]:
    """What a pipeline prints, and whether one of its stages decoded something."""
    encoded = False
    value: Produced = None
    for cmd in stages:
        value, decoded = _produce(cmd, value, st)
        encoded = encoded or decoded
    return value, encoded


def produce_script(script: Script, st: State) -> Produced:
    """What a substitution prints, when it can be known without running anything. Only its last pipeline
    prints here: when something before it may move (``$(cd /etc; pwd)``), the folder it prints is not known."""
    if not script.pipelines:
        return None
    moved = None
    if len(script.pipelines) > 1 and _may_move(script.pipelines[:-1]):
        moved = st.save()
        st.enter(None)
    value: Produced = None
    try:
        for cmd in script.pipelines[-1]:
            value, _ = _produce(cmd, value, st)
    finally:
        if moved is not None:
            st.restore(moved)
    return value


_MOVERS = frozenset({"cd", "pushd", "popd", "eval", "source", "."})


def _may_move(pipelines: list[list[Cmd]]) -> bool:
    return any(c.group is not None or any(w in _MOVERS for w in c.words[:3]) for p in pipelines for c in p)


def _produce(cmd: Cmd, previous: Produced, st: State) -> tuple[Produced, bool]:
    """The output of one stage given its input; the flag says that it decoded something."""
    if cmd.group is not None:
        parts = [produce_script(Script(pipelines=[p]), st) for p in cmd.group.pipelines]
        if any(p is FETCHED for p in parts):
            return FETCHED, False
        texts: list[str] = [p for p in parts if isinstance(p, str)]
        return ("\n".join(texts) if texts else None), False
    for sub in cmd.subs:
        if produce_script(sub, st) is FETCHED:
            return FETCHED, False
    words, _ = strip_prefixes([st.substitute(w) for w in cmd.words])
    for op, target in cmd.redirects:
        if op in ("<<", "<<<"):
            previous = target
    if not words:
        return previous, False
    name, args = normalise(words[0]), words[1:]
    if name == "printf":
        return _printf(args), False
    if name == "pwd":
        return st.cwd, False  # UNKNOWN_FOLDER when not known: what is then named under it asks
    if name == "echo":
        flags = {"-n", "-e", "-E", "-ne", "-en"}
        printed = [a for a in args if a not in flags]
        text = " ".join(printed)
        if "-e" in args or "-en" in args or "-ne" in args:
            text = _unescape(text)
        return text, False
    if name in FETCHERS:
        if name == "wget" and not any(a in ("-O-", "-qO-", "-O", "-qO", "--output-document=-") for a in args):
            return None, False
        if name == "curl" and any(a in ("-o", "-O", "--output", "--remote-name") or a.startswith("-o") for a in args):
            return None, False
        return FETCHED, False
    if name in ("nc", "ncat", "netcat", "socat", "telnet"):
        return FETCHED, False
    if previous is FETCHED:
        return FETCHED, False
    if name in _DECODERS and isinstance(previous, str):
        decoded: str | None = None
        lowered = [a.lower() for a in args]
        if name in ("base64", "basenc") and any(a in ("-d", "--decode", "-D", "-di", "-id") for a in lowered):
            decoded = payload.b64decode(previous, utf16=False)
        elif name == "openssl" and "-d" in lowered:
            decoded = payload.b64decode(previous, utf16=False)
        elif name == "xxd" and any(a.startswith("-r") for a in lowered):
            decoded = payload.hexdecode(previous)
        elif name == "rev":
            decoded = payload.reverse_lines(previous)
        return decoded, decoded is not None
    if name == "cat" and not [a for a in args if a != "-"]:
        return previous, False
    if name in _FILTERS:
        return None, False
    return None, False


_PRINTF_SPEC = re.compile(r"%([-+ #0]*\d*(?:\.\d*)?)([a-zA-Z%])")


def _printf(args: list[str]) -> str | None:
    """What ``printf FORMAT ARGS…`` prints when its directives are plain (%s, %d, %b, %c), else None. The format is
    reused while arguments remain, as the shell does."""
    if args[:1] == ["--"]:
        args = args[1:]
    if not args or args[0] == "-v":
        return None
    fmt, rest = args[0], list(args[1:])
    out: list[str] = []
    unknown = False

    def fill(match: re.Match[str]) -> str:
        nonlocal unknown
        kind = match.group(2)
        if kind == "%":
            return "%"
        if kind not in "sbdic":
            unknown = True
            return ""
        value = rest.pop(0) if rest else ("0" if kind in "di" else "")
        return value[:1] if kind == "c" else value

    for _ in range(64):
        before = len(rest)
        out.append(_PRINTF_SPEC.sub(fill, fmt))
        if unknown:
            return None
        if not rest or len(rest) == before:
            break
    return _unescape("".join(out))


def _unescape(text: str) -> str:
    def repl(match: re.Match[str]) -> str:
        code = match.group(1) or match.group(2)
        return chr(int(code, 16 if match.group(1) else 8))

    return re.sub(r"\\x([0-9a-fA-F]{1,2})|\\0?([0-7]{1,3})", repl, text).replace("\\n", "\n")


def _env_source_script(script: Script) -> bool:
    for cmd in script.commands():
        words, _ = strip_prefixes(cmd.words)
        if words and _is_env_source(normalise(words[0]), words[1:]):
            return True
    return False


def _is_env_source(name: str, args: list[str]) -> bool:
    if name in ("env", "printenv"):
        return not [a for a in args if not a.startswith("-")]
    if name in ENV_SOURCES:
        return not args or args in (["-p"], ["-x"], ["-v"])
    return name == "cat" and "/proc/self/environ" in args


def _pipeline_flows(pipeline: list[Cmd], names: list[str], st: State) -> None:
    """Reverse shells and exfiltration: a shell wired to the network, secrets piped to a sender."""
    text = " | ".join(c.text for c in pipeline)
    net = [i for i, n in enumerate(names) if n in ("nc", "ncat", "netcat", "socat", "telnet", "openssl")]
    shells = [i for i, n in enumerate(names) if n in SHELLS or n in INTERPRETERS]
    if net and shells:
        st.add(BLOCK, "connects a shell to the network (reverse shell)", text)
    sources: list[tuple[int, str]] = []
    for i, cmd in enumerate(pipeline):
        words, _ = strip_prefixes([st.substitute(w) for w in cmd.words])
        if cmd.group is not None and _env_source_script(cmd.group):
            sources.append((i, "your environment variables"))
        if not words:
            continue
        name, args = normalise(words[0]), words[1:]
        if _is_env_source(name, args):
            sources.append((i, "your environment variables"))
        elif name in cmdbase.ARCHIVERS and any(st.place(a) >= Place.HOME for a in args if not a.startswith("-")):
            sources.append((i, "your home directory"))
    for index, what in sources:
        if any(names[j] in NET_SENDERS for j in range(index + 1, len(names))):
            st.add(BLOCK, f"sends {what} to another machine", text)
            return
    senders = []
    for i, cmd in enumerate(pipeline):
        words, _ = strip_prefixes([st.substitute(w) for w in cmd.words])
        if i and words and _sends_stdin(normalise(words[0]), words[1:]):
            senders.append(i)
    for cmd in pipeline[: senders[-1]] if senders else []:  # 'cat notes.txt | nc host 9000'
        words, _ = strip_prefixes([st.substitute(w) for w in cmd.words])
        files = cmdbase.split_opts(words[1:])[1] if words else []
        if words and normalise(words[0]) in cmdbase.ARCHIVERS and any(f != "-" for f in files):
            st.add(CONFIRM, "sends a file from this computer to another one", text)
            return
    if senders and not isinstance(produce_script(Script(pipelines=[pipeline[: senders[-1]]]), st), str):
        # 'tar cz . | curl -T - …', 'git diff | ssh host "cat > x"': what goes out is only known when it runs
        st.add(CONFIRM, "sends what another command outputs to another computer", text)


# ---------------------------------------------------------------------------------------- GNU parallel and rush

_PARALLELS = frozenset({"parallel", "rush"})
# Their options that take the next word as a value; those that send jobs to other computers; and the sources
# of arguments other than standard input and ':::' (each names a file whose lines are the arguments).
_PARALLEL_VALUED = frozenset({"-j", "-P", "--jobs", "--max-procs", "-S", "--sshlogin", "--slf", "--sshloginfile",
                              "-a", "--arg-file", "-d", "--delimiter", "-I", "-n", "-N", "--max-args", "-L",
                              "--max-lines", "-s", "--max-chars", "-C", "--colsep", "--joblog", "--results",
                              "--tmpdir", "--timeout", "--retries", "-E", "--halt", "--delay", "--tag-string",
                              "--env", "--workdir", "--wd", "-W", "--basefile", "--bf", "--transferfile", "--tf",
                              "--return", "--block", "--block-size", "--memfree", "--load", "--nice", "--shebang",
                              "--sqlmaster", "--sqlworker", "--rpl", "--cpus", "-D", "-i", "--infile", "-o",
                              "--out-file", "-t", "-r", "--retry-times", "-J", "--records-join-sep", "-v"})  # fmt: skip
_PARALLEL_REMOTE = frozenset({"-S", "--sshlogin", "--slf", "--sshloginfile", "--sqlmaster", "--sqlworker"})
_PARALLEL_FILES = frozenset({"-a", "--arg-file", "-i", "--infile"})
_PARALLEL_SEPARATORS = frozenset({":::", ":::+", "::::", "::::+"})
_PARALLEL_REPLACE = re.compile(r"\{(?:[0-9]*[./#%^]*|[0-9]+(?:\.|/|//|/\.)?)\}")  # {} {.} {/} {//} {/.} {#} {1}


def _parallel_line(name: str, args: list[str]) -> tuple[list[str], list[str], list[str] | None, bool]:
    """Read a parallel or rush line: the command (empty: each argument is a command), its options, the arguments
    given on the line (None when some come from a file, so are only known when it runs) and whether any come
    from the line at all (else they come from standard input)."""
    opts: list[str] = []
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] not in ("-", "--") and args[i] != ":::":
        opts.append(args[i])
        if args[i].split("=", 1)[0] in _PARALLEL_VALUED and "=" not in args[i] and i + 1 < len(args):
            opts.append(args[i + 1])
            i += 1
        i += 1
    if i < len(args) and args[i] == "--":
        i += 1
    rest = args[i:]
    cut = next((k for k, w in enumerate(rest) if w in _PARALLEL_SEPARATORS), len(rest))
    command, sources = rest[:cut], rest[cut:]
    items: list[str] | None = []
    groups: list[list[list[str]]] = []  # each ':::' group's values; one ':::+' adds to the values of the one before
    kind = ""
    for word in sources:
        if word in _PARALLEL_SEPARATORS:
            kind = word
            if kind == ":::" or not groups:
                groups.append([])
            elif kind == ":::+":
                groups.append([[]])  # marks a group linked to the one before, merged below
        elif kind.startswith("::::") or items is None:
            items = None  # ':::: list': the lines of a file
        else:
            items.append(word)
            groups[-1].append([word])
    if items is not None and len(groups) > 1:
        # one job for each combination of the groups' values (the first group's varies slowest), its arguments
        # in the order of the groups, joined by NUL for '_parallel'; ':::+' pairs values with the group before
        merged: list[list[list[str]]] = []
        for group in groups:
            if group[:1] == [[]] and merged:
                merged[-1] = [a + b for a, b in zip(merged[-1], group[1:], strict=False)]
            else:
                merged.append([v for v in group if v])
        combos = itertools.islice(itertools.product(*merged), _XARGS_ITEMS)
        items = ["\0".join(word for values in combo for word in values) for combo in combos]
    if any(o in _PARALLEL_FILES or o.startswith(("--arg-file=", "--infile=")) for o in opts):
        items = None
    return command, opts, items, bool(sources) or items is None


def _parallel(before: list[Cmd], cmd: Cmd, st: State) -> None:
    """``echo 'cat x' | parallel``, ``parallel cat ::: a b``, ``find ~ | rush cat``: parallel and rush run a
    command once per argument (put in at ``{}``, else after it), each through a shell; with no command, each
    argument is itself a command. Arguments come from ``:::``, from files (``::::``, ``-a``) or from standard
    input; those that cannot be known make a reader ask, as ``xargs`` does. ``-S host`` runs them elsewhere."""
    wrapped, _ = strip_prefixes(expand_words(cmd.words, st))
    if not wrapped or normalise(wrapped[0]) not in _PARALLELS:
        return
    name = normalise(wrapped[0])
    command, opts, items, given = _parallel_line(name, wrapped[1:])
    if any(o.split("=", 1)[0] in _PARALLEL_REMOTE for o in opts):
        st.add(CONFIRM, f"{name} runs commands on another computer", cmd.text)
    if "--pipe" in opts or "--pipepart" in opts:
        if command:  # the input is data for one command, not its arguments
            analyze_nested(" ".join(command), st)
        return
    produced: Produced = None
    if items is not None and given:
        produced = "\n".join(items)  # one argument a line, as read from standard input
    elif items is not None and before:
        produced, _ = _produce_stages(before, st)
    elif items is not None:
        produced = next((t for op, t in cmd.redirects if op in ("<<", "<<<")), None)
    if isinstance(produced, _Fetched):
        st.add(BLOCK, "runs code downloaded from the network", cmd.text)
        return
    text = " ".join(command)
    if not isinstance(produced, str):
        if not command:
            st.add(CONFIRM, f"runs commands that {name} reads from another command or a file", cmd.text)
            return
        if not any(_listed_roots(c.words) is not None for c in before if c.words):  # judged by _found_then_read
            words = cmdbase.split_words(_PARALLEL_REPLACE.sub(_XARGS_INPUT, text))
            if _PARALLEL_REPLACE.search(text) is None:
                words.append(_XARGS_INPUT)
            inner, _ = strip_prefixes(words)
            if inner and normalise(inner[0]) in SHELLS | INTERPRETERS:
                st.add(CONFIRM, f"runs commands that {name} reads from another command or a file", cmd.text)
            elif inner:
                _unknown_file_args(normalise(inner[0]), inner[1:], st, cmd.text)
        analyze_nested(_PARALLEL_REPLACE.sub("", text), st)
        return
    for item in [line for line in produced.splitlines() if line.strip()][:_XARGS_ITEMS]:
        values = item.split("\0")  # a job's arguments, one from each ':::' group
        if not command:
            analyze_nested(" ".join(values), st)
        elif _PARALLEL_REPLACE.search(text):
            analyze_nested(_PARALLEL_REPLACE.sub(lambda m, v=values: _placed(m.group(0), v), text), st)  # type: ignore[misc]
        else:
            analyze_nested(f"{text} {' '.join(_quote_word(v) for v in values)}", st)
            if name == "rush":  # rush may run the command as given, its input on standard input
                analyze_nested(text, st)


def _placed(holder: str, values: list[str]) -> str:
    """What parallel puts at a replacement string: ``{2}`` the second group's argument, ``{}`` all of them."""
    number = re.match(r"\{([0-9]+)", holder)
    if number is not None and 0 < int(number.group(1)) <= len(values):
        return _quote_word(values[int(number.group(1)) - 1])
    return " ".join(_quote_word(v) for v in values)


def _quote_word(word: str) -> str:
    """``word`` quoted for a shell, as parallel quotes each argument it puts into the command."""
    return "'" + word.replace("'", "'\\''") + "'"


# ---------------------------------------------------------------------- programs that read their text from a file

_AWKS = frozenset({"awk", "gawk", "mawk", "nawk"})
_STDIN_NAMES = frozenset({"-", "/dev/stdin", "/proc/self/fd/0", "/dev/fd/0"})


def _program_text_read(before: list[Cmd], cmd: Cmd, st: State) -> None:
    """``awk -f /dev/stdin <<< '…'``, ``echo '…' | awk -f -``, ``awk -f <(echo …)``, ``awk -f p.awk`` after this
    line wrote p.awk; ``ed -s FILE <<< 'cmds'``: the program text comes from what the line writes into it, and is
    judged as if it were written on the line (an awk program as an inline one, ed's commands by
    ``scripts.ed_commands``). Text that cannot be known asks."""
    wrapped, _ = strip_prefixes(expand_words(cmd.words, st))
    if not wrapped:
        return
    name = normalise(wrapped[0])
    if name in _AWKS:
        for source in cmdtools.awk_line(wrapped[1:]).program_files:
            program = _text_from(source, before, cmd, st)
            if program is None:
                st.add(CONFIRM, "awk runs a program it reads from a file or another command", cmd.text)
            else:
                judge_words([name, "-e", program], st, cmd.text)
    elif name in scripts.LINE_EDITORS:
        args = wrapped[1:]
        if name != "ed" and not any(a.startswith("-") and "s" in a[1:] and not a.startswith("--") for a in args):
            return  # ex and vi without -s read their commands from the terminal
        script = _text_from("-", before, cmd, st)
        files = [a for a in args if not a.startswith(("-", "+"))]
        if script is None:
            if before or any(op == "<" for op, _ in cmd.redirects):
                st.add(CONFIRM, f"{name} runs editor commands it reads from a file or another command", cmd.text)
            return
        scripts.ed_commands(name, script, files, st, cmd.text)


def _text_from(source: str, before: list[Cmd], cmd: Cmd, st: State) -> str | None:
    """The text a program reads from ``source``: standard input (a here-document, what the stages ``before`` it
    print), a process substitution, or a file this line wrote (else the file on disk); None when not known."""
    if source in _STDIN_NAMES:
        body = next((t for op, t in reversed(cmd.redirects) if op in ("<<", "<<<")), None)
        if body is not None:
            return body
        if before:
            produced, _ = _produce_stages(before, st)
            return produced if isinstance(produced, str) else None
        redirected = next((t for op, t in reversed(cmd.redirects) if op == "<"), None)
        return None if redirected is None else scripts.file_text(st.substitute(redirected), st)
    if source.startswith("<(") and source.endswith(")"):
        inner = parse(source[2:-1]).pipelines if source[2:-1].strip() else []
        produced, _ = _produce_stages(inner[-1], st) if inner else (None, False)
        return produced if isinstance(produced, str) else None
    return scripts.file_text(source, st)
