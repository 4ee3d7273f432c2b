"""Classification of PowerShell command lines: cmdlets and their aliases, .NET calls, encoded commands.

Native programs called from PowerShell (git, docker, python…) are judged by the shared rules in
``commands`` through ``posix.judge_words``.
"""

from __future__ import annotations

import re

from contop.security import cmdbase, cmdfetch, paths, payload
from contop.security.cmdbase import SECURITY_SERVICES, SUSPICIOUS_PAYLOAD, Invocation, judge_deletion
from contop.security.findings import BLOCK, CONFIRM
from contop.security.keywords import Keywords
from contop.security.paths import Place
from contop.security.psparse import (
    MAX_VALUES,
    UNKNOWN,
    Lookup,
    PsCommand,
    Value,
    built_values,
    parse_ps,
    static_call_arguments,
)
from contop.security.state import State

ALIASES = {
    "ri": "remove-item", "rm": "remove-item", "rmdir": "remove-item", "del": "remove-item", "erase": "remove-item",
    "rd": "remove-item", "mi": "move-item", "mv": "move-item", "move": "move-item", "rni": "rename-item",
    "ren": "rename-item", "cpi": "copy-item", "cp": "copy-item", "copy": "copy-item", "kill": "stop-process",
    "spps": "stop-process", "iex": "invoke-expression", "iwr": "invoke-webrequest", "curl": "invoke-webrequest",
    "wget": "invoke-webrequest", "irm": "invoke-restmethod", "sc": "set-content", "clc": "clear-content",
    "cli": "clear-item", "rp": "remove-itemproperty", "sp": "set-itemproperty", "spsv": "stop-service",
    "saps": "start-process", "start": "start-process", "icm": "invoke-command", "ac": "add-content",
    "ni": "new-item", "gc": "get-content", "cat": "get-content", "type": "get-content", "ls": "get-childitem",
    "dir": "get-childitem", "gci": "get-childitem", "echo": "write-output", "write": "write-output",
    "clhy": "clear-history", "rjb": "remove-job", "rwmi": "remove-wmiobject", "rcim": "remove-ciminstance",
    "sasv": "start-service", "cd": "set-location", "sl": "set-location", "chdir": "set-location",
}  # fmt: skip

_FLOOR = {
    "remove-item": "deletes files", "move-item": "moves or renames files", "rename-item": "moves or renames files",
    "stop-process": "stops running programs", "restart-computer": "restarts the computer",
    "stop-computer": "shuts down the computer", "clear-content": "empties files", "clear-item": "clears items",
    "set-content": "overwrites a file", "remove-itemproperty": "deletes registry values",
    "stop-service": "stops a service", "remove-service": "removes a service", "restart-service": "restarts a service",
    "suspend-service": "pauses a service", "invoke-expression": "runs text as code",
    "out-file": "overwrites a file", "set-itemproperty": "changes registry values or file properties",
    "remove-wmiobject": "deletes system objects", "remove-ciminstance": "deletes system objects",
    "uninstall-package": "removes installed software", "uninstall-module": "removes a PowerShell module",
    "remove-appxpackage": "removes installed software", "disable-computerrestore": "turns off system restore",
    "remove-localuser": "deletes a user account", "remove-aduser": "deletes a user account",
    "new-localuser": "creates a user account", "add-localgroupmember": "changes group membership",
    "set-executionpolicy": "lowers the script execution policy", "logoff": "logs off",
    "suspend-computer": "suspends the computer", "remove-psdrive": "removes a drive mapping",
    "disable-netadapter": "turns off a network adapter", "remove-smbshare": "removes a network share",
    "stop-job": "stops background jobs", "remove-job": "removes background jobs",
    "remove-variable": "removes variables", "remove-module": "unloads a module",
    "disable-netfirewallrule": "changes firewall rules", "new-netfirewallrule": "changes firewall rules",
    "set-netfirewallrule": "changes firewall rules", "remove-netfirewallrule": "changes firewall rules",
    "new-service": "installs a service", "set-service": "changes a service", "copy-item": "",
    "set-acl": "changes permissions", "takeown": "takes ownership of files",
}  # fmt: skip
_BLOCKERS = {
    "format-volume": "formats a drive", "clear-disk": "erases a disk", "initialize-disk": "erases a disk",
    "remove-partition": "deletes a disk partition", "clear-eventlog": "erases system logs",
    "remove-eventlog": "erases system logs", "clear-history": "erases shell history",
    "clear-recyclebin": "", "set-mppreference": "", "add-mppreference": "", "set-netfirewallprofile": "",
    "uninstall-windowsfeature": "", "disable-windowsoptionalfeature": "",
}  # fmt: skip

