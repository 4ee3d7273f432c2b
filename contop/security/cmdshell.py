"""Classification of cmd.exe command lines: del/rd/format, reg, schtasks, sc, net, vssadmin, bcdedit, LOLBins.

Programs that are not cmd built-ins or Windows tools with rules here go to the shared rules through
``posix.judge_words`` (git, docker, curl, python…).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from contop.security import cmdbase
from contop.security.cmdbase import SECURITY_SERVICES, SUSPICIOUS_PAYLOAD, Invocation, judge_deletion
from contop.security.findings import BLOCK, CONFIRM
from contop.security.paths import Place
from contop.security.state import State

_CALL = re.compile(r"^call\s+(?=set\s)", re.IGNORECASE)
_SET = re.compile(r"^set\s+(/a\s+)?\"?([A-Za-z_][\w]*)=(.*?)\"?$", re.IGNORECASE)
_VAR = re.compile(r"[%!]([A-Za-z_][\w]*)(:~[-\d,]+|:[^%!=]+=[^%!]*)?[%!]")
_DYNAMIC = frozenset({"RANDOM", "DATE", "TIME", "ERRORLEVEL", "CMDEXTVERSION"})  # never a folder
_REDIRECT = re.compile(r"^(\d?)(>>|>)(.*)$")
_INPUT = re.compile(r"^(\d?)<(.*)$")


def analyze(source: str, st: State) -> None:
    st.check_depth()
    st.depth += 1
    try:
        _analyze(source, st)
    finally:
        st.depth -= 1


def analyze_nested(source: str, st: State) -> None:
    analyze(source, st)


def _analyze(source: str, st: State) -> None:
    from contop.security.posix import is_fork_bomb

    if is_fork_bomb(source):
        st.add(BLOCK, "starts a fork bomb that freezes the computer", source)
    for pipeline in _split(source):
        stages: list[list[str]] = []
        for stage in pipeline:
            stage = _expand(stage.strip(), st)
            words = _words(stage)
            if not words:
                continue
            set_match = _SET.match(_CALL.sub("", stage))
            if set_match:
                value = set_match.group(3).replace("^<", "<").replace("^>", ">")
                if stage[:4].lower() == "call":  # 'call set y=%%USERPROFILE%%': call expands the value once more
                    value = _expand(value.replace("%%", "%"), st)
                st.vars[set_match.group(2).upper()] = value
                continue
            if _change_folder(words, st):
                continue
            stages.append(words)
            judge_cmd_words(words, st, stage)
        if len(stages) > 1:
            _flows(stages, st, " | ".join(pipeline))


def _expand(text: str, st: State) -> str:
    if ("%" not in text and "!" not in text) or not st.vars:
        return text

    def repl(match: re.Match[str]) -> str:
        name = match.group(1).upper()
        value = st.vars.get(name)
        if value is None and name == "CD" and st.cwd_known:
            value = st.cwd
        if value is None:
            return match.group(0)
        sub = match.group(2)
        if sub and not sub.startswith(":~"):
            old, _, new = sub[1:].partition("=")
            if old.startswith("*"):  # '%x:*.=.%': everything up to the first '.' becomes '.'
                at = value.lower().find(old[1:].lower())
                return value if at < 0 or not old[1:] else new + value[at + len(old) - 1 :]
            return re.sub(re.escape(old), lambda _: new, value, flags=re.IGNORECASE) if old else value
        if sub:
            numbers = [int(n) for n in sub[2:].split(",") if n.lstrip("-").isdigit()]
            start = numbers[0] if numbers else 0
            length = numbers[1] if len(numbers) > 1 else None
            value = value[start:] if length is None else value[start : start + length if length >= 0 else length]
        return value

    return _VAR.sub(repl, text)


_FOLDER_COMMANDS = frozenset({"cd", "chdir", "pushd", "popd"})
_GLUED_CD = re.compile(r"^(cd|chdir)([.\\/].*)$", re.IGNORECASE)  # 'cd..', 'cd\\'
_DRIVE = re.compile(r"^[A-Za-z]:$")


def _change_folder(words: list[str], st: State) -> bool:
    """Follow ``cd``/``chdir``/``pushd``/``popd`` and a bare drive (``D:``), as cmd.exe does, so that names
    later on the line are judged in the folder they are opened in. True when the words were such a command."""
    head = words[0].lower()
    glued = _GLUED_CD.match(words[0])
    if glued:
        head, words = glued.group(1).lower(), [glued.group(1), glued.group(2), *words[1:]]
    if _DRIVE.match(words[0]) and len(words) == 1:
        if head[0] != st.cwd[:1].lower() or not st.cwd_known:
            st.enter(None)  # another drive's own folder is not known
        return True
    if head not in _FOLDER_COMMANDS:
        return False
    if head == "popd":
        if st.dirs:
            folder = st.dirs.pop()
            st.enter(folder, folder is not None)
        else:
            st.enter(None)  # past what this line pushed: a folder the gate does not know
        return True
    args = [w for w in words[1:] if w.lower() != "/d"]
    switch_drive = head == "pushd" or len(args) < len(words) - 1
    target = " ".join(args).strip().strip('"')
    if not target or target == "/?":
        return True  # 'cd' prints the folder, 'cd /?' the help
    if head == "pushd":
        st.dirs.append(st.here())
    if not st.cwd_known:
        if _is_absolute(target) and _known_text(target):
            st.enter(_folder(target, st))
        return True
    if not _known_text(target) or target.startswith(("\\\\", "//")):
        st.enter(None)  # a variable the gate cannot compute, a wildcard, or a share mapped to a new drive
        return True
    folder = _folder(target, st)
    if folder[:1].lower() != st.cwd[:1].lower() and not switch_drive:
        return True  # 'cd D:\\x' without /d changes D:'s folder, not the current drive
    st.enter(folder)
    return True


def _is_absolute(target: str) -> bool:
    return target[1:3] in (":\\", ":/") or target.upper().startswith(("%USERPROFILE%", "%HOMEDRIVE%"))


def _known_text(target: str) -> bool:
    """Whether a folder name holds nothing cmd computes when it runs (variables the gate cannot read, wildcards)."""
    from contop.security.paths import windows_folder

    for name in re.findall(r"%([^%]*)%", target):
        if windows_folder(name, "C:\\") is None and name.upper() not in _DYNAMIC:
            return False
    return not re.search(r"[!*?]", target) and target.count("%") % 2 == 0


def _folder(target: str, st: State) -> str:
    return st.policy.expand(target, st.cwd if st.cwd_known else st.ctx.home)


def _split(source: str) -> list[list[str]]:
    """Statements (split on & && || and newlines) of pipeline stages, respecting quotes and ^ escapes."""
    statements: list[list[str]] = []
    stages: list[str] = []
    buf: list[str] = []
    quote = False
    i = 0
    while i < len(source):
        c = source[i]
        if c == '"':
            quote = not quote
            buf.append(c)
        elif c == "^" and not quote:
            escaped = source[i + 1 : i + 2]
            buf.append("^" + escaped if escaped in ("<", ">") else escaped)  # kept for _words: no redirection
            i += 1
        elif not quote and c == "&" and buf and buf[-1] in "<>":
            buf.append(c)  # '2>&1', '<&3': a handle, not the next command
        elif not quote and c in "&|\n":
            double = source[i + 1 : i + 2] == c
            stages.append("".join(buf))
            buf = []
            if c == "|" and not double:
                pass
            else:
                statements.append(stages)
                stages = []
            i += 1 if double else 0
        elif not quote and c in "()":
            buf.append(" ")
        else:
            buf.append(c)
        i += 1
    stages.append("".join(buf))
    statements.append(stages)
    return [[s for s in stmt if s.strip()] for stmt in statements if any(s.strip() for s in stmt)]


def _words(text: str) -> list[str]:
    """The words of one command. cmd.exe takes a redirection out wherever it stands outside quotes, glued to a
    word or not (``set /p x=<file`` reads the file): each becomes a word of its own, its operator alone (``<``,
    ``2>>``) and its target the next word."""
    if "<" not in text and ">" not in text:  # most commands: split on blanks outside quotes
        return _drop_at(_blank_words(text))
    words: list[str] = []
    buf: list[str] = []
    quote = False
    i = 0
    while i < len(text):
        c = text[i]
        if c == '"':
            quote = not quote
        elif c in " \t\r" and not quote:
            if buf:
                words.append("".join(buf))
                buf = []
        elif c == "^" and text[i + 1 : i + 2] in ("<", ">") and not quote:  # escaped in _split: a plain character
            buf.append(text[i + 1])
            i += 2
            continue
        elif c in "<>" and not quote:
            handle = buf.pop() if len(buf) == 1 and buf[0].isdigit() else ""
            if buf:
                words.append("".join(buf))
                buf = []
            end = i + 2 if text[i + 1 : i + 2] == c == ">" else i + 1
            if text[end : end + 1] == "&":  # '2>&1': to another handle, no file
                end += 1
                while end < len(text) and text[end].isdigit():
                    end += 1
            words.append(handle + text[i:end])
            i = end
            continue
        else:
            buf.append(c)
        i += 1
    if buf:
        words.append("".join(buf))
    return _drop_at(words)


def _blank_words(text: str) -> list[str]:
    words: list[str] = []
    buf: list[str] = []
    quote = False
    for c in text:
        if c == '"':
            quote = not quote
        elif c in " \t\r" and not quote:
            if buf:
                words.append("".join(buf))
                buf = []
        else:
            buf.append(c)
    if buf:
        words.append("".join(buf))
    return words


def _drop_at(words: list[str]) -> list[str]:
    """Without the '@' that stops cmd.exe echoing a command."""
    if words and words[0].startswith("@"):
        words[0] = words[0][1:]
        if not words[0]:
            words.pop(0)
    return words


def _strip_prefixes(words: list[str], st: State | None = None) -> list[str]:
    while words:
        head = words[0].lower()
        if head in ("call", "cmd") and head == "call":
            words = words[1:]
        elif head == "start":
            words = words[1:]
            while words and (words[0].startswith("/") or words[0] == ""):
                words = words[1:]
        elif head == "if":
            rest = words[1:]
            if rest and rest[0].lower() == "/i":
                rest = rest[1:]
            if rest and rest[0].lower() == "not":
                rest = rest[1:]
            if rest and rest[0].lower() in ("exist", "defined", "errorlevel"):
                rest = rest[2:]
            elif rest:
                rest = rest[1:] if "==" in rest[0] else rest[3:]
            words = rest
        elif head == "for":
            words = _for_body(words, st)
        else:
            break
    return words


def _for_body(words: list[str], st: State | None = None) -> list[str]:
    """``for %i in (set) do body``: the body, with the loop variable replaced by the items of the set. With ``st``,
    a set that is a command (``for /f %a in ('type x')``, or in backquotes with ``usebackq``) is judged: it runs."""
    lowered = [w.lower() for w in words]
    if "do" not in lowered:
        return []
    do = lowered.index("do")
    var = next((w for w in words[1:do] if re.fullmatch(r"%%?[A-Za-z]", w)), None)
    items = words[lowered.index("in") + 1 : do] if "in" in lowered[:do] else []
    command = " ".join(items)
    options = " ".join(lowered[1:do])
    kind = lowered[1] if len(lowered) > 1 else ""
    quoted = len(command) > 1 and command[0] == command[-1] and command[0] in "'`\""
    if st is not None and quoted and command[0] == ("`" if "usebackq" in options else "'"):
        analyze(command[1:-1], st)
        # the loop's items are what the command prints: known for 'echo', else only when it runs
        inner = command[1:-1].split()
        items = inner[1:] if inner and inner[0].lower() == "echo" else ["%(the output of a command)%"]
    elif st is not None and kind == "/f" and (not quoted or (command[0] == '"' and "usebackq" in options)):
        # 'for /f %a in (file)' reads the file, line by line, into the loop variable
        files = [w.strip('"') for w in items]
        st.check_paths(files, " ".join(words))
        items = ["%(a line of a file)%"]
    elif st is not None and kind == "/r":
        # 'for /r C:\\Users\\u %a in (id_*)' walks the whole tree under the folder
        root = words[2].strip('"') if len(words) > 2 and not words[2].startswith("%") else "."
        hit = st.policy.restricted_inside(root, st.cwd, st.resolve, dotglob=True)
        if hit is not None:
            st.add(CONFIRM, f"walks a whole folder tree that holds a protected location {hit}", " ".join(words))
        items = [root.rstrip("\\") + "\\" + item for item in items]
    body = words[do + 1 :]
    if var and items:
        # judge the body once per item would multiply the work; the worst item is what matters
        body = [w.replace(var, items[0]) if var in w else w for w in body]
        extra = [w.replace(var, item) for item in items[1:] for w in body if var in w]
        body += extra
    return body


_NO_FILES = frozenset({"echo", "rem", "title", "exit", "cls", "ver", "color", "prompt"})


def judge_cmd_words(words: list[str], st: State, text: str) -> None:
    words = _strip_prefixes(words, st)
    if not words:
        return
    if words[0].lower().lstrip("@") not in _NO_FILES:
        _unknown_names(words[1:], st, text)
    plain: list[str] = []
    i = 0
    while i < len(words):
        reading = _INPUT.match(words[i])
        if reading:
            source = reading.group(2) or (words[i + 1] if i + 1 < len(words) else "")
            if not reading.group(2):
                i += 1
            if not source.startswith("&"):
                st.check_paths([source], text)  # what the command reads: 'set /p x=<file' takes its first line
                cmdbase.reads_raw_device(source, Invocation("", [], text), st)
            i += 1
            continue
        match = _REDIRECT.match(words[i])
        if match:
            target = match.group(3) or (words[i + 1] if i + 1 < len(words) else "")
            if not match.group(3):
                i += 1
            if not target.startswith("&"):
                st.check_paths([target], text)
                cmdbase.judge_write_target(target, match.group(2) == ">>", Invocation("", [], text), st)
        else:
            plain.append(words[i])
        i += 1
    if not plain:
        return
    name = cmdbase.normalise(plain[0])
    args = plain[1:]
    rule = CMD_RULES.get(name)
    if rule is None:
        from contop.security import posix

        posix.judge_words(plain, st, text)
        return
    st.seen.append((name, args))
    st.check_paths(args, text)
    if cmdbase.DEVICE_HINT.search(st.source):  # 'findstr . \\.\PhysicalDrive0' reads the disk
        cmdbase.given_raw_device(args, Invocation(name, args, text), st, text_too=False)
    rule(Invocation(name, args, text), st)


def _unknown_names(args: list[str], st: State, text: str) -> None:
    """Ask about a name the gate cannot place: relative to a folder only known when the line runs (after ``cd``
    to a variable, ``popd`` past the line's own ``pushd``, another drive), or built from an expansion cmd computes
    when it runs (``%y%\\id_rsa`` of a ``y`` the gate could not follow)."""
    protected_here = st.cwd_known and st.policy.restricted(st.cwd, st.cwd, None) is not None
    for arg in args:
        word = arg.strip('"')
        if not word or word.startswith("/") or _INPUT.match(word) or _REDIRECT.match(word):
            continue
        relative = not _is_absolute(word) and not word.startswith(("\\", "%"))
        if not _known_text(word.replace("*", "").replace("?", "")):
            st.add(CONFIRM, "names a path through a value cmd computes when it runs", text)
        elif not st.cwd_known and relative:
            st.add(CONFIRM, "names a path in a folder only known when it runs", text)
        elif protected_here and relative:  # 'cd .ssh & type id_rsa': a bare name inside a protected folder
            st.check_paths([".\\" + word], text)
        if word[1:2] == ":" and _mapped(word[:1], st):
            st.add(CONFIRM, f"names a path on drive {word[:2].upper()}, which this line maps to a share", text)


# Drives the line maps ('net use k: \\\\host\\c$', 'subst k: C:\\Users'), kept among the line's variables under a
# name no cmd expansion can spell, so that subshells and nested commands save and restore it with them.
_MAPPED = " mapped drives"


def _mapped(letter: str, st: State) -> bool:
    drives = st.vars.get(_MAPPED, "")
    return letter.upper() in drives or ("*" in drives and letter.upper() != st.cwd[:1].upper())


def _map_drive(inv: Invocation, st: State) -> None:
    letter = next((a[:1].upper() for a in inv.args if re.fullmatch(r"[A-Za-z]:|\*", a)), None)
    if letter is not None:
        st.vars[_MAPPED] = st.vars.get(_MAPPED, "") + letter


def judge_cmd_invocation(args: list[str], st: State, text: str) -> None:
    """``cmd /c "…"`` or ``cmd /k …`` from any shell."""
    for i, arg in enumerate(args):
        if arg.lower() in ("/c", "/k", "/r"):
            analyze(" ".join(args[i + 1 :]), st)
            return


def _flows(stages: list[list[str]], st: State, text: str) -> None:
    names = [cmdbase.normalise(_strip_prefixes(s)[0]) if _strip_prefixes(s) else "" for s in stages]
    for i, name in enumerate(names):
        if name in cmdbase.FETCHERS and any(n in ("cmd", "powershell", "pwsh") for n in names[i + 1 :]):
            st.add(BLOCK, "runs code downloaded from the network", text)
        if name == "set" and len(stages[i]) == 1 and any(n in cmdbase.NET_SENDERS for n in names[i + 1 :]):
            st.add(BLOCK, "sends your environment variables to another machine", text)


# ---------------------------------------------------------------------------------------------- rules


def _flags(args: list[str]) -> set[str]:
    return {a.lower() for a in args if a.startswith("/")}


def _del(inv: Invocation, st: State) -> None:
    flags = _flags(inv.args)
    targets = [a for a in inv.args if not a.startswith("/")]
    judge_deletion(targets, "/s" in flags, inv, st)


def _rd(inv: Invocation, st: State) -> None:
    flags = _flags(inv.args)
    targets = [a for a in inv.args if not a.startswith("/")]
    judge_deletion(targets, "/s" in flags, inv, st)


def _format(inv: Invocation, st: State) -> None:
    if inv.args and inv.args[0] == "/?":
        return
    st.add(BLOCK, "formats a drive", inv.text)


def _diskpart(inv: Invocation, st: State) -> None:
    st.add(BLOCK, "erases or repartitions a disk (diskpart)", inv.text)


def _reg(inv: Invocation, st: State) -> None:
    if not inv.args:
        return
    verb = inv.args[0].lower()
    text = " ".join(inv.args).lower()
    if verb == "save" and re.search(r"\\(sam|system|security)\b", text):
        st.add(BLOCK, "copies the Windows password database", inv.text)
    elif verb in ("add", "import", "copy", "restore", "load"):
        if re.search(r"disableantispyware|disablerealtimemonitoring|disablebehaviormonitoring|enablelua|"
                     r"disableantivirus|tamperprotection|\\windows defender", text):  # fmt: skip
            st.add(BLOCK, "turns off Windows security protections", inv.text)
        if re.search(r"currentversion\\(run|runonce)|\\winlogon|image file execution options", text):
            if SUSPICIOUS_PAYLOAD.search(st.source) or re.search(r"\\temp\\|\.vbs|\.hta|-w\s+hidden", st.source, re.I):
                st.add(BLOCK, "installs a hidden or downloaded program to start automatically", inv.text)
            st.add(CONFIRM, "adds a program that starts automatically", inv.text)
        st.add(CONFIRM, "changes the registry", inv.text)
    elif verb in ("delete", "unload"):
        st.add(CONFIRM, "deletes registry keys", inv.text)


def _vssadmin(inv: Invocation, st: State) -> None:
    if re.search(r"\b(delete|resize)\b", " ".join(inv.args).lower()):
        st.add(BLOCK, "deletes the shadow copies used to restore files", inv.text)


def _wmic(inv: Invocation, st: State) -> None:
    text = " ".join(inv.args).lower()
    if "shadowcopy" in text and "delete" in text:
        st.add(BLOCK, "deletes the shadow copies used to restore files", inv.text)
    elif re.search(r"\b(delete|terminate)\b", text):
        st.add(CONFIRM, "deletes or stops system objects (wmic)", inv.text)
    elif "call create" in text:
        if SUSPICIOUS_PAYLOAD.search(text):
            st.add(BLOCK, "starts a downloaded or hidden program", inv.text)
        st.add(CONFIRM, "starts a program through wmic", inv.text)


def _bcdedit(inv: Invocation, st: State) -> None:
    text = " ".join(inv.args).lower()
    if re.search(r"recoveryenabled|bootstatuspolicy|safeboot|nointegritychecks|testsigning|/delete\b", text):
        st.add(BLOCK, "disables Windows recovery or boot protection", inv.text)
    elif re.search(r"/(set|deletevalue|import|default|bootsequence)", text):
        st.add(CONFIRM, "changes boot settings", inv.text)


def _wbadmin(inv: Invocation, st: State) -> None:
    if re.search(r"\bdelete\b", " ".join(inv.args).lower()):
        st.add(BLOCK, "deletes system backups", inv.text)


def _schtasks(inv: Invocation, st: State) -> None:
    flags = _flags(inv.args)
    if "/create" in flags:
        if SUSPICIOUS_PAYLOAD.search(" ".join(inv.args)) or re.search(
            r"\\temp\\|\.vbs|\.hta|-w\s+hidden|appdata", inv.text, re.I
        ):
            st.add(BLOCK, "schedules a hidden or downloaded program", inv.text)
        st.add(CONFIRM, "adds a scheduled task", inv.text)
    elif flags & {"/delete", "/end", "/change", "/run"}:
        st.add(CONFIRM, "changes or runs scheduled tasks", inv.text)


def _sc(inv: Invocation, st: State) -> None:
    args = [a for a in inv.args if not a.startswith("\\\\")]
    if not args:
        return
    verb = args[0].lower()
    service = args[1] if len(args) > 1 else ""
    if verb in ("stop", "delete", "config", "pause", "failure", "sdset") and SECURITY_SERVICES.match(service):
        if verb != "config" or "disabled" in inv.text.lower():
            st.add(BLOCK, "turns off a security or logging service", inv.text)
    if verb == "create" and SUSPICIOUS_PAYLOAD.search(inv.text):
        st.add(BLOCK, "installs a downloaded or hidden program as a service", inv.text)
    if verb in ("stop", "delete", "config", "pause", "create", "failure", "sdset", "start", "control"):
        st.add(CONFIRM, f"changes system services (sc {verb})", inv.text)


def _net(inv: Invocation, st: State) -> None:
    lowered = [a.lower() for a in inv.args]
    if not lowered:
        return
    if lowered[0] in ("stop", "pause"):
        if len(inv.args) > 1 and SECURITY_SERVICES.match(inv.args[1].strip('"')):
            st.add(BLOCK, "turns off a security or logging service", inv.text)
        st.add(CONFIRM, "stops a system service", inv.text)
    elif (
        lowered[0] in ("user", "localgroup", "group", "share", "accounts")
        and any(a in ("/add", "/delete", "/del", "/active:yes") or a.startswith("/passwordreq") for a in lowered)
    ) or (lowered[0] == "user" and len(lowered) >= 3 and not lowered[2].startswith("/")):
        st.add(CONFIRM, "changes user accounts or shares", inv.text)
    elif lowered[0] == "use" and "/delete" in lowered:
        st.add(CONFIRM, "disconnects network drives", inv.text)
    elif lowered[0] == "use":
        _map_drive(Invocation(inv.name, inv.args[1:], inv.text), st)


def _netsh(inv: Invocation, st: State) -> None:
    text = " ".join(inv.args).lower()
    if re.search(r"state\s+off|opmode\s+(mode=)?disable|set\s+\w+\s+state\s+off", text):
        st.add(BLOCK, "turns off the firewall", inv.text)
    elif "key=clear" in text:
        st.add(BLOCK, "reveals saved Wi-Fi passwords", inv.text)
    elif re.search(r"\b(add|delete|set|reset)\b", text):
        st.add(CONFIRM, "changes network or firewall settings", inv.text)


def _taskkill(inv: Invocation, st: State) -> None:
    st.add(CONFIRM, "stops running programs", inv.text)


def _power(inv: Invocation, st: State) -> None:
    st.add(CONFIRM, "shuts down, restarts or logs off the computer", inv.text)


def _wevtutil(inv: Invocation, st: State) -> None:
    if inv.args and inv.args[0].lower() in ("cl", "clear-log", "sl", "set-log", "um"):
        st.add(BLOCK, "erases or disables system logs", inv.text)


def judge_lolbin(inv: Invocation, st: State) -> None:
    """Windows programs abused to download, decode or run code (certutil, bitsadmin, mshta, regsvr32…)."""
    text = " ".join(inv.args).lower()
    name = inv.name
    if name == "certutil":
        if re.search(r"[-/](urlcache|verifyctl|decode|decodehex)\b", text) or "http" in text:
            st.add(BLOCK, "downloads or decodes a payload with certutil", inv.text)
    elif name == "bitsadmin":
        if re.search(r"/(transfer|addfile|create|setnotifycmdline)", text):
            st.add(BLOCK, "downloads a payload with bitsadmin", inv.text)
    elif name == "mshta":
        st.add(BLOCK, "runs a script through mshta, a common way to run downloaded code", inv.text)
    elif name == "regsvr32":
        if re.search(r"/i:|scrobj|http", text):
            st.add(BLOCK, "runs a remote script through regsvr32", inv.text)
        else:
            st.add(CONFIRM, "registers a system library", inv.text)
    elif name == "rundll32":
        if re.search(r"javascript:|vbscript:|http|url\.dll|advpack|ieadvpack|shell32\.dll,\s*shellexec", text):
            st.add(BLOCK, "runs code through rundll32", inv.text)
        elif re.search(r"lockworkstation|setsuspendstate|exitwindowsex", text):
            st.add(CONFIRM, "locks, suspends or logs off the computer", inv.text)
        else:
            st.add(CONFIRM, "runs a function of a system library", inv.text)


def _lolbin(inv: Invocation, st: State) -> None:
    judge_lolbin(inv, st)


def _move(inv: Invocation, st: State) -> None:
    targets = [a for a in inv.args if not a.startswith("/")]
    if any(st.place(t) >= Place.SYSTEM_FILE for t in targets):
        st.add(BLOCK, "moves system files or your home folder away", inv.text)
    st.add(CONFIRM, "moves or renames files", inv.text)


def _copy(inv: Invocation, st: State) -> None:
    flags = _flags(inv.args)
    targets = [a for a in inv.args if not a.startswith("/")]
    for source in targets[:-1] if inv.name == "copy" else ():
        for part in source.split("+"):  # 'copy a+b c' joins a and b
            cmdbase.reads_raw_device(part, inv, st)
    if targets and len(targets) > 1:
        cmdbase.judge_write_target(targets[-1], False, inv, st)
    if inv.name == "robocopy" and flags & {"/mir", "/purge", "/move", "/mov"}:
        st.add(CONFIRM, "mirrors folders and deletes files that differ", inv.text)
    if "/y" in flags:
        st.add(CONFIRM, "copies over existing files", inv.text)


def _acl(inv: Invocation, st: State) -> None:
    targets = [a for a in inv.args if not a.startswith("/") and ":" not in a[2:]]
    recursive = bool(_flags(inv.args) & {"/t", "/r"})
    if recursive and any(st.place(t) >= Place.SYSTEM_FILE for t in targets):
        st.add(BLOCK, "changes permissions or owners of a whole system tree", inv.text)
    if inv.name == "icacls" and not re.search(r"/(grant|deny|remove|reset|setowner|restore)", inv.text, re.I):
        return
    st.add(CONFIRM, "changes file permissions or ownership", inv.text)


def _cipher(inv: Invocation, st: State) -> None:
    if any(a.lower().startswith("/w") for a in inv.args):
        st.add(CONFIRM, "wipes free disk space", inv.text)


def _subst(inv: Invocation, st: State) -> None:
    if not any(a.lower() == "/d" for a in inv.args):
        _map_drive(inv, st)


def _tree_reader(inv: Invocation, st: State) -> None:
    """``findstr /s``, ``xcopy /s``, ``robocopy /e`` read every file under a folder: ask when a protected
    location lies inside it (``findstr /s KEY ..\\*`` from a project reads ~/.ssh)."""
    flags = _flags(inv.args)
    recursive = {"findstr": {"/s"}, "xcopy": {"/s", "/e"}, "robocopy": {"/s", "/e", "/mir"}}[inv.name]
    if not flags & recursive:
        if inv.name != "findstr":
            _copy(inv, st)
        return
    sources = [a for a in inv.args if not a.startswith("/")]
    if inv.name == "findstr":
        sources = sources[1:]  # the first is what to look for
    elif inv.name == "xcopy":
        sources = sources[:1]
    else:
        sources = sources[:1]
    for source in sources:
        folder = source.strip('"')
        if "*" in folder or "?" in folder:
            folder = folder.rsplit("\\", 1)[0] if "\\" in folder else "."
        hit = st.policy.restricted_inside(folder, st.cwd, st.resolve, dotglob=True)
        if hit is not None:
            st.add(CONFIRM, f"reads a whole folder tree that holds a protected location {hit}", inv.text)
    if inv.name != "findstr":
        _copy(inv, st)


def _cmd(inv: Invocation, st: State) -> None:
    judge_cmd_invocation(inv.args, st, inv.text)


CMD_RULES: dict[str, Callable[[Invocation, State], None]] = {
    "del": _del, "erase": _del, "rd": _rd, "rmdir": _rd, "deltree": _rd, "format": _format, "diskpart": _diskpart,
    "reg": _reg, "vssadmin": _vssadmin, "wmic": _wmic, "bcdedit": _bcdedit, "wbadmin": _wbadmin,
    "schtasks": _schtasks, "sc": _sc, "net": _net, "net1": _net, "netsh": _netsh, "taskkill": _taskkill,
    "tskill": _taskkill, "shutdown": _power, "logoff": _power, "wevtutil": _wevtutil,
    "certutil": _lolbin, "bitsadmin": _lolbin, "mshta": _lolbin, "regsvr32": _lolbin, "rundll32": _lolbin,
    "move": _move, "ren": _move, "rename": _move, "copy": _copy, "xcopy": _tree_reader, "robocopy": _tree_reader,
    "findstr": _tree_reader, "subst": _subst,
    "icacls": _acl, "takeown": _acl, "cacls": _acl, "cipher": _cipher, "cmd": _cmd,
}  # fmt: skip
