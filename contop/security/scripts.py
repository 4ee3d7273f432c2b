"""Commands that run other commands from somewhere other than the command line: script files, editors, multiplexers.

``bash cleanup.sh`` is judged by what ``cleanup.sh`` says: the text this same line wrote into it
(``echo 'rm -rf ~' > a.sh; bash a.sh``), or else the file as it is on disk now. A script this line writes with
text we cannot know, or one too long to read, needs the user's OK. ``vim -c ':!cmd'``, ``script -c cmd`` and
``tmux new-session cmd`` run their command through a shell.
"""

from __future__ import annotations

import os
import re

from contop.security.findings import CONFIRM
from contop.security.state import State

MAX_SCRIPT_BYTES = 64 * 1024  # judging 64 KiB of shell takes up to about 0.2 s; longer scripts ask
EDITORS = frozenset({"vi", "vim", "nvim", "ex", "view", "gvim", "rvim", "vimdiff", "gview", "evim"})
_SHEBANG = re.compile(r"#!\s*(\S+)(?:\s+(\S+))?")
_SHELL_NAMES = frozenset({"sh", "bash", "zsh", "dash", "ksh", "ash", "mksh", "busybox"})
_LANGUAGES = {"python": "python", "perl": "perl", "ruby": "ruby", "node": "node", "nodejs": "node", "php": "php"}


def run_file(path: str, st: State, text: str, *, language: str | None = None) -> None:
    """Judge running the script at ``path`` (``language`` given by the program that runs it, else its shebang)."""
    if not path or path.startswith("-") or st.windows:
        return
    if st.in_unknown_folder(path):  # 'cd $(…); bash s.sh': which s.sh is only known when it runs
        st.add(CONFIRM, f"runs a script in a folder only known when it runs ({path})", text)
        return
    full = st.policy.expand(path, st.cwd)
    if full not in st.written and st.links:  # run through a link the line made: what it leads to runs
        landing = st.lands_at(st.unfolded(path))
        if landing is None:
            st.add(CONFIRM, f"runs a script through a link to a place only known when it runs ({path})", text)
            return
        full = landing
    body: str
    if full in st.written:
        written = st.written[full]
        if written is None:
            st.add(CONFIRM, "runs a script this same command writes", text)
            return
        body = written
    else:
        if st.resolve is None:
            return  # judging the text alone (paths that need not exist here): nothing on disk to read
        from contop.security.cmdbase import PERSISTENCE_PATH

        if PERSISTENCE_PATH.search(full):
            return  # 'source ~/.bashrc': what every new shell runs anyway (changing it is what is judged)
        # The file a link leads to is the one read and run ('node_modules/.bin/x' is npm's link to
        # '../x/bin/cli.js'): a link into a protected place reads that place, as 'cat' through it would.
        st.check_paths([full], text)
        read = _read(full)
        if read is None:
            if full not in st.built and not os.path.lexists(full) and _named_again(os.path.basename(full), st.source):
                # not there yet, and named elsewhere on the line: made by it in a way we cannot read first
                st.add(CONFIRM, "runs a script this same command creates", text)
            return  # absent, or a compiled program: nothing more to know than the line says
        if not isinstance(read, str):
            st.add(CONFIRM, f"runs a script too long to judge ({path})", text)
            return
        body = read
    lang = language or _language_of(body)
    if lang is None:
        return
    if lang == "sh":
        from contop.security.posix import analyze_nested

        analyze_nested(body, st)
    else:
        from contop.security import embedded

        embedded.judge_code(lang, body, st, text, from_file=True)


def _named_again(base: str, source: str) -> bool:
    """Whether the file name stands as a name of its own more than once on the line (the ``a`` of ``./build/a``
    is not in ``strace``)."""
    return len(re.findall(rf"(?<![\w.-]){re.escape(base)}(?![\w.-])", source)) > 1