FETCH = Keywords(
    r"invoke-webrequest|invoke-restmethod|\biwr\b|\birm\b|\bcurl\b|\bwget\b|downloadstring|downloaddata|"
    r"downloadfile|net\.webclient|start-bitstransfer|xmlhttp|system\.net\.http|\[net\.http",
    re.IGNORECASE,
)
EXECUTE = Keywords(
    r"\biex\b|invoke-expression|\[scriptblock\]::create|invoke-command|\.invoke\(\)|\binvoke\(|&\s*\(|"
    r"add-type|reflection\.assembly\]::load|start-process",
    re.IGNORECASE,
)
_B64_LITERAL = re.compile(r"frombase64string\(\s*['\"]?([A-Za-z0-9+/=]{8,})", re.IGNORECASE)
_TCP = Keywords(r"net\.sockets\.tcp(client|listener)|system\.net\.sockets", re.IGNORECASE)
_ENV_DUMP = Keywords(
    r"(get-childitem|gci|dir|ls)\s+env:|\[environment\]::getenvironmentvariables|get-item\s+env:\\?\*", re.I
)
_SEND = Keywords(
    r"-method\s+(post|put)|-body\b|-infile\b|uploadstring|uploadfile|uploaddata|-form\b|net\.sockets", re.IGNORECASE
)
_SHADOW = Keywords(r"win32_shadowcopy|shadowcopy|vssadmin", re.IGNORECASE)
_HISTORY = Keywords(r"historysavepath|consolehost_history", re.IGNORECASE)
_RUN_KEY = Keywords(r"currentversion\\(run|runonce|policies\\explorer\\run)|\\winlogon|image file execution", re.I)
_DOTNET_DELETE = re.compile(r"\[(system\.)?io\.(file|directory)\]::delete\s*\(", re.IGNORECASE)
_DOTNET_WRITE = re.compile(r"\[(system\.)?io\.file\]::(writeall\w+|create|move|copy|replace)\s*\(", re.IGNORECASE)
_SAVE_SAM = re.compile(r"reg(\.exe)?\s+save\s+hklm\\(sam|system|security)", re.IGNORECASE)
_REGISTRY_PATH = re.compile(r"(hk\w+:|registry::)", re.IGNORECASE)
_SWITCHES = frozenset(
    "-recurse -force -whatif -confirm -verbose -passthru -append -noclobber -nonewline -wait -asjob -usebasicparsing "
    "-r -rec -fo -f".split()
)
# PowerShell's approved verbs that appear in the cmdlets we meet: a name with one of them is a cmdlet, else native
_VERBS = frozenset(
    "get test select where format measure convertto convertfrom write out sort new add import export foreach compare "
    "group read show find resolve join split expand compress invoke start set enable update install wait push pop "
    "register unregister receive tee trace debug confirm use connect disconnect save copy clear remove stop restart "
    "suspend disable uninstall rename move reset".split()
)
_NAME = re.compile(r"^[&.]?\s*([\w.\\/:-]+)")


def analyze(source: str, st: State) -> None:
    st.check_depth()
    st.depth += 1
    try:
        _analyze(source, st)
    finally:
        st.depth -= 1


def _analyze(source: str, st: State) -> None:
    script = parse_ps(source)
    variables: dict[str, str] = {}
    values: dict[str, list[Value]] = {}  # what each variable holds, as far as it is known (name without '$')
    for statement in script.statements:
        _statement(statement, variables, values, st)
    for inner in script.nested:
        analyze(inner, st)
    _whole_text_rules(source, st)


