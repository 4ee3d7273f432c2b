"""The links a program's code makes and the files it writes, judged as the shell's ``ln``, ``cp``, ``mv`` and ``>``.

``python3 -c "import os; os.symlink('/etc', '/tmp/e')"`` makes the link ``ln -s /etc /tmp/e`` makes, so what the
line writes through it later is judged where it lands; ``open('/etc/hosts', 'w')`` writes that file as
``> /etc/hosts`` does. Only calls whose paths are string literals name a file; a link made with a path known only
when the program runs leads somewhere not known, so what the line reaches through links asks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from contop.security import cmdbase
from contop.security.cmdbase import Invocation
from contop.security.findings import CONFIRM
from contop.security.state import State

UNKNOWN = "$CONTOP_UNKNOWN"  # a path only known when the program runs: ln and the checks take '$…' as not known

# Calls that make a link, the argument holding what it leads to and the one naming the link. os.symlink, fs.symlink
# (Sync), File.symlink, Perl's, PHP's and Julia's symlink are (source, link); so are the hard-link calls.
_LINKS = re.compile(
    r"(?<![\w$])(?:(?:os|fs|File|fsp|promises)\.)?(?P<kind>symlink|link)(?:Sync)?(?=\s*\(|\s+['\"$])"
    r"|(?<![\w$])FileUtils\.(?P<fu>ln_sf|ln_s|ln_sr|ln_f|ln)(?=\s*\(|\s+['\"$])"
)
# A pathlib path named by a literal, and the method called on it: Path('x').write_text(…), .symlink_to('…').
_PATH_CALL = re.compile(r"(?<![\w$])(?:pathlib\.)?(?:Path|PosixPath|PurePosixPath|WindowsPath)\s*\(")
_METHOD = re.compile(r"\s*\.\s*(\w+)\s*\(")
# A wrapper around a path that keeps it one path: expanduser('~/x') is the home folder's, Path('x'), abspath.
_WRAPPER = re.compile(
    r"(?:[\w.]*\.)?(?P<name>expanduser|expand_path|abspath|realpath|normpath|Path|PosixPath|PurePosixPath|"
    r"Pathname\.new|Pathname|fsencode|resolve)\s*\((?P<inner>.*)\)\s*\Z",
    re.S,
)
_PREFIXED = re.compile(r"[rRbBuU]{1,2}(?=['\"])")  # r'…', b'…': the same text
# Calls opening a file with a mode in the argument after its path: Python's and Ruby's open, File.open, PHP's
# fopen, Node's fs.open(Sync).
_OPEN_MODE = re.compile(r"(?<![\w$])(?P<module>(?:io|codecs|File|IO|fs)\.)?(?:open|fopen|openSync)\s*\(")
# Calls writing the file their first argument names, and whether they append.
_WRITE_CALLS = re.compile(
    r"(?<![\w$])(?P<module>(?:fs|fsp|promises|File|IO)\.)?(?P<name>writeFileSync|writeFile|appendFileSync|appendFile|"
    r"createWriteStream|file_put_contents|write|binwrite)\s*\("
)
_NODE_WRITES = frozenset({"writeFileSync", "writeFile", "appendFileSync", "appendFile", "createWriteStream"})
# Calls copying or moving a file (source, destination), judged as the shell command that does the same.
_COPIES = re.compile(
    r"(?<![\w$])(?P<module>shutil\.|os\.|fs\.|fsp\.|promises\.|FileUtils\.|File\.|File::Copy::|\.)?"
    r"(?P<name>copyfile|copy2|copytree|copyFileSync|copyFile|copy|move|renameSync|renames|rename|replace|cpSync|"
    r"cp_r|cp|mv)\s*\("
)
# (language, module, name) -> the command and its options: shutil.copy puts the copy inside a folder as cp does;
# copyfile, os.rename and the like name the file itself (-T).
_COPY_COMMANDS: dict[tuple[str, str, str], tuple[str, str]] = {
    **{("python", "shutil.", n): ("cp", "") for n in ("copy", "copy2")},
    ("python", "shutil.", "copyfile"): ("cp", "-T"),
    ("python", "shutil.", "copytree"): ("cp", "-rT"),
    ("python", "shutil.", "move"): ("mv", ""),
    **{("python", "os.", n): ("mv", "-T") for n in ("rename", "replace", "renames")},
    **{("node", m, n): ("cp", "-T") for m in ("fs.", "fsp.", "promises.", ".") for n in ("copyFile", "copyFileSync")},
    **{("node", m, n): ("mv", "-T") for m in ("fs.", "fsp.", "promises.", ".") for n in ("rename", "renameSync")},
    **{("node", m, n): ("cp", "-rT") for m in ("fs.", "fsp.", "promises.", ".") for n in ("cp", "cpSync")},
    **{("ruby", "FileUtils.", n): ("cp", "") for n in ("cp", "copy")},
    ("ruby", "FileUtils.", "cp_r"): ("cp", "-r"),
    **{("ruby", "FileUtils.", n): ("mv", "") for n in ("mv", "move")},
    ("ruby", "File.", "rename"): ("mv", "-T"),
    **{("perl", m, "copy"): ("cp", "") for m in ("", "File::Copy::")},
    **{("perl", m, "move"): ("mv", "") for m in ("", "File::Copy::")},
    ("perl", "", "rename"): ("mv", "-T"),
    ("php", "", "copy"): ("cp", "-T"),
    ("php", "", "rename"): ("mv", "-T"),
}
_PERL_OPEN = re.compile(r"(?<![\w$])open\s*(?=[(\s])")
_PERL_MODE = re.compile(r"\s*(\+?<|\+?>>?|>>)\s*(.*)\Z", re.S)


_MAX_CALLS = 32  # file calls judged in one program; each costs a scan to its closing bracket


class _Budget:
    """How many more calls may be judged. A program with more (``open(open(open(…`` thousands deep took seconds,
    each call scanning to the end) is not judged call by call: it asks."""

    def __init__(self) -> None:
        self.left = _MAX_CALLS

    def spend(self) -> bool:
        self.left -= 1
        return self.left >= 0


def judge_file_effects(language: str, code: str, st: State, text: str, *, from_file: bool = False) -> None:
    budget = _Budget()
    _judge_file_effects(language, code, st, text, from_file, budget)
    if budget.left < 0:
        st.add(CONFIRM, f"calls more than {_MAX_CALLS} functions that make links or write files", text)


def _judge_file_effects(language: str, code: str, st: State, text: str, from_file: bool, budget: _Budget) -> None:
    """Record the links ``code`` makes and judge the files it writes, each as the shell command doing the same
    would be. A script read from disk is not asked about for writing over a file that exists: writing its own
    output files is what it is for."""
    from contop.security.embedded import _call_text

    inv = Invocation(language, [], text)
    for match in _LINKS.finditer(code):
        if not budget.spend():
            return
        kind = match.group("kind")
        if kind == "link" and language not in ("python", "node", "nodejs", "perl", "php", "ruby", "julia"):
            continue
        start = match.end()
        args = _values(_call_text(code, _opening(code, start)))
        if len(args) < 2:
            continue
        utils = match.group("fu")
        symbolic = kind == "symlink" or (utils is not None and utils.startswith("ln_s"))
        options = ("s" if symbolic else "") + ("" if utils is not None else "T")  # FileUtils.ln_s DIR: inside
        _make_link(args[0], args[1], "-" + options if options else "", inv, st)
    for match in _PATH_CALL.finditer(code):
        if not budget.spend():
            return
        opening = match.end() - 1
        inner = _call_text(code, opening)
        after = _METHOD.match(code, opening + len(inner) + 2)
        if after is None:
            continue
        path = _value(inner)
        method = after.group(1)
        args = _values(_call_text(code, after.end() - 1))
        if method in ("symlink_to", "hardlink_to") and args:
            _make_link(args[0], path, "-sT" if method == "symlink_to" else "-T", inv, st)
        elif method == "link_to" and args:
            _make_link(path, args[0], "-T", inv, st)
        elif method in ("write_text", "write_bytes"):
            _writes(path, False, inv, st, from_file)
        elif method == "open" and args and args[0] is not None and re.search(r"[wax+]", args[0]):
            _writes(path, "a" in args[0], inv, st, from_file)
    for path, append in _written_files(language, code, budget):
        _writes(path, append, inv, st, from_file)
    if budget.left < 0:
        return
    node = "node" if language in ("nodejs", "deno", "bun") else language
    for match in _COPIES.finditer(code):
        command = _COPY_COMMANDS.get((node, match.group("module") or "", match.group("name")))
        if command is None:
            continue
        if not budget.spend():
            return
        args = _values(_call_text(code, match.end() - 1))
        if len(args) < 2 or (args[0] is None and args[1] is None):
            continue  # nothing the program names: left to the checks on its text
        tool, options = command
        opts = [options] if options else []
        cmdbase.RULES[tool](Invocation(tool, [*opts, "--", _word(args[0]), _word(args[1])], text), st)


def _opening(code: str, start: int) -> int:
    """Where a call's arguments begin: its bracket, or the space before them (``symlink '/etc', '/tmp/e'``)."""
    bracket = re.match(r"\s*\(", code[start:])
    return start + bracket.end() - 1 if bracket else start


def _make_link(source: str | None, link: str | None, options: str, inv: Invocation, st: State) -> None:
    """The link ``ln OPTIONS SOURCE LINK`` makes: a path not known is one only known when the program runs."""
    if st.windows:
        return
    words = [options] if options else []
    cmdbase.RULES["ln"](Invocation("ln", [*words, "--", _word(source), _word(link)], inv.text), st)


def _writes(path: str | None, append: bool, inv: Invocation, st: State, from_file: bool) -> None:
    """A file written as ``>`` (or ``>>``) writes it. One named only when the program runs is left to the checks
    on the program's text, unless the line made a link to a place not known: writing through it asks."""
    if path is None:
        return
    cmdbase.judge_write_target(_word(path), append, inv, st, guess_existing=not from_file)


def _word(path: str | None) -> str:
    """A path as the shell command judging it takes it; one only known when the program runs is not known."""
    return UNKNOWN if path is None else path


def _written_files(language: str, code: str, budget: _Budget) -> Iterator[tuple[str | None, bool]]:
    """The files the program opens for writing or writes whole, each with whether it appends."""
    from contop.security.embedded import _call_text, _split_arguments

    if language == "perl":
        for match in _PERL_OPEN.finditer(code):
            if not budget.spend():
                return
            args = _split_arguments(_call_text(code, _opening(code, match.end())))
            literals = [_value(a) for a in args[1:3]]
            if not literals or literals[0] is None:
                continue
            mode = _PERL_MODE.match(literals[0])
            if mode is None:
                continue
            named = mode.group(2).strip() or (literals[1] if len(literals) > 1 else None)
            if mode.group(1) != "<":  # '<' reads; '+<' updates in place, '>' and '>>' write
                yield named, mode.group(1) in (">>", "+<", "+>>")
        return
    if language not in ("python", "ruby", "php", "node", "nodejs", "deno", "bun"):
        return
    for match in _OPEN_MODE.finditer(code):
        if code[match.start() - 1 : match.start()] == "." and not match.group("module"):
            continue  # something else's open(…): os.open takes flags, a socket's or a zip's open is no file
        if not budget.spend():
            return
        args = _split_arguments(_call_text(code, match.end() - 1))
        modes = [a.split("=", 1)[1] for a in args[1:] if re.match(r"mode\s*=", a)] or args[1:2]
        letters = _value(modes[0]) if modes else None
        if letters is not None and re.fullmatch(r"[rwaxbtU+]+", letters) and re.search(r"[wax+]", letters):
            yield _value(args[0]), "a" in letters
    for match in _WRITE_CALLS.finditer(code):
        name = match.group("name")
        if name in ("write", "binwrite") and match.group("module") not in ("File.", "IO."):
            continue  # f.write(…): the file was opened above
        if name in _NODE_WRITES and language not in ("node", "nodejs", "deno", "bun"):
            continue
        if not budget.spend():
            return
        args = _split_arguments(_call_text(code, match.end() - 1))
        if args:
            appends = name.startswith("append") or any(re.search(r"FILE_APPEND|flags?:\s*['\"]a", a) for a in args[2:])
            yield _value(args[0]), appends


def _values(args: str) -> list[str | None]:
    from contop.security.embedded import _split_arguments

    return [_value(a) for a in _split_arguments(args)]


def _value(arg: str) -> str | None:
    """The path an argument names when the program text says it: a string literal, alone or in a wrapper that
    keeps it one path (``os.path.expanduser('~/.bashrc')``, ``Path('x')``); else None."""
    from contop.security.embedded import _STRING

    arg = arg.strip()
    wrapper = _WRAPPER.match(arg)
    if wrapper is not None:
        inner = _value(wrapper.group("inner"))
        if inner is not None and wrapper.group("name") in ("expanduser", "expand_path") and inner.startswith("./~"):
            return inner[2:]  # expanduser('~/.bashrc') is the home folder's file
        return inner
    prefixed = _PREFIXED.match(arg)
    if prefixed is not None:
        arg = arg[prefixed.end() :]
    literal = _STRING.fullmatch(arg)
    if literal is None:
        return None
    value = next(g for g in literal.groups() if g is not None)
    if arg[0] in '"`' and re.search(r"\$|#\{", value):
        return None  # "$dir/x", `${d}/x`, "#{d}/x": text from the program
    if not value or "\x00" in value or len(value) >= 300:
        return None
    return "./" + value if value.startswith("~") else value  # open('~/x') is a folder named '~' here