def record_build(name: str, args: list[str], st: State) -> None:
    """A compiler's output file (``gcc -o build/b a.c``, ``go build -o app``): a program it writes, not text this
    line puts there, so running it later is judged as running a compiled program on disk is."""
    name = re.sub(r"-[0-9.]+$", "", name)  # gcc-12
    if name not in _COMPILERS or (name == "go" and args[:1] != ["build"]) or "-E" in args or "-S" in args:
        return  # 'gcc -E -o a.sh': preprocessed or assembler text, which may well be a script
    for i, arg in enumerate(args):
        if arg == "-o" and i + 1 < len(args):
            st.built.add(st.policy.expand(args[i + 1], st.cwd))
        elif arg.startswith("-o") and len(arg) > 2 and name != "go":
            st.built.add(st.policy.expand(arg[2:], st.cwd))


_COMPILERS = frozenset({"gcc", "cc", "c++", "g++", "clang", "clang++", "tcc", "icc", "icx", "gfortran", "nvcc", "ld",
                        "ld.lld", "ld.gold", "rustc", "go", "zig", "swiftc", "ghc", "ocamlopt", "gnat"})  # fmt: skip


def _read(path: str) -> str | bool | None:
    """The text of a small regular file; False when it is too long to judge; None when absent or binary."""
    try:
        if not os.path.isfile(path):
            return None
        with open(path, "rb") as f:
            data = f.read(4096)
            if b"\0" in data or data.startswith(b"\x7fELF"):
                return None  # a compiled program
            if os.fstat(f.fileno()).st_size > MAX_SCRIPT_BYTES:
                return False
            data += f.read(MAX_SCRIPT_BYTES)
    except OSError:
        return None
    return data.decode("utf-8", errors="replace")


def _language_of(body: str) -> str | None:
    match = _SHEBANG.match(body)
    if match is None:
        return "sh"  # a text file run directly without a shebang is run by the shell
    program = match.group(1).rsplit("/", 1)[-1]
    if program == "env" and match.group(2):
        program = match.group(2)
    program = re.sub(r"[0-9.]+$", "", program)
    if program in _SHELL_NAMES:
        return "sh"
    return _LANGUAGES.get(program)


def option_value(args: list[str], short: str, *long: str) -> str | None:
    """The value of ``-c X``, ``-qc X`` (short flags run together) or ``--command X`` / ``--command=X``."""
    for i, arg in enumerate(args):
        nxt = args[i + 1] if i + 1 < len(args) else None
        if arg in long:
            return nxt
        for name in long:
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
        if re.fullmatch(r"-[A-Za-z]+", arg) and arg.endswith(short):
            return nxt
    return None


def editor_commands(args: list[str], st: State, text: str) -> None:
    """``vim -c ':!rm -rf ~'``, ``+'!cmd'``, ``--cmd``: an editor command starting with ``!`` is a shell command."""
    from contop.security.posix import analyze_nested

    commands: list[str] = []
    for i, arg in enumerate(args):
        if arg in ("-c", "--cmd") and i + 1 < len(args):
            commands.append(args[i + 1])
        elif arg.startswith("+") and len(arg) > 1:
            commands.append(arg[1:])
    for command in commands:
        line = command.strip().lstrip(":").strip()
        if line.startswith("!"):
            analyze_nested(line[1:], st)
            st.add(CONFIRM, "runs a shell command from the editor", text)
        elif "!" in line or "system(" in line or line.startswith(("terminal", "ter ")):
            st.add(CONFIRM, "runs a shell command from the editor", text)


_TMUX_RUNS = frozenset({"new-session", "new", "new-window", "neww", "split-window", "splitw", "respawn-pane",
                        "respawnp", "respawn-window", "respawnw", "run-shell", "run", "send-keys", "send"})  # fmt: skip
_TMUX_VALUED = frozenset({"-c", "-e", "-F", "-n", "-s", "-t", "-x", "-y", "-l", "-f", "-L", "-S", "-T"})