def _whole_text_rules(source: str, st: State) -> None:
    if _TCP.search(source) and re.search(r"getstream|iex|invoke-expression|\.read\(", source, re.I):
        st.add(BLOCK, "connects a shell to the network (reverse shell)", source)
    if _ENV_DUMP.search(source) and (_SEND.search(source) or FETCH.search(source)):
        st.add(BLOCK, "sends your environment variables to another machine", source)
    for match in _DOTNET_DELETE.finditer(source):
        args = source[match.end() :].split(")", 1)[0]
        target = args.split(",")[0].strip().strip("'\"")
        inv = Invocation("[io.file]::delete", [target], source)
        judge_deletion([target] if target else [], ", $true" in args.lower(), inv, st)
    if _DOTNET_WRITE.search(source):
        st.add(CONFIRM, "overwrites or moves files", source)
    if cmdbase.DEFENDER_OFF.search(source) and re.search(r"set-itemproperty|new-itemproperty|\bsp\b", source, re.I):
        st.add(BLOCK, "turns off Windows security protections", source)
    if st.env_dumps and _SEND.search(source) and any(d and d.lower() in source.lower() for d in st.env_dumps):
        st.add(BLOCK, "sends your home directory or environment to another machine", source)
    if _SAVE_SAM.search(source):
        st.add(BLOCK, "copies the Windows password database", source)
    if _UPLOAD.search(source):
        st.add(CONFIRM, "sends a file's content to another machine", source)


_ASSIGN = re.compile(r"^\$([\w:]+)\s*(\+?=)(?!=)\s*(.*)$", re.S)
_DOWNLOAD_FILE = re.compile(r"downloadfile\(\s*['\"]?[^'\",]+['\"]?\s*,\s*['\"]?([^'\")]+)", re.IGNORECASE)


def _statement(stages: list[PsCommand], variables: dict[str, str], values: dict[str, list[Value]], st: State) -> None:
    fetched = False
    piped: list[str] = []
    lookup = _lookup(values, st)
    for index, cmd in enumerate(stages):
        words = cmd.words
        if not words:
            continue
        _script_blocks(cmd.text, lookup, st)
        _profile_writes(cmd, st)
        assignment = _ASSIGN.match(cmd.text) if index == 0 else None
        if assignment:
            value = assignment.group(3).strip()
            name = assignment.group(1).lower()
            variables["$" + name] = value.strip("'\"")
            if name.startswith("env:"):  # '$env:npm_config_call = …': the programs run later see it
                st.vars[assignment.group(1)[4:]] = value.strip("'\"")
            _judge_expression(value, cmd.text, variables, st)
            fetched = fetched or bool(FETCH.search(value))
            built = built_values(value, lookup)
            values[name] = _concat_known(values.get(name), built) if assignment.group(2) == "+=" else built
            _judge_built(values[name], st, cmd.text)
            _judge_calls(value, lookup, st, cmd.text)
            continue
        for match in _DOWNLOAD_FILE.finditer(cmd.text):
            st.downloads.add(re.split(r"[/\\]", match.group(1).strip())[-1])
        words = _built_words(cmd, lookup, st)
        words = [variables.get(w.lower(), w) if w.startswith("$") else w for w in words]
        if cmd.literal_first or (words[0][:1] in "([$@" and words[0] not in ("&", ".")):
            # an expression: the paths it builds or hands to .NET (``[IO.File]::ReadAllText(p)``) are judged
            _judge_built(built_values(cmd.text, lookup), st, cmd.text)
            _judge_calls(cmd.text, lookup, st, cmd.text)
        if words[0][:1] in "([$@0123456789" and words[0] not in ("&", "."):
            # an expression, not a command: its sub-expressions are classified as nested scripts
            if EXECUTE.search(cmd.text) and FETCH.search(cmd.text):
                st.add(BLOCK, "runs code downloaded from the network", cmd.text)
            fetched = fetched or bool(re.search(r"downloadstring|downloaddata", cmd.text, re.I))
            continue
        if cmd.literal_first:
            continue  # a quoted string piped somewhere: data
        name, args = _split_name(words)
        canonical = ALIASES.get(name, name)
        if canonical in ("get-childitem", "get-item") and index == 0:
            named_in, positional_in = _params(args)
            piped = [_param(named_in, "-path", "-literalpath") or (positional_in[0] if positional_in else ".")]
        elif index and piped and stages[0].words and _reads_items(canonical, cmd.text):
            _tree_read(piped[0], st, " | ".join(c.text for c in stages))
        elif canonical == "remove-item" and index and piped:
            named_rm, positional_rm = _params(args)
            if not positional_rm and _param(named_rm, "-path", "-literalpath") is None:
                args = [*args, *piped]
        named, _ = _params(args)
        whatif = _param(named, "-whatif")
        if whatif is None or whatif.lower() in ("$false", "0"):
            st.seen.append((name, args))
            if canonical != name:
                st.seen.append((canonical, args))
        expanded = _expand_vars(cmd.text, variables)
        if canonical == "invoke-expression" or (canonical in ("&", ".") and args and args[0].startswith("(")):
            _execution_sink(expanded, fetched, st, cmd.text)
        elif EXECUTE.search(expanded) and FETCH.search(expanded) and canonical not in _DATA:
            st.add(BLOCK, "runs code downloaded from the network", cmd.text)
        _cmdlet(canonical, args, cmd.text, st)
        if canonical in ("invoke-webrequest", "invoke-restmethod") and not any(
            a.lower().startswith("-outf") for a in args
        ):
            fetched = True
        elif index and canonical not in ("foreach-object", "select-object", "out-string", "%", "where-object"):
            fetched = fetched and canonical in ("get-content",)


