"""Interpreter one-liners (python -c, perl -e, node -e, ruby -e, php -r, awk, osascript -e).

The code is not executed or fully parsed: we look for the calls that run shell commands or delete, kill,
download-and-run, open sockets or decode payloads, pull out their string arguments and classify those as
commands in turn.
"""

from __future__ import annotations

import re

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
}
_STRING = re.compile(r"\"\"\"(.*?)\"\"\"|'''(.*?)'''|\"((?:\\.|[^\"\\])*)\"|'((?:\\.|[^'\\])*)'|`([^`]*)`", re.S)
_RUNS_SHELL = Keywords(
    r"\b(os\.system|os\.popen|os\.exec\w*|os\.spawn\w*|subprocess\.\w+|commands\.getoutput|pty\.spawn|"
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
    r"LWP|HTTP::Tiny|file_get_contents\(\s*['\"]https?|curl_exec|wget|curl"
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
_APPLESCRIPT_POWER = re.compile(r"\b(shut\s*down|restart|log\s*out|sleep)\b", re.I)


def code_argument(inv: Invocation) -> str | None:
    """The program text given on the command line, or None when the interpreter runs a script file."""
    flags = _CODE_FLAGS.get(inv.name, ())
    args = inv.args
    if inv.name in ("awk", "gawk", "mawk", "nawk"):
        i = 0
        while i < len(args):
            if args[i] in ("-f",):
                return None
            if args[i] in ("-F", "-v"):
                i += 2
                continue
            if args[i].startswith("-"):
                i += 1
                continue
            return args[i]
        return None
    for i, arg in enumerate(args):
        if arg in flags or (
            inv.name in ("perl", "ruby") and re.fullmatch(r"-[a-zA-Z]*[eE]", arg) and not arg.startswith("--")
        ):
            return args[i + 1] if i + 1 < len(args) else ""
        if not arg.startswith("-"):
            return None
    return None


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
        if module and module[0] in ("pip", "shutil", "http.server"):
            from contop.security.posix import judge_words

            if module[0] == "pip":
                judge_words(["pip", *inv.args[index + 2 :]], st, inv.text)
            elif module[0] == "http.server":
                _file_server(inv.args[index + 2 :], st, inv.text)
        return
    code = code_argument(inv)
    if code is None:
        script = next((a for a in inv.args if not a.startswith("-")), None)
        if script is not None and inv.name in ("python", "perl", "ruby", "node", "nodejs", "php"):
            from contop.security import scripts

            scripts.run_file(script, st, inv.text, language="node" if inv.name == "nodejs" else inv.name)
        return
    if inv.name == "perl" and any(re.fullmatch(r"-[a-zA-Z]*i[a-zA-Z.]*", a) for a in inv.args):
        files = [a for a in inv.args[inv.args.index(code) + 1 :] if not a.startswith("-")]
        from contop.security.cmdbase import persistence_write

        for f in files:
            persistence_write(f, inv, st)  # perl -pi -e … ~/.bashrc
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
    inside = st.policy.restricted_inside(folder, st.cwd)
    if inside is not None and bind not in ("127.0.0.1", "localhost", "::1"):
        st.add(CONFIRM, f"shares {folder} with the network, the protected {inside} included", text)


def judge_code(language: str, code: str, st: State, text: str) -> None:
    """Classify a program text in a scripting language."""
    st.check_depth()
    st.depth += 1
    try:
        _judge_code(language, code, st, text)
    finally:
        st.depth -= 1


def _judge_code(language: str, code: str, st: State, text: str) -> None:
    if _FORK.search(code):
        st.add(BLOCK, "starts a fork bomb that freezes the computer", text)
    if _SOCKET.search(code) and _SPAWN.search(code):
        st.add(BLOCK, "connects a shell to the network (reverse shell)", text)
    if _FETCH.search(code) and (_EVAL.search(code) or _RUNS_SHELL.search(code)):
        st.add(BLOCK, "runs code downloaded from the network", text)
    if (
        _ENV_READ.search(code)
        and (_FETCH.search(code) or _SOCKET.search(code))
        and re.search(r"post|send|data=|write|urlopen|request", code, re.I)
    ):
        st.add(BLOCK, "sends your environment variables to another machine", text)
    strings = [next(g for g in m.groups() if g is not None) for m in _STRING.finditer(code)]
    if _B64_CALL.search(code):
        for literal in strings:
            decoded = payload.b64decode(literal) if len(literal) >= 8 else None
            if decoded:
                judge_code(language, decoded, st, text)
                from contop.security.posix import analyze_nested

                analyze_nested(decoded, st)
        if _EVAL.search(code) or _RUNS_SHELL.search(code):
            st.add(CONFIRM, "runs an encoded payload", text)
    st.check_paths([s for s in strings if len(s) < 300], text)
    for call in _RUNS_SHELL.finditer(code):
        _embedded_command(code, call.end() - 1, st, text)
    if language in ("perl", "ruby", "php") and "`" in code:
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


def _call_text(code: str, start: int) -> str:
    """The argument text of a call starting at ``start`` (an opening bracket, or a space for ``system "…"``)."""
    opener = code[start] if start < len(code) else ""
    if opener not in ("(", "{"):
        end = re.search(r"[;\n]", code[start:])
        return code[start : start + end.start()] if end else code[start:]
    closer = ")" if opener == "(" else "}"
    level, quote, i = 0, "", start
    while i < len(code):
        c = code[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"`":
            quote = c
        elif c == opener:
            level += 1
        elif c == closer:
            level -= 1
            if level == 0:
                return code[start + 1 : i]
        i += 1
    return code[start + 1 :]


def _embedded_command(code: str, start: int, st: State, text: str) -> None:
    args = _call_text(code, start)
    strings = [next(g for g in m.groups() if g is not None) for m in _STRING.finditer(args)]
    if not strings:
        if args.strip():
            st.add(CONFIRM, "runs a shell command built at run time", text)
        return
    if re.match(r"\s*\[", args) or (len(strings) > 1 and "," in args):
        command = " ".join(_quote(s) for s in strings)
    else:
        command = strings[0]
    _run_shell_text(command.encode().decode("unicode_escape", errors="ignore") if "\\x" in command else command, st)


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
        place = st.place(target)
        if place >= Place.SYSTEM_FILE:
            st.add(BLOCK, "deletes your home directory or system files", text)
    st.add(CONFIRM, "deletes files", text)