def multiplexer(name: str, args: list[str], st: State, text: str) -> None:
    """``tmux new-session -d 'cmd'``, ``tmux send-keys 'cmd' Enter``, ``screen -dm cmd``: the command they start."""
    from contop.security.posix import analyze_nested

    if name == "screen":
        rest = list(args)
        while rest and rest[0].startswith("-"):
            flag = rest[0]
            valued = flag in ("-Logfile", "-X") or (len(flag) > 1 and flag[-1] in "ScpTes" and flag[1:].isalpha())
            rest = rest[2:] if valued else rest[1:]
        if rest:
            analyze_nested(" ".join(rest), st)
        return
    if not args or args[0] not in _TMUX_RUNS:
        return
    rest = args[1:]
    words: list[str] = []
    i = 0
    while i < len(rest):
        if rest[i].startswith("-") and len(rest[i]) > 1 and not words:
            i += 2 if rest[i] in _TMUX_VALUED else 1
            continue
        words.append(rest[i])
        i += 1
    if args[0] in ("send-keys", "send"):
        words = [w for w in words if w not in ("Enter", "C-m", "KPEnter")]
        if words:
            st.add(CONFIRM, "types a command into a terminal session", text)
    if words:
        analyze_nested(" ".join(words), st)


LINE_EDITORS = frozenset({"ed", "red", "ex", "vi", "vim", "nvim"})  # with a script on standard input (ex: -s)


def file_text(path: str, st: State) -> str | None:
    """The text a program would read from ``path``: what this line wrote into it, else the file on disk ("" when
    there is none); None when it cannot be known (written with text not known, or too long to judge)."""
    full = st.policy.expand(path, st.cwd)
    if full in st.written:
        return st.written[full]
    if st.in_unknown_folder(path):
        return None
    if st.links and not st.windows:  # read through a link the line made: what it leads to is read
        landing = st.lands_at(st.unfolded(path))
        if landing is None:
            return None
        if landing in st.written:
            return st.written[landing]
        full = landing
    read = _read(full) if st.resolve is not None else None
    return None if read is False else read if isinstance(read, str) else ""


# An ed or ex command line: its address (line numbers, marks, patterns, ranges), then the command and its operand.
_ED_ADDRESS = re.compile(r"(?:[\s\d.,;$%+\-]|'[a-z]|/(?:[^/\\\n]|\\.)*/?|\?(?:[^?\\\n]|\\.)*\??)*")
_ED_COMMAND = re.compile(r"([A-Za-z]*)\s*(.*)", re.DOTALL)
_ED_READS = frozenset({"r", "e", "E", "edit", "read", "so", "source"})
_ED_WRITES = frozenset({"w", "W", "wq", "x", "xit", "write", "up", "update", "sav", "saveas", "wa", "wall", "wn"})


def ed_commands(name: str, script: str, files: list[str], st: State, text: str) -> None:
    """``ed -s FILE <<< 'cmds'``, ``printf … | ex -s FILE``: the commands an editor reads on standard input. ``!``
    runs a shell command; ``r`` and ``e`` read another file, ``w`` with a name writes one (all ask); ``w`` alone
    writes the edited files back, judged as ``sed -i`` on them is (a login file asks)."""
    from contop.security.cmdbase import Invocation, edits_in_place, writes_file
    from contop.security.posix import analyze_nested

    inv = Invocation(name, files, text)
    lines = script.splitlines()
    if name != "ed":  # ex separates commands with '|' as well
        lines = [part for line in lines for part in (line.split("|") if "!" not in line else [line])]
    for line in lines[:256]:
        if "!" in line:  # '!cmd', 'w !cmd', 'r !cmd', 'g/x/!cmd': a shell runs the rest
            analyze_nested(line.split("!", 1)[1], st)
            st.add(CONFIRM, "runs a shell command from the editor", text)
            continue
        rest = line.lstrip().lstrip(":")
        rest = rest[_ED_ADDRESS.match(rest).end() :]  # type: ignore[union-attr]  # it matches the empty string
        match = _ED_COMMAND.match(rest)
        command, operand = (match.group(1), match.group(2).strip()) if match else ("", "")
        if command[:1] in ("g", "v", "G", "V") and command not in _ED_WRITES:
            continue  # a global command's own commands follow its pattern; '!' in them was judged above
        if command in _ED_READS and operand:
            st.check_paths([operand], text)
            st.add(CONFIRM, "the editor reads another file", text)
        elif command.rstrip("q") in _ED_WRITES or command in _ED_WRITES:
            if operand:
                st.check_paths([operand], text)
                writes_file(operand, command == "W", inv, st)
                st.add(CONFIRM, "the editor writes another file", text)
            else:
                for each in files:
                    edits_in_place(each, inv, st)