_SCRIPT_BLOCK = re.compile(r"\[(?:system\.management\.automation\.)?scriptblock\]\s*::\s*create\s*\(", re.I)


def _script_blocks(text: str, lookup: Lookup, st: State) -> None:
    """``[ScriptBlock]::Create('…')`` makes code that ``& $s`` or ``.Invoke()`` runs: its text is judged like
    ``iex``'s, and a text known only when it runs is asked about."""
    for match in _SCRIPT_BLOCK.finditer(text):
        start = match.end() - 1
        inner = text[start + 1 : _closing_paren(text, start)]
        codes = built_values(inner, lookup)
        for code in codes:
            if None not in code:
                analyze("".join(p for p in code if p is not None), st)
        st.add(CONFIRM, "runs text as PowerShell code", text)


def _closing_paren(text: str, start: int) -> int:
    """The index of the ``)`` closing the ``(`` at ``start``, outside quotes (the length when not closed)."""
    depth, quote = 0, ""
    for j in range(start, len(text)):
        c = text[j]
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return j
    return len(text)


_PROFILE = re.compile(r"\$(?:global:)?profile\b|_profile\.ps1\b|\\(?:windows)?powershell\\profile\.ps1\b", re.I)
_WRITERS = frozenset({"add-content", "set-content", "out-file", "new-item", "copy-item", "move-item", "tee-object"})


def _profile_writes(cmd: PsCommand, st: State) -> None:
    """A write to ``$PROFILE`` (or a profile script by name) changes code PowerShell runs at every start: asked
    about like a write to ~/.bashrc."""
    raw = cmd.raw or cmd.words
    if not any(_PROFILE.search(w) for w in raw):
        return
    name = ALIASES.get(cmdbase.normalise(cmd.words[0]), cmdbase.normalise(cmd.words[0]))
    redirected = any(w in (">", ">>", "2>", "*>", "2>>", "*>>") and _PROFILE.search(raw[i + 1] if i + 1 < len(raw)
                     else "") for i, w in enumerate(raw))  # fmt: skip
    if redirected or name in _WRITERS or re.search(r">\s*\$profile", cmd.text, re.I):
        st.add(CONFIRM, "changes the PowerShell profile, which runs at every start", cmd.text)


_ITEM_READERS = frozenset({"get-content", "select-string", "sls", "copy-item", "compress-archive", "move-item"})
_READ_IN_BLOCK = re.compile(
    r"\b(gc|get-content|cat|type|select-string|sls|copy-item|cpi|cp|copy|compress-archive)\b|readall|::open", re.I
)


def _reads_items(name: str, text: str) -> bool:
    """Whether a pipeline stage reads the files Get-ChildItem hands it (``| gc``, ``| % { gc $_.FullName }``)."""
    if name in _ITEM_READERS:
        return True
    return name in ("foreach-object", "%", "foreach", "where-object", "?") and bool(_READ_IN_BLOCK.search(text))


def _tree_read(folder: str, st: State, text: str) -> None:
    """Reading what Get-ChildItem lists under a folder holding protected files reads them too."""
    hit = st.policy.restricted_inside(folder, st.cwd, st.resolve, dotglob=True)
    if hit is not None:
        st.add(CONFIRM, f"reads the files of a folder tree that holds a protected location {hit}", text)


_UPLOAD = re.compile(r"\.upload(?:file|string|data|values)(?:async|taskasync)?\s*\(", re.IGNORECASE)
_BODY_READ = re.compile(r"\b(gc|get-content|cat|type|get-item|gi|import-\w+)\b|readall|::open|\$", re.IGNORECASE)


