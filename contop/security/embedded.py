"""Interpreter one-liners (python -c, perl -e, node -e, ruby -e, php -r, awk, osascript -e).

The code is not executed or fully parsed: we look for the calls that run shell commands (or open pipes to them)
or delete, kill, download-and-run, open sockets or decode payloads, pull out their string arguments and classify
those as commands in turn. String literals are judged as paths, alone and joined (``'/etc/' + 'shadow'``); a
program that opens files at a path built from the home folder or from pieces not all known is asked about.
"""

from __future__ import annotations

import itertools
import ntpath
import os
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass

from contop.security import payload
from contop.security.cmdbase import Invocation
from contop.security.findings import BLOCK, CONFIRM
from contop.security.keywords import Keywords
from contop.security.paths import Place
from contop.security.state import State

_CODE_FLAGS = {
    "python": ("-c",),
    "perl": ("-e", "-E"),
    "ruby": ("-e",),
    "node": ("-e", "--eval", "-p", "--print"),
    "nodejs": ("-e", "--eval", "-p", "--print"),
    "php": ("-r",),
    "deno": ("eval",),
    "bun": ("-e", "--eval"),
    "lua": ("-e",),
    "osascript": ("-e",),
    "rscript": ("-e",),
    "r": ("-e",),
    "julia": ("-e", "-E", "--eval", "--print"),
    "expect": ("-c",),
}
# Each interpreter's options that take the next word as their value (`python3 -W ignore -c …`): that word is
# neither the program text nor a script file.
_VALUED = {
    "python": frozenset({"-W", "-X", "--check-hash-based-pycs"}),
    "perl": frozenset({"-I", "-M", "-m"}),  # -l, -0, -i and -x take theirs attached, if any
    "ruby": frozenset({"-I", "-r", "-C", "-E", "--encoding", "--external-encoding", "--internal-encoding"}),
    "node": frozenset(
        {
            "-r",
            "--require",
            "--import",
            "--loader",
            "--experimental-loader",
            "-C",
            "--conditions",
            "--input-type",
            "--title",
            "--env-file",
            "--inspect-port",
            "--stack-size",
            "--max-old-space-size",
        }
    ),
    "php": frozenset({"-d", "-c", "-z", "-t", "-S"}),
    "lua": frozenset({"-l"}),
    "osascript": frozenset({"-l", "-s"}),
    "julia": frozenset(
        {
            "-C",
            "--cpu-target",
            "-J",
            "--sysimage",
            "-t",
            "--threads",
            "-p",
            "--procs",
            "-L",
            "--load",
            "-O",
            "--machine-file",
        }
    ),
    "r": frozenset({"-f", "--file", "-d", "--debugger"}),
}
_VALUED["nodejs"] = _VALUED["bun"] = _VALUED["node"]
_STRING = re.compile(r"\"\"\"(.*?)\"\"\"|'''(.*?)'''|\"((?:\\.|[^\"\\])*)\"|'((?:\\.|[^'\\])*)'|`([^`]*)`", re.S)
_RUNS_SHELL = Keywords(
    r"\b(os\.system|os\.popen|os\.exec\w*|os\.spawn\w*|subprocess\.\w+|commands\.getoutput|pty\.spawn|"
    r"check_output|check_call|getstatusoutput|getoutput|Popen|"
    r"child_process\.\w+|execSync|spawnSync|execFileSync|exec|execFile|spawn|shell_exec|passthru|system|popen|"
    r"proc_open|IO\.popen|Open3\.\w+|Kernel\.system|Runtime\.getRuntime\(\)\.exec|do\s+shell\s+script|qx)\s*[\(\s{]",
)
_DELETES = Keywords(
    r"\b(shutil\.rmtree|rmtree|remove_tree|rm_rf|rm_r|os\.remove|os\.unlink|os\.rmdir|os\.removedirs|"
    r"\.unlink|\.rmdir|unlinkSync|rmSync|rmdirSync|fs\.rm|fs\.unlink|fs\.rmdir|FileUtils\.rm\w*|File\.delete|"
    r"Dir\.delete|unlink|rmdir|File\.unlink|Files\.delete)(\s*\(|\s+(?=[\w\"'$]))",
)
_MOVES = re.compile(r"\b(shutil\.move|os\.rename|os\.replace|renameSync|fs\.rename|File\.rename|rename)\s*\(")
_KILLS = re.compile(r"\b(os\.kill|os\.killpg|process\.kill|Process\.kill|posix_kill|psutil\.\w+\(.*\)\.kill)\s*\(")
_SOCKET = Keywords(r"socket|TCPSocket|net\.connect|net\.Socket|fsockopen|IO::Socket|Socket::|createConnection")
_SPAWN = Keywords(r"subprocess|pty\.spawn|os\.dup2|/bin/(ba)?sh|cmd\.exe|child_process|exec|spawn|popen|system")
_FETCH = Keywords(
    r"urlopen|urllib|requests\.(get|post)|http\.client|httpx|fetch\(|https?\.get|Net::HTTP|open-uri|URI\.open|"
    r"LWP|HTTP::Tiny|file_get_contents\(\s*['\"]https?|curl_exec|wget|curl|"
    r"\burl\s*\(|\bdownload\s*\(|http::geturl|::http::geturl"  # R's url(), Julia's download(), Tcl's http package
)
# Calls that fetch code from an address and run it in one step: R's source("https://…") and the install_github
# family, Julia's include(download(…)) and Pkg.add(url=…), an import from an address (Deno, a module).
_RUNS_REMOTE = re.compile(
    r"\bsource\s*\(\s*(?:file\s*=\s*)?['\"](?:https?|ftp)://|\b(?:source_url|source_gist|source_python)\s*\(\s*['\"]?"
    r"(?:https?|ftp)?|\binstall_(?:github|gitlab|bitbucket|url|git|svn)\s*\(|\binclude\s*\(\s*download\s*\(|"
    r"Pkg\.add\s*\(\s*(?:url\s*=|PackageSpec\s*\(\s*url\s*=)|\bimport\s*\(\s*['\"`](?:https?)://|"
    r"\bfrom\s+['\"](?:https?)://"
)
_EVAL = re.compile(r"\b(exec|eval|compile|Function|instance_eval|runInThisContext|vm\.run\w*)\s*\(|\beval\b")
_B64_CALL = re.compile(
    r"(b64decode|base64_decode|decode_base64|decode64|unpack\(\s*['\"]m|Buffer\.from|atob|decodestring|MIME::Base64)",
    re.I,
)
_HOME_REF = re.compile(
    r"expanduser\(\s*['\"]~['\"]\s*\)|Path\.home\(\)|os\.environ\[\s*['\"]HOME['\"]\s*\]|os\.getenv\(\s*['\"]HOME"
    r"|process\.env\.HOME|os\.homedir\(\)|ENV\[\s*['\"]HOME['\"]\s*\]|Dir\.home|\$ENV\{HOME\}|getenv\(\s*['\"]HOME"
)
_ENV_READ = re.compile(r"os\.environ(?!\[)|process\.env(?![.\[])|\bENV\.to_h|%ENV|getenv\(\)|printenv|\benv\b")
_FORK = re.compile(r"while\s*(True|1|\(1\)|\(true\))\s*:?\s*[{(]?\s*(os\.)?fork\(|fork\s+while\s+fork|fork\(\)\s*while")
# Text a program spells out of character codes, hex, base64 or backwards ('chr(47)+…', "'…'[::-1]",
# bytes.fromhex, atob, String.fromCharCode, bytes([47, …]), sprintf("%c", 47), strrev, "…".reverse, Lua's
# string.char, Julia's UInt8[…], Tcl's [format %c] and [binary format]): the names it opens or runs are hidden
# from the checks on literals.
_DECODES_TEXT = re.compile(
    r"\bchr\b|['\"]\s*\)?\s*\[\s*:\s*:\s*-1\s*\]|fromhex|unhexlify|b64decode|base64_decode|"
    r"decode_base64|decode64|\batob\s*\(|fromCharCode|Buffer\.from\s*\([^)]*['\"](?:hex|base64)|\breversed\s*\(|"
    r"\.reverse\(\)|\breverse\s*\(?\s*['\"]|['\"]\s*\)?\s*[.:]\s*reverse\b|\bstring\s+reverse\b|\bstrrev\b|"
    r"\bpack\s*\(|codecs\.decode|\bintToUtf8\b|\brawToChar\b|\bChar\s*\(\s*\d|\bChar\.\(|\bUInt8\s*\[|"
    r"\bbytes\s*\(\s*\[|\bbytearray\s*\(|%c|\\N\{|\bhex2bin\b|\bstring\.char\b|\bbinary\s+(?:format|decode)\b|"
    r"\bstrsplit\b|\bfrom_base64\b|\bunhex\b"
)
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|[0-7]{1,3})")


