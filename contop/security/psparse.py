"""A tokenizer for the PowerShell the gate needs to see: statements, pipelines, words, nested blocks.

It removes quoting and backtick escapes (``r`m`` is ``rm``), keeps ``(…)``, ``$(…)``, ``@(…)`` and ``{…}``
inside the word where they appear, and also returns their contents so that they are classified too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final


@dataclass(slots=True)
class PsCommand:
    words: list[str] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)  # each word as written, quotes and all
    text: str = ""
    literal_first: bool = False  # the first word is a quoted string: an expression, not a command name


@dataclass(slots=True)
class PsScript:
    statements: list[list[PsCommand]] = field(default_factory=list)  # statements of pipeline stages
    nested: list[str] = field(default_factory=list)  # sources of blocks and sub-expressions


_CLOSERS = {"(": ")", "{": "}", "[": "]"}
_SINGLE_QUOTES = "'\u2018\u2019"
_DOUBLE_QUOTES = '"\u201c\u201d'
# Characters that never end or change a word: what ``word`` copies in one step.
_PLAIN = re.compile(r"[^ \t\r\n;|&#`'\"\u2018\u2019\u201c\u201d({\[$@]+")
_SINGLE_END = re.compile(r"['\u2018\u2019]")
_DOUBLE_SPECIAL = re.compile(r'[`"\u201c\u201d]|\$\(')
_BACKTICK_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0"}


@lru_cache(maxsize=2048)
def parse_ps(source: str) -> PsScript:
    return _Tokenizer(source).run()


class _Tokenizer:
    def __init__(self, source: str) -> None:
        self.src = source
        self.i = 0
        self.script = PsScript()

    def run(self) -> PsScript:
        src = self.src
        statement: list[PsCommand] = []
        cmd = PsCommand()
        start = 0
        while True:
            self.skip_blanks()
            if self.i >= len(src):
                break
            c = src[self.i]
            if src.startswith("<#", self.i):
                end = src.find("#>", self.i)
                self.i = len(src) if end < 0 else end + 2
            elif c == "#":
                end = src.find("\n", self.i)
                self.i = len(src) if end < 0 else end
            elif c in ";\n" or src.startswith("&&", self.i) or src.startswith("||", self.i):
                self.i += 1 if c in ";\n" else 2
                self.end_cmd(cmd, start, statement)
                if statement:
                    self.script.statements.append(statement)
                statement, cmd, start = [], PsCommand(), self.i
            elif c == "|":
                self.i += 1
                self.end_cmd(cmd, start, statement)
                cmd, start = PsCommand(), self.i
            else:
                word_start = self.i
                if not cmd.words and c in "'\"\u2018\u2019\u201c\u201d":
                    cmd.literal_first = True
                word = self.word()
                if self.i == word_start:
                    self.i += 1
                    continue
                cmd.words.append(word)
                cmd.raw.append(src[word_start : self.i])
        self.end_cmd(cmd, start, statement)
        if statement:
            self.script.statements.append(statement)
        return self.script

    def skip_blanks(self) -> None:
        while self.i < len(self.src) and (
            self.src[self.i] in " \t\r" or self.src.startswith("`\n", self.i) or self.src.startswith("`\r\n", self.i)
        ):
            self.i += 2 if self.src[self.i] == "`" else 1

    def end_cmd(self, cmd: PsCommand, start: int, statement: list[PsCommand]) -> None:
        if cmd.words:
            cmd.text = self.src[start : self.i].strip(" \t\r\n;|")
            statement.append(cmd)

    def word(self) -> str:
        src, out = self.src, list[str]()
        n = len(src)
        while self.i < n:
            plain = _PLAIN.match(src, self.i)
            if plain:  # a run of ordinary characters at once
                out.append(plain.group())
                self.i = plain.end()
                if self.i >= n:
                    break
            c = src[self.i]
            if c in " \t\r\n;|" or (c == "#" and not out) or (c == "&" and src.startswith("&&", self.i)):
                break
            if c == "`":
                out.append(src[self.i + 1 : self.i + 2])
                self.i += 2
            elif c in _SINGLE_QUOTES:
                out.append(self.single_quoted())
            elif c in _DOUBLE_QUOTES:
                out.append(self.double_quoted())
            elif c in "({[" or (c in "$@" and src[self.i + 1 : self.i + 2] in ("(", "{")):
                begin = self.i
                if c in "$@":
                    self.i += 1
                inner = self.balanced()
                if src[begin] != "[" and not (src[begin] == "$" and src[begin + 1] == "{"):
                    self.script.nested.append(inner)
                out.append(src[begin : self.i])
            else:  # '#' or '&' inside a word, '$' or '@' before anything else: ordinary
                out.append(c)
                self.i += 1
        return "".join(out)

    def copy_to(self, special: re.Pattern[str], out: list[str]) -> int:
        """Copy the text up to the next ``special`` into ``out``; returns where it is, or -1 at the end."""
        found = special.search(self.src, self.i)
        end = len(self.src) if found is None else found.start()
        out.append(self.src[self.i : end])
        self.i = end
        return -1 if found is None else end

    def single_quoted(self) -> str:
        src, out = self.src, list[str]()
        self.i += 1
        while (j := self.copy_to(_SINGLE_END, out)) >= 0:
            if src[j + 1 : j + 2] == "'":  # a doubled quote stands for one
                out.append("'")
                self.i = j + 2
                continue
            self.i = j + 1
            break
        return "".join(out)

    def double_quoted(self) -> str:
        src, out = self.src, list[str]()
        self.i += 1
        while (j := self.copy_to(_DOUBLE_SPECIAL, out)) >= 0:
            c = src[j]
            if c == "`":
                nxt = src[j + 1 : j + 2]
                out.append(_BACKTICK_ESCAPES.get(nxt, nxt))
                self.i += 2
            elif c == "$":
                self.i += 1
                self.script.nested.append(self.balanced())
                out.append(src[j : self.i])
            elif src[j + 1 : j + 2] == '"':  # a doubled quote stands for one
                out.append('"')
                self.i += 2
            else:
                self.i += 1
                break
        return "".join(out)

    def balanced(self) -> str:
        """Consume a bracketed group starting at ``self.i``; return its inside."""
        src = self.src
        opener = src[self.i]
        closer = _CLOSERS[opener]
        level, j, quote = 0, self.i, ""
        while j < len(src):
            c = src[j]
            if quote:
                if c == "`" and quote == '"':
                    j += 1
                elif c == quote:
                    quote = ""
            elif c in "'\"":
                quote = c
            elif c == "`":
                j += 1
            elif c == opener:
                level += 1
            elif c == closer:
                level -= 1
                if level == 0:
                    break
            j += 1
        inner = src[self.i + 1 : j]
        self.i = min(j + 1, len(src))
        return inner


# ---------------------------------------------------------------------------------------- built paths

# A string a line builds, as pieces: text known when judging, or None for a part known only when it runs.
Piece = str | None
Value = tuple[Piece, ...]
# A variable's values from its name (lower case, no '$': 'home', 'env:userprofile', 'folder:userprofile' for
# [Environment]::GetFolderPath).
Lookup = Callable[[str], list[Value]]

MAX_VALUES = 16  # strings one expression is followed to ('Join-Path a,b,c x,y'); past that, it is not known
MAX_EVAL_DEPTH = 8
UNKNOWN: Final[list[Value]] = [(None,)]
_VARIABLE = re.compile(r"\$(?:\{([^}]*)\}|((?:[A-Za-z_][\w]*:)?[\w?]+))")
_STATIC_CALL = re.compile(r"\]\s*::\s*(\w+)\s*\(")
_STATIC_MEMBER = re.compile(r"\s*::\s*(\w+)")
_MEMBER = re.compile(r"\.\w+")
_NUMBER = re.compile(r"\d+")
_ROOTED = re.compile(r"^(?:[\\/]|[A-Za-z]:)")
_SEPARATORS = ("\\", "/")
_CHILD_JOINERS = frozenset({"join-path"})
_PATH_OF = frozenset({"resolve-path", "rvpa", "convert-path", "cvpa", "get-item", "gi"})
_LOCATION = frozenset({"get-location", "gl", "pwd"})
_STRING_OPERATOR = re.compile(r"-(join|f)(?![\w-])", re.IGNORECASE)
_FORMAT_ITEM = re.compile(r"\{(\d+)(?:[,:][^}]*)?\}")
# Members that keep a path a path (``(Get-Item ~).FullName``) and string methods the gate can apply.
_PATH_MEMBERS = frozenset({"fullname", "path", "providerpath"})
_STRING_METHODS: dict[str, Callable[..., str]] = {
    "replace": str.replace, "trim": str.strip, "trimend": str.rstrip, "trimstart": str.lstrip,
    "tolower": str.lower, "toupper": str.upper, "tostring": str.__str__, "tolowerinvariant": str.lower,
    "toupperinvariant": str.upper,
}  # fmt: skip


def built_values(text: str, lookup: Lookup, *, argument: bool = False) -> list[Value]:
    """The strings a PowerShell expression makes (``Join-Path $HOME '.ssh'``, ``[IO.Path]::Combine(…)``,
    ``"$env:USERPROFILE" + '\\x'``), or with ``argument`` a command's argument as written (``$HOME\\.ssh``,
    ``(Join-Path …)``). What it cannot follow is a None piece: a variable it does not know, a call whose result
    only the run gives."""
    return _Evaluator(text, lookup, 0).run(argument)


def static_call_arguments(text: str) -> list[str]:
    """The arguments of the .NET static calls in ``text`` (``[IO.File]::ReadAllText(x)`` gives ``x``), each as
    written: what a program is asked to open is judged as the path it is."""
    out: list[str] = []
    for match in _STATIC_CALL.finditer(text):
        start = match.end() - 1
        end = _closing(text, start)
        out += [a for a in _split_top(text[start + 1 : end], ",") if a.strip()]
    return out


def _top_level(text: str, start: int = 0) -> Iterator[tuple[int, str, int]]:
    """Each character of ``text`` from ``start`` that stands outside quotes and is not escaped by a backtick, with
    the bracket depth once it is read (an opening bracket counts itself, a closing one no longer does)."""
    level, j, quote = 0, start, ""
    while j < len(text):
        c = text[j]
        if quote:
            if c == "`" and quote == '"':
                j += 1
            elif c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c == "`":
            j += 1
        else:
            if c in "([{":
                level += 1
            elif c in ")]}":
                level -= 1
            yield j, c, level
        j += 1


def _closing(text: str, start: int) -> int:
    """The index of the bracket closing the one at ``start`` (the length when it is not closed)."""
    for j, c, level in _top_level(text, start):
        if level == 0 and c in ")]}":
            return j
    return len(text)


def _split_top(text: str, sep: str) -> list[str]:
    """``text`` split at each ``sep`` outside quotes and brackets."""
    parts: list[str] = []
    begin = 0
    for j, c, level in _top_level(text):
        if c == sep and level == 0:
            parts.append(text[begin:j])
            begin = j + 1
    parts.append(text[begin:])
    return parts


def _concat(*parts: list[Value]) -> list[Value]:
    out: list[Value] = [()]
    for part in parts:
        out = [a + b for a in out for b in part]
        if len(out) > MAX_VALUES:
            return UNKNOWN
    return out


def _join(left: list[Value], right: list[Value], reset: bool) -> list[Value]:
    """``left`` and ``right`` joined with one separator, as Join-Path and Path.Combine do; ``reset``: a rooted
    ``right`` replaces ``left`` (Path.Combine)."""
    out: list[Value] = []
    for a in left:
        for b in right:
            head = b[0] if b else ""
            if reset and head is not None and _ROOTED.match(head):
                out.append(b)
            elif a and a[-1] is not None and a[-1].endswith(_SEPARATORS):
                out.append(a + b)
            else:
                out.append((*a, "\\", *b))
    return out if len(out) <= MAX_VALUES else UNKNOWN


class _Evaluator:
    def __init__(self, src: str, lookup: Lookup, depth: int) -> None:
        self.src = src
        self.lookup = lookup
        self.depth = depth
        self.i = 0

    def inner(self, text: str, argument: bool = False) -> list[Value]:
        if self.depth >= MAX_EVAL_DEPTH:
            return UNKNOWN
        return _Evaluator(text, self.lookup, self.depth + 1).run(argument)

    def run(self, argument: bool) -> list[Value]:
        self.src = self.src.strip()
        if not self.src:
            return UNKNOWN
        if argument:
            return self.argument()
        if self.src[0].isalpha() and not self.src.lower().startswith(("$", "[")):
            return self.command()
        operated = self.operators()
        if operated is not None:
            return operated
        values = self.term()
        while True:
            self.skip_blanks()
            if self.i >= len(self.src):
                return values
            if self.src[self.i] != "+":
                return UNKNOWN  # an operator it does not follow (-join, -f, -replace…)
            self.i += 1
            values = _concat(values, self.term())

    def operators(self) -> list[Value] | None:
        """``a, b -join '\\'`` and ``'{0}\\x' -f a``: the string they make, or None when the text holds neither
        operator outside quotes and brackets."""
        src = self.src
        for j, c, level in _top_level(src):
            if level or c != "-":
                continue
            match = _STRING_OPERATOR.match(src, j)
            if match is None or (j and src[j - 1] not in " \t)'\""):
                continue
            left, right = src[:j], src[match.end() :]
            if match.group(1).lower() == "join":
                if not left.strip():  # '-join (a, b)': joined with nothing between
                    left, right = right, ""
                items = self.items(left)
                empty: list[Value] = [("",)]
                separator = self.inner(right) if right.strip() else empty
                out = items[0] if items else empty
                for item in items[1:]:
                    out = _concat(out, separator, item)
                return out
            return self.formatted(self.inner(left), [self.inner(a) for a in self.items_text(right)])
        return None

    def items_text(self, text: str) -> list[str]:
        """The items of a list written ``a, b`` or ``@(a, b)`` (or ``(a, b)``)."""
        text = text.strip()
        if text.startswith(("@(", "(")) and _closing(text, text.index("(")) == len(text) - 1:
            text = text[text.index("(") + 1 : -1]
        return [a for a in _split_top(text, ",") if a.strip()]

    def items(self, text: str) -> list[list[Value]]:
        return [self.inner(a) for a in self.items_text(text)]

    def formatted(self, formats: list[Value], args: list[list[Value]]) -> list[Value]:
        """``'{0}\\.ssh' -f $HOME`` and ``[string]::Format(…)``: each ``{n}`` (``{n:…}``, ``{n,…}``) replaced by
        argument n; a format known only when it runs is not known."""
        out: list[Value] = []
        for value in formats:
            if None in value:
                return UNKNOWN
            text = "".join(p for p in value if p is not None).replace("{{", "\0").replace("}}", "\1")
            parts: list[list[Value]] = []
            at = 0
            for match in _FORMAT_ITEM.finditer(text):
                parts.append([(text[at : match.start()],)])
                index = int(match.group(1))
                parts.append(args[index] if index < len(args) else [("",)])
                at = match.end()
            parts.append([(text[at:],)])
            out += [tuple(p.replace("\0", "{").replace("\1", "}") if p else p for p in v) for v in _concat(*parts)]
        return out if len(out) <= MAX_VALUES else UNKNOWN

    def skip_blanks(self) -> None:
        while self.i < len(self.src) and self.src[self.i] in " \t\r\n":
            self.i += 1

    def term(self) -> list[Value]:
        self.skip_blanks()
        src, i = self.src, self.i
        if i >= len(src):
            return UNKNOWN
        c = src[i]
        if c in _SINGLE_QUOTES:
            return self.accessed([(self.single(),)])
        if c in _DOUBLE_QUOTES:
            return self.accessed(self.expandable(self.double()))
        if src.startswith("$(", i):
            end = _closing(src, i + 1)
            self.i = end + 1
            return self.accessed(self.inner(src[i + 2 : end]))
        if c == "$":
            return self.accessed(self.variable())
        if c == "(":
            end = _closing(src, i)
            self.i = end + 1
            return self.accessed(self.inner(src[i + 1 : end]))
        if c == "[":
            return self.typed()
        if c.isdigit():
            match = _NUMBER.match(src, i)
            assert match is not None
            self.i = match.end()
            return [(match.group(),)]
        self.i = len(src)  # something it does not read: the rest is unknown
        return UNKNOWN

    def accessed(self, values: list[Value]) -> list[Value]:
        """A member, call or index after a term (``$x.FullName``, ``(…).Trim()``, ``$a[0]``): not known."""
        src = self.src
        touched = False
        while self.i < len(src) and (
            src[self.i] == "[" or (src[self.i] == "." and src[self.i + 1 : self.i + 2].isalpha())
        ):
            if src[self.i] == "[":
                touched = True
                self.i = _closing(src, self.i) + 1
                continue
            match = _MEMBER.match(src, self.i)
            member = match.group(0)[1:].lower() if match else ""
            self.i = match.end() if match else self.i + 1
            args: list[list[Value]] | None = None
            if src[self.i : self.i + 1] == "(":
                close = _closing(src, self.i)
                args = self.items(src[self.i : close + 1])
                self.i = close + 1
            if args is None and member in _PATH_MEMBERS:
                continue  # '(Get-Item ~).FullName': the path itself
            method = _STRING_METHODS.get(member) if args is not None else None
            known = [
                ["".join(p for p in a[0] if p is not None)] for a in args or [] if len(a) == 1 and None not in a[0]
            ]
            if method is None or len(known) != len(args or []) or any(None in v for v in values):
                touched = True
                continue
            try:
                values = [(method("".join(p for p in v if p is not None), *(k[0] for k in known)),) for v in values]
            except TypeError:  # arguments the method does not take ('.Trim(1, 2)'): not known
                touched = True
        return UNKNOWN if touched else values

    def variable(self) -> list[Value]:
        match = _VARIABLE.match(self.src, self.i)
        if match is None:
            self.i += 1
            return [("$",)]
        self.i = match.end()
        return self.lookup((match.group(1) or match.group(2)).lower())

    def single(self) -> str:
        src, out = self.src, []
        self.i += 1
        while self.i < len(src):
            c = src[self.i]
            if c in _SINGLE_QUOTES:
                if src[self.i + 1 : self.i + 2] in _SINGLE_QUOTES and self.i + 1 < len(src):
                    out.append(c)
                    self.i += 2
                    continue
                self.i += 1
                break
            out.append(c)
            self.i += 1
        return "".join(out)

    def double(self) -> str:
        """The inside of a double-quoted string, still to be expanded."""
        src = self.src
        start = self.i + 1
        j = start
        while j < len(src):
            c = src[j]
            if c == "`":
                j += 2
                continue
            if src.startswith("$(", j):
                j = _closing(src, j + 1) + 1
                continue
            if c in _DOUBLE_QUOTES:
                if src[j + 1 : j + 2] in _DOUBLE_QUOTES and j + 1 < len(src):
                    j += 2
                    continue
                break
            j += 1
        self.i = min(j + 1, len(src))
        return src[start:j]

    def expandable(self, text: str, argument: bool = False) -> list[Value]:
        """Text with ``$name``, ``${name}`` and ``$(…)`` in it; in an argument, quotes and ``(…)`` too."""
        parts: list[list[Value]] = []
        literal: list[str] = []
        j = 0

        def flush() -> None:
            if literal:
                parts.append([("".join(literal),)])
                literal.clear()

        while j < len(text):
            c = text[j]
            if c == "`":
                literal.append(_BACKTICK_ESCAPES.get(text[j + 1 : j + 2], text[j + 1 : j + 2]))
                j += 2
            elif text.startswith("$(", j):
                end = _closing(text, j + 1)
                flush()
                parts.append(self.inner(text[j + 2 : end]))
                j = end + 1
            elif c == "$" and (match := _VARIABLE.match(text, j)) is not None:
                flush()
                j = match.end()
                values = self.lookup((match.group(1) or match.group(2)).lower())
                if argument and text[j : j + 1] == "." and text[j + 1 : j + 2].isalpha():
                    values = UNKNOWN  # '$x.Name' in an argument is a member
                parts.append(values)
            elif argument and c in _SINGLE_QUOTES:
                sub = _Evaluator(text[j:], self.lookup, self.depth)
                literal.append(sub.single())
                j += sub.i
            elif argument and c in _DOUBLE_QUOTES:
                sub = _Evaluator(text[j:], self.lookup, self.depth)
                inside = sub.double()
                flush()
                parts.append(self.expandable(inside))
                j += sub.i
            elif argument and c in "(@" and (c == "(" or text[j + 1 : j + 2] in "({"):
                start = j if c == "(" else j + 1
                end = _closing(text, start)
                flush()
                parts.append(self.inner(text[start + 1 : end]) if c == "(" else UNKNOWN)
                j = end + 1
            else:
                literal.append(c)
                j += 1
        flush()
        return _concat(*parts)

    def argument(self) -> list[Value]:
        return self.expandable(self.src, argument=True)

    def typed(self) -> list[Value]:
        """``[Type]::Member(…)``, ``[Type]::Member`` or a cast ``[string]$x``."""
        src = self.src
        end = _closing(src, self.i)
        type_name = src[self.i + 1 : end].strip().lower().removeprefix("system.")
        self.i = end + 1
        match = _STATIC_MEMBER.match(src, self.i)
        if match is None:
            return self.term() if self.i < len(src) and src[self.i] in "$('\"[" else UNKNOWN
        self.i = match.end()
        member = match.group(1).lower()
        args: list[str] | None = None
        if src[self.i : self.i + 1] == "(":
            close = _closing(src, self.i)
            args = [a for a in _split_top(src[self.i + 1 : close], ",") if a.strip()]
            self.i = close + 1
        return self.accessed(self.static(type_name, member, args))

    def static(self, type_name: str, member: str, args: list[str] | None) -> list[Value]:
        if type_name == "environment+specialfolder" and args is None:
            return [(member,)]
        if args is None:
            return [("\\",)] if type_name == "io.path" and member == "directoryseparatorchar" else UNKNOWN
        values = [self.inner(a) for a in args]
        if type_name == "io.path" and member in ("combine", "join") and values:
            out = values[0]
            for more in values[1:]:
                out = _join(out, more, reset=member == "combine")
            return out
        if type_name == "string" and member == "format" and values:
            return self.formatted(values[0], values[1:])
        if type_name == "string" and member == "concat":
            return _concat(*values)
        if type_name == "string" and member == "join" and len(values) > 1:
            items = values[1:]
            out = items[0]
            for item in items[1:]:
                out = _concat(out, values[0], item)
            return out
        if type_name == "io.path" and member == "getfullpath" and len(values) == 1:
            return values[0]
        if type_name == "environment" and member in ("getfolderpath", "getenvironmentvariable") and values:
            kind = "folder:" if member == "getfolderpath" else "env:"
            names = ["".join(p for p in v if p is not None) for v in values[0] if None not in v]
            if len(names) < len(values[0]):
                return UNKNOWN
            return [v for name in names for v in self.lookup(kind + name.lower())]
        return UNKNOWN

    def command(self) -> list[Value]:
        """The string a command in ``(…)`` gives: Join-Path's path, Resolve-Path's, the working folder."""
        script = parse_ps(self.src)
        if len(script.statements) != 1 or len(script.statements[0]) != 1:
            return UNKNOWN
        cmd = script.statements[0][0]
        name = cmd.words[0].lower()
        if name in _LOCATION and len(cmd.words) == 1:
            return self.lookup("pwd")
        if name not in _CHILD_JOINERS and name not in _PATH_OF:
            return UNKNOWN
        named: dict[str, str] = {}
        positional: list[str] = []
        raw = cmd.raw[1:]
        i = 0
        while i < len(raw):
            word = raw[i]
            if word.startswith("-") and len(word) > 1 and word[1].isalpha():
                key, colon, value = word.lower().partition(":")
                if key.startswith("-r") or colon or i + 1 >= len(raw):  # -Resolve: a switch
                    if colon:
                        named[key[:2]] = value
                else:
                    named[key[:2]] = raw[i + 1]
                    i += 1
            else:
                positional.append(word)
            i += 1
        path = named.get("-p", named.get("-l")) or (positional.pop(0) if positional else None)
        if path is None:
            return UNKNOWN
        bases = [v for item in _split_top(path, ",") for v in self.inner(item, argument=True)]
        if name in _PATH_OF:
            return bases if len(bases) <= MAX_VALUES else UNKNOWN
        children = ([named["-c"]] if "-c" in named else positional[:1]) + (
            _split_top(named["-a"], ",") if "-a" in named else positional[1:]
        )
        out = bases
        for child in children:
            out = _join(out, self.inner(child, argument=True), reset=False)
        return out