def _uploads(name: str, named: dict[str, str], text: str, st: State) -> None:
    """Sending a file's content away (``-InFile``, ``-Form``, ``-Body (gc x)``, BITS uploads): asked about, as
    the gate cannot tell what the file holds."""
    body = _param(named, "-body")
    if (
        _param(named, "-infile") is not None
        or _param(named, "-form") is not None
        or (body is not None and _BODY_READ.search(body))
        or (name == "start-bitstransfer" and (_param(named, "-transfertype") or "").lower() == "upload")
    ):
        st.add(CONFIRM, "sends a file's content to another machine", text)


def _lookup(values: dict[str, list[Value]], st: State) -> Lookup:
    """What a variable holds for ``built_values``: ``$HOME``, ``$PWD``, the environment's folders and those
    ``[Environment]::GetFolderPath`` names, and what the line assigned."""
    home = st.policy.home

    def lookup(name: str) -> list[Value]:
        for scope in ("global:", "script:", "local:", "private:"):
            name = name.removeprefix(scope)
        if name == "home":
            return [(home,)]
        if name == "pwd":
            return [(st.cwd,)]
        if name.startswith("env:"):
            folder = paths.windows_folder(name[4:], home)
        elif name.startswith("folder:"):
            folder = paths.special_folder(name[7:], home)
        else:
            return values.get(name, [(None,)])
        return [(folder,)]

    return lookup


def _concat_known(before: list[Value] | None, after: list[Value]) -> list[Value]:
    """``$p += x``: what ``$p`` held (not known when the line did not set it), then ``x``."""
    joined = [a + b for a in (before or UNKNOWN) for b in after]
    return joined if len(joined) <= MAX_VALUES else UNKNOWN


_SIMPLE_VARIABLE = re.compile(r"\$((?:env:)?\w+)")


def _built_words(cmd: PsCommand, lookup: Lookup, st: State) -> list[str]:
    """The command's words with each argument that builds a path (``(Join-Path $HOME x)``, ``"$env:APPDATA/x"``,
    ``$p``) as the path it builds when that is known; one known only in part is judged by its known part."""
    words = list(cmd.words)
    for i in range(1, min(len(words), len(cmd.raw))):
        raw = cmd.raw[i]
        if raw[:1] == "-" or ("$" not in raw and "(" not in raw):
            continue
        simple = _SIMPLE_VARIABLE.fullmatch(raw)  # most often '$_', '$true', '$x': no evaluator needed
        built = lookup(simple.group(1).lower()) if simple else built_values(raw, lookup, argument=True)
        if len(built) == 1 and None not in built[0]:
            words[i] = "".join(p for p in built[0] if p is not None)
        else:
            _judge_built(built, st, cmd.text)
    return words


def _judge_calls(text: str, lookup: Lookup, st: State, shown: str) -> None:
    if "::" in text:
        opens = _IO_CALL.search(text) is not None
        for argument in static_call_arguments(text):
            built = built_values(argument, lookup)
            _judge_built(built, st, shown)
            for value in built if opens else ():
                if None not in value:  # [IO.File]::OpenRead('\\.\PhysicalDrive0'): the disk's bytes
                    cmdbase.reads_raw_device("".join(p for p in value if p is not None), Invocation("", [], shown), st)


_IO_CALL = re.compile(r"\[(?:system\.)?io\.\w+\]\s*::", re.IGNORECASE)
# Cmdlets that read the bytes of what their parameters name (New-Object IO.FileStream opens it).
_RAW_READERS = frozenset({"get-content", "copy-item", "format-hex", "fhx", "select-string", "sls", "import-csv",
                          "import-clixml", "new-object", "compress-archive", "start-bitstransfer"})  # fmt: skip


_PARTLY_KNOWN = "builds a path from a part known only when it runs, in a folder holding protected files"


def _judge_built(built: list[Value], st: State, text: str) -> None:
    """Judge each string a line builds as a path: a known one as the path it is; one with a part known only when
    it runs asks when the part known before it is a folder holding protected files (the home folder) and the
    name it starts there can be one of them (``Join-Path $HOME $x``, not ``"$HOME/log-$d.txt"``), and blocks when
    that folder is protected itself."""
    for value in built:
        if None not in value:
            st.check_paths(["".join(p for p in value if p is not None)], text)
            continue
        known = "".join(p for p in value[: value.index(None)] if p is not None)
        if not known or not paths.looks_like_path(known):
            continue
        cut = max(known.rfind("\\"), known.rfind("/")) + 1
        folder, stem = known[:cut], known[cut:]
        if folder:
            st.check_paths([folder], text)
        if st.policy.restricted_inside((folder or ".\\") + stem + "*", st.cwd, st.resolve, dotglob=True):
            st.add(CONFIRM, _PARTLY_KNOWN, text)


