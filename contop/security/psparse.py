"""A tokenizer for the PowerShell the gate needs to see: statements, pipelines, words, nested blocks.

It removes quoting and backtick escapes (``r`m`` is ``rm``), keeps ``(…)``, ``$(…)``, ``@(…)`` and ``{…}``
inside the word where they appear, and also returns their contents so that they are classified too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache


@dataclass(slots=True)
class PsCommand:
    words: list[str] = field(default_factory=list)
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