def _unescaped(literal: str) -> str:
    """A literal with its \\xHH, \\uHHHH and octal escapes read."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1)[1:], 16) if m.group(1)[0] in "xu" else int(m.group(1), 8)), literal)


_TCL = frozenset({"tclsh", "wish", "expect", "jimsh"})
_TCL_WORD = re.compile(r"[^\s\[\]{};\"]+")
_APPLESCRIPT_POWER = re.compile(r"\b(shut\s*down|restart|log\s*out|sleep)\b", re.I)


# Letters run together after one dash (`python3 -Ic CODE`, `perl -lne CODE`, `ruby -rjson -e CODE`): each
# interpreter's code letters, letters taking a value (the rest of the word, else the next word) and letters taking
# what is left of the word, if anything (`perl -i.bak`, `-l0`). Any other letter is a flag on its own.
_CLUSTERS: dict[str, tuple[str, str, str]] = {
    "python": ("c", "WXm", ""),
    "perl": ("eE", "IMm", "iCdDxFV"),  # -l and -0 take digits only, read as flags
    "ruby": ("e", "IrCE", "xKTWFi"),
    "julia": ("eE", "HLJCtpm", "Og"),  # julia -ie CODE: -i is a flag, -e takes the program
}
_EXTRA_CODE_WORDS = {"node": ("-pe",), "nodejs": ("-pe",), "bun": ("-pe",)}  # node's own alias for -p -e


_STANDARD_INPUT = frozenset({"-", "/dev/stdin", "/proc/self/fd/0", "/dev/fd/0"})  # tclsh /dev/stdin <<< '…'


def program_parts(name: str, args: list[str]) -> tuple[list[str], str | None]:
    """The program texts an interpreter is given on its command line (every ``-e`` of perl and ruby runs) and, when
    there are none, the script file it runs (None: it reads its program from standard input; empty: a module).
    The values of options that take one (``python3 -W ignore x.py``, ``node -r ./hook x.js``) are neither."""
    flags = (*_CODE_FLAGS.get(name, ()), *_EXTRA_CODE_WORDS.get(name, ()))
    valued = _VALUED.get(name, frozenset())
    codes: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        following = args[i + 1] if i + 1 < len(args) else ""
        if arg == "--" or not arg.startswith("-") or arg == "-":
            if codes or arg in _STANDARD_INPUT:
                return codes, None
            return codes, args[i + 1] if arg == "--" and i + 1 < len(args) else (None if arg == "--" else arg)
        if arg in flags:
            codes.append(following)
            i += 2
            continue
        long_name, eq, value = arg.partition("=")
        if eq and arg.startswith("--"):
            if long_name in flags:
                codes.append(value)
            i += 1
            continue
        cluster = _CLUSTERS.get(name)
        if cluster is not None and not arg.startswith("--"):
            taken = _cluster(arg[1:], following, cluster, codes)
            if taken is None:
                return codes, ""  # python -m: a module runs, not a file named here (nor standard input)
            i += 1 + taken
            continue
        # A value that is itself a code flag (`perl -I -e …`) is read as the flag: never skipped unjudged.
        i += 2 if arg in valued and following not in flags else 1
    return codes, None


def _cluster(letters: str, following: str, cluster: tuple[str, str, str], codes: list[str]) -> int | None:
    """Read one word of letters run together; returns how many following words it took (None for ``-m``)."""
    code_letters, value_letters, rest_letters = cluster
    for j, letter in enumerate(letters):
        rest = letters[j + 1 :]
        if letter in code_letters:
            codes.append(rest or following)
            return 0 if rest else 1
        if letter in value_letters:
            if letter == "m" and code_letters == "c":
                return None
            return 0 if rest else 1
        if letter in rest_letters:
            return 0
    return 0


def code_argument(inv: Invocation) -> str | None:
    """The program text given on the command line, or None when the interpreter runs a script file."""
    args = inv.args
    if inv.name in ("awk", "gawk", "mawk", "nawk"):  # read as gawk does: '-i inplace PROG', '--source=PROG'
        from contop.security.cmdtools import awk_line

        programs = awk_line(args).programs
        return "\n".join(programs) if programs else None
    codes, _ = program_parts(inv.name, args)
    return "\n".join(codes) if codes else None


# Interpreters whose script files are read and judged as their one-liners are (``tclsh x.tcl`` after
# ``echo '…' > x.tcl`` on the same line).
_SCRIPT_LANGUAGES = frozenset(
    {"python", "perl", "ruby", "node", "nodejs", "php", "tclsh", "wish", "jimsh", "expect", "rscript", "julia", "lua"}
)


def judge_interpreter(inv: Invocation, st: State) -> None:
    if inv.name == "php" and "-S" in inv.args:  # php's built-in web server: serves -t DIR, or this folder
        at = inv.args.index("-S")
        bind = inv.args[at + 1] if at + 1 < len(inv.args) else ""
        folder = next((inv.args[i + 1] for i, a in enumerate(inv.args[:-1]) if a == "-t"), st.cwd)
        shares_folder(folder, bind.rsplit(":", 1)[0].strip("[]"), st, inv.text)
        return
    if inv.name == "ruby" and "-run" in inv.args and "httpd" in inv.args:  # ruby -run -e httpd DIR
        rest = inv.args[inv.args.index("httpd") + 1 :]
        shares_folder(next((a for a in rest if not a.startswith("-")), st.cwd), "", st, inv.text)
        return
    if inv.name == "python" and "-m" in inv.args:
        index = inv.args.index("-m")
        module = inv.args[index + 1 : index + 2]
        rest = inv.args[index + 2 :]
        if module and module[0] in ("pip", "shutil", "http.server"):
            from contop.security.posix import judge_words

            if module[0] == "pip":
                judge_words(["pip", *rest], st, inv.text)
            elif module[0] == "http.server":
                _file_server(rest, st, inv.text)
        elif module and module[0] in ("zipfile", "tarfile") and rest[:1] in (["-c"], ["--create"]):
            from contop.security.cmdtools import reads_tree

            reads_tree(rest[2:], inv, st, hidden=True)  # 'python3 -m zipfile -c x.zip ~': the sources' whole trees
        elif module and module[0] == "pyftpdlib":  # an FTP server of the folder given, or the current one
            folder = next((rest[i + 1] for i, a in enumerate(rest[:-1]) if a in ("-d", "--directory")), st.cwd)
            bind = next((rest[i + 1] for i, a in enumerate(rest[:-1]) if a in ("-i", "--interface")), "")
            shares_folder(folder, bind, st, inv.text)
        return
    code = code_argument(inv)
    if code is None:
        _, script = program_parts(inv.name, inv.args)
        if script and inv.name in _SCRIPT_LANGUAGES:
            from contop.security import scripts

            scripts.run_file(script, st, inv.text, language="node" if inv.name == "nodejs" else inv.name)
        return
    if inv.name in ("perl", "ruby") and any(re.fullmatch(r"-[a-zA-Z]*i[a-zA-Z.]*", a) for a in inv.args):
        last = code.rsplit("\n", 1)[-1]  # the files follow the last program text, a word or the end of one
        at = max(
            (i for i, a in enumerate(inv.args) if a == last or (a.startswith("-") and a.endswith(last))), default=-1
        )
        files = [a for a in inv.args[at + 1 :] if not a.startswith("-")]
        from contop.security.cmdbase import edits_in_place

        for f in files:
            edits_in_place(f, inv, st)  # perl -pi -e … ~/.bashrc or /etc/hosts, judged as sed -i is
        if len(files) > 1 or any("*" in f for f in files) or inv.via_xargs:
            st.add(CONFIRM, "edits many files in place", inv.text)
    judge_code(inv.name, code, st, inv.text)


def _file_server(args: list[str], st: State, text: str) -> None:
    """``python -m http.server`` shares a folder with the network: asked about when that folder holds a protected
    one (run from the home folder, ``~/.ssh`` would be served), not for a project's folder."""
    folder = next((args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-d", "--directory")), None)
    folder = folder or next((a.split("=", 1)[1] for a in args if a.startswith("--directory=")), st.cwd)
    bind = next((args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-b", "--bind")), "")
    shares_folder(folder, bind, st, text)


def shares_folder(folder: str, bind: str, st: State, text: str) -> None:
    """A web server sharing ``folder`` on ``bind`` (empty: every address): asked about when that folder holds a
    protected one, unless only this computer can reach it."""
    inside = st.restricted_inside(folder)
    if inside is not None and bind not in ("127.0.0.1", "localhost", "::1"):
        st.add(CONFIRM, f"shares {folder} with the network, the protected {inside} included", text)


def judge_code(language: str, code: str, st: State, text: str, *, from_file: bool = False) -> None:
    """Classify a program text in a scripting language. ``from_file``: a script read from disk, where paths joined
    from pieces known only when it runs are everyday (``os.path.join(root, name)`` over a walk): only those built
    from the home folder ask. A one-liner doing the same asks."""
    st.check_depth()
    st.depth += 1
    try:
        _judge_code(language, code, st, text, from_file)
        for folder in _changed_folders(code, from_file):
            if folder is None and (_TOUCHES_FILES.search(code) or _RUNS_SHELL.search(code)):
                st.add(CONFIRM, "opens files after moving to a folder only known when it runs", text)
            saved = st.save()  # 'os.chdir("..")', 'cwd="/etc"': its relative names are judged there too
            st.enter(None if folder is None else st.policy.expand(folder, st.cwd))
            try:
                _judge_code(language, code, st, text, from_file)
            finally:
                st.restore(saved)
    finally:
        st.depth -= 1


# chdir("…") in each language, a subprocess's cwd="…" / {cwd: "…"}; then the folder, when a plain literal gives it.
_CHDIR = re.compile(r"(?<![\w.])(?:(?:os|process|Dir|FileUtils)\.)?(?:chdir|cd)\b\s*\(?\s*|\bcwd\s*[=:]\s*(?!=)")
_LITERAL_FOLDER = re.compile(r"""(['"])([^'"\\$\n{}]*)\1""")
MAX_FOLDER_CHANGES = 4


def _changed_folders(code: str, from_file: bool) -> list[str | None]:
    """The folders a program moves to (None: one only known when it runs). A script read from disk is only
    followed into folders it names: its other moves (``os.chdir(os.path.dirname(__file__))``) are everyday."""
    folders: list[str | None] = []
    for match in _CHDIR.finditer(code):
        if match.group(0).lstrip(".").startswith("cd") and not match.group(0).startswith(("Dir", "File")):
            continue  # 'cd' is only a call in Ruby's FileUtils.cd
        literal = _LITERAL_FOLDER.match(code, match.end())
        if literal is not None and literal.group(2):
            folders.append(literal.group(2))
        elif not from_file:
            folders.append(None)
        if len(folders) >= MAX_FOLDER_CHANGES:
            break
    return list(dict.fromkeys(folders))


def _judge_code(language: str, code: str, st: State, text: str, from_file: bool = False) -> None:
    if _FORK.search(code):
        st.add(BLOCK, "starts a fork bomb that freezes the computer", text)
    if _SOCKET.search(code) and _SPAWN.search(code):
        st.add(BLOCK, "connects a shell to the network (reverse shell)", text)
    if (_FETCH.search(code) and (_EVAL.search(code) or _RUNS_SHELL.search(code))) or _RUNS_REMOTE.search(code):
        st.add(BLOCK, "runs code downloaded from the network", text)
    if (
        _ENV_READ.search(code)
        and (_FETCH.search(code) or _SOCKET.search(code))
        and re.search(r"post|send|data=|write|urlopen|request", code, re.I)
    ):
        st.add(BLOCK, "sends your environment variables to another machine", text)
    strings = [next(g for g in m.groups() if g is not None) for m in _STRING.finditer(code)]
    if "\\" in code:  # '\x2fetc\x2fshadow' is '/etc/shadow' once the language reads its escapes
        strings += [_unescaped(s) for s in strings if "\\" in s]
    if _B64_CALL.search(code):
        for literal in strings:
            decoded = payload.b64decode(literal) if len(literal) >= 8 else None
            if decoded:
                st.check_paths([decoded.strip()], text)  # open(b64decode('L2V0Yy9zaGFkb3c=')): a path
                judge_code(language, decoded, st, text)
                from contop.security.posix import analyze_nested

                analyze_nested(decoded, st)
        if _EVAL.search(code) or _RUNS_SHELL.search(code):
            st.add(CONFIRM, "runs an encoded payload", text)
    st.check_paths([s for s in strings if len(s) < 300], text)
    from contop.security.codefiles import judge_file_effects

    judge_file_effects(language, code, st, text, from_file=from_file)  # before _mark_written: not the line's own
    if _WRITES_FILES.search(code):
        _mark_written(strings, st)
    if language in _TCL:  # Tcl's words need no quotes: 'open ~/.ssh/id_rsa', '[exec cat /etc/shadow]'
        st.check_paths([w for w in _TCL_WORD.findall(code) if w.startswith(("/", "~", "$env(HOME)"))], text)
        _tcl_joins(code, st, text, from_file)
    _built_paths(language, code, st, text, from_file)
    if not from_file and _DECODES_TEXT.search(code) and (_TOUCHES_FILES.search(code) or _RUNS_SHELL.search(code)):
        st.add(CONFIRM, "opens a file or runs a command with text it decodes or assembles when it runs", text)
    for call in _RUNS_SHELL.finditer(code):
        _embedded_command(code, call.end() - 1, st, text)
    for bracket in _subprocess_calls(code):  # 'import subprocess as s; s.run(…)'
        _embedded_command(code, bracket, st, text)
    _pipe_opens(language, code, st, text)
    if language in ("perl", "ruby", "php", "julia") and "`" in code:  # julia: run(`cmd`)
        for match in re.finditer(r"`([^`]*)`", code):
            _run_shell_text(match.group(1), st)
    if language == "osascript" and _APPLESCRIPT_POWER.search(code) and "system events" in code.lower():
        st.add(CONFIRM, "shuts down, restarts or logs off the computer", text)
    for call in _DELETES.finditer(code):
        _deletion(code, call.end() - 1 if code[call.end() - 1] == "(" else call.end(), st, text)
    if _MOVES.search(code):
        st.add(CONFIRM, "moves or renames files", text)
    if _KILLS.search(code):
        st.add(CONFIRM, "stops running programs", text)


# Calls that write a file, whose name is then one of the program's string literals.
_WRITES_FILES = re.compile(
    r"\bopen\s*\([^)]*,\s*(?:mode\s*=\s*)?['\"][rbtU]*[wax+]|write_text|write_bytes|writeFile|appendFile|"
    r"createWriteStream|File\.(?:write|binwrite|open\([^)]*['\"][wa])|file_put_contents|writeLines|"
    r"\bfopen\s*\([^)]*['\"][wa]|\bopen\s*\(?\s*\w+\s*,\s*['\"](?:\+?>|>>)|shutil\.copy|copyFile"
)


def _mark_written(strings: list[str], st: State) -> None:
    """The files a one-liner may write (``open('run.sh', 'a').write(…)``): running one later on the line runs
    text that is not known, so it asks. Each literal naming a path or an existing file counts: stricter than the
    program, never looser."""
    for literal in strings:
        if not literal or len(literal) >= 300 or any(c.isspace() for c in literal) or "\x00" in literal:
            continue
        full = st.policy.expand(literal, st.cwd)
        if _path_like(literal, st.windows) or (st.resolve is not None and os.path.isfile(full)):
            st.written.setdefault(full, None)


_SUBPROCESS_NAMES = re.compile(
    r"\bimport\s+subprocess\s+as\s+(\w+)|\bfrom\s+subprocess\s+import\s+([\w\s,]+?)\s*(?:[;\n]|$)"
)


def _subprocess_calls(code: str) -> list[int]:
    """Where the code calls subprocess's functions under another name (``import subprocess as s; s.run(…)``,
    ``from subprocess import run; run(…)``): the positions of their opening brackets."""
    if "subprocess" not in code:
        return []
    names: list[str] = []
    for match in _SUBPROCESS_NAMES.finditer(code):
        if match.group(1):
            names.append(re.escape(match.group(1)) + r"\.\w+")
        else:
            names.extend(re.escape(n.split(" as ")[-1].strip()) for n in match.group(2).split(",") if n.strip())
    if not names:
        return []
    calls = re.finditer(r"(?<![\w.])(?:" + "|".join(names) + r")\s*\(", code)
    return [call.end() - 1 for call in calls]


# Opening a pipe to a command: Perl's open(F, "cmd |"), open(F, "-|", "cmd"), Ruby's open("|cmd"), Tcl's
# [open "|cmd"], R's pipe("cmd").
_OPEN_CALL = re.compile(r"(?<![\w.$])open\s*(?=[(\s])")
_R_PIPE = re.compile(r"(?<![\w.])pipe\s*\(")
_TCL_PIPE = re.compile(r"\bopen\s+(\"?)\|([^\"\]\n;]*)")


def _pipe_opens(language: str, code: str, st: State, text: str) -> None:
    """Judge the commands a program opens a pipe to."""
    if language in ("rscript", "r"):
        for call in _R_PIPE.finditer(code):
            _embedded_command(code, call.end() - 1, st, text)
    elif language in _TCL:
        for match in _TCL_PIPE.finditer(code):
            _run_shell_text(match.group(2), st)
    elif language in ("perl", "ruby") and "|" in code:
        for call in _OPEN_CALL.finditer(code):
            literals = _literals(_call_text(code, call.end()))
            for i, literal in enumerate(literals):
                if literal in ("-|", "|-") and language == "perl":  # open(my $f, "-|", "cmd", "arg"…)
                    rest = literals[i + 1 :]
                    _run_shell_text(rest[0] if len(rest) == 1 else " ".join(_quote(w) for w in rest), st)
                    break
                command = literal.strip()
                if command.startswith("|") or (language == "perl" and command.endswith("|")):
                    _run_shell_text(command.strip("|"), st)


def _call_text(code: str, start: int) -> str:
    """The argument text of a call starting at ``start`` (an opening bracket, or a space for ``system "…"``)."""
    opener = code[start] if start < len(code) else ""
    if opener not in ("(", "{"):
        end = re.search(r"[;\n]", code[start:])
        return code[start : start + end.start()] if end else code[start:]
    closer = ")" if opener == "(" else "}"
    level = 0
    for i, c in _unquoted(code, start):
        if c == opener:
            level += 1
        elif c == closer:
            level -= 1
            if level == 0:
                return code[start + 1 : i]
    return code[start + 1 :]


def _unquoted(code: str, start: int = 0) -> Iterator[tuple[int, str]]:
    """Each character of ``code`` from ``start`` that lies outside a string literal, with its position."""
    quote, i = "", start
    while i < len(code):
        c = code[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"`":
            quote = c
        else:
            yield i, c
        i += 1


def _embedded_command(code: str, start: int, st: State, text: str) -> None:
    """Judge the command a call runs: its first argument as shell text (``os.popen('cmd', 'r')``,
    ``execSync('cmd', {stdio: 'inherit'})``), and with the arguments after it as a program and its arguments
    (``system("cat", "x")``, ``execFile('cat', ['x'])``). Options (``shell=True``, ``{cwd: '/'}``, ``exception:
    true``) and callbacks are not part of the command."""
    args = _call_text(code, start)
    if _STRING.search(args) is None:
        if args.strip():
            st.add(CONFIRM, "runs a shell command built at run time", text)
        return
    positional = _positional(_split_arguments(args))
    if not positional:
        return
    first = positional[0]
    if first.startswith("["):  # subprocess.run(['cat', f]): a program and its arguments
        _run_shell_text(" ".join(_quote(s) for s in _literals(first)), st)
        return
    command, unknown = _joined_literals(first)
    if unknown:  # 'cat ' + name, or a variable: the gate cannot tell what runs
        st.add(CONFIRM, "runs a shell command built at run time", text)
    if command is None:
        return
    _run_shell_text(_escapes_read(command), st)
    words = [command]
    for arg in positional[1:]:  # perl's system("cat", "x"), execFile('cat', ['x'])
        literal = _STRING.fullmatch(arg)
        if literal is not None:
            words.append(next(g for g in literal.groups() if g is not None))
        elif arg.startswith("["):
            words.extend(_literals(arg))
        else:
            break
    if len(words) > 1:
        _run_shell_text(_escapes_read(" ".join(_quote(w) for w in words)), st)


def _escapes_read(command: str) -> str:
    return command.encode().decode("unicode_escape", errors="ignore") if "\\x" in command else command


def _literals(text: str) -> list[str]:
    return [next(g for g in m.groups() if g is not None) for m in _STRING.finditer(text)]


# An argument that is an option of the call rather than its command: name=value (Python, R), name: value (Ruby),
# an options object, a callback.
_OPTION_ARGUMENT = re.compile(
    r"[A-Za-z_]\w*\s*(?:=(?![=>])|:(?!:)\s)|\{|function\b|lambda\b|proc\b|->|(?:\([\w\s,]*\)|\w+)\s*=>"
)
_COMMAND_KEYWORD = re.compile(r"(?:args|cmd|command)\s*=(?!=)\s*")  # subprocess.run(args='cat x', shell=True)
# What joins two pieces of text into one: + (Python, JavaScript, Ruby), . (Perl, PHP), .. (Lua), << (Ruby),
# & (AppleScript), || (SQL); pieces written side by side join too (Python, awk).
_CONCAT_GAP = re.compile(r"\s*(?:\+|\.\.?|<<|&|\|\|)?\s*")
_CONCAT_NEXT = re.compile(r"\s*(?:\+|\.\.|<<|&|\|\||\.(?=\s*[$@\"'`(]))")


def _positional(arguments: list[str]) -> list[str]:
    """The arguments that make up the command, in order."""
    found: list[str] = []
    for arg in arguments:
        keyword = _COMMAND_KEYWORD.match(arg)
        if keyword is not None:
            found.insert(0, arg[keyword.end() :])
        elif not _OPTION_ARGUMENT.match(arg):
            found.append(arg)
    return found


def _joined_literals(arg: str) -> tuple[str | None, bool]:
    """The text an argument's leading string literals make once joined (``'cat ~/.ss' + 'h/id_rsa'``; None when it
    does not start with one), and whether something only known when it runs is joined on (``'cat ' + name``)."""
    matches = list(_STRING.finditer(arg))
    if not matches:
        return None, bool(arg)
    if arg[: matches[0].start()].strip():  # f'…', shlex.split('…'), "…".format: read as the first literal
        return next(g for g in matches[0].groups() if g is not None), False
    joined = ""
    end = 0
    for i, match in enumerate(matches):
        if i and not _CONCAT_GAP.fullmatch(arg, end, match.start()):
            break
        joined += next(g for g in match.groups() if g is not None)
        end = match.end()
    return joined, _CONCAT_NEXT.match(arg, end) is not None


def _quote(word: str) -> str:
    return "'" + word.replace("'", "'\\''") + "'" if re.search(r"[\s;&|<>$`]", word) else word


def _run_shell_text(command: str, st: State) -> None:
    if st.windows:
        from contop.security.cmdshell import analyze_nested as cmd_nested

        cmd_nested(command, st)
    from contop.security.posix import analyze_nested

    analyze_nested(command, st)


def _deletion(code: str, start: int, st: State, text: str) -> None:
    args = _call_text(code, start)
    strings = [next(g for g in m.groups() if g is not None) for m in _STRING.finditer(args)]
    target = ""
    if _HOME_REF.search(args):
        target = "~/" + "/".join(strings) if strings and not strings[0].startswith("~") else "~"
    elif strings:
        target = strings[0]
    if target:
        place = st.place(target, entry=True)  # a link is removed itself
        if place >= Place.SYSTEM_FILE:
            st.add(BLOCK, "deletes your home directory or system files", text)
    st.add(CONFIRM, "deletes files", text)


# Paths a program puts together when it runs (``Path.home()/'.ssh'/'id_rsa'``, ``'/etc/' + 'shadow'``): the string
# literals alone do not name the file it opens.
_AWKS = frozenset({"awk", "gawk", "mawk", "nawk"})
MAX_JOINS = 64  # path-joining calls read in one program
_TOUCHES_FILES = Keywords(
    r"\bopen\b|\bfopen\b|openSync|read_text|read_bytes|write_text|write_bytes|readFile|writeFile|appendFile|"
    r"createReadStream|createWriteStream|copyFile|\bcopyfile\b|shutil\.copy|FileUtils\.|"
    r"\b(File|IO)\.(read|readlines|foreach|write|binread|binwrite|new|open)\b|file_get_contents|file_put_contents|"
    r"\breadfile\b|\bfile\s*\(|read_file|slurp|readTextFile|Deno\.readFile|Bun\.file|\bgetline\b|"
    r"\bio\.(open|lines|input|output)\b|\bdofile\b|\bloadfile\b|urlopen|urlretrieve|\bcopy\s*\(|"
    r"readLines|readRDS|saveRDS|\bread\.(csv|table|delim)|\bwrite\.(csv|table)|writeLines|readChar|readBin|"
    r"\bscan\s*\(|\bsource\s*\(|readlines|readchomp|\bread\s*\(|\bwrite\s*\("  # R, Julia
)
_AWK_WRITES = re.compile(r"\bprintf?\b[^;{}]*[>|]")  # print > file, print | "command"
_HOME_DIR = re.compile(  # a plain regex: its alternatives need the text around their keywords
    r"Path\.home\(|homedir\b|Dir\.home\b|getpwuid|getpwnam|pw_dir|"
    r"expanduser\(\s*(?!\)|(['\"])~[/\\][^'\"]*\1\s*\))|"  # expanduser('~/x') is a literal, judged as one
    r"File\.expand_path\(\s*['\"]~['\"]|"
    r"(\$ENV\{|ENV\[|ENV\.fetch\(|ENVIRON\[|\$_SERVER\[|getenv\(|environ(\.get\(|\[)|env(\.get\(|\[|\.))\s*['\"]?"
    r"(HOME|USERPROFILE|HOMEPATH)\b"
)
_CWD_CALL = re.compile(r"\b(?:os\.getcwd|process\.cwd|Path\.cwd|getcwd)\s*\(\s*\)|\bDir\.pwd\b")
_JOIN_CALL = re.compile(  # os.path.join, path.join, File.join, Perl's join('/', …), '/'.join([…]), Path(a, b)
    r"(['\"])([/\\]{1,2})\1\s*\.\s*join\s*\(|\b(?:join|path\.resolve|catfile|catdir|joinpath|(paste0))\s*\(|"
    r"\b(?:Path|PurePath|PurePosixPath|PosixPath|file\.path)\s*\("
)
_PATH_OPEN = re.compile(r"\b(?:Path|PurePath|PurePosixPath|PosixPath|Pathname\.new|Pathname)\s*\(\s*\Z")
_CLOSE = re.compile(r"\s*\)")
_F_PREFIX = re.compile(r"(?<![\w])[rRbB]?[fF][rRbB]?\Z")
_FORMAT_CALL = re.compile(r"\b(?:sprintf|format)\s*\(\s*\Z")
_FORMAT_AFTER = re.compile(r"\s*(?:%(?!=)|\.\s*format\s*\()")
_INTERPOLATES = {
    "python": re.compile(r"\{"),  # f-strings only (see _pieces)
    "node": re.compile(r"\$\{"),  # template literals only
    "perl": re.compile(r"[$@]\{?\w"),
    "php": re.compile(r"\$\w|\{\$"),
    "ruby": re.compile(r"#\{"),
}
_OPERATORS: dict[str, tuple[tuple[str, str], ...]] = {  # operator, and what it puts between two pieces
    "python": (("+", ""), ("/", "/")),  # a str cannot be divided: '/' next to a string literal joins a Path
    "ruby": (("+", ""), ("<<", "")),
    "perl": ((".", ""),),
    "php": ((".", ""),),
    "lua": (("..", ""),),
    "osascript": (("&", ""),),
    "node": (("+", ""),),
    "awk": (),  # awk joins strings written side by side
}
_ADJACENT = frozenset({"python", "ruby", "awk"})  # 'a' 'b' is one string
_AWK_WORDS = frozenset({"print", "printf", "return", "in", "getline", "else", "do", "delete", "exit", "if", "while"})
_AWK_OPERAND_END = re.compile(r"(?:([A-Za-z_]\w*)|\$\w+|[)\]])\Z")
_AWK_OPERAND_START = re.compile(r"([A-Za-z_]\w*)|[$(]")
_URL_START = re.compile(r"[A-Za-z][\w+.-]*://")


@dataclass(slots=True)
class _Piece:
    """A string literal of the program, with how operators join it to the code around it."""

    value: str
    start: int  # 'Path(' and ')' around the literal included: Path('/etc') / 'shadow' joins two literals
    end: int
    wrapped: bool
    interpolated: bool  # f'{h}/.ssh', "$dir/x", `${h}/.ssh`, '%s/.ssh' % h: the text holds a value from the program
    sep: str | None = None  # what joins it to the next literal, when an operator joins the two
    open_before: bool = False  # joined to something that is not a literal
    open_after: bool = False
    path_operator: bool = False  # joined by '/' (pathlib): a path even when no piece holds a separator


def _built_paths(language: str, code: str, st: State, text: str, from_file: bool = False) -> None:
    """Judge the paths a program puts together. Pieces that are all literals make a path judged like any other
    (``'/etc/' + 'shadow'``); a path made from the home folder or from pieces not all known
    (``os.homedir() + '/.ssh/id_rsa'``, ``os.path.join(d, f)``) is unknown, and a program that opens files or runs
    commands with one is asked about: the gate cannot tell which file it reads."""
    language = "awk" if language in _AWKS else "node" if language in ("nodejs", "deno", "bun") else language
    code = _CWD_CALL.sub("'.'", code)  # the working folder is a known start: os.path.join(os.getcwd(), 'x')
    home = _HOME_DIR.search(code) is not None
    unknown = False  # pieces not all known: only counted in a one-liner (see judge_code)
    join = ntpath.join if st.windows else posixpath.join
    for chain in _chains(_pieces(language, code)):
        if _URL_START.match(chain[0].value) and not chain[0].value.lower().startswith("file:"):
            continue  # 'https://' + host: not a file
        if any(p.open_before or p.open_after or p.interpolated for p in chain):
            unknown = unknown or any(p.path_operator or p.wrapped or _path_like(p.value, st.windows) for p in chain)
        elif len(chain) > 1:
            whole = chain[0].value
            for before, piece in itertools.pairwise(chain):
                whole = join(whole, piece.value) if before.sep == "/" else whole + piece.value
            st.check_paths([whole], text)
    for count, call in enumerate(_JOIN_CALL.finditer(code)):
        if count == MAX_JOINS:  # reading each one's arguments costs time: more are taken as unknown
            unknown = True
            break
        window = code[call.start() : call.end() + 400]  # arguments that long are not a path's pieces
        args = _call_text(window, call.end() - 1 - call.start())
        if call.group(2):  # '/'.join(['', 'etc', 'shadow'])
            args = args.strip()
            args = args[1:-1] if args[:1] in "[(" and args[-1:] in "])" else args
        parts = _arguments(args)
        if call.group(0).startswith("joinpath"):  # Path.home().joinpath(…): what it joins onto is not read here
            unknown = True
        elif len(parts) > 1:
            known = [p for p in parts if p is not None]
            if len(known) < len(parts):
                unknown = True
            else:
                joined = "".join(known) if call.group(3) else join(*known)  # paste0("~/.s", "sh/id_rsa")
                st.check_paths([call.group(2).join(known) if call.group(2) else joined], text)
    touches = (
        _TOUCHES_FILES.search(code) or _RUNS_SHELL.search(code) or (language == "awk" and _AWK_WRITES.search(code))
    )
    if (home or (unknown and not from_file)) and touches:
        st.add(CONFIRM, "opens a file at a path put together when it runs (the home folder, or pieces not known)", text)


_TCL_JOIN = re.compile(r"\[\s*file\s+join\s+([^\[\]]*)\]")
_TCL_HOME = re.compile(r"\$(?:::)?env\(HOME\)|\$\{(?:::)?env\(HOME\)\}")


def _tcl_joins(code: str, st: State, text: str, from_file: bool) -> None:
    """Tcl's ``[file join A B C]``: judged as the path it makes, with ``$env(HOME)`` read as the home folder; one
    with another variable in it is not known, and a one-liner opening files with it asks."""
    for match in _TCL_JOIN.finditer(code):
        words = [_TCL_HOME.sub("~", w).strip('"{}') for w in match.group(1).split()]
        if not words:
            continue
        if any("$" in w or "[" in w for w in words):
            if not from_file and (_TOUCHES_FILES.search(code) or _RUNS_SHELL.search(code)):
                st.add(CONFIRM, "opens a file at a path put together when it runs (pieces not known)", text)
            continue
        st.check_paths([posixpath.join(*words)], text)


def _path_like(value: str, windows: bool) -> bool:
    return "/" in value or value.startswith("~") or (windows and "\\" in value)


def _pieces(language: str, code: str) -> list[_Piece]:
    """The string literals of ``code``, each marked with the operators that join it to its neighbours."""
    pieces: list[_Piece] = []
    interpolates = _INTERPOLATES.get(language)
    for match in _STRING.finditer(code):
        value = next(g for g in match.groups() if g is not None)
        start, end, quote = match.start(), match.end(), code[match.start()]
        interpolating = (  # the quotes that interpolate in this language: f'…', `…`, "…"
            _F_PREFIX.search(code, max(0, start - 3), start) is not None
            if language == "python"
            else quote == ("`" if language == "node" else '"')
        )
        interpolated = interpolating and interpolates is not None and interpolates.search(value) is not None
        if ("%" in value or "{" in value) and not interpolated:  # '%s/.ssh' % h, '{}/x'.format(h), sprintf("%s/x")
            interpolated = bool(_FORMAT_AFTER.match(code, end) or _FORMAT_CALL.search(code, max(0, start - 12), start))
        head = _PATH_OPEN.search(code, max(0, start - 40), start)
        close = _CLOSE.match(code, end) if head else None
        if head and close:
            start, end = head.start(), close.end()
        pieces.append(_Piece(value, start, end, bool(head and close), interpolated))
    operators = _OPERATORS.get(language, _OPERATORS["node"])
    for i, piece in enumerate(pieces):
        before_end = pieces[i - 1].end if i else 0
        after_end = pieces[i + 1].start if i + 1 < len(pieces) else len(code)
        before = code[before_end : piece.start].rstrip()
        after = code[piece.end : after_end].lstrip()
        op = next((o for o in operators if after.startswith(o[0]) and not after.startswith(o[0] + "=")), None)
        if op is not None and not (op[0] == "." and after.startswith("..")):
            if after[len(op[0]) :].strip() or i + 1 == len(pieces):
                piece.open_after = True
            else:
                piece.sep = "/" if piece.wrapped else op[1]
            piece.path_operator = op[1] == "/"
        elif not after and i + 1 < len(pieces) and language in _ADJACENT:
            piece.sep = ""
        elif language == "awk":
            word = _AWK_OPERAND_START.match(after)
            piece.open_after = word is not None and word.group(1) not in _AWK_WORDS
        if i and pieces[i - 1].sep is not None:
            continue
        op = next((o for o in operators if before.endswith((o[0], o[0] + "="))), None)
        if op is not None:
            piece.open_before = True
            piece.path_operator = piece.path_operator or op[1] == "/"
        elif language == "awk":
            word = _AWK_OPERAND_END.search(before)
            piece.open_before = word is not None and word.group(1) not in _AWK_WORDS
    return pieces


def _chains(pieces: list[_Piece]) -> list[list[_Piece]]:
    """The pieces split into runs joined by operators (a lone literal is a run of one)."""
    chains: list[list[_Piece]] = []
    for piece in pieces:
        if chains and chains[-1][-1].sep is not None:
            chains[-1].append(piece)
        else:
            chains.append([piece])
    return chains


def _split_arguments(args: str) -> list[str]:
    """The text of each argument of a call, stripped (empty ones left out)."""
    parts: list[str] = []
    level, begin = 0, 0
    for i, c in _unquoted(args):
        if c in "([{":
            level += 1
        elif c in ")]}":
            level -= 1
        elif c == "," and level == 0:
            parts.append(args[begin:i])
            begin = i + 1
    parts.append(args[begin:])
    return [p.strip() for p in parts if p.strip()]


def _arguments(args: str) -> list[str | None]:
    """The arguments of a call: each one's text when it is a single string literal, else None."""
    found: list[str | None] = []
    for part in _split_arguments(args):
        literal = _STRING.fullmatch(part)
        value = next(g for g in literal.groups() if g is not None) if literal else None
        interpolated = value is not None and part[0] in '"`' and re.search(r"\$|#\{", value) is not None
        found.append(None if interpolated else value)
    return found