_DATA = frozenset({"write-output", "write-host", "select-string", "out-host", "write-verbose", "write-warning", "echo"})


def _split_name(words: list[str]) -> tuple[str, list[str]]:
    first = words[0]
    rest = words[1:]
    if first in ("&", ".") and rest:
        first, rest = rest[0], rest[1:]
        if first.startswith(("(", "{", "$")):
            return "&", [first, *rest]
    match = _NAME.match(first)
    if match and match.end() < len(first) and " " not in first:  # '& 'C:\\Program Files\\x.cmd'': one path
        rest = [first[match.end() :], *rest]
        first = match.group(1)
    name = cmdbase.normalise(first)
    if name.endswith(".ps1") and name[:-4] in cmdfetch.RULES:  # 'npx.ps1', the shim npm installs for PowerShell
        name = name[:-4]
    return name, rest


def _expand_vars(text: str, variables: dict[str, str]) -> str:
    if not variables or "$" not in text:
        return text
    return re.sub(r"\$[\w:]+", lambda m: variables.get(m.group(0).lower(), m.group(0)), text)


def _execution_sink(text: str, fetched: bool, st: State, shown: str) -> None:
    if fetched or FETCH.search(text):
        st.add(BLOCK, "runs code downloaded from the network", shown)
    _judge_expression(text, shown, {}, st)
    st.add(CONFIRM, "runs text as PowerShell code", shown)


def _judge_expression(text: str, shown: str, variables: dict[str, str], st: State) -> None:
    """Decode base64 literals fed to FromBase64String and classify what they hide."""
    for match in _B64_LITERAL.finditer(text):
        utf16 = True if re.search(r"unicode|utf-?16", text, re.I) else None
        decoded = payload.b64decode(match.group(1), utf16=utf16)
        if decoded:
            analyze(decoded, st)
            st.add(CONFIRM, "runs an encoded payload", shown)


def _params(args: list[str]) -> tuple[dict[str, str], list[str]]:
    """Named parameters (lower case, without value for switches) and positional arguments."""
    named: dict[str, str] = {}
    positional: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("-") and len(arg) > 1 and not arg[1].isdigit():
            key, _, value = arg.lower().partition(":")
            if value:
                named[key] = value
            elif key in _SWITCHES or i + 1 >= len(args) or (args[i + 1].startswith("-") and " " not in args[i + 1]):
                named[key] = "$true"
            else:
                named[key] = args[i + 1]
                i += 1
        elif arg in (">", ">>", "2>", "*>", "2>>", "*>>"):
            named[arg] = args[i + 1] if i + 1 < len(args) else ""
            i += 1
        else:
            positional.extend(a for a in arg.split(",") if a)
        i += 1
    return named, positional


def _param(named: dict[str, str], *prefixes: str) -> str | None:
    for key, value in named.items():
        for prefix in prefixes:
            if (len(key) >= 3 and prefix.startswith(key)) or key == prefix:
                return value
    return None


def _cmdlet(name: str, args: list[str], text: str, st: State) -> None:
    named, positional = _params(args)
    st.check_paths([*positional, *named.values()], text)
    if name in _RAW_READERS:
        for source in (*positional, *named.values()):
            cmdbase.reads_raw_device(source.strip("'\""), Invocation(name, args, text), st)
        if cmdbase.DEVICE_HINT.search(text):  # 'New-Object IO.FileStream('\\.\PhysicalDrive0', …)'
            cmdbase.given_raw_device(args, Invocation(name, args, text), st)
    for op in (">", "2>", "*>"):
        if op in named:
            cmdbase.judge_write_target(named[op], False, Invocation(name, args, text), st)
    for op in (">>", "2>>", "*>>"):
        if op in named:
            cmdbase.judge_write_target(named[op], True, Invocation(name, args, text), st)
    whatif = _param(named, "-whatif")
    dry = whatif is not None and whatif.lower() not in ("$false", "0")
    path = _param(named, "-path", "-literalpath", "-lp")
    targets = ([path] if path else []) + positional
    inv = Invocation(name, targets, text)
    if name in _BLOCKERS:
        _blocker(name, named, args, text, st)
        return
    if name == "remove-item":
        if any(_HISTORY.search(t) for t in targets):
            st.add(BLOCK, "erases shell history", text)
        if any(_REGISTRY_PATH.match(t) for t in targets):
            if not dry:
                st.add(CONFIRM, "deletes registry keys", text)
            return
        if dry:
            return
        recursive = _param(named, "-recurse") is not None
        judge_deletion(targets, recursive, inv, st)
    elif name in ("set-content", "out-file", "add-content", "new-item", "copy-item", "move-item", "rename-item"):
        destination = _param(named, "-destination", "-filepath", "-path") or (targets[-1] if targets else "")
        if destination and not dry:
            if name in ("add-content",) or (name == "out-file" and _param(named, "-append") is not None):
                cmdbase.judge_write_target(destination, True, inv, st)
                return
            if name == "new-item":
                cmdbase.persistence_write(destination, inv, st)
                return
            cmdbase.judge_write_target(destination, False, inv, st)
            if name in ("move-item", "rename-item") and targets:
                _system_move(targets, inv, st)
        if name == "copy-item":
            if _param(named, "-force") is not None:
                st.add(CONFIRM, "copies over existing files", text)
            return
    elif name in ("stop-service", "set-service", "spsv") and any(
        SECURITY_SERVICES.match(t) for t in [*positional, str(_param(named, "-name") or "")]
    ):
        if name != "set-service" or re.search(r"disabled|stopped", text, re.I):
            st.add(BLOCK, "turns off a security or logging service", text)
    elif name in ("register-scheduledtask", "new-scheduledtaskaction", "new-service", "new-itemproperty") or (
        name == "set-itemproperty" and _RUN_KEY.search(text)
    ):
        if name in ("new-itemproperty", "set-itemproperty") and not _RUN_KEY.search(text):
            st.add(CONFIRM, "changes registry values", text)
            return
        if SUSPICIOUS_PAYLOAD.search(st.source) or re.search(
            r"-w(indowstyle)?\s+hidden|\\temp\\|\.vbs|\.hta", st.source, re.I
        ):
            st.add(BLOCK, "installs a hidden or downloaded program to start automatically", text)
        st.add(CONFIRM, "adds a program that starts automatically", text)
    elif name in ("remove-wmiobject", "remove-ciminstance") and _SHADOW.search(st.source):
        st.add(BLOCK, "deletes the shadow copies used to restore files", text)
    elif name == "compress-archive":
        destination = _param(named, "-destinationpath") or (positional[-1] if len(positional) > 1 else "")
        for source in targets:
            if source != destination:
                _tree_read(source, st, text)
        if any(st.place(t) >= Place.HOME for t in targets if t != destination) and destination:
            st.env_dumps.add(re.split(r"[/\\]", destination)[-1])
    elif name in ("invoke-webrequest", "invoke-restmethod", "start-bitstransfer"):
        _uploads(name, named, text, st)
        out = _param(named, "-outfile", "-destination")
        if out:
            st.downloads.add(re.split(r"[/\\]", out)[-1])
    elif name in ("start-process",):
        target = _param(named, "-filepath") or (positional[0] if positional else "")
        if re.split(r"[/\\]", target)[-1] in st.downloads:
            st.add(BLOCK, "runs a program it just downloaded", text)
        arglist = _param(named, "-argumentlist", "-args")
        if cmdbase.normalise(target) in ("powershell", "pwsh", "cmd") and arglist:
            _host_words(cmdbase.normalise(target), arglist, st, text)
        elif target:  # 'Start-Process npx -ArgumentList cowsay' runs 'npx cowsay'
            program, _ = _split_name([target.strip("'\"")])
            given = [w.strip("'\"") for w in re.split(r"[\s,]+", arglist or "") if w.strip("'\"")]
            _native(program, given, text, st)
    elif name == "set-location" and targets:
        st.cwd = st.policy.expand(targets[0], st.cwd)
    elif name == "set-executionpolicy" and not re.search(r"unrestricted|bypass", text, re.I):
        return
    elif name in ("&",):
        return
    elif "-" not in name or name.split("-", 1)[0] not in _VERBS:
        _native(name, args, text, st)
        return
    if name == "invoke-command" and _param(named, "-scriptblock") is None and "-filepath" not in named:
        return
    floor = _FLOOR.get(name)
    if floor and not dry:
        st.add(CONFIRM, floor, text)
    if name.startswith(("remove-", "clear-", "uninstall-", "stop-", "disable-", "reset-", "unregister-")) and not dry:
        st.add(CONFIRM, f"removes, stops or resets something ({name})", text)


def _system_move(targets: list[str], inv: Invocation, st: State) -> None:
    if any(st.place(t) >= Place.SYSTEM_FILE for t in targets):
        st.add(BLOCK, "moves system files or your home folder away", inv.text)


def _blocker(name: str, named: dict[str, str], args: list[str], text: str, st: State) -> None:
    lowered = text.lower()
    if name == "set-mppreference":
        if "-exclusion" in lowered or re.search(
            r"-disable\w+\s+(\$true|1)|-disable\w+:\$true|-mapsreporting\s+0|-submitsamplesconsent\s+2", lowered
        ):
            st.add(BLOCK, "turns off Microsoft Defender", text)
        else:
            st.add(CONFIRM, "changes Microsoft Defender settings", text)
    elif name == "add-mppreference":
        if "-exclusion" in lowered:
            st.add(BLOCK, "hides files or programs from Microsoft Defender", text)
        else:
            st.add(CONFIRM, "changes Microsoft Defender settings", text)
    elif name == "set-netfirewallprofile":
        if re.search(r"-enabled\s*:?\s*(\$?false|0)", lowered):
            st.add(BLOCK, "turns off the firewall", text)
        else:
            st.add(CONFIRM, "changes firewall settings", text)
    elif name in ("uninstall-windowsfeature", "disable-windowsoptionalfeature"):
        if "defender" in lowered:
            st.add(BLOCK, "removes Microsoft Defender", text)
        else:
            st.add(CONFIRM, "removes a Windows feature", text)
    elif name == "clear-recyclebin":
        st.add(CONFIRM, "empties the recycle bin", text)
    elif _param(named, "-whatif") is not None:
        return
    else:
        st.add(BLOCK, _BLOCKERS[name], text)


def _native(name: str, args: list[str], text: str, st: State) -> None:
    from contop.security import cmdshell, posix

    if name in ("powershell", "pwsh", "cmd"):
        _host_words(name, " ".join(args), st, text, words=args)
        return
    if name in cmdshell.CMD_RULES:
        cmdshell.judge_cmd_words([name, *args], st, text)
        return
    posix.judge_words([name, *args], st, text)


def _host_words(name: str, arglist: str, st: State, text: str, words: list[str] | None = None) -> None:
    from contop.security import cmdshell

    args = words if words is not None else arglist.split()
    if name == "cmd":
        cmdshell.judge_cmd_invocation(args, st, text)
    else:
        judge_host_invocation(args, st, text)


_VALUE_OPTIONS = (
    "-executionpolicy", "-ep", "-exec", "-windowstyle", "-w", "-win", "-version", "-v", "-inputformat",
    "-outputformat", "-configurationname", "-workingdirectory", "-wd", "-psconsolefile",
)  # fmt: skip


def judge_host_invocation(args: list[str], st: State, text: str) -> None:
    """``powershell [-NoProfile] [-w hidden] -Command … | -EncodedCommand …`` (from any shell)."""
    lowered = [a.lower() for a in args]
    hidden = "hidden" in lowered
    i = 0
    while i < len(args):
        arg = lowered[i]
        key = arg.split(":", 1)[0]
        if key in ("-e", "-ec", "-enc") or (len(key) >= 4 and "-encodedcommand".startswith(key)):
            blob = args[i + 1] if i + 1 < len(args) else ""
            decoded = payload.b64decode(blob, utf16=True) or payload.b64decode(blob)
            if decoded is None:
                st.add(BLOCK, "runs an encoded command that cannot be read", text)
            else:
                if hidden and FETCH.search(decoded):
                    st.add(BLOCK, "runs a hidden download", text)
                analyze(decoded, st)
                st.add(CONFIRM, "runs an encoded PowerShell command", text)
            return
        if key in ("-file", "-f"):
            script = args[i + 1] if i + 1 < len(args) else ""
            if cmdbase.normalise(script) in {cmdbase.normalise(d) for d in st.downloads}:
                st.add(BLOCK, "runs a program it just downloaded", text)
            return
        if key in _VALUE_OPTIONS or any(len(key) >= 3 and o.startswith(key) for o in _VALUE_OPTIONS if len(o) > 4):
            i += 2
            continue
        if arg.startswith("-") and not (len(key) >= 2 and "-command".startswith(key)):
            i += 1
            continue
        code = " ".join(args[i + 1 :] if arg.startswith("-") else args[i:])
        if hidden and FETCH.search(code):
            st.add(BLOCK, "runs a hidden download", text)
        analyze(code, st)
        return
